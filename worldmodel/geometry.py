"""Camera-rotation geometry: where the pixels of a frame go when the camera turns by an action's [d_pitch, d_yaw].

A camera that only rotates sees the same rays in a new order, whatever the depth of the scene, so the frame
after a turn is, where it was in view before, a known resampling of the frame before it. Used by the dynamics'
camera hint (`worldmodel/dynamics/warp.py`) and by the tokenizer's frame fusion (`worldmodel/fusion/net.py`).

The warp assumes a level camera (pitch 0) before the turn: the absolute pitch is not in the action dict, and
for the small pitches of walking footage the error is a slight bend of the horizontal shift. The angle
convention is the project's (`envs.blockworld.render.camera_basis`, written out here in torch so the model does
not depend on BlockWorld; a test checks the two against a real render).

The same pinhole model serves full 3D geometry (`pixel_tangents`, `pixel_rays`, `project`): the BlockWorld truth
reprojection (`worldmodel/evaluation/reprojection.py`) and the spatial memory (`worldmodel/memory/`) unproject
pixels with depth and project points into other views with these functions. `fov_deg` is the vertical field of
view; pixel (row 0, col 0) is the top-left; depth is the euclidean distance along a pixel's unit ray.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F


def camera_basis(yaw_deg: torch.Tensor, pitch_deg: torch.Tensor) -> torch.Tensor:
    """Camera axes (..., 3, 3), rows forward, right, up, for yaw and pitch in degrees (...)."""
    yaw, pitch = torch.deg2rad(yaw_deg), torch.deg2rad(pitch_deg)
    sy, cy, sp, cp = yaw.sin(), yaw.cos(), pitch.sin(), pitch.cos()
    zero = torch.zeros_like(sy)
    forward = torch.stack([-sy * cp, -sp, cy * cp], -1)
    right = torch.stack([-cy, zero, -sy], -1)
    up = torch.stack([-sy * sp, cp, cy * sp], -1)
    return torch.stack([forward, right, up], -2)


def pixel_tangents(height: int, width: int, fov_deg: float, device: torch.device | str = "cpu",
                   dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Image-plane coordinates of pixel centres at unit forward distance: u (W,) rightwards, v (H,) upwards."""
    tan_h = math.tan(math.radians(fov_deg) / 2.0)
    v = (1.0 - 2.0 * (torch.arange(height, device=device, dtype=dtype) + 0.5) / height) * tan_h
    u = (2.0 * (torch.arange(width, device=device, dtype=dtype) + 0.5) / width - 1.0) * tan_h * (width / height)
    return u, v


def pixel_rays(basis: torch.Tensor, height: int, width: int, fov_deg: float) -> torch.Tensor:
    """Unit ray of every pixel (B, H, W, 3) in world space, for camera axes basis (B, 3, 3) (`camera_basis`)."""
    u, v = pixel_tangents(height, width, fov_deg, basis.device, basis.dtype)
    rays = (basis[:, None, None, 0] + u[None, None, :, None] * basis[:, None, None, 1]
            + v[None, :, None, None] * basis[:, None, None, 2])  # (B, H, W, 3)
    return rays / rays.norm(dim=-1, keepdim=True)


def project(points: torch.Tensor, eye: torch.Tensor, basis: torch.Tensor, height: int, width: int,
            fov_deg: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """World points (B, 3, N) (channels first: one contiguous row per axis, ~10x faster on the CPU than (B, N, 3))
    seen from eye (B, 3) with camera axes basis (B, 3, 3) -> (row, col, z), each (B, N).

    row and col are continuous pixel coordinates, pixel centres at integers (round them for the nearest pixel);
    z is the distance along the view axis (<= 0 behind the camera, where row and col are meaningless)."""
    tan_h = math.tan(math.radians(fov_deg) / 2.0)
    forward, right, up = torch.bmm(basis, points - eye[:, :, None]).unbind(1)  # (B, N) each
    scale = forward.clamp_min(1e-6) * tan_h
    col = (right / (scale * width / height) + 1.0) * (width / 2.0) - 0.5
    row = (1.0 - up / scale) * (height / 2.0) - 0.5
    return row, col, forward


def inverse_rays(ray: torch.Tensor) -> torch.Tensor:
    """1 / ray (..., 3), with zero components nudged to 1e-12 (for `box_crossing`)."""
    return 1.0 / torch.where(ray.abs() < 1e-12, 1e-12, ray)


def box_crossing(offset: torch.Tensor, inv: torch.Tensor, side: float
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Slab test of rays from the origin with inverse directions inv (..., 3) (`inverse_rays`) against cubes
    [offset, offset + side]^3 (..., 3) given relative to the ray origin.

    Returns hit (...) bool (the ray meets the cube at t > 0), the entry and exit t (...) (entry 0 when starting
    inside; distances when the rays are unit vectors) and the axis (...) int64 of the face it enters through."""
    t1, t2 = offset * inv, (offset + side) * inv
    enter, axis = torch.minimum(t1, t2).max(-1)
    leave = torch.maximum(t1, t2).amin(-1)
    return (leave >= enter) & (leave > 0), enter.clamp_min(0.0), leave, axis


def ray_box(origin: torch.Tensor, ray: torch.Tensor, low: torch.Tensor, side: float
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """`box_crossing` of rays origin + t * ray (..., 3) and cubes [low, low + side]^3 (..., 3) in world space."""
    return box_crossing(low - origin, inverse_rays(ray), side)


def rotation_grid(camera_deg: torch.Tensor, height: int, width: int, fov_deg: float
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sampling grid (B, H, W, 2) for `F.grid_sample` (align_corners=False) and validity (B, H, W) bool.

    camera_deg (B, 2) = [d_pitch, d_yaw] per frame: pixel (row, col) of the turned view looks along the ray that
    the grid points at in the view before the turn; `valid` is False where that ray was out of view."""
    device = camera_deg.device
    camera = camera_deg.to(torch.float64)
    tan_h = math.tan(math.radians(fov_deg) / 2.0)
    aspect = width / height
    u, v = pixel_tangents(height, width, fov_deg, device, torch.float64)
    zero = torch.zeros(camera.shape[0], dtype=torch.float64, device=device)
    target = camera_basis(camera[:, 1], camera[:, 0])  # (B, 3, 3) after the turn
    source = camera_basis(zero, zero)  # (B, 3, 3) level, yaw 0
    rays = (target[:, None, None, 0] + u[None, None, :, None] * target[:, None, None, 1]
            + v[None, :, None, None] * target[:, None, None, 2])  # (B, H, W, 3) world directions
    local = torch.einsum("bhwk,bjk->bhwj", rays, source)  # (B, H, W, 3): forward, right, up in the old view
    z = local[..., 0].clamp_min(1e-9)
    x_norm = local[..., 1] / z / (tan_h * aspect)
    y_norm = -local[..., 2] / z / tan_h  # grid y = -1 is the top row
    valid = (local[..., 0] > 0) & (x_norm.abs() <= 1.0) & (y_norm.abs() <= 1.0)
    return torch.stack([x_norm, y_norm], -1).float(), valid


def rotation_warp(frames: torch.Tensor, camera_deg: torch.Tensor, fov_deg: float
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames uint8 (B, H, W, 3) turned by camera_deg (B, 2) -> warped uint8 (B, H, W, 3), valid (B, H, W).

    Bilinear resampling; pixels that come from outside the old view repeat its nearest border pixel."""
    b, h, w, _ = frames.shape
    grid, valid = rotation_grid(camera_deg, h, w, fov_deg)
    images = frames.permute(0, 3, 1, 2).float()  # (B, 3, H, W)
    warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return warped.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1), valid


@functools.lru_cache(maxsize=512)  # 36 KB each at 64x64
def _cached_grid(pitch: float, yaw: float, height: int, width: int, fov_deg: float
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """rotation_grid of one turn, (H, W, 2) and (H, W), on the CPU. Cached because camera turns come from a few
    bins (and their sums), and at batch 1 building the grid cost more than the resampling (0.6 of 0.9 ms)."""
    grid, valid = rotation_grid(torch.tensor([[pitch, yaw]]), height, width, fov_deg)
    return grid[0], valid[0]


def cached_rotation_grid(camera_deg: torch.Tensor, height: int, width: int, fov_deg: float
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """rotation_grid, from a cache of single turns: (B, H, W, 2) grid and (B, H, W) validity."""
    turns = [_cached_grid(float(p), float(y), height, width, float(fov_deg)) for p, y in camera_deg.tolist()]
    grid = torch.stack([g for g, _ in turns]).to(camera_deg.device)
    return grid, torch.stack([v for _, v in turns]).to(camera_deg.device)


def warp_images(images: torch.Tensor, camera_deg: torch.Tensor, fov_deg: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Float images (B, C, H, W) turned by camera_deg (B, 2) -> warped (B, C, H, W), valid (B, 1, H, W) float.

    Differentiable bilinear resampling (border padding outside the old view, where valid is 0)."""
    _, _, h, w = images.shape
    grid, valid = cached_rotation_grid(camera_deg.float(), h, w, fov_deg)
    warped = F.grid_sample(images, grid.to(images.dtype), mode="bilinear", padding_mode="border",
                           align_corners=False)
    return warped, valid[:, None].to(images.dtype)
