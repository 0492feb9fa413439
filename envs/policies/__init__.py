"""Data-collection policies that need nothing but the env: `random` (samples the action space), `explorer`
(scripted BlockWorld footage) and `seeker` (walks to the task's goal block and mines it).

`make_policy(name, action_space, seed)` builds one by registered name or by a `package.module:Class` path; every
policy has `reset(seed)` and `act(obs, info) -> action`. Policies that need more than the env (a trained agent,
the agent's action set) live in `agents.policies`, which extends this registry; `wm collect` takes them by path.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Protocol

from gymnasium import spaces

POLICIES: dict[str, str] = {
    "random": "envs.policies.random_policy:RandomPolicy",
    "explorer": "envs.policies.explorer:ExplorerPolicy",
    "seeker": "envs.policies.seeker:SeekerPolicy",
    "gold_seeker": "envs.policies.seeker:SeekerPolicy",  # the name data/bw_gold was recorded with
}


class Policy(Protocol):
    """What `wm collect` needs from a policy."""

    def reset(self, seed: int) -> None:
        """Start a new episode with this seed."""

    def act(self, obs: Any, info: dict[str, Any]) -> Any:
        """The action for the current observation (in the env's native action space)."""


def build_policy(registry: Mapping[str, str], name: str, action_space: spaces.Space, seed: int = 0,
                 **kwargs: Any) -> Policy:
    """Build a policy named in `registry` (name -> 'module:Class') or given as `package.module:Class`; kwargs go
    to its constructor (TypeError there -> ValueError naming the policy)."""
    target = registry.get(name, name)
    if ":" not in target:
        raise ValueError(f"unknown policy '{name}'; expected one of {sorted(registry)} or 'module:Class'")
    module_name, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"policy '{name}': cannot import {target} ({error})") from error
    try:
        return cls(action_space, seed=seed, **kwargs)
    except TypeError as error:
        raise ValueError(f"policy '{name}': bad policy kwargs {sorted(kwargs)}: {error}") from None


def make_policy(name: str, action_space: spaces.Space, seed: int = 0, **kwargs: Any) -> Policy:
    """Build a policy by registered name (`random`, `explorer`, `seeker`) or `package.module:ClassName`."""
    return build_policy(POLICIES, name, action_space, seed, **kwargs)
