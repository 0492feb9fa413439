"""Runs probe families: build scenarios, play them in truth, predict every row, score, summarise.

    results, families = run_suite(model, tokenizer, ["permanence", "drift"], SuiteConfig(), aux)

The model row and the shuffled-actions row of a WorldModel run in one batched rollout (2B worlds). Progress is
one line per family (rewritten in place on a terminal), or nothing with progress=False.
"""

from __future__ import annotations

import sys
import time
from types import ModuleType
from typing import Any, Callable, Sequence

import numpy as np

from worldmodel.probes import drift, edits, following, lookback, loop, permanence
from worldmodel.probes.adapters import Predictor, ShuffledActions, make_rows, wrong_script
from worldmodel.probes.references import Reprojection, TokenizerRow
from worldmodel.probes.auxstore import AuxModels
from worldmodel.probes.config import SuiteConfig
from worldmodel.probes.measure import Measure
from worldmodel.probes.scenario import EnvPool, Scenario, TruthRun, run_truth
from worldmodel.probes.scoring import MEANING, FamilyResult, summarise
from worldmodel.probes.segmenter import accuracy

FAMILIES: dict[str, ModuleType] = {"permanence": permanence, "lookback": lookback, "loop": loop, "edits": edits,
                                   "actions": following, "drift": drift}
LETTERS = {"permanence": "A", "lookback": "B", "loop": "C", "edits": "D", "actions": "E", "drift": "F"}
FORMAT = "worldmodel.probes/2"
SCHEMA_VERSION = 2  # 2: fixed reference rows (truth = 1, copy-last = 0), raw gaps, no CI below 5 scenarios


def parse_suites(text: str) -> list[str]:
    """'all' or a comma-separated list of family names -> names in canonical order (ValueError naming a bad one)."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names or "all" in names:
        return list(FAMILIES)
    bad = [n for n in names if n not in FAMILIES]
    if bad:
        raise ValueError(f"--suite: unknown suite(s) {bad}; expected 'all' or some of {list(FAMILIES)}")
    return [n for n in FAMILIES if n in names]


def same_weights(a: Any, b: Any) -> bool:
    """Whether two tokenizers hold identical parameters (then one reconstruction serves both rows)."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(sa[k].shape == sb[k].shape and bool((sa[k] == sb[k]).all()) for k in sa)


def scored_frames(family: ModuleType | None, runs: Sequence[TruthRun]) -> list[list[int]] | None:
    """Per run, the frame indices a family's scores read (None: all of them)."""
    fn = getattr(family, "scored_frames", None)
    return [list(fn(r)) for r in runs] if fn is not None else None


def predict_rows(rows: dict[str, Predictor], runs: Sequence[TruthRun], tick: Callable[[int], None] | None,
                 frames: list[list[int]] | None = None) -> dict[str, list[np.ndarray]]:
    """Every row's predictions for the true scripts (model + shuffled batched together when possible; tokenizer
    rows only on the scored `frames` when given)."""
    scripts = [r.scenario.script for r in runs]
    preds: dict[str, list[np.ndarray]] = {}
    shuffled = rows.get("shuffled_actions")
    if isinstance(shuffled, ShuffledActions) and shuffled.base is rows["model"]:
        wrong = [wrong_script(s, shuffled.seed * 100_003 + i) for i, s in enumerate(scripts)]
        both = rows["model"].predict(list(runs) * 2, scripts + wrong, tick)
        preds["model"], preds["shuffled_actions"] = both[: len(runs)], both[len(runs) :]
    ref, own = rows.get("reference_tokenizer"), rows.get("model_tokenizer")
    if isinstance(ref, TokenizerRow) and isinstance(own, TokenizerRow) and same_weights(ref.tokenizer, own.tokenizer):
        preds["reference_tokenizer"] = preds["model_tokenizer"] = ref.predict(runs, scripts, frames=frames)
    for name, predictor in rows.items():
        if name in preds:
            continue
        if isinstance(predictor, (TokenizerRow, Reprojection)):
            preds[name] = predictor.predict(runs, scripts, frames=frames)
        else:
            preds[name] = predictor.predict(runs, scripts, tick if name == "model" else None)
    return preds


def segmenter_check(runs: Sequence[TruthRun], tokenizer_row: Predictor | None, measure: Measure, limit: int = 96
                    ) -> dict[str, float]:
    """Segmenter accuracy on truth frames and on their reconstructions through the reference tokenizer."""
    picks = [(r, i) for r in runs for i in range(r.prompt_len, len(r.frames), 7)][:limit]
    if not picks:
        return {}
    frames = np.stack([r.frames[i] for r, i in picks])
    ids = np.stack([r.block_ids[i] for r, i in picks])
    out = {"accuracy_gt": accuracy(measure.ids(frames), ids), "frames": float(len(picks))}
    if isinstance(tokenizer_row, TokenizerRow):
        out["accuracy_reference_tokenizer"] = accuracy(measure.ids(tokenizer_row.reconstruct(frames)), ids)
    return out


class ProgressLine:
    """One line per family on stderr: rewritten in place (frames done) on a terminal, printed once when the
    family is done otherwise; silent when disabled."""

    def __init__(self, enabled: bool, total: dict[str, int]) -> None:
        self.enabled = enabled
        self.total = total
        self.tty = enabled and sys.stderr.isatty()
        self.name, self.stage, self.done, self.last = "", "", 0, 0.0

    def start(self, name: str, stage: str) -> None:
        """A family enters a stage (truth, rollouts, scoring)."""
        self.name, self.stage = name, stage
        self._show()

    def tick(self, n: int) -> None:
        """n more model frames are done."""
        self.done += n
        if self.tty and time.time() - self.last > 0.25:
            self._show()

    def _show(self) -> None:
        if self.tty:
            self.last = time.time()
            sys.stderr.write(f"\r{LETTERS[self.name]} {self.name:<11} {self.stage:<9} "
                             f"{self.done}/{self.total[self.name]} frames\x1b[K")
            sys.stderr.flush()

    def finish(self, name: str, seconds: float, summary: dict[str, Any]) -> None:
        """The family's one final line."""
        if not self.enabled:
            return
        norm = summary.get("normalised")
        text = f"{norm:.3f}" if isinstance(norm, float) else "n/a"
        line = (f"{LETTERS[name]} {name:<11} {summary['n_scenarios']} scenarios, {self.total[name]} frames, "
                f"{seconds:.1f} s: normalised {text}")
        sys.stderr.write(("\r" + line + "\x1b[K\n") if self.tty else line + "\n")
        sys.stderr.flush()
        self.done = 0


def action_reader(results: dict[str, Any]) -> dict[str, Any]:
    """Family E's action reader and its accuracy on the true frames (macro-F1; None when E did not run)."""
    fam = results.get("actions")
    metrics = fam["metrics"] if fam else {}
    return {"reader": "render-and-compare (worldmodel/probes/renderidm.py)",
            "macro_f1_truth": fam["raw"].get("truth") if fam else None,
            "learned_idm_macro_f1_truth": metrics.get("macro_f1_learned_idm", {}).get("truth")}


def run_suite(model: Predictor, tokenizer: Any | None, suites: Sequence[str], cfg: SuiteConfig, aux: AuxModels,
              model_name: str = "model", progress: bool = True, reference_tokenizer: Any | None = None
              ) -> tuple[dict[str, Any], dict[str, FamilyResult]]:
    """Run the named families; returns (results.json dict, raw FamilyResult per family for the report).

    tokenizer: the model's own (its ceiling, a separate column); reference_tokenizer: the fixed one of the
    `reference_tokenizer` row (references.load_reference_tokenizer(); None leaves that row out)."""
    t0 = time.time()
    pool = EnvPool(cfg.fov_deg)
    env = pool.get(cfg.height, cfg.width)
    rows = make_rows(model, tokenizer, cfg.seed, reference_tokenizer=reference_tokenizer)
    measure = Measure(aux.segmenter, aux.idm, cfg.height, cfg.width, cfg.fov_deg)
    scenarios: dict[str, list[Scenario]] = {}
    for name in suites:
        scenarios[name] = FAMILIES[name].build(cfg, pool)
    frames = {name: 2 * sum(len(s.script) for s in sc) for name, sc in scenarios.items()}
    line = ProgressLine(progress, frames)
    results: dict[str, Any] = {}
    raw: dict[str, FamilyResult] = {}
    seg_check: dict[str, float] = {}
    timings: dict[str, float] = {}
    for name in suites:
        start = time.time()
        line.start(name, "truth")
        runs = [run_truth(s, env) for s in scenarios[name]]
        line.start(name, "rollouts")
        preds = predict_rows(rows, runs, line.tick, scored_frames(FAMILIES[name], runs))
        line.start(name, "scoring")
        result = FAMILIES[name].score(runs, preds, measure, cfg)
        raw[name] = result
        results[name] = {"letter": LETTERS[name], **summarise(result, cfg.seed, cfg.bootstrap)}
        timings[name] = round(time.time() - start, 2)
        line.finish(name, timings[name], results[name])
        if not seg_check and runs:
            seg_check = segmenter_check(runs, rows.get("reference_tokenizer"), measure)
    header = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "model": model_name,
        "suites": list(suites),
        "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
        "rows": list(rows),
        "normalised_means": MEANING,
        "aux": {"segmenter": {**aux.info.get("segmenter", {}), "this_run": seg_check},
                "idm": aux.info.get("idm", {}), "action_reader": action_reader(results)},
        "runtime_s": round(time.time() - t0, 2),
        "family_runtime_s": timings,
        "renders_pose_search": measure.pose.renders,
    }
    return {**header, "families": results}, raw
