"""Crafter's 17 discrete actions <-> canonical action dicts, so Crafter recordings train an action-conditioned model.

The world model speaks only the canonical MineRL/VPT dict (envs/actions.py). Each Crafter action id gets one
fixed dict with the camera still: movement keys for the four moves, `attack` for "do", `sneak` for sleep,
`use` + hotbar.N for the four place actions and `jump` + hotbar.N for the six make actions. The map is a
bijection onto these 17 dicts, so `to_crafter(to_canonical(i)) == i` and anything else is an error.
"""

from __future__ import annotations

from typing import Any, Mapping

import gymnasium
import numpy as np

from envs.actions import BINARY_KEYS, Action, action_space, complete_action, validate_action

CRAFTER_ACTION_NAMES: tuple[str, ...] = (
    "noop", "move_left", "move_right", "move_up", "move_down", "do", "sleep", "place_stone", "place_table",
    "place_furnace", "place_plant", "make_wood_pickaxe", "make_stone_pickaxe", "make_iron_pickaxe",
    "make_wood_sword", "make_stone_sword", "make_iron_sword")

_PRESSED: tuple[tuple[str, ...], ...] = (
    (), ("left",), ("right",), ("forward",), ("back",), ("attack",), ("sneak",),
    ("use", "hotbar.1"), ("use", "hotbar.2"), ("use", "hotbar.3"), ("use", "hotbar.4"),
    ("jump", "hotbar.1"), ("jump", "hotbar.2"), ("jump", "hotbar.3"),
    ("jump", "hotbar.4"), ("jump", "hotbar.5"), ("jump", "hotbar.6"))


def _key(action: Mapping[str, Any]) -> tuple[int, ...]:
    return tuple(int(np.asarray(action[key]).item()) for key in BINARY_KEYS)


_TABLE: tuple[Action, ...] = tuple(complete_action({key: 1 for key in pressed}) for pressed in _PRESSED)
_INDEX: dict[tuple[int, ...], int] = {_key(action): index for index, action in enumerate(_TABLE)}


def to_canonical(index: int) -> Action:
    """Crafter action id (0..16) -> a fresh canonical action dict (camera zero)."""
    index = int(index)
    if not 0 <= index < len(_TABLE):
        raise ValueError(f"Crafter action must be an int in [0, {len(_TABLE)}), got {index!r}")
    chosen = _TABLE[index]
    return {**chosen, "camera": chosen["camera"].copy()}


def to_crafter(action: Mapping[str, Any]) -> int:
    """Canonical action dict -> Crafter action id; ValueError for a dict that is not one of the 17."""
    action = validate_action(action)
    if np.any(np.asarray(action["camera"]) != 0) or _key(action) not in _INDEX:
        pressed = [key for key in BINARY_KEYS if action[key]]
        raise ValueError(f"canonical action (pressed {pressed}, camera {list(action['camera'])}) is not one of "
                         f"the 17 Crafter actions; see envs.crafter_actions.CRAFTER_ACTION_NAMES")
    return _INDEX[_key(action)]


class CanonicalCrafterActions(gymnasium.ActionWrapper):
    """Crafter with the canonical Dict action space (agents act with the same dicts as in the dream)."""

    def __init__(self, env: gymnasium.Env) -> None:
        super().__init__(env)
        self.action_space = action_space()

    def action(self, action: Mapping[str, Any]) -> int:
        """Canonical dict -> Crafter action id."""
        return to_crafter(action)
