"""Convolutional encoder and decoder of the frame tokenizer (small enough for CPU inference at 30+ frames/s)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def _norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 8 groups (batch-size independent, so it behaves the same at batch 1 and 64)."""
    groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class ResBlock(nn.Module):
    """Pre-norm residual block: norm -> SiLU -> conv3x3 -> norm -> SiLU -> conv3x3, plus skip."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm1 = _norm(channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = _norm(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return x + h


def _stage_channels(channels: int, channel_mult: list[int]) -> list[int]:
    """Channel width per resolution stage, highest resolution first."""
    if not channel_mult or any(m < 1 for m in channel_mult):
        raise ValueError(f"channel_mult must be a non-empty list of positive ints, got {channel_mult}")
    return [channels * m for m in channel_mult]


class Encoder(nn.Module):
    """(B, 3, H, W) in [-1, 1] -> (B, latent_dim, H / f, W / f) with f = 2 ** (len(channel_mult) - 1).

    Stage i runs `res_blocks[i]` residual blocks at width channels * channel_mult[i], then halves the resolution
    with a stride-2 conv (except after the last stage); `mid_blocks` more blocks run at the token resolution.
    """

    def __init__(
        self, channels: int, channel_mult: list[int], res_blocks: list[int], mid_blocks: int, latent_dim: int
    ) -> None:
        super().__init__()
        widths = _stage_channels(channels, channel_mult)
        if len(res_blocks) != len(widths):
            raise ValueError(f"res_blocks needs one entry per channel_mult stage ({len(widths)}), got {res_blocks}")
        layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 3, padding=1)]
        for i, width in enumerate(widths):
            layers += [ResBlock(width) for _ in range(res_blocks[i])]
            if i + 1 < len(widths):
                layers.append(nn.Conv2d(width, widths[i + 1], 4, stride=2, padding=1))  # halve H, W
        layers += [ResBlock(widths[-1]) for _ in range(mid_blocks)]
        layers += [_norm(widths[-1]), nn.SiLU(), nn.Conv2d(widths[-1], latent_dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) -> (B, latent_dim, h, w)."""
        return self.net(x)


class Upsample(nn.Module):
    """Nearest-neighbour x2 then conv3x3 (no checkerboard artefacts, cheap on CPU)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C', 2H, 2W)."""
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Decoder(nn.Module):
    """(B, latent_dim, h, w) codes -> (B, 3, h * f, w * f) in about [-1, 1]; mirror image of the Encoder."""

    def __init__(
        self, channels: int, channel_mult: list[int], res_blocks: list[int], mid_blocks: int, latent_dim: int
    ) -> None:
        super().__init__()
        widths = _stage_channels(channels, channel_mult)[::-1]  # lowest resolution first
        blocks = res_blocks[::-1]
        layers: list[nn.Module] = [nn.Conv2d(latent_dim, widths[0], 3, padding=1)]
        layers += [ResBlock(widths[0]) for _ in range(mid_blocks)]
        for i, width in enumerate(widths):
            layers += [ResBlock(width) for _ in range(blocks[i])]
            if i + 1 < len(widths):
                layers.append(Upsample(width, widths[i + 1]))
        layers += [_norm(widths[-1]), nn.SiLU(), nn.Conv2d(widths[-1], 3, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, codes: Tensor) -> Tensor:
        """(B, latent_dim, h, w) -> (B, 3, H, W)."""
        return self.net(codes)
