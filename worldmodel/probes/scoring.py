"""Scores on one absolute scale per family: normalised = (row - copy_last) / (truth - copy_last), bootstrap CIs, g50.

Every family reports per-scenario raw values of each metric (measured against the truth) for every row: the
model, the fixed reference rows (references.py: truth, reference_tokenizer, copy_last, frozen_first, no_memory,
perfect_memory), the model's own tokenizer ceiling (model_tokenizer, a separate column) and the wrong-actions
floor (shuffled_actions). The scale's ends do not depend on the model under test: 1 = the truth, 0 = copying the
last prompt frame, negative = worse than copying. The CI resamples scenarios (paired across rows) with a seeded
generator and is only given from MIN_CI_SCENARIOS scenarios on. Where copy-last is no floor (e.g. an idle scene
that never changes) the family says so and the normalised score is null.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ROWS = ("model", "truth", "reference_tokenizer", "model_tokenizer", "copy_last", "frozen_first", "no_memory",
        "perfect_memory", "shuffled_actions")
REFERENCES = ("truth", "reference_tokenizer", "copy_last", "frozen_first", "no_memory", "perfect_memory")
TOP, FLOOR = "truth", "copy_last"
DEGENERATE = 1e-6  # |truth - floor| below this: nothing to normalise against
MIN_CI_SCENARIOS = 5  # fewer scenarios: no interval is shown (it would be zero-width or meaningless)
MEANING = ("Normalised score = (row - copy-last) / (truth - copy-last) on the family's raw metric, measured "
           "against the truth: 1 = as good as the true world, 0 = as good as repeating the last prompt frame, "
           "negative = worse than copying; the scale is the same for every model.")


@dataclass
class Metric:
    """Per-scenario values of one metric for each row (NaN = not measurable in that scenario)."""

    values: dict[str, np.ndarray]
    higher_is_better: bool = True
    description: str = ""
    span: float = 1.0
    """The metric's range (1 for ratios; frames for horizons): raw gaps are reported as a share of it."""

    def mean(self, row: str) -> float:
        """Mean over scenarios, ignoring NaN."""
        v = np.asarray(self.values.get(row, []), np.float64)
        v = v[np.isfinite(v)]
        return float(v.mean()) if v.size else math.nan


@dataclass
class Strip:
    """Frames for the report: ground truth over a row's prediction at the same steps."""

    title: str
    truth: np.ndarray  # (K, H, W, 3)
    pred: np.ndarray  # (K, H, W, 3)
    labels: list[str]


@dataclass
class FamilyResult:
    """Everything one family measured."""

    family: str
    headline: str
    metrics: dict[str, Metric]
    scenarios: list[str]
    floor_valid: dict[str, bool] = field(default_factory=dict)
    """metric -> False where the primary floor is no floor for it (normalised score null)."""
    extras: dict[str, Any] = field(default_factory=dict)
    strips: list[Strip] = field(default_factory=list)


def normalised(model: float, ceiling: float, floor: float, higher_is_better: bool | None = None) -> float:
    """(model - floor) / (ceiling - floor) (ceiling = the truth); NaN when a value is missing, when ceiling and floor
    coincide, or (given the metric's direction) when the ceiling is not better than the floor: no scale to read."""
    if not all(math.isfinite(v) for v in (model, ceiling, floor)) or abs(ceiling - floor) < DEGENERATE:
        return math.nan
    if higher_is_better is not None and (ceiling > floor) != higher_is_better:
        return math.nan
    return (model - floor) / (ceiling - floor)


def bootstrap_ci(metric: Metric, seed: int, resamples: int = 1000, level: float = 0.95, row: str = "model"
                 ) -> tuple[float, float]:
    """Percentile CI of a row's normalised score, resampling scenarios with replacement (paired across rows)."""
    rows = [np.asarray(metric.values[r], np.float64) for r in (row, TOP, FLOOR)]
    n = len(rows[0])
    if n == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    stats = []
    for sample in idx:
        means = []
        for v in rows:
            s = v[sample]
            s = s[np.isfinite(s)]
            means.append(float(s.mean()) if s.size else math.nan)
        stats.append(normalised(*means, metric.higher_is_better))
    stats_arr = np.asarray(stats)
    stats_arr = stats_arr[np.isfinite(stats_arr)]
    if stats_arr.size < resamples // 2:
        return math.nan, math.nan
    lo, hi = np.percentile(stats_arr, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(lo), float(hi)


def half_life(gaps: np.ndarray, recall: np.ndarray) -> dict[str, Any]:
    """g50: the gap at which recall falls to half its value at the shortest gap (log-linear interpolation).

    Returns {"g50": float | None, "censored": bool (recall never halved: g50 > largest gap), "reference": r0}.
    """
    order = np.argsort(gaps)
    g, r = np.asarray(gaps, np.float64)[order], np.asarray(recall, np.float64)[order]
    keep = np.isfinite(r)
    g, r = g[keep], r[keep]
    if g.size == 0 or r[0] < 0.05:  # nothing recalled even at the shortest gap: no half-life to speak of
        return {"g50": None, "censored": False, "reference": float(r[0]) if r.size else None}
    half = r[0] / 2.0
    for k in range(1, len(g)):
        if r[k] < half:
            lg0, lg1 = math.log(g[k - 1]), math.log(g[k])
            t = (r[k - 1] - half) / max(r[k - 1] - r[k], 1e-12)
            return {"g50": float(math.exp(lg0 + t * (lg1 - lg0))), "censored": False, "reference": float(r[0])}
    return {"g50": float(g[-1]), "censored": True, "reference": float(r[0])}


def json_safe(value: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python, arrays -> lists."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def summarise(result: FamilyResult, seed: int, resamples: int = 1000) -> dict[str, Any]:
    """The results.json entry of a family: every metric's raw row means, normalised scores on the fixed scale,
    the headline's CI (None below MIN_CI_SCENARIOS scenarios) and its raw truth-to-floor gap."""
    head = result.metrics[result.headline]
    valid = result.floor_valid.get(result.headline, True)
    hib = head.higher_is_better
    rows = [r for r in ROWS if r in head.values]
    means = {row: head.mean(row) for row in rows}
    norm = {row: (normalised(means[row], means[TOP], means[FLOOR], hib) if valid else math.nan) for row in rows}
    n = len(result.scenarios)
    ci = (bootstrap_ci(head, seed, resamples) if valid and n >= MIN_CI_SCENARIOS and "model" in head.values
          else (math.nan, math.nan))
    gap = means[TOP] - means[FLOOR]
    metrics = {}
    for name, metric in result.metrics.items():
        row_means = {row: metric.mean(row) for row in ROWS if row in metric.values}
        ok = result.floor_valid.get(name, True)
        top, floor = row_means.get(TOP, math.nan), row_means.get(FLOOR, math.nan)
        metrics[name] = {
            **row_means,
            "higher_is_better": metric.higher_is_better,
            "description": metric.description,
            "normalised": (normalised(row_means.get("model", math.nan), top, floor, metric.higher_is_better)
                           if ok else math.nan),
            "gap_share": abs(top - floor) / metric.span,
            "floor_is_floor": ok,
        }
    out = {
        "headline": result.headline,
        "description": head.description,
        "higher_is_better": hib,
        "model": means.get("model", math.nan),
        "raw": means,
        "normalised_rows": norm,
        "floor_is_floor": valid,
        "normalised": norm.get("model", math.nan),
        "ci": list(ci),
        "gap": gap,
        "span": head.span,
        "gap_share": abs(gap) / head.span,
        "n_scenarios": n,
        "scenarios": result.scenarios,
        "metrics": metrics,
        **result.extras,
    }
    return json_safe(out)


def per_scenario(values: dict[str, list[float]]) -> dict[str, np.ndarray]:
    """Row -> list of per-scenario floats, as arrays."""
    return {row: np.asarray(v, np.float64) for row, v in values.items()}
