"""Which surfaces a frame shows, from BlockWorld ground truth (depth + pose), so memory is scored only where the
model was shown something.

A *surface* is one face of one voxel cell. Every pixel that hits a block gets a surface key
((x * Y + y) * Z + z) * 6 + face, found by stepping a hair along its ray from the hit point (eye + depth * ray)
into the hit cell; the face is the cell side the ray entered through (0/1: -x/+x, 2/3: -y/+y, 4/5: -z/+z).
Sky pixels get -1. `SeenSet` accumulates the keys of the prompt (context) frames; a later frame's pixels split
into seen (their surface was in the prompt) and never-seen (reported apart).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np

from envs.blockworld.hud import Hud
from envs.blockworld.render import camera_rays
from envs.blockworld.state import EYE_HEIGHT
from envs.blockworld.textures import make_textures

SKY = -1
STEP_IN = 1e-3  # how far past the hit point we look up the cell (depth is float32: ~1e-5 at 64 blocks)


def eye_of(pose: np.ndarray, world_shape: Sequence[int]) -> np.ndarray:
    """Camera position (3,) of a pose [x, y, z, yaw, pitch] (feet), clamped into the world box like the env."""
    eye = np.array([pose[0], pose[1] + EYE_HEIGHT, pose[2]], dtype=np.float64)
    eye[0] = min(max(eye[0], 1e-3), world_shape[0] - 1e-3)
    eye[2] = min(max(eye[2], 1e-3), world_shape[2] - 1e-3)
    eye[1] = max(eye[1], 1e-3)
    return eye


def pixel_rays(pose: np.ndarray, height: int, width: int, fov_deg: float) -> np.ndarray:
    """Unit ray of every pixel (H, W, 3) for a pose, exactly as the renderer traces them."""
    return camera_rays(float(pose[3]), float(pose[4]), width, height, fov_deg)


def surface_keys(depth: np.ndarray, pose: np.ndarray, world_shape: Sequence[int], fov_deg: float = 70.0) -> np.ndarray:
    """Surface key per pixel, int64 (H, W); SKY (-1) where the ray hit nothing."""
    h, w = depth.shape
    rays = pixel_rays(pose, h, w, fov_deg)
    eye = eye_of(pose, world_shape)
    finite = np.isfinite(depth)
    d = np.where(finite, depth, 0.0).astype(np.float64)[..., None]
    hit = eye + d * rays  # (H, W, 3)
    inside = hit + STEP_IN * rays
    cell = np.floor(inside).astype(np.int64)
    # the face the ray entered through: the axis whose coordinate of the hit point sits closest to a grid plane
    frac = np.abs(hit - np.rint(hit))
    frac = np.where(np.abs(rays) > 1e-9, frac, np.inf)
    axis = np.argmin(frac, axis=-1)  # (H, W)
    comp = np.take_along_axis(rays, axis[..., None], axis=-1)[..., 0]
    face = 2 * axis + (comp < 0)  # entering through the -side when moving +, i.e. face 2a; else 2a + 1
    nx, ny, nz = (int(v) for v in world_shape)
    ok = finite & np.all(cell >= 0, axis=-1) & (cell[..., 0] < nx) & (cell[..., 1] < ny) & (cell[..., 2] < nz)
    keys = ((cell[..., 0] * ny + cell[..., 1]) * nz + cell[..., 2]) * 6 + face
    return np.where(ok, keys, SKY)


def cell_key(cell: Sequence[int], world_shape: Sequence[int]) -> int:
    """Integer id of a cell (the surface key without its face, i.e. key // 6)."""
    _, ny, nz = (int(v) for v in world_shape)
    return (int(cell[0]) * ny + int(cell[1])) * nz + int(cell[2])


class SeenSet:
    """Surfaces seen so far (e.g. in the prompt); `mask(keys)` -> bool (H, W) of pixels showing a seen surface."""

    def __init__(self) -> None:
        self._keys = np.zeros(0, np.int64)

    def add(self, keys: np.ndarray) -> None:
        """Add the surface keys of one or more frames (sky ignored)."""
        k = np.unique(keys[keys >= 0])
        self._keys = np.union1d(self._keys, k)

    def __len__(self) -> int:
        return int(self._keys.size)

    def mask(self, keys: np.ndarray) -> np.ndarray:
        """Pixels of a frame whose surface is in the set (sky is never 'seen')."""
        return np.isin(keys, self._keys) & (keys >= 0)

    def cells(self) -> np.ndarray:
        """Distinct cell ids of the seen surfaces."""
        return np.unique(self._keys // 6)


def cells_mask(keys: np.ndarray, cells: Iterable[Sequence[int]], world_shape: Sequence[int]) -> np.ndarray:
    """Pixels whose visible surface belongs to one of `cells`."""
    ids = np.array([cell_key(c, world_shape) for c in cells], np.int64)
    return np.isin(keys // 6, ids) & (keys >= 0)


def cell_region(cells: Iterable[Sequence[int]], pose: np.ndarray, depth: np.ndarray, world_shape: Sequence[int],
                fov_deg: float = 70.0) -> np.ndarray:
    """Pixels whose ray passes through one of the unit `cells` before (or at) its hit: where a block in that cell
    shows or would show. Used for edits: a removed block's region is where it used to be drawn."""
    h, w = depth.shape
    rays = pixel_rays(pose, h, w, fov_deg)
    eye = eye_of(pose, world_shape)
    far = np.where(np.isfinite(depth), depth, 1e9)[..., None]
    inv = np.where(np.abs(rays) > 1e-12, 1.0 / np.where(rays == 0, 1.0, rays), 1e12)
    out = np.zeros((h, w), bool)
    for cell in cells:
        lo = np.asarray(cell, np.float64) - eye
        t0, t1 = lo * inv, (lo + 1.0) * inv  # (H, W, 3) slab entries/exits
        near = np.minimum(t0, t1).max(axis=-1)
        exit_ = np.maximum(t0, t1).min(axis=-1)
        out |= (near <= exit_) & (exit_ > 0) & (near <= far[..., 0] + 1e-3)
    return out


@lru_cache(maxsize=8)
def _hud_mask(height: int, width: int) -> np.ndarray:
    hud = Hud(width, height, make_textures())
    mask = np.zeros((height, width), bool)
    for index in hud.cross:
        mask[index] = True
    if hud.show_hotbar:
        mask[hud.y0 : hud.y0 + hud.slot, hud.x0 : hud.x0 + 9 * hud.slot] = True
    mask.setflags(write=False)
    return mask


def hud_mask(height: int, width: int) -> np.ndarray:
    """Pixels covered by the BlockWorld HUD (crosshair + hotbar): excluded from world metrics (read-only)."""
    return _hud_mask(int(height), int(width))


def hud_slot_boxes(height: int, width: int) -> list[tuple[int, int, int]]:
    """(y0, x0, size) of each of the 9 hotbar slots (empty if the frame is too small for a hotbar)."""
    hud = Hud(int(width), int(height), make_textures())
    if not hud.show_hotbar:
        return []
    return [(hud.y0, hud.x0 + i * hud.slot, hud.slot) for i in range(9)]


def read_selected_slot(frame: np.ndarray) -> int:
    """Which hotbar slot a frame's HUD highlights (brightest slot border), -1 without a hotbar. No weights:
    the selected slot's border is drawn white, the others grey."""
    boxes = hud_slot_boxes(frame.shape[0], frame.shape[1])
    if not boxes:
        return -1
    scores = []
    for y0, x0, s in boxes:
        tile = frame[y0 : y0 + s, x0 : x0 + s].astype(np.float32).mean(axis=-1)
        border = np.concatenate([tile[0], tile[-1], tile[1:-1, 0], tile[1:-1, -1]])
        scores.append(float(border.mean()))
    return int(np.argmax(scores))


def angular_size_deg(distance: float) -> float:
    """Rough angular width of one block seen from `distance` blocks (used to pick view angles)."""
    return math.degrees(2.0 * math.atan(0.5 / max(distance, 1e-6)))
