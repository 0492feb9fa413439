"""Frame fusion: show a predicted frame's tokens together with the pixels the world model has already seen.

An 8x8 grid of 1000 codes cannot hold a 64x64 frame's texture (the tokenizer alone reaches about 22 dB), and
open loop the predicted tokens drift, yet most of a frame 16 ticks ahead was already on screen, only turned by
the camera. A turning camera needs no depth: the rays are resampled (`worldmodel/geometry.py`). The fusion net
sees three pictures of the next frame:
  - the frame decoded from the predicted tokens (plus a learned residual correction),
  - the previous shown frame turned by this action's camera,
  - the anchor (the last real frame the model was given) turned by the camera summed since then,
and picks per pixel a softmax blend of the three (a source that was out of view never gets weight). It also sees
the codes and how many steps ago the anchor was real, so it can learn how far to trust each source: next to a
real frame the tokens are reliable; 16 steps into an open-loop rollout the carried pixels often are more so.

Trained on a world model's own rollouts (`worldmodel/fusion/objective.py`, `wm train fusion`), on top
of a frozen tokenizer, so the tokens and every dynamics model trained on them are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from worldmodel.geometry import warp_images
from worldmodel.tokenizer.nets import ResBlock, _norm

SOURCE_BIAS = (0.0, -3.0, -3.0)  # decoded, previous, anchor: training starts from (nearly) plain decoding
SINCE_SCALE = 16.0  # steps since the anchor enter as min(steps, SINCE_SCALE) / SINCE_SCALE: the training horizon
# is 16 steps, so longer rollouts are shown as at its end rather than with values the net never saw


@dataclass
class FusionInputs:
    """What the fusion needs besides the decoded frame: float images in [-1, 1] (B, 3, H, W), degrees (B, 2)."""

    previous: Tensor
    """The frame shown one tick before."""
    camera_deg: Tensor
    """[d_pitch, d_yaw] of the action between the previous frame and this one."""
    anchor: Tensor
    """The last real frame the model was given (the newest context frame, or an observed one)."""
    anchor_camera_deg: Tensor
    """Camera turn summed over the actions since the anchor, this one included."""
    since: Tensor
    """(B,) steps since the anchor (1 right after it)."""


class FrameFusion(nn.Module):
    """Small U-Net -> softmax weights over three sources + an RGB residual, per pixel.

    Widths: channels // 2 at full resolution (one conv in, one out), channels at 1/2 and 2 * channels at 1/4.
    The work sits at the lower resolutions because at batch 1 on a CPU core every full-resolution conv costs
    about as much as the whole rest of the net (measured: a full-resolution ResBlock of width 32 took the
    fusion from 7 to 18 ms a frame)."""

    def __init__(self, channels: int, code_dim: int, fov_deg: float) -> None:
        super().__init__()
        if channels < 2 or not fov_deg > 0:
            raise ValueError(f"frame fusion needs channels >= 2 and fov_deg > 0, got {channels}, {fov_deg}")
        full, half, quarter = channels // 2, channels, 2 * channels
        self.fov_deg = float(fov_deg)
        self.inp = nn.Conv2d(3 * 3 + 2 + 1 + code_dim, full, 3, padding=1)
        self.down1 = nn.Conv2d(full, half, 4, stride=2, padding=1)  # halve H, W
        self.enc1 = ResBlock(half)
        self.down2 = nn.Conv2d(half, quarter, 4, stride=2, padding=1)
        self.mid = ResBlock(quarter)
        self.up2 = nn.ConvTranspose2d(quarter, half, 4, stride=2, padding=1)  # double H, W
        self.dec1 = ResBlock(half)
        self.up1 = nn.ConvTranspose2d(half, full, 4, stride=2, padding=1)
        self.norm = _norm(full)
        self.out = nn.Conv2d(full, 6, 3, padding=1)  # 3 source logits + RGB residual
        nn.init.zeros_(self.out.weight)
        with torch.no_grad():
            self.out.bias.copy_(torch.tensor([*SOURCE_BIAS, 0.0, 0.0, 0.0]))

    def forward(self, decoded: Tensor, codes: Tensor, inputs: FusionInputs) -> tuple[Tensor, Tensor]:
        """decoded (B, 3, H, W) in [-1, 1], codes (B, D, h, w) -> (shown frame (B, 3, H, W), source weights
        (B, 3, H, W): decoded, previous, anchor)."""
        previous, previous_valid = warp_images(inputs.previous, inputs.camera_deg, self.fov_deg)
        anchor, anchor_valid = warp_images(inputs.anchor, inputs.anchor_camera_deg, self.fov_deg)
        codes_up = F.interpolate(codes.float(), size=decoded.shape[-2:], mode="nearest")  # (B, D, H, W)
        since = (inputs.since.float().clamp(max=SINCE_SCALE) / SINCE_SCALE).reshape(-1, 1, 1, 1)
        x = torch.cat([decoded, previous, anchor, previous_valid, anchor_valid,
                       since.expand_as(previous_valid), codes_up], dim=1)
        x = x.contiguous(memory_format=torch.channels_last)  # 10% faster steps at batch 1 on a CPU core
        h0 = self.inp(x)  # (B, full, H, W)
        h1 = self.enc1(self.down1(F.silu(h0)))  # (B, half, H/2, W/2)
        h2 = self.mid(self.down2(F.silu(h1)))  # (B, quarter, H/4, W/4)
        u1 = self.dec1(self.up2(F.silu(h2)) + h1)
        u0 = self.up1(F.silu(u1)) + h0
        out = self.out(F.silu(self.norm(u0)))
        in_view = torch.cat([torch.ones_like(previous_valid), previous_valid, anchor_valid], dim=1) > 0.5
        weights = torch.softmax(out[:, :3].masked_fill(~in_view, -1e4), dim=1)  # (B, 3, H, W)
        sources = torch.stack([decoded + out[:, 3:], previous, anchor], dim=1)  # (B, 3 sources, 3, H, W)
        return (weights[:, :, None] * sources).sum(1), weights
