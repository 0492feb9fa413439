"""Learned geometry for the spatial memory: per-pixel depth of any shown frame, and the player's translation.

A world model's frames carry no depth and its rollouts no pose, yet placing what was seen in 3D needs both:
  - `DepthNet`: frame uint8 (B, H, W, 3) -> depth in blocks (B, H, W) and the probability each pixel is sky (no
    surface within reach). A small U-Net: the frames are the ones shown (real or predicted), so the net sees
    exactly what the memory stores.
  - `OdometryNet`: two consecutive frames and the action between them -> the feet translation in the frame of the
    first view's yaw (forward, up, right). Rotation needs no net: the camera action gives it exactly.
  - `MotionNet`: the frame before and the action -> the translation to expect (open loop, before any next frame).
`GeometryObjective.compute_loss(batch)` trains both on clips with ground truth (BlockWorld stores record depth and
pose: `open_dataset(DIR).clips(L, ground_truth=True)`), through the one Trainer. Footage without depth will need
the photometric (monodepth-style) path; it is not written yet.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from worldmodel.checkpoint import load_module, module_state, read_json, save_safetensors, write_json
from worldmodel.dynamics.actions import action_tensors
from worldmodel.tokenizer.model import frames_to_float


@dataclass
class GeometryConfig:
    """Sizes and loss weights of the depth and odometry heads."""

    channels: int = 16
    """Width of the depth U-Net at full resolution (doubled at each of its two lower levels)."""
    max_depth: float = 64.0
    """Farthest depth the net predicts, in blocks (BlockWorld's ray length); farther or sky pixels are 'sky'."""
    odometry_channels: int = 16
    """Width of the odometry encoder's first conv."""
    depth_weight: float = 1.0
    """Weight of the L1 log-depth loss on surface pixels."""
    sky_weight: float = 0.1
    """Weight of the sky/no-sky binary cross-entropy."""
    pose_weight: float = 1.0
    """Weight of the L1 translation loss (blocks per tick)."""
    motion_blur: float = 0.0
    """Share of training clips whose frame the motion net sees blurred to 8x8 blocks: open loop it looks at
    frames the model made up, often blurry, and must then go by the action."""

    def validate(self) -> None:
        """Raise ValueError naming the offending key."""
        if self.channels < 2 or self.odometry_channels < 2:
            raise ValueError("geometry config 'channels'/'odometry_channels' must be >= 2")
        if not self.max_depth > 1.0:
            raise ValueError(f"geometry config 'max_depth' must be > 1, got {self.max_depth}")


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv, GroupNorm, SiLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(min(8, cout), cout), nn.SiLU())


class DepthNet(nn.Module):
    """Frame -> depth (blocks) and sky probability, per pixel; a three-level U-Net."""

    def __init__(self, cfg: GeometryConfig) -> None:
        super().__init__()
        c, self.max_depth = cfg.channels, cfg.max_depth
        self.down0, self.down1, self.down2 = _conv(3, c), _conv(c, 2 * c, 2), _conv(2 * c, 4 * c, 2)
        self.up1 = nn.ConvTranspose2d(4 * c, 2 * c, 2, 2)
        self.mix1 = _conv(4 * c, 2 * c)
        self.up0 = nn.ConvTranspose2d(2 * c, c, 2, 2)
        self.mix0 = _conv(2 * c, c)
        self.out = nn.Conv2d(c, 2, 1)  # log-depth fraction, sky logit

    def forward(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """uint8 frames (B, H, W, 3) -> depth (B, H, W) in (0, max_depth] and sky logits (B, H, W)."""
        x0 = self.down0(frames_to_float(frames))  # (B, c, H, W)
        x1 = self.down1(x0)  # (B, 2c, H/2, W/2)
        x2 = self.down2(x1)  # (B, 4c, H/4, W/4)
        y1 = self.mix1(torch.cat([self.up1(x2), x1], 1))
        y0 = self.mix0(torch.cat([self.up0(y1), x0], 1))
        out = self.out(y0)  # (B, 2, H, W)
        log_depth = torch.sigmoid(out[:, 0]) * math.log(self.max_depth)  # depth in [1, max_depth]
        return log_depth.exp(), out[:, 1]


class OdometryNet(nn.Module):
    """Two frames and the action between them -> feet translation (forward, up, right) in blocks."""

    def __init__(self, cfg: GeometryConfig, action_dim: int) -> None:
        super().__init__()
        c = cfg.odometry_channels
        self.encoder = nn.Sequential(_conv(6, c, 2), _conv(c, 2 * c, 2), _conv(2 * c, 4 * c, 2),
                                     _conv(4 * c, 4 * c, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(4 * c + action_dim, 64), nn.SiLU(), nn.Linear(64, 3))

    def forward(self, before: Tensor, after: Tensor, action: Tensor) -> Tensor:
        """uint8 frames (B, H, W, 3) each, action features (B, A) -> translation (B, 3)."""
        x = torch.cat([frames_to_float(before), frames_to_float(after)], 1)  # (B, 6, H, W)
        return self.head(torch.cat([self.encoder(x), action], 1))


class MotionNet(nn.Module):
    """The frame before a tick and its action -> the expected feet translation (forward, up, right) in blocks.

    Open loop there is no real frame after the tick: the move comes from what the player faces (a wall ahead stops
    a walk) and what it pressed, not from a predicted frame that may lag behind."""

    def __init__(self, cfg: GeometryConfig, action_dim: int) -> None:
        super().__init__()
        c = cfg.odometry_channels
        self.encoder = nn.Sequential(_conv(3, c, 2), _conv(c, 2 * c, 2), _conv(2 * c, 4 * c, 2),
                                     _conv(4 * c, 4 * c, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(4 * c + action_dim, 64), nn.SiLU(), nn.Linear(64, 3))

    def forward(self, before: Tensor, action: Tensor) -> Tensor:
        """uint8 frames (B, H, W, 3), action features (B, A) -> translation (B, 3)."""
        return self.head(torch.cat([self.encoder(frames_to_float(before)), action], 1))


def action_features(buttons: Tensor, camera: Tensor) -> Tensor:
    """Buttons (..., 18) and camera (..., 2) degrees -> the heads' action input (..., 20)."""
    return torch.cat([buttons.float(), camera.float() / 10.0], -1)


def blur_frames(frames: Tensor) -> Tensor:
    """uint8 frames (N, H, W, 3) averaged over 8x8 blocks and smoothly upsampled again: what a made-up frame
    looks like to the motion net (see `blur_some`)."""
    x = rearrange(frames.float(), "n h w c -> n c h w")
    blurred = F.interpolate(F.avg_pool2d(x, 8), size=x.shape[-2:], mode="bilinear", align_corners=False)
    return rearrange(blurred.round().clamp(0, 255).to(torch.uint8), "n c h w -> n h w c")


def blur_some(frames: Tensor, share: float) -> Tensor:
    """uint8 frames (N, H, W, 3) with about `share` of them (at random) blurred by `blur_frames`."""
    if share <= 0:
        return frames
    pick = torch.rand(frames.shape[0], device=frames.device) < share
    return torch.where(pick[:, None, None, None], blur_frames(frames), frames)


def yaw_frame_translation(pose: Tensor) -> Tensor:
    """Poses (..., L, 5) [x, y, z, yaw_deg, pitch_deg] -> the feet moves of the L-1 ticks (..., L-1, 3) as
    (forward, up, right) in the frame of the earlier view's yaw, on BlockWorld's axes (envs/blockworld/render.py
    camera_basis: level forward = (-sin yaw, 0, cos yaw), right = (-cos yaw, 0, -sin yaw))."""
    delta = pose[..., 1:, :3] - pose[..., :-1, :3]  # (..., L-1, 3) world x, y, z
    yaw = torch.deg2rad(pose[..., :-1, 3])
    forward = -delta[..., 0] * torch.sin(yaw) + delta[..., 2] * torch.cos(yaw)
    right = -delta[..., 0] * torch.cos(yaw) - delta[..., 2] * torch.sin(yaw)
    return torch.stack([forward, delta[..., 1], right], -1)


class GeometryObjective(nn.Module):
    """Depth + odometry heads, trained together on ground-truth clips: `compute_loss(batch)` for the Trainer."""

    def __init__(self, cfg: GeometryConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or GeometryConfig()
        self.cfg.validate()
        self.depth = DepthNet(self.cfg)
        self.odometry = OdometryNet(self.cfg, action_dim=20)  # 18 buttons + camera (2)
        self.motion = MotionNet(self.cfg, action_dim=20)

    def compute_loss(self, batch: Mapping[str, Any]) -> tuple[Tensor, dict[str, float]]:
        """L1 log-depth on surface pixels + sky BCE + L1 translation per tick, and metrics."""
        for key in ("frames", "depth", "pose", "actions"):
            if key not in batch:
                raise ValueError(f"geometry batch is missing key '{key}' (clips need ground_truth=True)")
        frames, cfg = batch["frames"], self.cfg
        flat = rearrange(frames, "b l h w c -> (b l) h w c")
        depth, sky_logit = self.depth(flat)  # (B*L, H, W) each
        true_depth = rearrange(batch["depth"].float(), "b l h w -> (b l) h w")
        sky = ~torch.isfinite(true_depth) | (true_depth > cfg.max_depth)
        surface = ~sky & (true_depth > 0)
        depth_loss = (depth.log() - true_depth.clamp(1.0, cfg.max_depth).log()).abs()[surface].mean()
        sky_loss = F.binary_cross_entropy_with_logits(sky_logit, sky.float())
        buttons, camera = action_tensors(batch["actions"], frames.device)  # (B, L-1, 18), (B, L-1, 2)
        action = action_features(buttons, camera).flatten(0, 1)  # (B*(L-1), 20)
        before = frames[:, :-1].flatten(0, 1)
        moved = self.odometry(before, frames[:, 1:].flatten(0, 1), action)
        expected = self.motion(blur_some(before, cfg.motion_blur) if self.training else before, action)
        true_move = yaw_frame_translation(batch["pose"].float()).flatten(0, 1)  # (B*(L-1), 3)
        motion_loss = (expected - true_move).abs().mean()
        pose_loss = (moved - true_move).abs().mean() + motion_loss
        loss = cfg.depth_weight * depth_loss + cfg.sky_weight * sky_loss + cfg.pose_weight * pose_loss
        with torch.no_grad():
            ratio = (depth / true_depth.clamp(1.0, cfg.max_depth))[surface]
            metrics = {"loss": loss.item(), "depth_l1_log": depth_loss.item(), "sky_bce": sky_loss.item(),
                       "pose_l1": pose_loss.item(),
                       "depth_within_10pct": ((ratio > 0.9) & (ratio < 1.1)).float().mean().item(),
                       "sky_acc": ((sky_logit > 0) == sky).float().mean().item(),
                       "move_error": (moved - true_move).norm(dim=-1).mean().item(),
                       "motion_error": (expected - true_move).norm(dim=-1).mean().item(),
                       "move_true": true_move.norm(dim=-1).mean().item()}
        return loss, metrics

    def export(self, path: str | Path) -> Path:
        """Write the heads as a directory: geometry.safetensors + config.json (loaded by `load_geometry`)."""
        path = Path(path)
        save_safetensors(module_state(self), path / "geometry.safetensors")
        write_json(path / "config.json", {"format": "worldmodel-geometry/1", "geometry": dataclasses.asdict(self.cfg)})
        return path


def load_geometry(path: str | Path) -> GeometryObjective:
    """The depth and odometry heads exported to `path` (never unpickles; bad files -> ValueError naming them)."""
    path = Path(path)
    config = read_json(path / "config.json")
    if not isinstance(config, dict) or config.get("format") != "worldmodel-geometry/1":
        raise ValueError(f"{path / 'config.json'}: not a geometry-heads export (format worldmodel-geometry/1)")
    module = GeometryObjective(GeometryConfig(**config["geometry"]))
    load_module(module, path / "geometry.safetensors")
    return module.eval()
