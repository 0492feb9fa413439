"""Scripted seeker: the privileged baseline of BlockWorld's tasks (`mine_gold`, `collect_logs`) and a source of
reward data for the world model.

It reads the goal cell and the pose from the env's info (`info["goal_cell"]`, `info["pose"]`: privileged
ground truth no learned agent gets; the gold landmark, or the nearest exposed log), turns toward the block at a bounded rate, walks up to it (jumping when
stuck), and attacks once the crosshair is on it within reach. With `noise` > 0 it takes a random action from
a small set instead, with that probability per step, so recorded data also shows near misses, overshoots and
attacks on other blocks (what the world model's reward head must tell apart from a hit).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

from envs.actions import Action, complete_action, is_canonical_space

REACH = 4.0  # attack from a little inside BlockWorld's 4.5 reach
NOISE_ACTIONS: tuple[dict[str, Any], ...] = (
    {}, {"forward": 1}, {"back": 1}, {"left": 1}, {"right": 1}, {"jump": 1}, {"attack": 1},
    {"camera": [0.0, -10.0]}, {"camera": [0.0, 10.0]}, {"camera": [-10.0, 0.0]}, {"camera": [10.0, 0.0]},
)


def aim(pose: np.ndarray, cell: np.ndarray) -> tuple[float, float, float]:
    """(yaw change, pitch change, distance) from the eye of pose [x, y, z, yaw, pitch] to the centre of cell.

    BlockWorld's view direction is (-sin yaw cos pitch, -sin pitch, cos yaw cos pitch), so the yaw that faces
    (dx, dz) is atan2(-dx, dz) and positive pitch looks down."""
    eye = np.array([pose[0], pose[1] + 1.62, pose[2]])
    d = np.asarray(cell, dtype=np.float64) + 0.5 - eye
    horizontal = math.hypot(d[0], d[2])
    yaw = math.degrees(math.atan2(-d[0], d[2]))
    pitch = math.degrees(math.atan2(-d[1], horizontal))
    dyaw = (yaw - float(pose[3]) + 180.0) % 360.0 - 180.0
    return dyaw, pitch - float(pose[4]), float(np.linalg.norm(d))


class SeekerPolicy:
    """Turn to the goal block, walk to it, mine it; `noise` = probability of a random action per step."""

    def __init__(self, action_space: spaces.Space, seed: int = 0, noise: float = 0.0, wander: int = 0,
                 max_turn: float = 10.0) -> None:
        if not is_canonical_space(action_space):
            raise ValueError("the seeker needs the canonical action dict (envs.actions.action_space())")
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"seeker: 'noise' must be in [0, 1], got {noise!r}")
        if not isinstance(wander, int) or wander < 0:
            raise ValueError(f"seeker: 'wander' must be an int >= 0, got {wander!r}")
        self.noise = noise
        self.wander = wander
        self.max_turn = max_turn
        self.reset(seed)

    def reset(self, seed: int) -> None:
        """Reseed for a new episode."""
        self.rng = np.random.default_rng(seed)
        self.wander_left = int(self.rng.integers(0, self.wander + 1)) if self.wander else 0
        self.last_xz: np.ndarray | None = None
        self.stuck = 0

    def act(self, obs: Any, info: dict[str, Any]) -> Action:
        """The next action (noop when the info holds no goal, e.g. not the mine_gold task)."""
        if self.wander_left > 0 or (self.noise and self.rng.random() < self.noise):
            self.wander_left -= 1
            return complete_action(NOISE_ACTIONS[int(self.rng.integers(len(NOISE_ACTIONS)))])
        goal, pose = info.get("goal_cell"), info.get("pose")
        if goal is None or pose is None:
            return complete_action({})
        pose = np.asarray(pose, dtype=np.float64)
        self._track(pose)
        dyaw, dpitch, dist = aim(pose, np.asarray(goal))
        turn = float(np.clip(dyaw, -self.max_turn, self.max_turn))
        tilt = float(np.clip(dpitch, -self.max_turn, self.max_turn))
        action: dict[str, Any] = {"camera": [tilt, turn]}
        cone = max(3.0, math.degrees(math.atan2(0.45, max(dist, 0.5))))  # half the block's angular size
        aligned = abs(dyaw) < cone and abs(dpitch) < cone
        if dist > REACH - 0.8 and abs(dyaw) < 45.0:
            action["forward"] = 1
            action["jump"] = int(self.stuck >= 3)
        if dist <= REACH and aligned:
            action["attack"] = 1
        return complete_action(action)

    def _track(self, pose: np.ndarray) -> None:
        """Count steps without horizontal progress (to jump over a step in the way)."""
        xz = pose[[0, 2]]
        moved = self.last_xz is None or float(np.linalg.norm(xz - self.last_xz)) > 0.02
        self.stuck = 0 if moved else self.stuck + 1
        self.last_xz = xz
