"""Walking against remembered walls, open loop: how far the body may go and which way it slides.

A memory that walks the pose straight through a wall it remembers shows the inside of the wall; one that stops the
pose dead at any wall ahead gets stuck where the true player slides along it (an oblique wall takes only the part
of the step that runs into it, as BlockWorld's per-axis collision does). So the nearest remembered surface in the
view ahead gives both the free distance (`WorldMemory.ahead`) and, where it is one flat wall, its direction; a step
that would go past the free distance keeps the part of its excess that runs along the wall.
"""

from __future__ import annotations

import torch
from torch import Tensor

NEAR_BAND = 0.25
"""Blocks behind the nearest surface point that still count as the same wall."""
MIN_POINTS = 6
"""Fewer near points than this give no wall direction (the step stops, as before)."""
MIN_LENGTH = 0.03
"""The near points must spread at least this far (blocks, standard deviation) along the wall."""
MAX_THICKNESS = 0.8
"""... and at most this share of that spread across it (a round blob gives no direction). A post's corner passes:
the body slides along its longer face, as BlockWorld's per-axis collision does; a wall square ahead gives a
direction across the walk, so nothing of the step is kept."""


def wall_tangent(points: Tensor, depth: Tensor, zone: Tensor) -> Tensor:
    """Unit direction (B, 2) in the world's (x, z) plane of the nearest wall ahead; zeros where the nearest
    surface is not one clear flat wall.

    points (B, H, W, 3): world points of the view's pixels; depth (B, H, W): their depth (inf = none);
    zone (H, W) bool: the pixels in front of the body that may hold the wall."""
    inside = zone & torch.isfinite(depth)  # (B, H, W)
    nearest = torch.where(inside, depth, torch.inf).flatten(1).amin(1)  # (B,)
    near = inside & (depth <= nearest[:, None, None] + NEAR_BAND)
    weight = near.flatten(1).float()  # (B, HW)
    count = weight.sum(1)  # (B,)
    xz = torch.where(near[..., None], points, 0.0)[..., [0, 2]].flatten(1, 2)  # (B, HW, 2)
    mean = (xz * weight[..., None]).sum(1) / count.clamp_min(1.0)[:, None]  # (B, 2)
    centred = (xz - mean[:, None]) * weight[..., None]
    cov = torch.einsum("bni,bnj->bij", centred, centred) / count.clamp_min(1.0)[:, None, None]  # (B, 2, 2)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)  # ascending
    along, across = eigenvalues[:, 1].clamp_min(0.0).sqrt(), eigenvalues[:, 0].clamp_min(0.0).sqrt()
    clear = (count >= MIN_POINTS) & (along >= MIN_LENGTH) & (across <= MAX_THICKNESS * along)
    return torch.where(clear[:, None], eigenvectors[:, :, 1], 0.0)


def slide(move: Tensor, room: Tensor, tangent: Tensor, yaw_deg: Tensor) -> Tensor:
    """The move (B, 3) = (forward, up, right) of bodies facing yaw_deg (B,) that may go room (B,) blocks forward
    before a wall of direction tangent (B, 2) (world x, z; zeros: no direction known): up to the wall the move is
    kept, past it only its part along the wall."""
    yaw = torch.deg2rad(yaw_deg)
    # the tangent in the body's frame (forward, right); forward = (-sin, cos), right = (-cos, -sin) in (x, z)
    along_forward = -tangent[:, 0] * torch.sin(yaw) + tangent[:, 1] * torch.cos(yaw)
    along_right = -tangent[:, 0] * torch.cos(yaw) - tangent[:, 1] * torch.sin(yaw)
    excess = (move[:, 0] - room).clamp_min(0.0)  # (B,) the forward part that would go into the wall
    out = move.clone()
    out[:, 0] = move[:, 0] - excess + excess * along_forward**2
    out[:, 2] = move[:, 2] + excess * along_forward * along_right
    return out
