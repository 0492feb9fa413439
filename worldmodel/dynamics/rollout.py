"""Cached autoregressive generation over token grids for B worlds at once (no pixels; WorldModel adds those).

State: the KV cache of the frames already consumed, the token grid of the newest frame (not yet in the cache,
because the action that follows it is not known until the next step), and one generator per world.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from worldmodel.dynamics.model import DynamicsModel, Hint
from worldmodel.dynamics.transformer import KVCache


@dataclass
class RolloutSnapshot:
    """A copy of everything a rollout's future depends on (cache, newest frame, random states)."""

    cache: KVCache
    last: torch.Tensor
    rng_states: list[torch.Tensor]
    soft: torch.Tensor | None = None


def seeded_generators(batch: int, device: torch.device, seed: int) -> list[torch.Generator]:
    """One generator per world; world b is seeded with seed + b (so it matches a single world seeded so)."""
    return [torch.Generator(device=device).manual_seed(int(seed) + index) for index in range(batch)]


class Rollout:
    """Steps `batch` worlds of a DynamicsModel: one trunk pass per frame against a sliding KV cache."""

    def __init__(self, model: DynamicsModel, batch: int, device: torch.device, seed: int = 0,
                 generators: list[torch.Generator] | None = None) -> None:
        self.model = model
        self.batch = batch
        self.device = device
        self.cache = model.new_cache(batch, device)
        self.last: torch.Tensor | None = None  # (B, N) newest frame's tokens
        self.soft: torch.Tensor | None = None  # (B, N, V) its token probabilities after a mean-field step
        if generators is not None and len(generators) != batch:
            raise ValueError(f"need {batch} generators (one per world), got {len(generators)}")
        self.generators = generators or seeded_generators(batch, device, seed)

    def prime(self, tokens: torch.Tensor, cond: torch.Tensor, hints: Hint | None = None) -> None:
        """Start from context frames tokens (B, T, N) and the conditioning of the T-1 actions between them
        (B, T-1, D) (and their camera hints (B, T-1, N) each, if any); only the last context_frames frames
        matter, but all go through the cache for exactness."""
        if tokens.shape[0] != self.batch or cond.shape[:2] != (self.batch, tokens.shape[1] - 1):
            raise ValueError(f"context tokens {tuple(tokens.shape)} and actions {tuple(cond.shape)} do not match "
                             f"{self.batch} worlds with T frames and T-1 actions")
        self.cache = self.model.new_cache(self.batch, self.device)
        for t in range(tokens.shape[1] - 1):
            self.model.hidden_step(tokens[:, t], cond[:, t], self.cache, hint=_at(hints, t))
        self.last, self.soft = tokens[:, -1], None

    def prime_worlds(self, worlds: torch.Tensor, tokens: torch.Tensor, cond: torch.Tensor,
                     hints: Hint | None = None) -> None:
        """Reset only some worlds (indices (b,)) to new context tokens (b, T, N) with actions (b, T-1, D) while the
        others keep their state. The new context occupies the frames just before the shared clock, so (time
        entering only through relative rotary offsets) the world continues exactly as a freshly primed one."""
        if self.last is None:
            raise RuntimeError("call prime before prime_worlds")
        count = tokens.shape[1] - 1
        if cond.shape[:2] != (len(worlds), count) or tokens.shape[0] != len(worlds):
            raise ValueError(f"context tokens {tuple(tokens.shape)} and actions {tuple(cond.shape)} do not match "
                             f"{len(worlds)} worlds with T frames and T-1 actions")
        self.cache.valid[worlds] = False  # forget the old episode of these worlds
        for j in range(count):
            position = self.cache.t - count + j  # may be negative early on: only offsets matter
            self.model.hidden_step(tokens[:, j], cond[:, j], self.cache, position, worlds, _at(hints, j))
        self.last = self.last.clone()
        self.last[worlds] = tokens[:, -1]
        if self.soft is not None:  # the reset worlds start from certain (one-hot) tokens
            self.soft = self.soft.clone()
            self.soft[worlds] = torch.nn.functional.one_hot(tokens[:, -1], self.soft.shape[-1]).to(self.soft.dtype)

    def hidden(self, cond: torch.Tensor, hint: Hint | None = None) -> torch.Tensor:
        """Consume the newest frame with the action after it, cond (B, D) (and its camera hint) -> trunk output
        (B, N, D)."""
        if self.last is None:
            raise RuntimeError("call reset/prime before step")
        return self.model.hidden_step(self.last, cond, self.cache, hint=hint, soft=self.soft)

    def step(self, cond: torch.Tensor, steps: int, temperature: float, top_k: int, hint: Hint | None = None,
             soft: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Advance every world by one frame -> next tokens (B, N), reward (B,), termination probability (B,).
        `hint`: the camera hint of the newest frame and this action (models trained with one).
        soft=True: mean-field step, no sampling: the next frame is kept as its token distribution (self.soft,
        one parallel head pass), which the following step embeds as expected embeddings; the tokens returned
        are its most likely ones."""
        hidden = self.hidden(cond, hint)
        reward, term_logit = self.model.reward_term(hidden)
        if soft:
            self.soft = self.model.probabilities(hidden)  # (B, N, V)
            self.last = self.soft.argmax(-1)
        else:
            self.soft = None
            self.last = self.model.decode(hidden, steps, temperature, top_k, self.generators)
        return self.last, reward, torch.sigmoid(term_logit)

    def observe(self, tokens: torch.Tensor) -> None:
        """Replace the newest frame by observed tokens (B, N) (teacher forcing, filtering with real frames)."""
        if tokens.shape != (self.batch, self.model.tokens):
            raise ValueError(f"observed tokens must be {(self.batch, self.model.tokens)}, got {tuple(tokens.shape)}")
        self.last, self.soft = tokens, None

    def snapshot(self) -> RolloutSnapshot:
        """Copy of the state; restore() it any number of times to branch rollouts."""
        if self.last is None:
            raise RuntimeError("call reset/prime before snapshot")
        return RolloutSnapshot(self.cache.clone(), self.last.clone(), [g.get_state() for g in self.generators],
                               None if self.soft is None else self.soft.clone())

    def restore(self, snap: RolloutSnapshot) -> None:
        """Return to a snapshot (the snapshot itself stays intact)."""
        if snap.last.shape[0] != self.batch:
            raise ValueError(f"snapshot holds {snap.last.shape[0]} worlds, this rollout {self.batch}")
        self.cache = snap.cache.clone()
        self.last = snap.last.clone()
        self.soft = None if snap.soft is None else snap.soft.clone()
        for generator, state in zip(self.generators, snap.rng_states):
            generator.set_state(state)


def _at(hints: Hint | None, t: int) -> Hint | None:
    """The hints of transition t from hints (B, T, N) each."""
    return None if hints is None else (hints[0][:, t], hints[1][:, t])
