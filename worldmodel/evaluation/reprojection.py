"""Reprojection references: how well can *any* model predict an open-loop rollout from the last context frame?

A model of the world that sees the last context frame can at best carry that frame's pixels to where they land
after the recorded motion, and guess the rest. BlockWorld records every frame's depth and pose, so this guess
can be made with perfect geometry, no model involved:

- **reprojection**: each target pixel whose 3D point (true target depth and pose) was visible in the last
  context frame takes that frame's colour (nearest pixel); every other pixel takes the mean colour of its ray's
  elevation (a table over the benchmark's own frames). Generous on geometry (exact depth of every future pixel,
  exact poses), plain in what it invents for unseen parts.
- **reprojection + map**: the same, but unseen pixels take the mean colour of their *true* block type: a
  predictor that knows the layout of the parts of the world it has never seen.

`wm bench quality` reports both beside copy-last-frame whenever the store has BlockWorld ground truth (depth,
pose, block_ids): a target above `reprojection` asks a model to know what it has not seen.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from envs.blockworld.hud import hud_mask
from envs.blockworld.state import EYE_HEIGHT
from worldmodel.evaluation.regions import REGIONS, region_errors
from worldmodel.geometry import camera_basis, pixel_rays, project

ELEVATION_BINS = 60
GROUND_TRUTH = ("depth", "pose", "block_ids")
_SKY = 1e6  # stand-in distance of sky pixels (depth inf): far enough that only rotation moves them


def has_ground_truth(window: dict[str, Any]) -> bool:
    """Whether a window carries the BlockWorld ground truth the references need."""
    return all(window.get(key) is not None for key in GROUND_TRUTH)


def _eye(pose: np.ndarray) -> np.ndarray:
    """Eye position (3,) of a pose [x, y, z, yaw_deg, pitch_deg] (feet position)."""
    return pose[:3] + np.array([0.0, EYE_HEIGHT, 0.0])


def _basis(pose: np.ndarray) -> torch.Tensor:
    """Camera axes float64 (1, 3, 3) of a pose (worldmodel.geometry.camera_basis)."""
    return camera_basis(torch.tensor([float(pose[3])], dtype=torch.float64),
                        torch.tensor([float(pose[4])], dtype=torch.float64))


def _elevation_bin(pose: np.ndarray, height: int, width: int, fov_deg: float) -> np.ndarray:
    """Elevation bin (H, W) int of every pixel's ray (0 = straight down, ELEVATION_BINS - 1 = straight up)."""
    up = pixel_rays(_basis(pose), height, width, fov_deg)[0, ..., 1].numpy()  # (H, W) world-up component
    return np.clip(((np.arcsin(up) / math.pi + 0.5) * ELEVATION_BINS).astype(np.int64), 0, ELEVATION_BINS - 1)


def reproject(frame: np.ndarray, depth: np.ndarray, pose: np.ndarray, target_depth: np.ndarray,
              target_pose: np.ndarray, fov_deg: float, hud: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Carry `frame` (H, W, 3) seen from `pose` to the view at `target_pose`, whose per-pixel depth is known.

    Returns the colours (H, W, 3) float32 (the source frame's colour where `visible`) and `visible` (H, W) bool:
    the target pixel's 3D point projects inside the source view and the source saw that point (depth agrees to
    15% + 0.1 blocks; sky matches sky). `hud` (H, W) bool marks overlay pixels that do not move with the
    camera (envs.blockworld.hud.hud_mask): they are never a source, and in the target they keep their pixel."""
    height, width = target_depth.shape
    target = np.asarray(target_depth, np.float64)  # stores keep float16 depth: 1e6 would overflow it
    sky = ~np.isfinite(target)
    rays = pixel_rays(_basis(target_pose), height, width, fov_deg)[0].numpy()  # (H, W, 3)
    points = (_eye(target_pose) + np.where(sky, _SKY, target)[..., None] * rays).reshape(-1, 3)  # (H*W, 3)
    row_f, col_f, z_t = project(torch.from_numpy(points.T)[None], torch.from_numpy(_eye(pose))[None], _basis(pose),
                                height, width, fov_deg)  # (1, H*W) each
    offset = points - _eye(pose)
    z = z_t[0].numpy()
    row, col = np.round(row_f[0].numpy()).astype(np.int64), np.round(col_f[0].numpy()).astype(np.int64)
    inside = (z > 0) & (row >= 0) & (row < height) & (col >= 0) & (col < width)
    row, col = np.clip(row, 0, height - 1), np.clip(col, 0, width - 1)
    seen = np.asarray(depth, np.float64)[row, col]  # (H*W,) source depth where each point lands
    distance = np.linalg.norm(offset, axis=1)
    seen_finite = np.isfinite(seen)
    same_point = seen_finite & (np.abs(np.where(seen_finite, seen, 0.0) - distance) < 0.15 * distance + 0.1)
    visible = inside & np.where(sky.reshape(-1), ~seen_finite, same_point)
    if hud is not None:
        overlay = hud.reshape(-1)
        visible &= ~overlay[row * width + col]
        row, col = np.where(overlay, np.arange(height * width) // width, row), np.where(
            overlay, np.arange(height * width) % width, col)
        visible |= overlay
    colours = np.asarray(frame, np.float32)[row, col]  # (H*W, 3)
    return colours.reshape(height, width, 3), visible.reshape(height, width)


def colour_tables(windows: Sequence[dict[str, Any]], fov_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean colour per ray elevation bin (ELEVATION_BINS, 3) and per block id (256, 3) over the windows' frames
    (every third frame for the elevation table; bins never seen fall back to the overall mean colour)."""
    by_elevation, elevation_count = np.zeros((ELEVATION_BINS, 3)), np.zeros(ELEVATION_BINS)
    by_block, block_count = np.zeros((256, 3)), np.zeros(256)
    for window in windows:
        frames = np.asarray(window["frames"], np.float64)  # (T, H, W, 3)
        ids = np.asarray(window["block_ids"]).astype(np.int64).reshape(-1)
        np.add.at(by_block, ids, frames.reshape(-1, 3))
        np.add.at(block_count, ids, 1)
        height, width = frames.shape[1:3]
        for t in range(0, frames.shape[0], 3):
            bins = _elevation_bin(window["pose"][t], height, width, fov_deg).reshape(-1)
            np.add.at(by_elevation, bins, frames[t].reshape(-1, 3))
            np.add.at(elevation_count, bins, 1)
    overall = by_block.sum(0) / max(block_count.sum(), 1.0)
    fill = lambda sums, counts: np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], overall)  # noqa: E731
    return fill(by_elevation, elevation_count).astype(np.float32), fill(by_block, block_count).astype(np.float32)


def reference_errors(windows: Sequence[dict[str, Any]], context: int, horizon: int, fov_deg: float = 70.0
                     ) -> dict[str, Any]:
    """Per-step MSE (B, horizon) of both references over windows of context + horizon frames with ground truth,
    the visible fraction (B, horizon) of each target frame, its visibility masks "visible_masks"
    (B, horizon, H, W) bool and the reprojection's squared error summed by region, "reprojection_regions"
    ({"visible": (B, horizon), "unseen": (B, horizon)}, worldmodel.evaluation.regions)."""
    if not windows or not all(has_ground_truth(w) for w in windows):
        raise ValueError(f"reprojection references need {', '.join(GROUND_TRUTH)} in every window")
    by_elevation, by_block = colour_tables(windows, fov_deg)
    out: dict[str, list[Any]] = {"reprojection": [], "reprojection_map": [], "visible": [], "visible_masks": [],
                                 "reprojection_regions": []}
    last = context - 1
    for window in windows:
        frames, depth, pose, ids = (np.asarray(window[k]) for k in ("frames", "depth", "pose", "block_ids"))
        height, width = frames.shape[1:3]
        hud = hud_mask(width, height) if window.get("hud", True) else None
        plain, mapped, visible_share, masks, regions = [], [], [], [], []
        for t in range(context, context + horizon):
            colours, visible = reproject(frames[last], depth[last], pose[last], depth[t], pose[t], fov_deg, hud)
            target = frames[t].astype(np.float32)
            guess = np.where(visible[..., None], colours, by_elevation[_elevation_bin(pose[t], height, width, fov_deg)])
            known = np.where(visible[..., None], colours, by_block[ids[t].astype(np.int64)])
            plain.append(float(((guess - target) ** 2).mean()))
            mapped.append(float(((known - target) ** 2).mean()))
            visible_share.append(float(visible.mean()))
            masks.append(visible)
            regions.append(region_errors(guess[None, None], target[None, None], visible[None, None]))
        out["reprojection"].append(plain)
        out["reprojection_map"].append(mapped)
        out["visible"].append(visible_share)
        out["visible_masks"].append(np.stack(masks))
        out["reprojection_regions"].append({r: np.concatenate([g[r][0] for g in regions]) for r in REGIONS})
    arrays = {key: np.asarray(out.pop(key), np.float64) for key in ("reprojection", "reprojection_map", "visible")}
    return {**arrays, "visible_masks": np.stack(out["visible_masks"]),
            "reprojection_regions": {r: np.stack([w[r] for w in out["reprojection_regions"]]) for r in REGIONS}}
