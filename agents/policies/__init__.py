"""All policies by name: the env-only ones of `envs.policies` (random, explorer, seeker) plus the two that need
`agents`: `random_set` (uniform over the agent's action set) and `agent` (a trained actor-critic).

`make_policy(name, action_space, seed)` builds one by name or by a `module:Class` path. `wm collect` knows only
the env-only names (it sits below `agents`); give it these two by path:
`--policy agents.policies.random_set:RandomSetPolicy` or `--policy agents.policies.trained:TrainedAgentPolicy`.
"""

from __future__ import annotations

from typing import Any

from gymnasium import spaces

from agents.policies.random_set import RandomSetPolicy
from envs.policies import POLICIES as ENV_POLICIES
from envs.policies import Policy, build_policy
from envs.policies.explorer import ExplorerPolicy
from envs.policies.random_policy import RandomPolicy
from envs.policies.seeker import SeekerPolicy

__all__ = ["POLICIES", "ExplorerPolicy", "Policy", "RandomPolicy", "RandomSetPolicy", "SeekerPolicy", "make_policy"]

POLICIES: dict[str, str] = {
    **ENV_POLICIES,
    "random_set": "agents.policies.random_set:RandomSetPolicy",
    "agent": "agents.policies.trained:TrainedAgentPolicy",  # imported when used (it loads torch)
}


def make_policy(name: str, action_space: spaces.Space, seed: int = 0, **kwargs: Any) -> Policy:
    """Build a policy by registered name (`random`, `explorer`, `seeker`, `random_set`, `agent`) or
    `package.module:ClassName`; kwargs go to its constructor (TypeError there -> ValueError naming the policy)."""
    return build_policy(POLICIES, name, action_space, seed, **kwargs)
