"""A small block-id segmenter: frames -> per-pixel BlockWorld block id, trained in-project on the env's id buffer.

It turns pixel predictions (real, tokenised or dreamed) into block ids so the probes can ask "is the gold block
still there?" without downloaded weights. A 3-level U-Net of ~0.1 M parameters (stored as float16, ~200 KB),
trained on `ViewSampler` views with blur / noise / down-up-sampling augmentation so that blurry model frames stay
readable. The HUD is not part of the label (ids come from the world only) and is masked out of every score.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from envs.blockworld.blocks import NUM_BLOCKS
from worldmodel.probes.auxdata import ViewSampler
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
    """U-Net: (B, 3, H, W) in [-1, 1] -> logits (B, classes, H, W); H and W multiples of 4."""

    def __init__(self, cfg: SegmenterConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or SegmenterConfig()
        a, b, c = cfg.widths
        self.enc1 = nn.Sequential(_conv(3, a), _conv(a, a))
        self.enc2 = nn.Sequential(_conv(a, b, 2), _conv(b, b))
        self.enc3 = nn.Sequential(_conv(b, c, 2), _conv(c, c), _conv(c, c))
        self.dec2 = nn.Sequential(_conv(c + b, b), _conv(b, b))
        self.dec1 = nn.Sequential(_conv(b + a, a), nn.Conv2d(a, cfg.classes, 1))

    def forward(self, x: Tensor) -> Tensor:
        """Logits per pixel."""
        s1 = self.enc1(x)
        s2 = self.enc2(s1)
        s3 = self.enc3(s2)
        up2 = F.interpolate(s3, scale_factor=2.0, mode="nearest")
        d2 = self.dec2(torch.cat([up2, s2], dim=1))
        up1 = F.interpolate(d2, scale_factor=2.0, mode="nearest")
        return self.dec1(torch.cat([up1, s1], dim=1))


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


def augment(x: Tensor, generator: torch.Generator) -> Tensor:
    """Degrade like model frames: per sample a random mix with a blurred (3x3), 2x or 4x down-up-sampled copy,
    a small colour gain and noise. World-model frames are softer than renders; the ids must stay readable."""
    n = x.shape[0]
    r = torch.rand(n, 5, generator=generator)
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    soft = torch.stack([blurred, _down_up(x, 2), _down_up(x, 4)])  # (3, N, C, H, W)
    pick = (r[:, 0] * 3).long().clamp(max=2)
    degraded = soft[pick, torch.arange(n)]
    w = (r[:, 1] * (r[:, 2] > 0.25)).view(n, 1, 1, 1)  # a quarter of the samples stay sharp
    x = x * (1 - w) + degraded * w
    gain = 1.0 + (torch.rand(n, 3, 1, 1, generator=generator) - 0.5) * 0.12 * (r[:, 3] > 0.5).view(n, 1, 1, 1)
    x = (x + 1.0) * gain - 1.0
    return x + (r[:, 4] * 0.08).view(n, 1, 1, 1) * torch.randn(x.shape, generator=generator)


def class_weights(ids: np.ndarray, classes: int) -> Tensor:
    """Inverse-square-root frequency weights (rare landmark blocks matter most to the probes), mean 1."""
    counts = np.bincount(ids.ravel(), minlength=classes).astype(np.float64) + ids.size * 1e-4
    w = counts ** -0.5
    return torch.as_tensor(w / w.mean(), dtype=torch.float32)


def accuracy(pred: np.ndarray, ids: np.ndarray) -> float:
    """Pixel accuracy of predicted block ids outside the HUD."""
    keep = ~hud_mask(ids.shape[-2], ids.shape[-1])
    return float((pred == ids)[..., keep].mean())


def train_segmenter(steps: int = 3000, batch: int = 16, lr: float = 3e-3, seed: int = 0, size: int = 64,
                    cfg: SegmenterConfig | None = None, log: Callable[[str], None] | None = None,
                    init: Segmenter | None = None) -> tuple[Segmenter, dict[str, float]]:
    """Train on freshly rendered views (from scratch, or fine-tune `init`); returns the model (eval mode) and
    held-out metrics."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    sampler = ViewSampler(seed, size)
    model = init if init is not None else Segmenter(cfg)
    small = steps < 100  # smoke runs (tests): smaller samples for the class weights and the held-out check
    probe_frames, probe_ids = sampler.sample(32 if small else 256)
    weights = class_weights(probe_ids, model.cfg.classes)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    keep = torch.as_tensor(~hud_mask(size, size))
    start = time.time()
    model.train()
    for step in range(steps):
        frames, ids = sampler.sample(batch)
        x = augment(to_input(frames), generator)
        target = torch.as_tensor(ids).long()
        loss_map = F.cross_entropy(model(x), target, weight=weights, reduction="none")  # (B, H, W)
        loss = (loss_map * keep).sum() / (keep.sum() * batch)
        for group in opt.param_groups:  # cosine decay to 5% of lr
            group["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / max(steps, 1))))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if log is not None and (step % 200 == 0 or step == steps - 1):
            log(f"segmenter step {step}/{steps} loss {loss.item():.3f} ({time.time() - start:.0f}s)")
    model.eval()
    held_frames, held_ids = ViewSampler(seed + 10_007, size).sample(16 if small else 128)
    metrics = {"accuracy_gt": accuracy(segment(model, held_frames), held_ids), "steps": float(steps)}
    return model, metrics


def config_dict(cfg: SegmenterConfig) -> dict[str, object]:
    """JSON-able config (stored in the weights' metadata)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}
