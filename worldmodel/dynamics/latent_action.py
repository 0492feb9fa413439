"""Latent action model (as in Genie): (frame t tokens, frame t+1 tokens) -> a discrete latent action.

The code is a finite scalar quantisation (FSQ) of a few dimensions (default levels 3x3x3 = 27 latent actions).
It is trained jointly with the dynamics: on action-free clips the dynamics is conditioned on the latent action
of each transition, and the straight-through gradient of the prediction loss trains the encoder. The tiny code
space is the bottleneck that keeps the encoder from smuggling the next frame itself to the dynamics.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from worldmodel.dynamics.config import DynamicsConfig
from worldmodel.dynamics.transformer import Block


class FSQ(nn.Module):
    """Finite scalar quantisation with a straight-through gradient (Mentzer et al., 2023)."""

    def __init__(self, levels: list[int]) -> None:
        super().__init__()
        self.register_buffer("levels", torch.tensor(levels, dtype=torch.float32), persistent=False)
        basis = [math.prod(levels[:i]) for i in range(len(levels))]
        self.register_buffer("basis", torch.tensor(basis, dtype=torch.long), persistent=False)
        self.num_codes = math.prod(levels)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (..., d) -> quantised values (..., d) in [-1, 1] and code indices (...,) int64."""
        half = (self.levels - 1) * (1 + 1e-3) / 2
        offset = torch.where(self.levels % 2 == 0, 0.5, 0.0)  # even levels: grid shifted by half a step
        shift = torch.atanh(offset / half)
        bounded = torch.tanh(z + shift) * half - offset
        rounded = torch.round(bounded)
        quantised = bounded + (rounded - bounded).detach()  # straight-through
        width = torch.div(self.levels, 2, rounding_mode="floor")
        digits = (rounded + width).long()  # (..., d) in [0, level)
        codes = (digits * self.basis).sum(-1)
        return quantised / width, codes


class LatentActionModel(nn.Module):
    """Small transformer over the token pair of a transition, pooled into an FSQ latent action."""

    def __init__(self, cfg: DynamicsConfig, vocab_size: int, tokens: int) -> None:
        super().__init__()
        dim = cfg.lam_dim
        self.embed = nn.Embedding(vocab_size, dim)
        self.pos = nn.Parameter(torch.randn(tokens, dim) * 0.02)
        self.fuse = nn.Linear(2 * dim, dim)
        self.blocks = nn.ModuleList(Block(dim, cfg.lam_heads) for _ in range(cfg.lam_layers))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, len(cfg.lam_levels))
        self.fsq = FSQ(cfg.lam_levels)
        self.latent_dim = len(cfg.lam_levels)

    def forward(self, prev: torch.Tensor, nxt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token grids prev, nxt (..., N) -> latent action (..., latent_dim) float and codes (...,) int64."""
        lead = prev.shape[:-1]
        x = self.fuse(torch.cat((self.embed(prev), self.embed(nxt)), dim=-1)) + self.pos  # (..., N, d)
        x = x.reshape(-1, *x.shape[-2:])  # (M, N, d), M = prod(lead)
        for block in self.blocks:
            x = block(x)
        z = self.out(self.norm(x).mean(dim=1))  # (M, latent_dim)
        quantised, codes = self.fsq(z)
        return quantised.reshape(*lead, -1), codes.reshape(lead)

