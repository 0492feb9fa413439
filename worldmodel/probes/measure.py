"""The measuring instruments shared by the probe families: block ids through the segmenter (memoised per frame),
masked PSNR / SSIM / block-id agreement on seen and never-seen surfaces, the IDM and the pose search.

Frames of a row are indexed like the truth run: index i < P is a prompt frame (given, so the truth frame),
index i >= P is the row's prediction i - P.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import torch

from worldmodel.metrics import masked_psnr, masked_ssim
from worldmodel.probes.idm import InverseDynamics, infer_actions
from worldmodel.probes.posesearch import PoseSearch
from worldmodel.probes.renderidm import RenderIDM
from worldmodel.probes.scenario import TruthRun
from worldmodel.probes.segmenter import Segmenter, segment
from worldmodel.probes.visibility import hud_mask

REGIONS = ("seen", "never_seen", "seen_changed")


def changed_mask(run: TruthRun, indices: Sequence[int]) -> np.ndarray:
    """(N, H, W) pixels whose true block id differs from the last prompt frame's at the same pixel: what
    copying the last frame cannot get right (the probed content, from ground-truth block ids alone)."""
    return run.block_ids[list(indices)] != run.block_ids[run.prompt_len - 1][None]


def frame_at(run: TruthRun, row: np.ndarray, index: int) -> np.ndarray:
    """Frame `index` of a run as a row shows it (prompt frames are given, later ones predicted)."""
    p = run.prompt_len
    return run.frames[index] if index < p else row[index - p]


class Measure:
    """Segmenter, IDMs (learned and render-and-compare) and pose search with memoisation; one per suite run."""

    def __init__(self, segmenter: Segmenter, idm: InverseDynamics, height: int, width: int, fov_deg: float = 70.0):
        self.segmenter = segmenter.eval()
        self.idm = idm.eval()
        self.world = ~hud_mask(height, width)  # world pixels (the HUD is never scored as world)
        self.pose = PoseSearch(height, width, fov_deg)
        self._render_idm: RenderIDM | None = None
        self._size = (height, width, fov_deg)
        self._ids: dict[bytes, np.ndarray] = {}

    def ids(self, frames: np.ndarray) -> np.ndarray:
        """Block ids (N, H, W) uint8 of frames (N, H, W, 3) through the segmenter, memoised per frame."""
        keys = [hashlib.blake2b(f.tobytes(), digest_size=16).digest() for f in frames]
        todo = sorted({i: k for i, k in enumerate(keys) if k not in self._ids}.items())
        todo_unique: dict[bytes, int] = {}
        for i, k in todo:
            todo_unique.setdefault(k, i)
        if todo_unique:
            out = segment(self.segmenter, np.stack([frames[i] for i in todo_unique.values()]))
            for k, ids in zip(todo_unique, out):
                self._ids[k] = ids
        return np.stack([self._ids[k] for k in keys]) if keys else np.zeros((0, *frames.shape[1:3]), np.uint8)

    @property
    def render_idm(self) -> RenderIDM:
        """The render-and-compare IDM (built on first use: it holds a BlockWorld env)."""
        if self._render_idm is None:
            self._render_idm = RenderIDM(*self._size)
        return self._render_idm

    def actions(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """IDM probabilities (T-1, labels) and camera (T-1, 2) of a clip (T, H, W, 3)."""
        return infer_actions(self.idm, frames)

    def image_scores(self, pred: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Masked PSNR (dB) and SSIM per frame: pred/truth (N, H, W, 3) uint8, mask (N, H, W); NaN if empty."""
        p, t, m = torch.as_tensor(pred), torch.as_tensor(truth), torch.as_tensor(mask & self.world)
        return masked_psnr(p, t, m).numpy(), masked_ssim(p, t, m).numpy()

    def id_agreement(self, pred_ids: np.ndarray, gt_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Fraction of mask pixels (world only) whose predicted block id equals the truth, per frame; NaN if empty."""
        m = mask & self.world
        count = m.sum(axis=(-2, -1))
        agree = ((pred_ids == gt_ids) & m).sum(axis=(-2, -1))
        return np.where(count > 0, agree / np.maximum(count, 1), np.nan)

    def region_scores(self, run: TruthRun, row: np.ndarray, indices: Sequence[int]) -> dict[str, np.ndarray]:
        """psnr/ssim/ids on surfaces seen in the prompt, on never-seen ones, and on seen surfaces whose block id
        differs from the last prompt frame's (seen_changed), per frame index: keys like "seen.psnr",
        "seen_changed.ids" -> (len(indices),)."""
        idx = list(indices)
        pred = np.stack([frame_at(run, row, i) for i in idx])
        truth, gt_ids = run.frames[idx], run.block_ids[idx]
        pred_ids = self.ids(pred)
        keys = np.stack([run.keys(i) for i in idx])
        seen = run.seen.mask(keys)
        out: dict[str, np.ndarray] = {}
        masks = (("seen", seen), ("never_seen", ~seen & (keys >= 0)), ("seen_changed", seen & changed_mask(run, idx)))
        for name, mask in masks:
            psnr, ssim = self.image_scores(pred, truth, mask)
            out[f"{name}.psnr"], out[f"{name}.ssim"] = psnr, ssim
            out[f"{name}.ids"] = self.id_agreement(pred_ids, gt_ids, mask)
        return out

    def frame_scores(self, run: TruthRun, row: np.ndarray, indices: Sequence[int]) -> dict[str, np.ndarray]:
        """Whole-frame (world pixels) psnr / ssim / block-id agreement per frame index, and block-id agreement
        on the changed pixels (changed_mask) as "changed_ids"."""
        idx = list(indices)
        pred = np.stack([frame_at(run, row, i) for i in idx])
        everything = np.ones(pred.shape[:3], bool)
        psnr, ssim = self.image_scores(pred, run.frames[idx], everything)
        pred_ids = self.ids(pred)
        return {"psnr": psnr, "ssim": ssim, "ids": self.id_agreement(pred_ids, run.block_ids[idx], everything),
                "changed_ids": self.id_agreement(pred_ids, run.block_ids[idx], changed_mask(run, idx))}


def nanmean(values: Sequence[float] | np.ndarray) -> float:
    """Mean ignoring NaN (NaN when nothing is left), without warnings."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")
