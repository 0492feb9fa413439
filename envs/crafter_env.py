"""Crafter (Hafner 2021) as a Gymnasium env: seeded reset, image observations, copied info. Needs `crafter`."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces


class CrafterEnv(gymnasium.Env):
    """Gymnasium wrapper around `crafter.Env`: obs (size, size, 3) uint8, Discrete(17) actions.

    `reset(seed=s)` regenerates the same world for the same seed; without a seed the episodes continue the
    sequence of the last seed. (Crafter balances creatures by iterating Python sets of objects, so creature
    spawns a few steps in can differ between processes even with the same seed; the terrain does not.)
    `terminated` is death, `truncated` is the episode length limit. The info dict is copied (crafter reuses its
    arrays); reset's info holds the action names under "action_names".
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, size: int = 64, length: int = 10000, reward: bool = True, area: int = 64,
                 view: int = 9, render_mode: str | None = None) -> None:
        try:
            import crafter
        except ImportError as error:  # pragma: no cover - depends on the optional extra
            raise ImportError("Crafter-v0 needs the 'crafter' package: pip install 'worldmodel[crafter]'") from error
        self._crafter = crafter
        self._kwargs = dict(area=(area, area), view=(view, view), size=(size, size), reward=reward, length=length)
        self._env = crafter.Env(seed=0, **self._kwargs)
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0, 255, (size, size, 3), np.uint8)
        self.action_space = spaces.Discrete(self._env.action_space.n)
        self.action_names: tuple[str, ...] = tuple(self._env.action_names)
        self._last: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; the same seed gives the same world."""
        super().reset(seed=seed)
        if seed is not None:
            self._env._seed = int(seed)  # crafter seeds each world from (seed, episode number)
            self._env._episode = 0
        obs = np.array(self._env.reset(), dtype=np.uint8)
        self._last = obs
        return obs, {"action_names": self.action_names}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One Crafter step; info is a deep-enough copy (dicts and arrays copied)."""
        if not self.action_space.contains(int(action)):
            raise ValueError(f"Crafter action must be an int in [0, {self.action_space.n}), got {action!r}")
        obs, reward, done, info = self._env.step(int(action))
        copied = {k: (v.copy() if isinstance(v, (dict, np.ndarray)) else v) for k, v in info.items()}
        terminated = bool(info.get("discount", 1.0) == 0.0)
        truncated = bool(done and not terminated)
        self._last = np.array(obs, dtype=np.uint8)
        return self._last, float(reward), terminated, truncated, copied

    def canonical_action(self, action: int) -> dict[str, Any]:
        """The canonical action dict of a Crafter action id (envs.crafter_actions); recordings store both."""
        from envs.crafter_actions import to_canonical

        return to_canonical(action)

    def render(self) -> np.ndarray | None:
        """The last observation (rgb_array mode)."""
        return None if self._last is None else self._last.copy()
