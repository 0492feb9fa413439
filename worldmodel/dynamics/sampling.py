"""Sampling of next-frame tokens: temperature, top-k, per-world generators, MaskGIT-style iterative decoding.

Each world of a batch draws its noise from its own torch.Generator, so world b of a batched rollout equals a
single-world rollout seeded the same way, and snapshots can restore every world's random state.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch


def sample_tokens(logits: torch.Tensor, temperature: float, top_k: int,
                  generators: Sequence[torch.Generator] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one token per position from logits (B, N, V).

    temperature 0 means greedy argmax (no randomness used). Gumbel-max sampling with noise from generators[b]
    for world b. Returns tokens (B, N) int64 and their log-probabilities (B, N) under the filtered distribution.
    """
    if temperature <= 0.0:
        tokens = logits.argmax(dim=-1)
        logp = torch.log_softmax(logits.float(), dim=-1)
        return tokens, logp.gather(-1, tokens[..., None])[..., 0]
    if generators is None or len(generators) != logits.shape[0]:
        raise ValueError("sampling with temperature > 0 needs one torch.Generator per world")
    scaled = logits.float() / temperature
    if 0 < top_k < scaled.shape[-1]:
        kth = scaled.topk(top_k, dim=-1).values[..., -1:]  # (B, N, 1)
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    noise = torch.stack([torch.rand(scaled.shape[1:], generator=g, device=scaled.device) for g in generators])
    gumbel = -torch.log(-torch.log(noise))  # (B, N, V); noise 0 gives -inf: never picked, no NaN
    tokens = (scaled + gumbel).argmax(dim=-1)
    logp = torch.log_softmax(scaled, dim=-1).gather(-1, tokens[..., None])[..., 0]
    return tokens, logp


def decided_after(step: int, steps: int, tokens: int) -> int:
    """How many of `tokens` positions are fixed after decoding step `step` (0-based) of `steps` (cosine schedule)."""
    return tokens - int(math.floor(tokens * math.cos(math.pi / 2 * (step + 1) / steps)))


def maskgit_decode(logits_fn: Callable[[torch.Tensor], torch.Tensor], batch: int, tokens: int, mask_id: int,
                   steps: int, temperature: float, top_k: int,
                   generators: Sequence[torch.Generator] | None, device: torch.device) -> torch.Tensor:
    """Iteratively decode a frame of `tokens` positions in `steps` passes of logits_fn.

    logits_fn maps partial tokens (B, N) (mask_id where undecided) to logits (B, N, V). Each pass samples all
    undecided positions and keeps the most confident ones (log-probability), following the cosine schedule;
    the last pass fixes everything. Returns tokens (B, N) int64.
    """
    current = torch.full((batch, tokens), mask_id, dtype=torch.long, device=device)
    for step in range(steps):
        sampled, logp = sample_tokens(logits_fn(current), temperature, top_k, generators)
        undecided = current == mask_id  # (B, N)
        keep_count = decided_after(step, steps, tokens)
        if keep_count >= tokens:
            return torch.where(undecided, sampled, current)
        confidence = torch.where(undecided, logp, torch.full_like(logp, float("inf")))
        keep = torch.zeros_like(undecided).scatter(1, confidence.topk(keep_count, dim=-1).indices, True)
        current = torch.where(keep & undecided, sampled, current)
    return current


def random_mask(shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Training masks (..., N) bool with a masking ratio per leading index from the MaskGIT cosine schedule.

    ratio = cos(pi/2 * u), u ~ U(0, 1), at least one masked position, so fully masked frames (the first decoding
    pass) are common and the last decoding passes (few masked) are also seen.
    """
    *lead, n = shape
    ratio = torch.cos(math.pi / 2 * torch.rand(lead, device=device))
    count = torch.ceil(ratio * n).clamp(1, n).long()  # (...,)
    ranks = torch.rand(shape, device=device).argsort(dim=-1).argsort(dim=-1)  # random permutation ranks
    return ranks < count[..., None]
