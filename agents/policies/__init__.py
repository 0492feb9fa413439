"""Data-collection policies: `random` (samples the env's action space) and `explorer` (scripted BlockWorld footage).

`make_policy(name, action_space, seed)` builds one by name or by a `module:Class` path; every policy has
`reset(seed)` and `act(obs, info) -> action`.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from gymnasium import spaces

POLICIES: dict[str, str] = {
    "random": "agents.policies.random_policy:RandomPolicy",
    "random_set": "agents.policies.random_policy:RandomSetPolicy",
    "explorer": "agents.policies.explorer:ExplorerPolicy",
    "seeker": "agents.policies.seeker:SeekerPolicy",
    "agent": "agents.policies.trained:TrainedAgentPolicy",
    "gold_seeker": "agents.policies.seeker:SeekerPolicy",  # the name data/bw_gold was recorded with
}


class Policy(Protocol):
    """What `wm collect` needs from a policy."""

    def reset(self, seed: int) -> None:
        """Start a new episode with this seed."""

    def act(self, obs: Any, info: dict[str, Any]) -> Any:
        """The action for the current observation (in the env's native action space)."""


def make_policy(name: str, action_space: spaces.Space, seed: int = 0, **kwargs: Any) -> Policy:
    """Build a policy by registered name (`random`, `explorer`, `seeker`) or `package.module:ClassName`;
    kwargs go to its constructor (TypeError there -> ValueError naming the policy)."""
    target = POLICIES.get(name, name)
    if ":" not in target:
        raise ValueError(f"unknown policy '{name}'; expected one of {sorted(POLICIES)} or 'module:Class'")
    module_name, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"policy '{name}': cannot import {target} ({error})") from error
    try:
        return cls(action_space, seed=seed, **kwargs)
    except TypeError as error:
        raise ValueError(f"policy '{name}': bad policy kwargs {sorted(kwargs)}: {error}") from None
