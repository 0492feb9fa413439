"""Helpers shared by the probe families: per-row accumulation, region metrics, masks, strips, site search."""

from __future__ import annotations

from collections import defaultdict
from typing import Callable, Sequence

import numpy as np

from worldmodel.probes.measure import REGIONS, Measure, frame_at, nanmean
from worldmodel.probes.scenario import TruthRun
from worldmodel.probes.scoring import Metric, Strip

Preds = dict[str, list[np.ndarray]]  # row -> one predicted clip per run


class Table:
    """Accumulates per-scenario values: table.add(metric, row, value); table.metrics(...) -> Metric dict."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        self.meta: dict[str, tuple[bool, str]] = {}

    def declare(self, name: str, higher_is_better: bool, description: str) -> None:
        """Direction and meaning of a metric."""
        self.meta[name] = (higher_is_better, description)

    def add(self, name: str, row: str, value: float) -> None:
        """One scenario's value of a metric for a row."""
        self.values[name][row].append(float(value))

    def metrics(self) -> dict[str, Metric]:
        """Metric objects (every declared metric must have been filled for every row)."""
        out = {}
        for name, rows in self.values.items():
            hib, desc = self.meta.get(name, (True, ""))
            out[name] = Metric({r: np.asarray(v, np.float64) for r, v in rows.items()}, hib, desc)
        return out


REGION_DESCRIPTIONS = {
    "psnr": ("masked PSNR (dB) on surfaces {where}", True),
    "ssim": ("masked SSIM on surfaces {where}", True),
    "ids": ("block-id agreement (segmenter vs truth) on surfaces {where}", True),
}


def declare_regions(table: Table, prefix: str = "") -> None:
    """Declare seen / never_seen psnr, ssim, ids metrics (never-seen reported apart from memory scores)."""
    for region in REGIONS:
        where = "seen in the prompt" if region == "seen" else "never seen in the prompt (not memory)"
        for key, (desc, hib) in REGION_DESCRIPTIONS.items():
            table.declare(f"{prefix}{region}.{key}", hib, desc.format(where=where))


def add_regions(table: Table, measure: Measure, run: TruthRun, preds: Preds, j: int, indices: Sequence[int],
                prefix: str = "") -> None:
    """Region scores of run j at `indices`, averaged over the frames, for every row."""
    for row, clips in preds.items():
        scores = measure.region_scores(run, clips[j], indices)
        for key, values in scores.items():
            table.add(f"{prefix}{key}", row, nanmean(values))


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation of an (H, W) mask by a square of half-size `radius`."""
    out = mask.copy()
    h, w = mask.shape
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            src = mask[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
            out[max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)] |= src
    return out


def centroid(mask: np.ndarray) -> np.ndarray | None:
    """(row, col) centroid of a mask, None when empty."""
    ys, xs = np.nonzero(mask)
    return np.array([ys.mean(), xs.mean()]) if ys.size else None


def make_strip(title: str, run: TruthRun, row: np.ndarray, indices: Sequence[int], labels: Sequence[str] | None = None
               ) -> Strip:
    """Ground truth vs a row's frames at run frame indices (prompt frames show what the model was given)."""
    idx = [int(i) for i in indices if 0 <= int(i) < len(run.frames)]
    p = run.prompt_len
    labs = list(labels) if labels is not None else [f"p{i}" if i < p else f"t+{i - p + 1}" for i in idx]
    return Strip(title, run.frames[idx], np.stack([frame_at(run, row, i) for i in idx]), labs)


def spread(lo: int, hi: int, k: int) -> list[int]:
    """k roughly even integers in [lo, hi]."""
    if hi <= lo:
        return [lo]
    return sorted({int(round(v)) for v in np.linspace(lo, hi, k)})


def first_site(candidates: int, try_site: Callable[[int], object | None]) -> object | None:
    """The first candidate index whose try_site result is not None."""
    for k in range(candidates):
        found = try_site(k)
        if found is not None:
            return found
    return None
