"""The agent's flat action set: a few canonical BlockWorld actions an actor-critic picks from by index.

Turns are 10 degrees, the largest camera bin of the bundled world model (its camera is clipped to +/-10
degrees a tick), so every action the agent takes is one the dream represents exactly. The same indices map
to the same canonical action dicts in the dream and in BlockWorld.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from envs.actions import BINARY_KEYS, Action, complete_action, stack_actions
from envs.wrappers import default_actions

TURN_DEG = 10.0
DEFAULT_NAMES: tuple[str, ...] = ("noop", "forward", "forward_jump", "turn_left", "turn_right", "look_up",
                                  "look_down", "attack", "left", "right")


class ActionSet:
    """Index <-> canonical action dict for a named subset of envs.wrappers.default_actions(turn_deg)."""

    def __init__(self, names: Sequence[str] = DEFAULT_NAMES, turn_deg: float = TURN_DEG) -> None:
        table = dict(default_actions(turn_deg))
        unknown = [n for n in names if n not in table]
        if unknown or not names:
            raise ValueError(f"action set: unknown action name(s) {unknown}; choose from {sorted(table)}")
        self.names: list[str] = list(names)
        self.turn_deg = float(turn_deg)
        self.actions: list[Action] = [complete_action(table[n]) for n in self.names]

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
        return {"names": self.names, "turn_deg": self.turn_deg}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ActionSet":
        """Inverse of to_dict."""
        return cls(list(data["names"]), float(data["turn_deg"]))


__all__ = ["ActionSet", "DEFAULT_NAMES", "TURN_DEG", "BINARY_KEYS"]
