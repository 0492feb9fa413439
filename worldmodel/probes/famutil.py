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
        self.meta: dict[str, tuple[bool, str, float]] = {}

    def declare(self, name: str, higher_is_better: bool, description: str, span: float = 1.0) -> None:
        """Direction, meaning and range (1 for ratios) of a metric."""
        self.meta[name] = (higher_is_better, description, float(span))

    def add(self, name: str, row: str, value: float) -> None:
        """One scenario's value of a metric for a row."""
        self.values[name][row].append(float(value))

    def metrics(self) -> dict[str, Metric]:
        """Metric objects (every declared metric must have been filled for every row)."""
        out = {}
        for name, rows in self.values.items():
            hib, desc, span = self.meta.get(name, (True, "", 1.0))
            out[name] = Metric({r: np.asarray(v, np.float64) for r, v in rows.items()}, hib, desc, span)
        return out


REGION_DESCRIPTIONS = {
    "psnr": ("masked PSNR (dB) on surfaces {where}", True),
    "ssim": ("masked SSIM on surfaces {where}", True),
    "ids": ("block-id agreement (segmenter vs truth) on surfaces {where}", True),
}


def declare_regions(table: Table, prefix: str = "") -> None:
    """Declare seen / never_seen psnr, ssim, ids metrics (never-seen reported apart from memory scores)."""
    wheres = {"seen": "seen in the prompt", "never_seen": "never seen in the prompt (not memory)",
              "seen_changed": "seen in the prompt whose block id differs from the last prompt frame's there "
                              "(what copying cannot get)"}
    for region in REGIONS:
        where = wheres[region]
        for key, (desc, hib) in REGION_DESCRIPTIONS.items():
            table.declare(f"{prefix}{region}.{key}", hib, desc.format(where=where), 50.0 if key == "psnr" else 1.0)


def add_regions(table: Table, measure: Measure, run: TruthRun, preds: Preds, j: int, indices: Sequence[int],
                prefix: str = "") -> None:
    """Region scores of run j at `indices`, averaged over the frames, for every row."""
    for row, clips in preds.items():
        scores = measure.region_scores(run, clips[j], indices)
        for key, values in scores.items():
            table.add(f"{prefix}{key}", row, nanmean(values))


def place_landmarks(voxels: np.ndarray, feet: np.ndarray, yaw: float, offsets: Sequence[tuple[float, float]],
                    first: int = 0) -> tuple[list[tuple[tuple[int, int, int], int]], list[tuple[int, int, int]]]:
    """2-block landmark pillars at (yaw offset in degrees, distance in blocks) from the feet, where the ground
    allows: (setup edits, salient cells). Block types cycle through LANDMARKS from `first`."""
    from worldmodel.probes.scripting import LANDMARKS, pillar_site

    setup, salient = [], []
    for k, (offset, dist) in enumerate(offsets):
        cells = pillar_site(voxels, feet, yaw + offset, dist, 2)
        if cells is None or any(c in salient for c in cells):
            continue
        block = LANDMARKS[(first + k) % len(LANDMARKS)]
        setup += [(c, block) for c in cells]
        salient += cells
    return setup, salient


def landmark_mask(run: TruthRun, indices: Sequence[int]) -> np.ndarray:
    """(N, H, W) pixels showing the scenario's salient cells (landmarks) in truth whose block id differs from
    the last prompt frame's there (copying cannot get them)."""
    from worldmodel.probes.measure import changed_mask
    from worldmodel.probes.visibility import cells_mask

    idx = list(indices)
    shown = np.stack([cells_mask(run.keys(i), run.scenario.salient, run.world_shape) for i in idx])
    return shown & changed_mask(run, idx)


def add_landmarks(table: Table, measure: Measure, run: TruthRun, preds: Preds, j: int, indices: Sequence[int],
                  name: str = "landmarks.ids") -> None:
    """Block-id agreement pooled over the landmark pixels (landmark_mask) of the frames at `indices`, every row
    (NaN when no landmark pixel shows)."""
    idx = list(indices)
    mask = landmark_mask(run, idx) & measure.world
    for row, clips in preds.items():
        if not mask.any():
            table.add(name, row, np.nan)
            continue
        pred_ids = measure.ids(np.stack([frame_at(run, clips[j], i) for i in idx]))
        table.add(name, row, float((pred_ids == run.block_ids[idx])[mask].mean()))


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
