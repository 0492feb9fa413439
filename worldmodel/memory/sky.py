"""SkyMap: what the worlds showed where no surface is in reach, stored by view direction.

The sky is at infinity: where a pixel sees it depends only on the ray's direction, not on where the player stands.
So it is kept apart from the point map (which stores surfaces at a depth) in a grid of directions, `bin_deg` of yaw
by `bin_deg` of pitch, the newest colour per bin. A view turned back to where the sky was shows it again, and a
predicted frame's sky is not stored as a wall of surfaces at the depth net's guess.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from worldmodel.memory.camera import Camera


class SkyMap:
    """Per world, the newest sky colour seen in each direction bin."""

    def __init__(self, camera: Camera, batch: int, device: torch.device, bin_deg: float = 2.0) -> None:
        self.camera, self.batch, self.device = camera, batch, device
        self.yaw_bins, self.pitch_bins = int(round(360 / bin_deg)), int(round(180 / bin_deg))
        bins = self.yaw_bins * self.pitch_bins
        self.colour = torch.zeros(batch, bins, 3, dtype=torch.uint8, device=device)
        self.known = torch.zeros(batch, bins, dtype=torch.bool, device=device)

    def bins(self, pose: Tensor) -> Tensor:
        """Flat direction bin (B, H, W) of every pixel's ray seen from pose (B, 5)."""
        rays = self.camera.rays(pose.to(self.device, torch.float32))  # (B, H, W, 3) unit, world axes
        yaw = torch.atan2(-rays[..., 0], rays[..., 2])  # BlockWorld: yaw 0 looks along +z, positive turns to -x
        pitch = torch.asin((-rays[..., 1]).clamp(-1.0, 1.0))
        col = ((yaw + math.pi) / (2 * math.pi) * self.yaw_bins).long().clamp(0, self.yaw_bins - 1)
        row = ((pitch + math.pi / 2) / math.pi * self.pitch_bins).long().clamp(0, self.pitch_bins - 1)
        return row * self.yaw_bins + col

    def write(self, frames: Tensor, sky: Tensor, pose: Tensor) -> None:
        """Store the pixels of frames uint8 (B, H, W, 3) where sky (B, H, W) bool, seen from pose (B, 5)."""
        b = frames.shape[0]
        index = self.bins(pose).reshape(b, -1)  # (B, H*W)
        world, pixel = sky.reshape(b, -1).nonzero(as_tuple=True)
        flat = world * self.known.shape[1] + index[world, pixel]
        self.colour.view(-1, 3)[flat] = frames.to(self.device).reshape(b, -1, 3)[world, pixel]
        self.known.view(-1)[flat] = True

    def render(self, pose: Tensor) -> tuple[Tensor, Tensor]:
        """The sky seen from pose (B, 5): colour uint8 (B, H, W, 3) and known (B, H, W) bool."""
        index = self.bins(pose)  # (B, H, W)
        b = index.shape[0]
        flat = index.reshape(b, -1)
        colour = torch.gather(self.colour, 1, flat[..., None].expand(-1, -1, 3))
        known = torch.gather(self.known, 1, flat)
        return colour.reshape(*index.shape, 3), known.reshape(index.shape)

    def reset_worlds(self, worlds: Tensor) -> None:
        """Forget the sky of worlds (K,)."""
        self.colour[worlds] = 0
        self.known[worlds] = False

    def state(self) -> tuple[Tensor, Tensor]:
        """Copies of (colour, known)."""
        return self.colour.clone(), self.known.clone()

    def load(self, state: tuple[Tensor, Tensor]) -> None:
        """Set (colour, known) from `state` (copied)."""
        self.colour.copy_(state[0])
        self.known.copy_(state[1])
