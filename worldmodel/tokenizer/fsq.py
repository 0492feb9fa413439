"""Finite scalar quantisation (FSQ): each latent channel is bounded and rounded to a few levels.

Why FSQ and not VQ-VAE: the "codebook" is the fixed product grid of per-channel levels, so there are no codebook
vectors that can die (no collapse, no dead-code restarts), no codebook or commitment losses to balance, and
nothing extra to tune. Measured on BlockWorld 64x64 (explorer policy; 40 training / 4 held-out episodes), same
conv encoder/decoder, 8x8 tokens, 1000 codes, 500 AdamW steps of 16 frames, 1 CPU thread, held-out 256 frames:
  FSQ [8,5,5,5]:                          19.4 dB PSNR, 611 / 1000 codes used, code perplexity 114
  VQ (1000 x 32-d codebook, beta 0.25):   17.9 dB PSNR,  25 / 1000 codes used, code perplexity 13 (collapsed)
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn


class FSQ(nn.Module):
    """Quantise `(B, D, h, w)` latents, D = len(levels), onto a grid of prod(levels) codes.

    Codes are the quantised values scaled to [-1, 1]; token ids are the mixed-radix numbers of the per-channel
    level indices, in [0, prod(levels)).
    """

    def __init__(self, levels: list[int], eps: float = 1e-3) -> None:
        super().__init__()
        if not levels or any(int(n) < 2 for n in levels):
            raise ValueError(f"levels: each FSQ level count must be >= 2, got {levels}")
        self.levels_list = [int(n) for n in levels]
        self.eps = eps
        levels_t = torch.tensor(self.levels_list, dtype=torch.int64)
        basis = torch.cumprod(torch.tensor([1] + self.levels_list[:-1], dtype=torch.int64), dim=0)
        # Not persistent: they follow from the config, so checkpoints hold only learned weights.
        self.register_buffer("levels", levels_t, persistent=False)
        self.register_buffer("basis", basis, persistent=False)

    @property
    def dim(self) -> int:
        """Number of latent channels (one per level entry)."""
        return len(self.levels_list)

    @property
    def vocab_size(self) -> int:
        """Number of distinct codes: the product of the levels."""
        return int(torch.prod(torch.tensor(self.levels_list)).item())

    def _half_width(self, like: Tensor) -> Tensor:
        """(1, D, 1, 1) integer half widths L // 2 as floats."""
        return rearrange((self.levels // 2).to(like.dtype), "d -> 1 d 1 1")

    def bound(self, z: Tensor) -> Tensor:
        """Squash `(B, D, h, w)` latents so that rounding gives exactly L values per channel."""
        levels = rearrange(self.levels.to(z.dtype), "d -> 1 d 1 1")
        half_l = (levels - 1) * (1 - self.eps) / 2
        offset = torch.where(self.levels % 2 == 0, 0.5, 0.0).to(z.dtype)
        offset = rearrange(offset, "d -> 1 d 1 1")
        shift = torch.atanh(offset / half_l)
        return torch.tanh(z + shift) * half_l - offset

    def forward(self, z: Tensor) -> Tensor:
        """Quantise `(B, D, h, w)` latents to codes in [-1, 1] with a straight-through gradient."""
        if z.ndim != 4 or z.shape[1] != self.dim:
            raise ValueError(f"FSQ expects latents (B, {self.dim}, h, w), got {tuple(z.shape)}")
        bounded = self.bound(z.float())
        quantised = bounded + (torch.round(bounded) - bounded).detach()  # straight-through rounding
        return (quantised / self._half_width(quantised)).to(z.dtype)

    def snap(self, codes: Tensor) -> Tensor:
        """Round `(B, D, h, w)` values already on the code grid to the grid (a no-op for valid codes)."""
        half = self._half_width(codes)
        return torch.round(codes * half) / half

    def codes_to_indices(self, codes: Tensor) -> Tensor:
        """`(B, D, h, w)` codes -> `(B, h, w)` int64 token ids."""
        half = self._half_width(codes.float())
        digits = torch.round(codes.float() * half + half).long()  # per-channel level index in [0, L)
        return torch.einsum("bdhw,d->bhw", digits, self.basis)

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        """`(B, h, w)` int64 token ids -> `(B, D, h, w)` float codes in [-1, 1]."""
        if indices.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise ValueError(f"token ids must be an integer tensor, got {indices.dtype}")
        idx = rearrange(indices.long(), "b h w -> b 1 h w")
        digits = (idx // rearrange(self.basis, "d -> 1 d 1 1")) % rearrange(self.levels, "d -> 1 d 1 1")
        half = self._half_width(torch.empty(0))
        return (digits.float() - half) / half
