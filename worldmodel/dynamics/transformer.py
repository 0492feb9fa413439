"""Transformer pieces: rotary time embedding, block-causal windowed attention, a sliding KV cache.

Time is encoded with rotary embeddings over the absolute frame index. Attention scores then depend only on the
frame offset between query and key, so keys cached at their absolute time stay valid when the window slides,
and the ring-buffer cache never has to re-encode anything.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn


def rotary_angles(positions: torch.Tensor, head_dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Cos and sin tables for rotary embedding at the given (frame) positions.

    Angles are computed in float64 so that large absolute frame indices (long rollouts) keep their precision.
    Returns cos, sin of shape (S, head_dim // 2).
    """
    inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64, device=positions.device) / head_dim)
    angles = positions.to(torch.float64)[:, None] * inv_freq[None, :]  # (S, hd/2)
    return angles.cos().float(), angles.sin().float()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate feature pairs (first half, second half) of x (..., S, hd) by per-position angles (S, hd/2)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


def window_mask(frames: int, tokens: int, window: int, device: torch.device | None = None) -> torch.Tensor:
    """Boolean attention mask (S, S), S = frames * tokens: True where a query may attend to a key.

    Full attention within a frame, causal across frames, and at most `window` frames back (the frame itself
    included), which is exactly what the sliding KV cache sees.
    """
    frame = torch.arange(frames, device=device).repeat_interleave(tokens)  # (S,)
    offset = frame[:, None] - frame[None, :]  # (S, S) query frame - key frame
    return (offset >= 0) & (offset < window)


class FrameWindow(NamedTuple):
    """`window_mask` in structured form: `frames` frames of `tokens` tokens; a query attends to every token of its
    own frame and of the `window` - 1 frames before it."""

    frames: int
    tokens: int
    window: int

    def dense(self, device: torch.device) -> torch.Tensor:
        """The same mask as a (S, S) bool tensor."""
        return window_mask(self.frames, self.tokens, self.window, device)


def frame_window_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: FrameWindow,
                           dropout_p: float = 0.0) -> torch.Tensor:
    """Attention of q, k, v (B, nh, S, hd) under a FrameWindow mask, one query frame at a time against only the
    keys it may see -> (B, nh, S, hd). The dense masked kernel computes every one of the S^2 scores (at 8 frames
    44% of them masked); on the CPU this is 1.5x faster forward + backward for the bundled dynamics (fp32:
    64 -> 43 ms a layer, docs/training-speed.md) and equal to it within float rounding (a test)."""
    n, out = mask.tokens, []
    for t in range(mask.frames):
        first = max(0, t - mask.window + 1) * n
        out.append(F.scaled_dot_product_attention(q[:, :, t * n:(t + 1) * n], k[:, :, first:(t + 1) * n],
                                                  v[:, :, first:(t + 1) * n], dropout_p=dropout_p))
    return torch.cat(out, dim=2)


class KVCache:
    """Keys and values of the last `window` frames for every layer, as a ring buffer over frame slots.

    Frame t lives in slot t % window. Attention is permutation invariant over keys and time enters through
    rotary embeddings, so the order of slots does not matter and sliding costs no copy. All worlds share the
    frame clock t; `valid` marks per world which slots hold frames of its current episode, so one world can be
    re-primed (reset) while the others keep running: its new context is written at the frames just before t.
    """

    def __init__(self, n_layers: int, batch: int, n_heads: int, window: int, tokens: int, head_dim: int,
                 device: torch.device, dtype: torch.dtype = torch.float32) -> None:
        shape = (n_layers, batch, n_heads, window * tokens, head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)  # (L, B, nh, W*N, hd)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.valid = torch.zeros(batch, window, dtype=torch.bool, device=device)  # (B, W) filled frame slots
        self.window = window
        self.tokens = tokens
        self.t = 0  # absolute index of the next frame to be written

    def keys(self, position: int) -> slice:
        """Key positions of the slot that frame `position` is written to."""
        start = (position % self.window) * self.tokens
        return slice(start, start + self.tokens)

    def mask(self, worlds: torch.Tensor | None) -> torch.Tensor | None:
        """Attention mask (b, 1, 1, W*N) of valid slots for the given worlds (all if None); None if all valid."""
        valid = self.valid if worlds is None else self.valid[worlds]
        if bool(valid.all()):
            return None  # the fast path of the steady state
        return repeat(valid, "b w -> b 1 1 (w n)", n=self.tokens)

    def clone(self) -> "KVCache":
        """Deep copy (for snapshots)."""
        other = KVCache.__new__(KVCache)
        other.k, other.v, other.valid = self.k.clone(), self.v.clone(), self.valid.clone()
        other.window, other.tokens, other.t = self.window, self.tokens, self.t
        return other


class Attention(nn.Module):
    """Multi-head self-attention usable over a whole sequence (with a mask) or one frame against a KV cache."""

    def __init__(self, dim: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.dropout = dropout

    def _qkv(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        qkv = rearrange(self.qkv(x), "b s (three h d) -> three b h s d", three=3, h=self.n_heads)
        qk = qkv[:2] if rope is None else apply_rotary(qkv[:2], *rope)  # rotate q and k in one go
        return qk[0], qk[1], qkv[2]  # each (B, nh, S, hd)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None,
                mask: torch.Tensor | FrameWindow | None = None) -> torch.Tensor:
        """x (B, S, D), rope tables (S, hd/2), mask (S, S) bool, a FrameWindow, or None (full attention)
        -> (B, S, D)."""
        q, k, v = self._qkv(x, rope)
        p = self.dropout if self.training else 0.0
        if q.device.type != "cpu":
            dense = mask.dense(q.device) if isinstance(mask, FrameWindow) else mask  # one kernel, no per-frame loop
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=dense, dropout_p=p)  # (B, nh, S, hd)
        else:
            # On the CPU the attention stays fp32 under bf16 autocast: its kernels run slower in bf16 (the bundled
            # dynamics step's attention backward 78 -> 147 ms, docs/training-speed.md)
            with torch.autocast("cpu", enabled=False):
                q, k, v = q.float(), k.float(), v.float()
                if isinstance(mask, FrameWindow):
                    out = frame_window_attention(q, k, v, mask, p)
                else:
                    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.proj(rearrange(out, "b h s d -> b s (h d)"))

    def step(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], cache: KVCache, layer: int,
             keys: slice, mask: torch.Tensor | None, worlds: torch.Tensor | None) -> torch.Tensor:
        """One new frame x (b, N, D) of the given worlds (None = all): write its keys/values at `keys`,
        attend to the window -> (b, N, D)."""
        q, k, v = self._qkv(x, rope)
        if worlds is None:
            cache.k[layer, :, :, keys] = k
            cache.v[layer, :, :, keys] = v
            all_k, all_v = cache.k[layer], cache.v[layer]  # (B, nh, W*N, hd)
        else:  # re-priming some worlds: write and read only their rows
            cache.k[layer][worlds, :, keys] = k
            cache.v[layer][worlds, :, keys] = v
            all_k, all_v = cache.k[layer][worlds], cache.v[layer][worlds]
        out = F.scaled_dot_product_attention(q, all_k, all_v, attn_mask=mask)
        return self.proj(rearrange(out, "b h s d -> b s (h d)"))


class Block(nn.Module):
    """Pre-norm transformer block: attention then feed-forward, both residual."""

    def __init__(self, dim: int, n_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, n_heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None,
                mask: torch.Tensor | FrameWindow | None = None) -> torch.Tensor:
        """x (B, S, D) -> (B, S, D)."""
        x = x + self.attn(self.norm1(x), rope, mask)
        return x + self.mlp(self.norm2(x))

    def step(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], cache: KVCache, layer: int,
             keys: slice, mask: torch.Tensor | None, worlds: torch.Tensor | None) -> torch.Tensor:
        """One frame x (b, N, D) against the cache -> (b, N, D)."""
        x = x + self.attn.step(self.norm1(x), rope, cache, layer, keys, mask, worlds)
        return x + self.mlp(self.norm2(x))


class Trunk(nn.Module):
    """Stack of blocks with rotary time embedding and the windowed block-causal mask."""

    def __init__(self, dim: int, n_layers: int, n_heads: int, mlp_ratio: float, window: int, rope_base: float,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim, n_heads, mlp_ratio, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(dim)
        self.n_heads, self.head_dim, self.window, self.rope_base = n_heads, dim // n_heads, window, rope_base

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Whole sequence x (B, T, N, D) of frames starting at absolute frame `start` -> (B, T, N, D)."""
        b, t, n, _ = x.shape
        frames = torch.arange(start, start + t, device=x.device).repeat_interleave(n)  # (T*N,)
        rope = rotary_angles(frames, self.head_dim, self.rope_base)
        mask = FrameWindow(t, n, self.window)  # = window_mask(t, n, window)
        h = rearrange(x, "b t n d -> b (t n) d")
        for block in self.blocks:
            h = block(h, rope, mask)
        return rearrange(self.norm(h), "b (t n) d -> b t n d", t=t)

    def new_cache(self, batch: int, tokens: int, device: torch.device) -> KVCache:
        """An empty cache for `batch` worlds."""
        return KVCache(len(self.blocks), batch, self.n_heads, self.window, tokens, self.head_dim, device)

    def step(self, x: torch.Tensor, cache: KVCache, position: int | None = None,
             worlds: torch.Tensor | None = None) -> torch.Tensor:
        """One frame x (B, N, D) at absolute time cache.t -> (B, N, D); advances the cache by one frame.

        With `worlds` (b indices) and `position` (< cache.t), x (b, N, D) re-primes those worlds only: their
        frame is written at `position` and the clock does not move.
        """
        if (worlds is None) != (position is None):
            raise ValueError("pass both worlds and position (re-priming) or neither (a normal step)")
        at = cache.t if position is None else position
        if worlds is None:
            cache.valid[:, at % cache.window] = True
        else:
            cache.valid[worlds, at % cache.window] = True
        mask, keys = cache.mask(worlds), cache.keys(at)
        rope = rotary_angles(torch.tensor([at], device=x.device), self.head_dim, self.rope_base)  # (1, hd/2)
        for layer, block in enumerate(self.blocks):
            x = block.step(x, rope, cache, layer, keys, mask, worlds)
        if worlds is None:
            cache.t += 1
        return self.norm(x)
