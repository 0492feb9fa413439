"""A trained agent (`wm agent train` output) as a data-collection policy: the Dyna loop records what the agent
really does, so the world model learns where its dream lied (e.g. rewards it promised for attacking the
ground).

    wm collect --env BlockWorld-v0 --env-kwargs '{"task": "mine_gold"}' \\
        --policy agents.policies.trained:TrainedAgentPolicy \\
        --policy-kwargs '{"path": "runs/agent", "noise": 0.2}' --episodes 100 --steps 200 --out data/bw_gold
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from envs.actions import is_canonical_space


class TrainedAgentPolicy:
    """Acts with a trained ActorCritic from frames; with probability `noise` per step a uniform action instead."""

    def __init__(self, action_space: spaces.Space, seed: int = 0, path: str = "runs/agent", noise: float = 0.0,
                 greedy: bool = False) -> None:
        from agents.checkpoint import load_agent
        from agents.evaluate import AgentPolicy

        if not is_canonical_space(action_space):
            raise ValueError("the agent policy needs the canonical action dict (envs.actions.action_space())")
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"agent policy: 'noise' must be in [0, 1], got {noise!r}")
        torch.set_num_threads(1)
        agent, self.action_set, _ = load_agent(path)
        self.policy = AgentPolicy(agent, self.action_set, greedy=greedy)
        self.noise = noise
        self.reset(seed)

    def reset(self, seed: int) -> None:
        """Reseed the agent's sampling and the noise."""
        self.rng = np.random.default_rng(seed)
        self.policy.reset(seed)

    def act(self, obs: Any, info: dict[str, Any]) -> dict[str, Any]:
        """The agent's action (or, with probability noise, a uniform one of its action set)."""
        if self.noise and self.rng.random() < self.noise:
            return self.action_set.action(int(self.rng.integers(len(self.action_set))))
        return self.policy.act(obs, info)
