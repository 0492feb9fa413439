"""Typed configuration of the frame tokenizer: the one source of its defaults (`wm train` model.* keys).

Registered with Hydra in worldmodel/train/runs.py.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TokenizerConfig:
    """Frame tokenizer: conv encoder -> FSQ -> conv decoder.

    The token grid is (height / f, width / f) with f = 2 ** (len(channel_mult) - 1): the defaults turn 64x64
    frames into 8x8 tokens from a vocabulary of 8*5*5*5 = 1000 codes. For 128x128 frames add a stage
    (channel_mult [1, 1, 2, 4, 4]) to keep an 8x8 grid, or keep the stages for a 16x16 grid.
    """

    height: int = 64
    """Frame height in pixels (multiple of the downsampling factor)."""
    width: int = 64
    """Frame width in pixels (multiple of the downsampling factor)."""
    levels: list[int] = field(default_factory=lambda: [8, 5, 5, 5])
    """FSQ levels per latent channel; vocab_size = prod(levels)."""
    channels: int = 32
    """Base conv width; stage i uses channels * channel_mult[i]."""
    channel_mult: list[int] = field(default_factory=lambda: [1, 1, 2, 4])
    """Width multipliers per resolution stage (highest resolution first); one 2x downsampling between stages."""
    res_blocks: list[int] = field(default_factory=lambda: [0, 1, 1, 1])
    """Residual blocks per stage (same order as channel_mult), in both encoder and decoder."""
    mid_blocks: int = 1
    """Extra residual blocks at the token resolution, in both encoder and decoder."""
    l1_weight: float = 1.0
    """Weight of the L1 reconstruction loss (pixels in [-1, 1])."""
    mse_weight: float = 0.0
    """Weight of the MSE reconstruction loss."""
    grad_weight: float = 0.5
    """Weight of the image-gradient L1 loss (sharper edges and textures; cheap)."""
    ssim_weight: float = 0.0
    """Weight of the (1 - SSIM) loss."""
    max_frames: int = 0
    """Frames per batch used by compute_loss after flattening clips (random subset); 0 = all frames."""
    fusion_channels: int = 0
    """Width of the frame-fusion net (worldmodel/fusion/net.py) that shows each predicted frame together
    with the pixels already seen, turned by the camera; 0 = no fusion (plain decoding). Trained by
    `wm train fusion`, not by `wm train tokenizer`."""
    fusion_fov_deg: float = 70.0
    """Horizontal field of view of the footage in degrees, for the fusion's camera warp (BlockWorld: 70)."""

    def __post_init__(self) -> None:
        self.validate()

    @property
    def downsample(self) -> int:
        """Spatial downsampling factor from pixels to tokens."""
        return 2 ** (len(self.channel_mult) - 1)

    @property
    def grid(self) -> tuple[int, int]:
        """Token grid (h, w)."""
        return self.height // self.downsample, self.width // self.downsample

    @property
    def vocab_size(self) -> int:
        """Number of distinct tokens."""
        return math.prod(self.levels)

    def validate(self) -> None:
        """Raise ValueError naming the offending key."""
        if not self.levels or any(int(n) < 2 for n in self.levels):
            raise ValueError(f"tokenizer config 'levels': need levels >= 2, got {list(self.levels)}")
        if not self.channel_mult or any(int(m) < 1 for m in self.channel_mult):
            raise ValueError(f"tokenizer config 'channel_mult': need positive ints, got {list(self.channel_mult)}")
        if len(self.res_blocks) != len(self.channel_mult) or any(int(n) < 0 for n in self.res_blocks):
            raise ValueError(
                f"tokenizer config 'res_blocks': need {len(self.channel_mult)} non-negative ints "
                f"(one per channel_mult stage), got {list(self.res_blocks)}"
            )
        for key in ("height", "width"):
            value = getattr(self, key)
            if value <= 0 or value % self.downsample:
                raise ValueError(
                    f"tokenizer config '{key}': {value} is not a positive multiple of the downsampling factor "
                    f"{self.downsample} (2 ** (len(channel_mult) - 1))"
                )
        if self.fusion_channels < 0 or self.fusion_channels == 1 or not self.fusion_fov_deg > 0:
            raise ValueError("tokenizer config 'fusion_channels'/'fusion_fov_deg': need fusion_channels 0 or >= 2 "
                             f"and fusion_fov_deg > 0, got {self.fusion_channels}, {self.fusion_fov_deg}")
        for key in ("channels", "mid_blocks", "max_frames"):
            if getattr(self, key) < (1 if key == "channels" else 0):
                raise ValueError(f"tokenizer config '{key}': invalid value {getattr(self, key)}")
        for key in ("l1_weight", "mse_weight", "grad_weight", "ssim_weight"):
            if getattr(self, key) < 0:
                raise ValueError(f"tokenizer config '{key}': loss weights must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of the fields."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "tokenizer config") -> TokenizerConfig:
        """Build from a dict (e.g. JSON); unknown keys -> ValueError naming the key and `source`."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a mapping, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key not in names:
                raise ValueError(f"{source}: unknown tokenizer config key '{key}'")
        try:
            return cls(**{k: list(v) if isinstance(v, (list, tuple)) else v for k, v in data.items()})
        except (TypeError, ValueError) as error:
            raise ValueError(f"{source}: {error}") from error


def _plain(value: Any) -> Any:
    """Lists (also OmegaConf ListConfig) to plain lists of ints/floats."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return [_plain(v) for v in value]
