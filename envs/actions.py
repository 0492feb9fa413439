"""The one action convention of the project: the MineRL/VPT action dict.

Binary buttons, `hotbar.1`..`hotbar.9`, and `camera` = [delta pitch, delta yaw] in degrees (float).
Real envs, importers, the world model and the viewer all speak this dict; importers convert into it.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from gymnasium import spaces

BUTTONS: tuple[str, ...] = ("forward", "back", "left", "right", "jump", "sneak", "sprint", "attack", "use")
HOTBAR: tuple[str, ...] = tuple(f"hotbar.{i}" for i in range(1, 10))
BINARY_KEYS: tuple[str, ...] = BUTTONS + HOTBAR
ACTION_KEYS: tuple[str, ...] = BINARY_KEYS + ("camera",)
CAMERA_LIMIT_DEG = 180.0

Action = dict[str, Any]


def action_space() -> spaces.Dict:
    """The Gymnasium Dict space of the canonical action."""
    items: dict[str, spaces.Space] = {key: spaces.Discrete(2) for key in BINARY_KEYS}
    items["camera"] = spaces.Box(-CAMERA_LIMIT_DEG, CAMERA_LIMIT_DEG, shape=(2,), dtype=np.float32)
    return spaces.Dict(items)



def is_canonical_space(space: spaces.Space) -> bool:
    """True when `space` is the canonical action dict (buttons, hotbar.N, camera)."""
    return isinstance(space, spaces.Dict) and set(space.spaces) == set(BINARY_KEYS) | {"camera"}

def noop_action() -> Action:
    """An action that presses nothing and does not move the camera."""
    action: Action = {key: 0 for key in BINARY_KEYS}
    action["camera"] = np.zeros(2, dtype=np.float32)
    return action


def complete_action(partial: Mapping[str, Any]) -> Action:
    """Fill absent keys with 'not pressed' and 'no camera motion' (used by action scripts), then validate."""
    unknown = sorted(set(partial) - set(ACTION_KEYS))
    if unknown:
        raise ValueError(f"unknown action key(s) {unknown}; expected some of {list(ACTION_KEYS)}")
    action = noop_action()
    action.update(partial)
    return validate_action(action)


def validate_action(action: Mapping[str, Any]) -> Action:
    """Check a full action dict and return a normalised copy (ints for buttons, float32 (2,) camera).

    Raises ValueError naming the offending key for a missing key, a wrong shape, or a non-finite camera.
    """
    if not isinstance(action, Mapping):
        raise ValueError(f"action must be a dict with keys {list(ACTION_KEYS)}, got {type(action).__name__}")
    out: Action = {}
    for key in BINARY_KEYS:
        if key not in action:
            raise ValueError(f"action is missing key '{key}'")
        value = np.asarray(action[key])
        if value.shape != () or value.dtype.kind not in "biuf" or value.item() not in (0, 1):
            raise ValueError(f"action key '{key}' must be 0 or 1, got {action[key]!r}")
        out[key] = int(value.item())
    if "camera" not in action:
        raise ValueError("action is missing key 'camera'")
    camera = np.asarray(action["camera"], dtype=np.float32)
    if camera.shape != (2,):
        raise ValueError(f"action key 'camera' must have shape (2,) [delta pitch, delta yaw], got {camera.shape}")
    if not np.all(np.isfinite(camera)):
        raise ValueError(f"action key 'camera' must be finite, got {camera.tolist()}")
    out["camera"] = np.clip(camera, -CAMERA_LIMIT_DEG, CAMERA_LIMIT_DEG)
    return out


def stack_actions(actions: list[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """List of T action dicts -> dict of arrays: buttons (T,) uint8, camera (T, 2) float32."""
    stacked: dict[str, np.ndarray] = {key: np.array([a[key] for a in actions], dtype=np.uint8) for key in BINARY_KEYS}
    stacked["camera"] = np.array([a["camera"] for a in actions], dtype=np.float32).reshape(len(actions), 2)
    return stacked


def unstack_actions(actions: Mapping[str, np.ndarray], index: int) -> Action:
    """Dict of arrays -> the action dict at one time index."""
    action: Action = {key: int(actions[key][index]) for key in BINARY_KEYS}
    action["camera"] = np.asarray(actions["camera"][index], dtype=np.float32)
    return action
