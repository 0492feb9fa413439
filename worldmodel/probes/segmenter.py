"""A small block-id segmenter: frames -> per-pixel BlockWorld block id, trained in-project on the env's id buffer.

It turns pixel predictions (real, tokenised or dreamed) into block ids so the probes can ask "is the gold block
still there?" without downloaded weights. A 3-level U-Net of ~0.1 M parameters (stored as float16, ~200 KB),
trained on `ViewSampler` views with blur / noise / down-up-sampling augmentation so that blurry model frames stay
readable. The HUD is not part of the label (ids come from the world only) and is masked out of every score.
Trained by the one Trainer through `compute_loss` (worldmodel/probes/auxtrain.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from envs.blockworld.blocks import NUM_BLOCKS
from worldmodel.probes.visibility import hud_mask


@dataclass
class SegmenterConfig:
    """Widths of the three U-Net levels (full, 1/2, 1/4 resolution)."""

    widths: tuple[int, int, int] = (16, 32, 48)
    """Channels per resolution level."""
    classes: int = NUM_BLOCKS
    """Output classes (block ids; 0 = sky)."""


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(4, cout), nn.SiLU())


class Segmenter(nn.Module):
    """U-Net: (B, 3, H, W) in [-1, 1] -> logits (B, classes, H, W); H and W multiples of 4.

    `class_weight` (a training-only buffer, not saved: weight files hold the network alone) weights each class in
    the cross-entropy; training sets it from the label frequencies (`class_weights`)."""

    def __init__(self, cfg: SegmenterConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or SegmenterConfig()
        a, b, c = cfg.widths
        self.enc1 = nn.Sequential(_conv(3, a), _conv(a, a))
        self.enc2 = nn.Sequential(_conv(a, b, 2), _conv(b, b))
        self.enc3 = nn.Sequential(_conv(b, c, 2), _conv(c, c), _conv(c, c))
        self.dec2 = nn.Sequential(_conv(c + b, b), _conv(b, b))
        self.dec1 = nn.Sequential(_conv(b + a, a), nn.Conv2d(a, cfg.classes, 1))
        self.register_buffer("class_weight", torch.ones(cfg.classes), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """Logits per pixel."""
        s1 = self.enc1(x)
        s2 = self.enc2(s1)
        s3 = self.enc3(s2)
        up2 = F.interpolate(s3, scale_factor=2.0, mode="nearest")
        d2 = self.dec2(torch.cat([up2, s2], dim=1))
        up1 = F.interpolate(d2, scale_factor=2.0, mode="nearest")
        return self.dec1(torch.cat([up1, s1], dim=1))

    def compute_loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """Batch {"frames": (B, H, W, 3) uint8, "block_ids": (B, H, W)} -> class-weighted cross-entropy over the
        pixels outside the HUD. In training mode the frames are first degraded by `augment` (like dropout)."""
        x = to_input(batch["frames"])
        if self.training:
            x = augment(x)
        target = batch["block_ids"].long()
        logits = self(x).float()
        keep = torch.as_tensor(~hud_mask(target.shape[-2], target.shape[-1]), device=target.device)
        loss_map = F.cross_entropy(logits, target, weight=self.class_weight, reduction="none")  # (B, H, W)
        pixels = keep.sum() * len(target)
        loss = (loss_map * keep).sum() / pixels
        hits = ((logits.argmax(1) == target) & keep).sum() / pixels
        return loss, {"pixel_accuracy": hits.item()}


def to_input(frames: np.ndarray | Tensor) -> Tensor:
    """uint8 frames (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1]."""
    x = torch.as_tensor(frames)
    return rearrange(x, "n h w c -> n c h w").float() / 127.5 - 1.0


@torch.inference_mode()
def segment(model: Segmenter, frames: np.ndarray, batch: int = 64) -> np.ndarray:
    """Block ids uint8 (N, H, W) for uint8 frames (N, H, W, 3)."""
    model.eval()
    device = next(model.parameters()).device
    out = [model(to_input(frames[i : i + batch]).to(device)).argmax(1).to(torch.uint8).cpu().numpy()
           for i in range(0, len(frames), batch)]
    return np.concatenate(out) if out else np.zeros((0, *frames.shape[1:3]), np.uint8)


def _down_up(x: Tensor, factor: int) -> Tensor:
    """Average-pool by `factor` and upsample back (bilinear): detail lost the way a coarse decoder loses it."""
    return F.interpolate(F.avg_pool2d(x, factor), scale_factor=float(factor), mode="bilinear", align_corners=False)


def augment(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Degrade like model frames: per sample a random mix with a blurred (3x3), 2x or 4x down-up-sampled copy,
    a small colour gain and noise. World-model frames are softer than renders; the ids must stay readable.
    Random numbers come from `generator` (on x's device), else from torch's global generator."""
    n, device = x.shape[0], x.device
    r = torch.rand(n, 5, generator=generator, device=device)
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    soft = torch.stack([blurred, _down_up(x, 2), _down_up(x, 4)])  # (3, N, C, H, W)
    pick = (r[:, 0] * 3).long().clamp(max=2)
    degraded = soft[pick, torch.arange(n, device=device)]
    w = (r[:, 1] * (r[:, 2] > 0.25)).view(n, 1, 1, 1)  # a quarter of the samples stay sharp
    x = x * (1 - w) + degraded * w
    gain = torch.rand(n, 3, 1, 1, generator=generator, device=device)
    gain = 1.0 + (gain - 0.5) * 0.12 * (r[:, 3] > 0.5).view(n, 1, 1, 1)
    x = (x + 1.0) * gain - 1.0
    return x + (r[:, 4] * 0.08).view(n, 1, 1, 1) * torch.randn(x.shape, generator=generator, device=device)


def class_weights(ids: np.ndarray, classes: int) -> Tensor:
    """Inverse-square-root frequency weights (rare landmark blocks matter most to the probes), mean 1."""
    counts = np.bincount(ids.ravel(), minlength=classes).astype(np.float64) + ids.size * 1e-4
    w = counts ** -0.5
    return torch.as_tensor(w / w.mean(), dtype=torch.float32)


def accuracy(pred: np.ndarray, ids: np.ndarray) -> float:
    """Pixel accuracy of predicted block ids outside the HUD."""
    keep = ~hud_mask(ids.shape[-2], ids.shape[-1])
    return float((pred == ids)[..., keep].mean())


def config_dict(cfg: SegmenterConfig) -> dict[str, object]:
    """JSON-able config (stored in the weights' metadata)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}
