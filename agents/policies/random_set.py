"""Random over the agent's action set: what an untrained agent does (a baseline of `wm agent eval`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from agents.action_set import ActionSet
from envs.actions import is_canonical_space


class RandomSetPolicy:
    """Uniform random choice over the agent's action set (agents/action_set.py): what an untrained agent does,
    so data recorded with it shows the world model the states and actions imagination starts from."""

    def __init__(self, action_space: spaces.Space, seed: int = 0, action_set: ActionSet | None = None) -> None:
        if not is_canonical_space(action_space):
            raise ValueError("random_set needs the canonical action dict (envs.actions.action_space())")
        self.action_set = action_set if action_set is not None else ActionSet()
        self.reset(seed)

    def reset(self, seed: int) -> None:
        """Reseed for a new episode."""
        self.rng = np.random.default_rng(seed)

    def act(self, obs: Any, info: dict[str, Any]) -> dict[str, Any]:
        """A uniformly drawn action of the set."""
        return self.action_set.action(int(self.rng.integers(len(self.action_set))))
