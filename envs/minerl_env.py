"""The live MineRL environment (v0.4 / 1.0) adapted to Gymnasium and the canonical action dict. Optional.

minerl is an optional extra: installing it builds Minecraft (Java + Gradle downloads), which cannot be done offline
or in CI. Everything here imports minerl lazily; `minerl_available()` says whether it can be used.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import gymnasium
import numpy as np

from envs.actions import BUTTONS, HOTBAR, action_space, validate_action


def minerl_available() -> bool:
    """True when the `minerl` package is importable."""
    return importlib.util.find_spec("minerl") is not None


class MineRLEnv(gymnasium.Env):
    """A MineRL env (made with the old gym API) as a Gymnasium env: obs = the "pov" image, canonical actions.

    Canonical -> MineRL: buttons with the same names pass through; `camera` passes through ([pitch, yaw]
    degrees, the same convention); `use` becomes `place=<place_item>` on v0.4 envs without a `use` key;
    `hotbar.N` passes through on envs that have it (MineRL 1.0) and is dropped otherwise (v0.4 `equip` names
    items, not slots: not equivalent). The native dict sent is returned in info["native_action"].
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, env_id: str = "MineRLNavigateDense-v0", place_item: str = "dirt",
                 render_mode: str | None = None) -> None:
        if not minerl_available():
            raise ImportError("the MineRL env needs the optional 'minerl' package (pip install 'worldmodel[minerl]', "
                              "which builds Minecraft and needs Java 8 and network access)")
        import gym  # minerl 0.4 registers its envs with the old gym package
        import minerl  # noqa: F401

        self._env = gym.make(env_id)
        self.place_item = place_item
        self.render_mode = render_mode
        pov = self._env.observation_space.spaces["pov"]
        self.observation_space = gymnasium.spaces.Box(0, 255, tuple(pov.shape), np.uint8)
        self.action_space = action_space()
        self._native_keys = set(self._env.action_space.spaces)
        self._last: np.ndarray | None = None

    def to_native(self, action: dict[str, Any]) -> dict[str, Any]:
        """Translate a canonical action to the wrapped env's action dict."""
        action = validate_action(action)
        native = self._env.action_space.noop()
        for key in BUTTONS + HOTBAR:
            if key in self._native_keys:
                native[key] = action[key]
        native["camera"] = np.asarray(action["camera"], dtype=np.float32)
        if "use" not in self._native_keys and "place" in self._native_keys and action["use"]:
            native["place"] = self.place_item
        return native

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset (seeded when the MineRL env supports `seed`)."""
        super().reset(seed=seed)
        if seed is not None and hasattr(self._env, "seed"):
            self._env.seed(int(seed))
        obs = self._env.reset()
        self._last = np.asarray(obs["pov"], dtype=np.uint8)
        return self._last, {"obs": {k: v for k, v in obs.items() if k != "pov"}}

    def step(self, action: dict[str, Any]) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One 20 Hz tick. MineRL does not separate truncation: its `done` is reported as terminated."""
        native = self.to_native(action)
        obs, reward, done, info = self._env.step(native)
        self._last = np.asarray(obs["pov"], dtype=np.uint8)
        info = dict(info, native_action=native, obs={k: v for k, v in obs.items() if k != "pov"})
        return self._last, float(reward), bool(done), False, info

    def render(self) -> np.ndarray | None:
        """The last frame."""
        return None if self._last is None else self._last.copy()

    def close(self) -> None:
        """Close Minecraft."""
        self._env.close()
