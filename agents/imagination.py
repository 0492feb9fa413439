"""Imagined rollouts: B dream worlds started from real contexts, stepped by the actor for H steps.

Contexts are clips of real episodes (an episode store), so imagination starts where real play has been (as
IRIS and DIAMOND start from their replay buffers); clips that contain an episode's end are skipped, since the
world model never saw what follows one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from agents.action_set import ActionSet
from agents.actor_critic import ActorCritic
from envs.actions import BINARY_KEYS


class ContextSampler:
    """Seeded random k-frame contexts (frames (B, k, H, W, 3), actions (B, k-1, ...)) from an episode store."""

    def __init__(self, store: str | Path, context_frames: int, seed: int = 0) -> None:
        from worldmodel.data import open_dataset

        if context_frames < 1:
            raise ValueError(f"context_frames must be >= 1, got {context_frames}")
        self.clips = open_dataset(store).clips(context_frames, seed=seed)
        if not len(self.clips):
            raise ValueError(f"{store}: no clip of {context_frames} frames in this episode store")
        self.context_frames = context_frames
        self.rng = np.random.default_rng(seed)

    def sample(self, batch: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """batch contexts without an episode end inside (tries a few times per slot, then takes what it has)."""
        frames, actions = [], []
        while len(frames) < batch:
            for _ in range(8):
                clip = self.clips[int(self.rng.integers(len(self.clips)))]
                if not bool(torch.as_tensor(clip["terminated"]).any()):
                    break
            frames.append(np.asarray(clip["frames"]))
            actions.append({k: np.asarray(v) for k, v in clip["actions"].items()})
        stacked = {key: np.stack([a[key] for a in actions]) for key in (*BINARY_KEYS, "camera")}
        return np.stack(frames), stacked  # (B, k, H, W, 3), dict of (B, k-1, ...)


@dataclass
class Imagined:
    """One batch of imagined trajectories (numpy on the CPU, the model's frames)."""

    frames: np.ndarray
    """uint8 (B, H + 1, h, w, 3): observations o_0 .. o_H."""
    actions: np.ndarray
    """int64 (B, H): the action index taken in o_t."""
    rewards: np.ndarray
    """float32 (B, H): the world model's reward for step t."""
    continues: np.ndarray
    """float32 (B, H): 0 where the world model predicts termination at step t."""

    @property
    def alive(self) -> np.ndarray:
        """float32 (B, H): 1 for steps taken before the episode's (first) predicted termination."""
        ended_before = np.cumprod(self.continues, axis=1)  # 1 until and excluding the terminal step's successor
        return np.concatenate([np.ones_like(ended_before[:, :1]), ended_before[:, :-1]], axis=1)


def imagine(world: Any, agent: ActorCritic, action_set: ActionSet, contexts: tuple[np.ndarray, dict],
            horizon: int, generator: torch.Generator, reward_floor: float = 0.0) -> Imagined:
    """Roll B = len(contexts) dream worlds forward `horizon` steps with actions sampled from the agent.

    world: a WorldModel (its own sampling seeded by the caller); reward_floor: predicted rewards below it
    count as 0 (the reward head's small noise would otherwise add up over long horizons)."""
    frames, context_actions = contexts
    obs = np.asarray(world.reset(frames, context_actions))  # (B, h, w, 3)
    b = obs.shape[0]
    seen = [obs]
    actions = np.zeros((b, horizon), dtype=np.int64)
    rewards = np.zeros((b, horizon), dtype=np.float32)
    continues = np.ones((b, horizon), dtype=np.float32)
    device = next(agent.parameters()).device
    for t in range(horizon):
        index = agent.act(torch.as_tensor(obs, device=device), generator=generator).cpu().numpy()
        obs, reward, terminated = world.step(action_set.batch(index))
        obs = np.asarray(obs)
        reward = np.asarray(reward, dtype=np.float32)
        actions[:, t] = index
        rewards[:, t] = np.where(reward >= reward_floor, reward, 0.0)
        continues[:, t] = 1.0 - np.asarray(terminated, dtype=np.float32)
        seen.append(obs)
    return Imagined(np.stack(seen, axis=1), actions, rewards, continues)


def to_tensors(imagined: Imagined, device: torch.device) -> dict[str, Tensor]:
    """Imagined -> tensors on `device` (frames, actions, rewards, continues, alive)."""
    return {"frames": torch.as_tensor(imagined.frames, device=device),
            "actions": torch.as_tensor(imagined.actions, device=device),
            "rewards": torch.as_tensor(imagined.rewards, device=device),
            "continues": torch.as_tensor(imagined.continues, device=device),
            "alive": torch.as_tensor(imagined.alive, device=device)}
