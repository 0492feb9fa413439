"""The action-conditioned dynamics network: token grids + actions -> next-frame tokens, reward, termination.

Layout of one step (frame t, action a_t -> frame t+1):
  trunk input  = token embedding of frame t + spatial position + action conditioning of a_t (added to every token)
                 [+ camera hint: embedding of frame t turned by a_t's camera, re-encoded, weighted by how much of
                 each token was in view (cfg.camera_hint_fov > 0; worldmodel.dynamics.warp)]
  trunk        = transformer over frames, full attention within a frame, causal across frames, a window of
                 `context_frames` frames (rotary time embedding; KV cache at inference, one pass per frame)
  head         = small transformer over the N positions of frame t+1: trunk output + embedding of the tokens of
                 frame t+1 decided so far (mask token elsewhere) -> logits; run `decode_steps` times (MaskGIT)
  reward, term = MLPs on the mean-pooled trunk output of frame t (they see frame t and a_t)
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from envs.actions import BINARY_KEYS

from worldmodel.dynamics.actions import LATENT, REAL, UNKNOWN, ActionEncoder
from worldmodel.dynamics.config import DynamicsConfig
from worldmodel.dynamics.latent_action import LatentActionModel
from worldmodel.dynamics.sampling import maskgit_decode
from worldmodel.dynamics.transformer import Block, KVCache, Trunk

Hint = tuple[torch.Tensor, torch.Tensor]  # camera hint: tokens (..., N) int64 and weight (..., N) in [0, 1]


class DynamicsModel(nn.Module):
    """Dynamics transformer with action embedding, latent action model, MaskGIT head, reward and term heads."""

    def __init__(self, cfg: DynamicsConfig, vocab_size: int, grid: Sequence[int]) -> None:
        super().__init__()
        if vocab_size < 2 or len(grid) != 2 or min(grid) < 1:
            raise ValueError(f"bad tokenizer geometry for the dynamics: vocab_size={vocab_size}, grid={grid}")
        self.cfg = cfg
        self.vocab_size = int(vocab_size)
        self.grid = (int(grid[0]), int(grid[1]))
        self.tokens = self.grid[0] * self.grid[1]
        self.mask_id = self.vocab_size  # extra id of the head's token embedding: 'not decided yet'
        dim = cfg.d_model
        self.tok_emb = nn.Embedding(self.vocab_size, dim)
        self.pos = nn.Parameter(torch.zeros(self.tokens, dim))
        self.lam = LatentActionModel(cfg, self.vocab_size, self.tokens)
        self.actions = ActionEncoder(cfg, self.lam.latent_dim)
        self.trunk = Trunk(dim, cfg.n_layers, cfg.n_heads, cfg.mlp_ratio, cfg.context_frames, cfg.rope_base,
                           cfg.dropout)
        self.head_in = nn.Linear(dim, dim)
        self.head_tok = nn.Embedding(self.vocab_size + 1, dim)
        self.head_pos = nn.Parameter(torch.zeros(self.tokens, dim))
        self.head_blocks = nn.ModuleList(Block(dim, cfg.n_heads, cfg.mlp_ratio, cfg.dropout)
                                         for _ in range(cfg.head_layers))
        self.head_norm = nn.LayerNorm(dim)
        self.head_out = nn.Linear(dim, self.vocab_size)
        self.uses_hint = cfg.camera_hint_fov > 0
        if self.uses_hint:
            self.hint_emb = nn.Embedding(self.vocab_size, dim)
            self.hint_unseen = nn.Parameter(torch.zeros(dim))  # stands in where the hint has no weight
        self.reward_head = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 1))
        self.term_head = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 1))
        self.apply(_init_weights)
        nn.init.normal_(self.pos, std=0.02)
        nn.init.normal_(self.head_pos, std=0.02)

    # --- action conditioning ---
    def condition(self, buttons: torch.Tensor, camera: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """Real actions buttons (..., 18), camera (..., 2) where known (...) is True, else 'unknown' -> (..., D)."""
        kind = torch.where(known, REAL, UNKNOWN)
        return self.actions(buttons, camera, kind)

    def condition_latent(self, prev: torch.Tensor, nxt: torch.Tensor) -> torch.Tensor:
        """Latent actions inferred from consecutive token grids prev, nxt (..., N) -> conditioning (..., D)."""
        latent, _ = self.lam(prev, nxt)
        kind = torch.full(prev.shape[:-1], LATENT, device=prev.device)
        lead = prev.shape[:-1]
        buttons = torch.zeros(*lead, len(BINARY_KEYS), device=prev.device)  # ignored where kind is LATENT
        return self.actions(buttons, torch.zeros(*lead, 2, device=prev.device), kind, latent)

    # --- trunk ---
    def embed(self, tokens: torch.Tensor, cond: torch.Tensor, hint: Hint | None = None,
              soft: torch.Tensor | None = None) -> torch.Tensor:
        """tokens (..., N) int64, conditioning (..., D) and the camera hint (tokens (..., N), weight (..., N);
        None = no hint, as for unknown actions) -> trunk input (..., N, D). Models without the hint ignore it.
        `soft` (..., N, V): token probabilities to embed instead of `tokens` (their expected embedding; the
        mean-field rollout of `Rollout.step(soft=True)`)."""
        tokens_in = self.tok_emb(tokens) if soft is None else soft.to(self.tok_emb.weight.dtype) @ self.tok_emb.weight
        x = tokens_in + self.pos + cond[..., None, :]
        if not self.uses_hint:
            return x
        if hint is None:
            return x + self.hint_unseen
        hint_tokens, weight = hint
        weight = weight[..., None].to(x.dtype)  # (..., N, 1)
        return x + weight * self.hint_emb(hint_tokens) + (1.0 - weight) * self.hint_unseen

    def hidden(self, tokens: torch.Tensor, cond: torch.Tensor, start: int = 0, hint: Hint | None = None,
               soft: torch.Tensor | None = None) -> torch.Tensor:
        """Full recomputation: frames (B, T, N) (or their token distributions `soft` (B, T, N, V)) with the
        actions after them (B, T, D) and their hints -> trunk out (B, T, N, D)."""
        return self.trunk(self.embed(tokens, cond, hint, soft), start)

    def hidden_step(self, tokens: torch.Tensor, cond: torch.Tensor, cache: KVCache, position: int | None = None,
                    worlds: torch.Tensor | None = None, hint: Hint | None = None,
                    soft: torch.Tensor | None = None) -> torch.Tensor:
        """Cached: one frame (B, N) (or its token probabilities `soft` (B, N, V)) with its action (B, D) and hint
        at time cache.t -> trunk out (B, N, D). (With worlds and position: re-prime only those worlds, see
        Trunk.step.)"""
        return self.trunk.step(self.embed(tokens, cond, hint, soft), cache, position, worlds)

    def new_cache(self, batch: int, device: torch.device) -> KVCache:
        """Empty KV cache for `batch` worlds."""
        return self.trunk.new_cache(batch, self.tokens, device)

    # --- heads ---
    def logits(self, hidden: torch.Tensor, partial: torch.Tensor) -> torch.Tensor:
        """Trunk output (..., N, D) and partial next-frame tokens (..., N) (mask_id = undecided) -> (..., N, V)."""
        lead = partial.shape[:-1]
        x = self.head_in(hidden) + self.head_tok(partial) + self.head_pos  # (..., N, D)
        x = x.reshape(-1, self.tokens, x.shape[-1])  # (M, N, D)
        for block in self.head_blocks:
            x = block(x)
        return self.head_out(self.head_norm(x)).reshape(*lead, self.tokens, self.vocab_size)

    def reward_term(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Trunk output (..., N, D) -> predicted reward (...) and termination logit (...)."""
        pooled = hidden.mean(dim=-2)  # (..., D)
        return self.reward_head(pooled)[..., 0], self.term_head(pooled)[..., 0]

    def probabilities(self, hidden: torch.Tensor) -> torch.Tensor:
        """Next-frame token distribution (B, N, V) from trunk output (B, N, D): one fully parallel head pass."""
        partial = torch.full(hidden.shape[:-1], self.mask_id, dtype=torch.long, device=hidden.device)
        return torch.softmax(self.logits(hidden, partial).float(), dim=-1)

    def decode(self, hidden: torch.Tensor, steps: int, temperature: float, top_k: int,
               generators: Sequence[torch.Generator] | None) -> torch.Tensor:
        """Next-frame tokens (B, N) from trunk output (B, N, D) by `steps` MaskGIT passes of the head."""
        return maskgit_decode(lambda partial: self.logits(hidden, partial), hidden.shape[0], self.tokens,
                              self.mask_id, steps, temperature, top_k, generators, hidden.device)


def _init_weights(module: nn.Module) -> None:
    """GPT-style init: small normal weights, zero biases; keeps the residual stream well scaled at start."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
