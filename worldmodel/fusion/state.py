"""The pixels a WorldModel with frame fusion carries from step to step (worldmodel/fusion/net.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from worldmodel.fusion.net import FusionInputs
from worldmodel.tokenizer.model import frames_to_float


@dataclass
class FusionState:
    """Per world: the frame shown last, the anchor (last real frame given), the camera turn summed since the
    anchor and the steps since it. Frames uint8 (B, H, W, 3) on the CPU."""

    shown: Tensor
    anchor: Tensor
    anchor_camera: Tensor  # (B, 2) degrees
    since: Tensor  # (B,) int64

    @classmethod
    def start(cls, frames: Tensor) -> "FusionState":
        """State right after real frames (B, H, W, 3): they are both the shown frame and the anchor."""
        frames = frames.cpu().clone()
        batch = frames.shape[0]
        return cls(frames, frames.clone(), torch.zeros(batch, 2), torch.zeros(batch, dtype=torch.long))

    def restart(self, worlds: Tensor, frames: Tensor) -> "FusionState":
        """A copy in which worlds (K,) restart from real frames (K, H, W, 3); the others are unchanged."""
        fresh = FusionState.start(frames)
        out = self.copy()
        index = worlds.cpu()
        out.shown[index], out.anchor[index] = fresh.shown, fresh.anchor
        out.anchor_camera[index], out.since[index] = fresh.anchor_camera, fresh.since
        return out

    def inputs(self, camera_deg: Tensor, device: torch.device) -> FusionInputs:
        """The fusion's inputs for the next frame, reached by an action turning the camera by camera_deg (B, 2)."""
        camera = camera_deg.float().cpu()
        return FusionInputs(previous=frames_to_float(self.shown.to(device)), camera_deg=camera.to(device),
                            anchor=frames_to_float(self.anchor.to(device)),
                            anchor_camera_deg=(self.anchor_camera + camera).to(device),
                            since=(self.since + 1).to(device))

    def advance(self, shown: Tensor, camera_deg: Tensor) -> None:
        """After a step that showed frames (B, H, W, 3) for an action turning by camera_deg (B, 2)."""
        self.shown = shown.cpu().clone()
        self.anchor_camera = self.anchor_camera + camera_deg.float().cpu()
        self.since = self.since + 1

    def copy(self) -> "FusionState":
        """An independent copy (for snapshots)."""
        return replace(self, shown=self.shown.clone(), anchor=self.anchor.clone(),
                       anchor_camera=self.anchor_camera.clone(), since=self.since.clone())
