"""The agent's flat action set: a few canonical actions an actor-critic picks from by index.

Two kinds. "blockworld": named BlockWorld actions (envs.wrappers.default_actions) with 10-degree turns, the
largest camera bin of the bundled world model (its camera is clipped to +/-10 degrees a tick), so every action
the agent takes is one the dream represents exactly. "crafter": Crafter's 17 actions as their canonical dicts
(envs.crafter_actions), so index i is Crafter action id i. The same indices map to the same canonical action
dicts in the dream and in the real env.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from envs.actions import BINARY_KEYS, Action, complete_action, stack_actions
from envs.crafter_actions import CRAFTER_ACTION_NAMES, to_canonical
from envs.wrappers import default_actions

TURN_DEG = 10.0
DEFAULT_NAMES: tuple[str, ...] = ("noop", "forward", "forward_jump", "turn_left", "turn_right", "look_up",
                                  "look_down", "attack", "left", "right")
KINDS: tuple[str, ...] = ("blockworld", "crafter")


def _table(kind: str, turn_deg: float) -> dict[str, Action]:
    if kind == "blockworld":
        return {name: complete_action(action) for name, action in default_actions(turn_deg)}
    if kind == "crafter":
        return {name: to_canonical(i) for i, name in enumerate(CRAFTER_ACTION_NAMES)}
    raise ValueError(f"action set kind must be one of {list(KINDS)}, got {kind!r}")


def kind_for_env(env_id: str) -> str:
    """The action set kind that fits a real env id (Crafter-* -> "crafter", else "blockworld")."""
    return "crafter" if str(env_id).lower().startswith("crafter") else "blockworld"


class ActionSet:
    """Index <-> canonical action dict for a named subset of one kind's actions (all of them by default)."""

    def __init__(self, names: Sequence[str] | None = None, turn_deg: float = TURN_DEG,
                 kind: str = "blockworld") -> None:
        table = _table(kind, turn_deg)
        if names is None:
            names = DEFAULT_NAMES if kind == "blockworld" else CRAFTER_ACTION_NAMES
        unknown = [n for n in names if n not in table]
        if unknown or not names:
            raise ValueError(f"action set: unknown action name(s) {unknown}; choose from {sorted(table)}")
        self.kind = kind
        self.names: list[str] = list(names)
        self.turn_deg = float(turn_deg)
        self.actions: list[Action] = [table[n] for n in self.names]

    def __len__(self) -> int:
        return len(self.names)

    def action(self, index: int) -> Action:
        """One index -> a fresh canonical action dict."""
        chosen = self.actions[int(index)]
        return {**chosen, "camera": chosen["camera"].copy()}

    def batch(self, indices: Any) -> dict[str, np.ndarray]:
        """Indices (B,) -> a dict of arrays (buttons (B,), camera (B, 2)) for a batched world model step."""
        return stack_actions([self.actions[int(i)] for i in np.asarray(indices).reshape(-1)])

    def to_dict(self) -> dict[str, Any]:
        """JSON description (stored beside agent checkpoints)."""
        return {"kind": self.kind, "names": self.names, "turn_deg": self.turn_deg}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ActionSet":
        """Inverse of to_dict (files without a kind are BlockWorld agents)."""
        return cls(list(data["names"]), float(data["turn_deg"]), str(data.get("kind", "blockworld")))


__all__ = ["ActionSet", "DEFAULT_NAMES", "KINDS", "TURN_DEG", "BINARY_KEYS", "kind_for_env"]
