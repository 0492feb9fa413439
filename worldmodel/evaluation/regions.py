"""Where the open-loop error is: squared error split by what the last context frame saw.

BlockWorld stores record depth and pose, so every pixel of a future frame is either *visible* (its 3D point was
in view in the last context frame: a model can carry it there with the right geometry) or *unseen* (new: it has to
be guessed). `wm bench quality` splits each model's open-loop error, the tokenizer's reconstruction error of the
same frames (the floor of any token model), copy-last's and the reprojection reference's by these two regions,
which says whether a model loses on geometry or on guessing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

REGIONS = ("visible", "unseen")


def region_errors(pred: np.ndarray, target: np.ndarray, visible: np.ndarray) -> dict[str, np.ndarray]:
    """Summed squared error (channel mean per pixel) of frames pred, target (B, S, H, W, 3) over the visible
    (B, S, H, W) bool pixels and over the others -> {"visible": (B, S), "unseen": (B, S)}."""
    error = ((pred.astype(np.float64) - target.astype(np.float64)) ** 2).mean(-1)  # (B, S, H, W)
    return {"visible": (error * visible).sum((-2, -1)), "unseen": (error * ~visible).sum((-2, -1))}


def pixel_counts(visible: np.ndarray) -> dict[str, np.ndarray]:
    """Pixels per region (B, S) of visibility masks (B, S, H, W)."""
    shown = visible.sum((-2, -1)).astype(np.float64)
    return {"visible": shown, "unseen": visible[0, 0].size - shown}


def split_summary(errors: dict[str, dict[str, np.ndarray]], counts: dict[str, np.ndarray], horizon: int
                  ) -> dict[str, Any]:
    """Pooled MSE per region over the first `horizon` steps for each named source's region_errors, and the
    visible share of pixels: {"visible_share": s, name: {"visible": mse, "unseen": mse}, ...}."""
    out: dict[str, Any] = {"visible_share": float(counts["visible"][:, :horizon].sum()
                                                  / sum(c[:, :horizon].sum() for c in counts.values()))}
    for name, sums in errors.items():
        out[name] = {region: float(sums[region][:, :horizon].sum() / max(counts[region][:, :horizon].sum(), 1.0))
                     for region in REGIONS}
    return out


def split_text(split: dict[str, Any], horizon: int) -> str:
    """One line: '16-step MSE, visible (69% of pixels) / unseen: model 838 / 2648, tokenizer 390 / 410, ...'."""
    parts = ", ".join(f"{name} {values['visible']:.0f} / {values['unseen']:.0f}"
                      for name, values in split.items() if name != "visible_share")
    return (f"{horizon}-step MSE by region, visible from the last context frame ({split['visible_share']:.0%} "
            f"of pixels) / unseen: {parts}")
