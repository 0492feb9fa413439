"""Render-and-compare pose search: where was the camera when a model drew this frame?

Given a (model) frame, the true world and a prior pose (the truth pose), render BlockWorld at candidate poses and
keep the one whose image is closest (mean absolute difference of lightly blurred RGB, HUD excluded). Yaw/pitch
are searched coarse-to-fine on a grid; position along a line or on the ground plane. The blur keeps the cost
smooth for soft model frames. Searches are memoised on the frame bytes and the prior, so repeated frames (the
copy-last and frozen-first rows) cost nothing.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from envs.blockworld.render import render
from envs.blockworld.textures import make_textures
from worldmodel.probes.visibility import eye_of, hud_mask


def blur(image: np.ndarray) -> np.ndarray:
    """3x3 box blur of an (H, W, 3) image as float32 (edges replicated)."""
    x = np.pad(image.astype(np.float32), ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = image.shape[:2]
    return sum(x[i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0


class PoseSearch:
    """Pose estimation of frames by rendering the true world; one instance per frame size and fov."""

    def __init__(self, height: int, width: int, fov_deg: float = 70.0) -> None:
        self.height, self.width, self.fov = int(height), int(width), float(fov_deg)
        self.textures = make_textures()
        self.keep = ~hud_mask(self.height, self.width)
        self._memo: dict[tuple, np.ndarray] = {}
        self.renders = 0

    def cost(self, target: np.ndarray, voxels: np.ndarray, pose: np.ndarray) -> float:
        """Mean absolute difference between the blurred target and the blurred render at `pose`; the render
        borrows the target's HUD pixels so that the blur does not smear a HUD mismatch into the world."""
        rgb, _, _ = render(voxels, self.textures, eye_of(pose, voxels.shape), float(pose[3]), float(pose[4]),
                           self.width, self.height, self.fov, True)
        self.renders += 1
        rgb[~self.keep] = self._hud
        return float(np.abs(blur(rgb) - target)[self.keep].mean())

    def _target(self, frame: np.ndarray) -> np.ndarray:
        """Blurred target; remembers its HUD pixels for the renders compared with it."""
        self._hud = frame[~self.keep]
        return blur(frame)

    def _best(self, target: np.ndarray, voxels: np.ndarray, poses: Sequence[np.ndarray]) -> np.ndarray:
        costs = [self.cost(target, voxels, p) for p in poses]
        return np.asarray(poses[int(np.argmin(costs))], np.float64)

    def _key(self, kind: str, frame: np.ndarray, voxels: np.ndarray, prior: np.ndarray, extra: tuple) -> tuple:
        digest = hashlib.blake2b(frame.tobytes(), digest_size=16).digest()
        vox = hashlib.blake2b(voxels.tobytes(), digest_size=8).digest()
        return (kind, digest, vox, tuple(np.round(prior, 4)), extra)

    def _grid(self, target: np.ndarray, voxels: np.ndarray, centre: np.ndarray, axes: Sequence[int],
              span: float, step: float) -> np.ndarray:
        """Best pose on a grid of +/- span (step) around `centre` over the given pose axes (jointly)."""
        offsets = np.arange(-span, span + 1e-6, step)
        grids = np.meshgrid(*[offsets] * len(axes), indexing="ij")
        cands = []
        for combo in zip(*(g.ravel() for g in grids)):
            p = centre.copy()
            for axis, off in zip(axes, combo):
                p[axis] += off
            p[4] = np.clip(p[4], -90.0, 90.0)
            cands.append(p)
        return self._best(target, voxels, cands)

    def angles(self, frame: np.ndarray, voxels: np.ndarray, prior: np.ndarray, yaw_span: float = 30.0,
               pitch_span: float = 15.0) -> np.ndarray:
        """Best pose (5,) varying yaw within +/- yaw_span and pitch within +/- pitch_span of the prior:
        coarse yaw line, coarse pitch line, then joint refinement (~70 renders)."""
        prior = np.asarray(prior, np.float64)
        key = self._key("angles", frame, voxels, prior, (yaw_span, pitch_span))
        if key in self._memo:
            return self._memo[key].copy()
        target = self._target(frame)
        best = self._grid(target, voxels, prior, [3], yaw_span, 3.0)
        if pitch_span > 0:
            best = self._grid(target, voxels, best, [4], pitch_span, 3.0)
            best = self._grid(target, voxels, best, [3, 4], 2.0, 1.0)
            best = self._grid(target, voxels, best, [3, 4], 0.5, 0.5)
        else:
            best = self._grid(target, voxels, best, [3], 2.0, 0.5)
        self._memo[key] = best.copy()
        return best

    def along(self, frame: np.ndarray, voxels: np.ndarray, prior: np.ndarray, direction: Sequence[float],
              lo: float = -1.0, hi: float = 3.0) -> float:
        """Best offset (blocks) along a unit `direction` from the prior position (angles fixed)."""
        prior = np.asarray(prior, np.float64)
        d = np.asarray(direction, np.float64)
        key = self._key("along", frame, voxels, prior, (tuple(np.round(d, 4)), lo, hi))
        if key in self._memo:
            return float(self._memo[key][0])
        target = self._target(frame)
        best, width = 0.0, None
        for step in (0.2, 0.05):
            a, b = (lo, hi) if width is None else (best - width, best + width)
            grid = np.arange(a, b + 1e-6, step)
            poses = [np.concatenate([prior[:3] + o * d, prior[3:]]) for o in grid]
            costs = [self.cost(target, voxels, p) for p in poses]
            best, width = float(grid[int(np.argmin(costs))]), 0.2
        self._memo[key] = np.array([best])
        return best

    def planar(self, frame: np.ndarray, voxels: np.ndarray, prior: np.ndarray, span: float = 1.5,
               yaw_span: float = 30.0) -> np.ndarray:
        """Best pose varying yaw, then x and z (coordinate descent), then yaw again (pitch and height fixed)."""
        prior = np.asarray(prior, np.float64)
        key = self._key("planar", frame, voxels, prior, (span, yaw_span))
        if key in self._memo:
            return self._memo[key].copy()
        best = self.angles(frame, voxels, prior, yaw_span, 0.0)
        target = self._target(frame)
        for width, step in ((span, 0.25), (0.25, 0.05)):
            best = self._grid(target, voxels, best, [0], width, step)
            best = self._grid(target, voxels, best, [2], width, step)
        best = self._grid(target, voxels, best, [3], 2.0, 0.5)
        self._memo[key] = best.copy()
        return best


def yaw_difference(a: float, b: float) -> float:
    """Signed smallest difference a - b between two yaws in degrees, in [-180, 180)."""
    return (a - b + 180.0) % 360.0 - 180.0
