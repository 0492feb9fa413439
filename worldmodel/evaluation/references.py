"""The no-model references of `wm bench quality` on BlockWorld stores: copy-last and the reprojection references
(reprojection.py) as pooled PSNR per horizon, per-step curves and error by region (regions.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from worldmodel.evaluation.regions import pixel_counts, region_errors, split_summary, split_text
from worldmodel.evaluation.reprojection import has_ground_truth, reference_errors
from worldmodel.evaluation.scores import frame_mse, pooled_psnr, psnr_curve


def reference_summary(windows: list[dict[str, Any]], context: int, horizons: list[int]
                      ) -> tuple[dict[str, Any] | None, np.ndarray | None]:
    """Pooled open-loop PSNR of copy-last and of the reprojection references per horizon, their per-step curves
    and their error by region, and the visibility masks (B, H, h, w) of the open-loop targets; (None, None)
    unless every window has BlockWorld ground truth."""
    if not all(has_ground_truth(w) for w in windows):
        return None, None
    errors = reference_errors(windows, context, max(horizons), windows[0]["fov_deg"])
    last = np.stack([np.repeat(w["frames"][context - 1:context], max(horizons), 0) for w in windows])  # (B, H, ...)
    target = np.stack([w["frames"][context:] for w in windows])  # (B, H, h, w, 3)
    copy = frame_mse(last, target)  # (B, H)
    out: dict[str, Any] = {f"open_loop_{h}_psnr": {"copy_last_pooled": pooled_psnr(copy[:, :h]),
                                                   "reprojection_pooled": pooled_psnr(errors["reprojection"][:, :h]),
                                                   "reprojection_map_pooled":
                                                       pooled_psnr(errors["reprojection_map"][:, :h])}
                           for h in horizons}
    out["reprojection_psnr_per_step"] = psnr_curve(errors["reprojection"])
    out["reprojection_map_psnr_per_step"] = psnr_curve(errors["reprojection_map"])
    out["visible_per_step"] = errors["visible"].mean(0).round(3).tolist()
    out["windows"] = len(windows)
    masks = errors["visible_masks"]
    regions = {"copy-last": region_errors(last, target, masks), "reprojection": errors["reprojection_regions"]}
    out["regions"] = {f"open_loop_{h}": split_summary(regions, pixel_counts(masks), h) for h in horizons}
    return out, masks


def print_references(references: dict[str, Any], horizons: list[int]) -> None:
    """Print a `reference_summary`: per horizon, the pooled PSNRs and the error by region."""
    print("References from BlockWorld ground truth, no model (worldmodel/evaluation/reprojection.py), pooled PSNR:")
    for h in horizons:
        row = references[f"open_loop_{h}_psnr"]
        print(f"  open-loop {h}-step: copy-last {row['copy_last_pooled']:.2f}, reprojection (true depth and poses) "
              f"{row['reprojection_pooled']:.2f}, reprojection + true block types of unseen pixels "
              f"{row['reprojection_map_pooled']:.2f}; visible from the last context frame at step {h}: "
              f"{references['visible_per_step'][h - 1]:.0%}")
        print(f"  {split_text(references['regions'][f'open_loop_{h}'], h)}")
