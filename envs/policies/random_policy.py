"""Random policy: samples the env's action space, seeded; for the canonical dict, small camera moves."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from envs.actions import BINARY_KEYS, is_canonical_space


class RandomPolicy:
    """Uniform samples of the action space; for Dict spaces with a camera, camera ~ N(0, camera_std) degrees."""

    def __init__(self, action_space: spaces.Space, seed: int = 0, camera_std: float = 5.0,
                 press_prob: float = 0.2) -> None:
        self.space = action_space
        self.camera_std = camera_std
        self.press_prob = press_prob
        self.reset(seed)

    def reset(self, seed: int) -> None:
        """Reseed for a new episode."""
        self.rng = np.random.default_rng(seed)
        self.space.seed(int(seed))

    def act(self, obs: Any, info: dict[str, Any]) -> Any:
        """A random action (buttons pressed with probability press_prob for the canonical dict)."""
        if not is_canonical_space(self.space):
            action = self.space.sample()
            if isinstance(self.space, spaces.Dict) and "camera" in action:
                shape = np.shape(action["camera"])
                action["camera"] = self.rng.normal(0.0, self.camera_std, shape).astype(np.float32)
            return action
        action: dict[str, Any] = {key: int(self.rng.random() < self.press_prob) for key in BINARY_KEYS}
        hotbar = [key for key in BINARY_KEYS if key.startswith("hotbar.")]
        for key in hotbar:  # at most one hotbar key, rarely
            action[key] = 0
        if self.rng.random() < 0.05:
            action[hotbar[int(self.rng.integers(len(hotbar)))]] = 1
        action["camera"] = self.rng.normal(0.0, self.camera_std, 2).astype(np.float32)
        return action
