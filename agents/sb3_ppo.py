"""Off-the-shelf comparison: stable-baselines3 PPO trained on the batched dream (DreamVecEnv), then evaluated in
BlockWorld with the same episodes as `wm agent eval`.

SB3 saves its models as pickles (loading one runs code), so this module keeps the trained policy in memory and
evaluates it in the same process; what it writes is the JSON of results, not the model.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnvWrapper

from envs.actions import complete_action
from envs.wrappers import default_actions

TURN_DEG = 10.0  # the dream's largest camera bin (the default table's 15 degrees would be clipped to 10)


class FloorRewards(VecEnvWrapper):
    """Predicted rewards below `floor` count as 0, as in `wm agent train` (the reward head's noise adds up)."""

    def __init__(self, venv: Any, floor: float) -> None:
        super().__init__(venv)
        self.floor = floor

    def reset(self) -> np.ndarray:
        return self.venv.reset()

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, rewards, dones, infos = self.venv.step_wait()
        return obs, np.where(rewards >= self.floor, rewards, 0.0).astype(np.float32), dones, infos


class SB3Policy:
    """A trained SB3 model acting through the dream's discrete table (reset/act like every agents policy)."""

    def __init__(self, model: Any, deterministic: bool = False) -> None:
        self.model, self.deterministic = model, deterministic
        self.table = [complete_action(a) for _, a in default_actions(TURN_DEG)]

    def reset(self, seed: int) -> None:
        """Reseed SB3's action sampling (it draws from torch's global RNG)."""
        import torch

        torch.manual_seed(int(seed))

    def act(self, obs: Any, info: dict[str, Any]) -> dict[str, Any]:
        """Canonical action for one frame."""
        index, _ = self.model.predict(np.asarray(obs), deterministic=self.deterministic)
        chosen = self.table[int(np.asarray(index).item())]
        return {**chosen, "camera": chosen["camera"].copy()}


def train_ppo(world: str, contexts: str, minutes: float, num_envs: int = 16, horizon: int = 16, seed: int = 0,
              reward_floor: float = 0.1, max_steps: int = 2_000_000, progress: bool = True,
              policy: str = "CnnPolicy") -> tuple[Any, dict]:
    """PPO on DreamVecEnv prompted by clips of `contexts`, for `minutes` or max_steps env steps. "CnnPolicy" (SB3's
    NatureCNN) needs frames of at least 36x36; "MlpPolicy" takes any size (the tests' 16x16 model)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    from worldmodel.dream.sb3 import DreamVecEnv

    venv = DreamVecEnv(actions="discrete", turn_deg=TURN_DEG, num_envs=num_envs, model=world, device="cpu",
                       prompt=f"dataset:{contexts}", max_episode_steps=horizon)
    venv.seed(seed)
    deadline = time.perf_counter() + minutes * 60

    class Deadline(BaseCallback):
        def _on_step(self) -> bool:
            return time.perf_counter() < deadline

    n_steps = horizon * 4
    model = PPO(policy, FloorRewards(venv, reward_floor), n_steps=n_steps, batch_size=min(128, n_steps * num_envs),
                n_epochs=4,
                learning_rate=3e-4, gamma=0.95, ent_coef=3e-3, seed=seed, verbose=0)
    start = time.perf_counter()
    model.learn(max_steps, callback=Deadline(), progress_bar=progress)
    return model, {"timesteps": int(model.num_timesteps), "seconds": time.perf_counter() - start,
                   "frame_shape": list(venv.venv.frame_shape), "policy": policy}
