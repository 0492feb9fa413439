"""DreamVecEnv: the batched dream as a stable-baselines3 VecEnv, so off-the-shelf PPO trains against it.

    from stable_baselines3 import PPO
    from worldmodel.dream.sb3 import DreamVecEnv
    venv = DreamVecEnv(num_envs=8, model="runs/wm")              # kwargs of WorldModel-v0
    PPO("CnnPolicy", venv).learn(100_000)                         # 64x64 frames: NatureCNN fits

SB3 has no Dict action spaces, so the canonical action dict is flattened (`actions=`):
- "multidiscrete" (default): MultiDiscrete([2]*9 + [10, C, C]): the 9 buttons (forward back left right jump
  sneak sprint attack use), a hotbar choice (0 = none, i = hotbar.i), and camera pitch / yaw bins. The C camera
  bins are the model's own (DynamicsConfig camera_bins, centred on the mu-law bin centres), so every choice maps
  to exactly one distinct action embedding the model was trained with and none is wasted; bin C // 2 is 0 deg.
  This keeps every combination the model knows (e.g. forward + jump + turn), which a fixed table cannot.
- "discrete": Discrete(24) over the fixed table of envs.wrappers.default_actions (noop, moves, jumps, 15 deg
  turns, attack, use, hotbar slots), the same table as envs.wrappers.DiscreteActions uses for real envs, so a
  policy trained in the dream runs unchanged in BlockWorld wrapped with DiscreteActions.
Episode ends follow SB3: done = terminated or truncated, infos[i]["terminal_observation"] holds the last frame
of the ended episode (from the vector env's SAME_STEP autoreset), infos[i]["TimeLimit.truncated"] marks timeouts.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv

from envs.actions import BUTTONS, HOTBAR, stack_actions
from envs.wrappers import TURN_DEG, default_actions
from worldmodel.dream.vector import WorldModelVectorEnv
from worldmodel.dynamics.actions import camera_bin_centers

ACTION_MODES = ("multidiscrete", "discrete")


class MultiDiscreteActions:
    """MultiDiscrete rows (B, 12) <-> canonical action dicts of arrays, with the model's camera bins."""

    def __init__(self, centers: np.ndarray) -> None:
        self.centers = np.asarray(centers, dtype=np.float32)  # (C,) degrees per bin
        self.space = spaces.MultiDiscrete([2] * len(BUTTONS) + [len(HOTBAR) + 1, len(centers), len(centers)])

    def __call__(self, actions: np.ndarray) -> dict[str, np.ndarray]:
        """(B, 12) ints -> dict of arrays: buttons (B,) uint8, camera (B, 2) float32."""
        actions = np.asarray(actions, dtype=np.int64).reshape(-1, len(self.space.nvec))
        n = len(BUTTONS)
        out = {key: actions[:, j].astype(np.uint8) for j, key in enumerate(BUTTONS)}
        out.update({key: (actions[:, n] == slot).astype(np.uint8) for slot, key in enumerate(HOTBAR, start=1)})
        out["camera"] = np.stack([self.centers[actions[:, n + 1]], self.centers[actions[:, n + 2]]], axis=-1)
        return out


class DiscreteTableActions:
    """Discrete indices (B,) -> canonical action dicts of arrays via the envs.wrappers default table."""

    def __init__(self, turn_deg: float = TURN_DEG) -> None:
        from envs.actions import complete_action

        self.names = [name for name, _ in default_actions(turn_deg)]
        self.table = stack_actions([complete_action(a) for _, a in default_actions(turn_deg)])  # (A, ...)
        self.space = spaces.Discrete(len(self.names))

    def __call__(self, actions: np.ndarray) -> dict[str, np.ndarray]:
        """(B,) ints -> dict of arrays."""
        index = np.asarray(actions, dtype=np.int64).reshape(-1)
        return {key: value[index] for key, value in self.table.items()}


class DreamVecEnv(VecEnv):
    """stable-baselines3 VecEnv over WorldModelVectorEnv (pass one, or the kwargs to build one)."""

    def __init__(self, venv: WorldModelVectorEnv | None = None, actions: str = "multidiscrete",
                 turn_deg: float = TURN_DEG, **kwargs: Any) -> None:
        if actions not in ACTION_MODES:
            raise ValueError(f"DreamVecEnv: 'actions' must be one of {list(ACTION_MODES)}, got {actions!r}")
        self.venv = venv if venv is not None else WorldModelVectorEnv(**kwargs)
        if venv is not None and kwargs:
            raise ValueError(f"DreamVecEnv: pass either a vector env or its kwargs, not both ({sorted(kwargs)})")
        if actions == "multidiscrete":
            cfg = self.venv.model.dynamics.cfg
            self.decode: Any = MultiDiscreteActions(camera_bin_centers(cfg.camera_bins, cfg.camera_max_deg,
                                                                       cfg.camera_mu))
        else:
            self.decode = DiscreteTableActions(turn_deg)
        self._actions: np.ndarray | None = None
        super().__init__(self.venv.num_envs, self.venv.single_observation_space, self.decode.space)

    def reset(self) -> np.ndarray:
        """Reset all worlds with the seeds / options set by seed() / set_options() (used once)."""
        seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
        options = [o for o in self._options if o]
        if (options and any(o != options[0] for o in options)) or 0 < len(options) < self.num_envs:
            raise ValueError("DreamVecEnv: per-world reset options differ; pass one options dict for all worlds")
        obs, infos = self.venv.reset(seed=seeds, options=options[0] if options else None)
        self.reset_infos = self._split(infos, range(self.num_envs))
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Remember the actions for step_wait."""
        self._actions = np.asarray(actions)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """One batched step; ended worlds come back already reset, their last frame in terminal_observation."""
        if self._actions is None:
            raise RuntimeError("DreamVecEnv: step_async must come before step_wait")
        obs, rewards, terminated, truncated, info = self.venv.step(self.decode(self._actions))
        self._actions = None
        dones = terminated | truncated
        infos = self._split(info, range(self.num_envs))
        for i in np.flatnonzero(dones):
            infos[i]["terminal_observation"] = info["final_obs"][i]
            infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            self.reset_infos[i] = infos[i]
        return obs, rewards.astype(np.float32), dones, infos

    @staticmethod
    def _split(info: dict[str, Any], worlds: Iterable[int]) -> list[dict[str, Any]]:
        """Gymnasium vector info (arrays + "_key" masks) -> one plain dict per world (final_* keys left out)."""
        out = []
        for i in worlds:
            out.append({key: value[i].item() if hasattr(value[i], "item") else value[i]
                        for key, value in info.items()
                        if not key.startswith("_") and not key.startswith("final") and info[f"_{key}"][i]})
        return out

    def close(self) -> None:
        """Close the vector env."""
        self.venv.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        """The current frame of every world."""
        frames = self.venv._obs  # noqa: SLF001 (our own vector env's current observation)
        return [None] * self.num_envs if frames is None else [f.copy() for f in frames]

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        """Attributes live on the one vector env: the same value for every index."""
        return [getattr(self.venv, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        """Set an attribute of the vector env (shared by all worlds)."""
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        """Call a vector env method once per index."""
        return [getattr(self.venv, method_name)(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: Any = None) -> list[bool]:
        """The worlds are not gymnasium.Env instances, so never wrapped."""
        return [False for _ in self._get_indices(indices)]
