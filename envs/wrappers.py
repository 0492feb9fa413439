"""Action wrappers for envs that speak the canonical action dict (envs/actions.py)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import gymnasium as gym
import numpy as np

from envs.actions import Action, complete_action

TURN_DEG = 15.0


def default_actions(turn_deg: float = TURN_DEG) -> list[tuple[str, dict[str, Any]]]:
    """The default flat action set: (name, partial canonical action) pairs."""
    cam = float(turn_deg)
    return [
        ("noop", {}),
        ("forward", {"forward": 1}),
        ("back", {"back": 1}),
        ("left", {"left": 1}),
        ("right", {"right": 1}),
        ("jump", {"jump": 1}),
        ("forward_jump", {"forward": 1, "jump": 1}),
        ("forward_sprint", {"forward": 1, "sprint": 1}),
        ("sneak", {"sneak": 1}),
        ("turn_left", {"camera": [0.0, -cam]}),
        ("turn_right", {"camera": [0.0, cam]}),
        ("look_up", {"camera": [-cam, 0.0]}),
        ("look_down", {"camera": [cam, 0.0]}),
        ("attack", {"attack": 1}),
        ("use", {"use": 1}),
    ] + [(f"hotbar_{i}", {f"hotbar.{i}": 1}) for i in range(1, 10)]


class DiscreteActions(gym.ActionWrapper):
    """Expose a flat Discrete action space over a fixed list of canonical actions.

    `actions` is a list of (name, partial action dict) pairs (absent keys = not pressed); the default set is
    noop, forward, back, left, right, jump, forward+jump, forward+sprint, sneak, turn left/right and look
    up/down by `turn_deg`, attack, use, and hotbar 1..9. `names` lists the action names by index.
    """

    def __init__(
        self,
        env: gym.Env,
        actions: Sequence[tuple[str, Mapping[str, Any]]] | None = None,
        turn_deg: float = TURN_DEG,
    ) -> None:
        super().__init__(env)
        pairs = list(actions) if actions is not None else default_actions(turn_deg)
        if not pairs:
            raise ValueError("DiscreteActions: 'actions' must not be empty")
        self.names: list[str] = [name for name, _ in pairs]
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"DiscreteActions: 'actions' has duplicate names {self.names}")
        self.table: list[Action] = []
        for name, partial in pairs:
            try:
                self.table.append(complete_action(partial))
            except ValueError as error:
                raise ValueError(f"DiscreteActions: action {name!r}: {error}") from None
        self.action_space = gym.spaces.Discrete(len(self.table))

    def action(self, action: Any) -> Action:
        """Index -> a fresh copy of the canonical action dict."""
        index = int(np.asarray(action).item())
        if not 0 <= index < len(self.table):
            raise ValueError(f"DiscreteActions: 'action' must be in [0, {len(self.table)}), got {action!r}")
        chosen = self.table[index]
        return {**chosen, "camera": chosen["camera"].copy()}
