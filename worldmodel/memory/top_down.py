"""A top-down picture of what a world's memory holds, for a player to see what the world remembers (`wm play`, M).

Every stored cell around the player is drawn from above on a square map, the player at the centre looking up;
the highest cell wins a map pixel. Cells that were seen for real keep their colour; cells the model made up are
tinted violet. The player is a white arrow.
"""

from __future__ import annotations

import torch
from torch import Tensor

from worldmodel.memory.pointmap import EMPTY, MemoryState

IMAGINED_TINT = torch.tensor([150.0, 60.0, 200.0])


def _cells(state: MemoryState, world: int) -> tuple[Tensor, Tensor]:
    """Positions (N, 3) and colours (N, 3) float of world's stored cells."""
    live = state.key[world] != EMPTY
    return state.pos[world][:, live].T, state.rgb[world][live].float()


def top_down(real: MemoryState, imagined: MemoryState, pose: Tensor, world: int = 0, size: int = 96,
             radius: float = 24.0) -> Tensor:
    """uint8 (size, size, 3) map of world's cells within `radius` blocks of its pose (B, 5), forward up."""
    pos_r, rgb_r = _cells(real, world)
    pos_i, rgb_i = _cells(imagined, world)
    rgb_i = 0.5 * rgb_i + 0.5 * IMAGINED_TINT.to(rgb_i.device)
    pos, rgb = torch.cat([pos_i, pos_r]), torch.cat([rgb_i, rgb_r])  # (N, 3) each; real drawn last wins ties
    x, z, yaw = pose[world, 0], pose[world, 2], torch.deg2rad(pose[world, 3])
    dx, dz = pos[:, 0] - x, pos[:, 2] - z
    forward = -dx * torch.sin(yaw) + dz * torch.cos(yaw)  # BlockWorld: yaw 0 looks along +z, right is -x
    right = -dx * torch.cos(yaw) - dz * torch.sin(yaw)
    scale = size / (2 * radius)
    row = (size / 2 - forward * scale).long()
    col = (size / 2 + right * scale).long()
    inside = (row >= 0) & (row < size) & (col >= 0) & (col < size)
    flat = (row * size + col)[inside]
    height = pos[inside, 1]
    order = torch.argsort(height)  # lowest first: later (higher) writes win a pixel
    image = torch.full((size * size, 3), 24.0, device=pos.device)
    image[flat[order]] = rgb[inside][order]
    image = image.reshape(size, size, 3)
    centre = size // 2
    for step in range(4):  # the player: a small arrow pointing up (forward)
        image[centre - step, centre - (3 - step) // 2: centre + (3 - step) // 2 + 1] = 255.0
    return image.round().clamp(0, 255).to(torch.uint8)
