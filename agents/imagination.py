"""Imagined rollouts: B dream worlds started from real contexts, stepped by the actor for H steps.

Contexts are real: clips of recorded episodes (an episode store), so imagination starts where real play has
been (as IRIS and DIAMOND start from their replay buffers), or live BlockWorld play ("blockworld"), which needs
no recorded data. Clips that contain an episode's end are skipped, since the world model never saw what
follows one.
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


class LiveContexts:
    """Contexts from live BlockWorld play: a pool of k-frame windows of the noisy scripted seeker (spawn to a
    random step, so rollouts start far from, near and facing the goal), a few replaced every call."""

    def __init__(self, task: str, context_frames: int, frame_shape: tuple[int, int, int], seed: int = 0,
                 pool: int = 256, refresh: int = 8, max_steps: int = 80) -> None:
        from envs.policies.seeker import SeekerPolicy
        from envs.blockworld.env import BlockWorldEnv

        self.env = BlockWorldEnv(task=task, width=int(frame_shape[1]), height=int(frame_shape[0]),
                                 max_episode_steps=0)
        self.policy = SeekerPolicy(self.env.action_space, seed=seed, noise=0.3, wander=60)
        self.context_frames, self.refresh, self.max_steps = context_frames, refresh, max_steps
        self.rng = np.random.default_rng(seed)
        self.pool = [self._play() for _ in range(pool)]

    def _play(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Play a seeded episode to a random step; its last k frames and the k-1 actions between them (an
        episode that ends sooner than k frames is replaced by another)."""
        from envs.actions import stack_actions

        k = self.context_frames
        self.ended = False  # whether the last play reached the task's end (self.env then sits past it)
        while True:
            seed = int(self.rng.integers(2**31 - 1))
            obs, info = self.env.reset(seed=seed)
            self.policy.reset(seed)
            frames, actions = [obs], []
            for _ in range(int(self.rng.integers(k, self.max_steps))):
                action = self.policy.act(obs, info)
                obs, _, terminated, _, info = self.env.step(action)
                if terminated:  # the goal is gone: keep the context from before the end
                    self.ended = True
                    break
                frames.append(obs)
                actions.append(action)
            if len(frames) >= k:
                tail = stack_actions(actions[len(actions) - (k - 1):]) if k > 1 else \
                    stack_actions([action])  # unused by a 1-frame context; keeps the dict's keys
                return np.stack(frames[-k:]), {key: v[: k - 1] for key, v in tail.items()}

    def sample(self, batch: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """batch contexts drawn from the pool, after replacing `refresh` pool entries by fresh play."""
        for _ in range(self.refresh):
            self.pool[int(self.rng.integers(len(self.pool)))] = self._play()
        chosen = [self.pool[int(i)] for i in self.rng.integers(len(self.pool), size=batch)]
        actions = {key: np.stack([c[1][key] for c in chosen]) for key in (*BINARY_KEYS, "camera")}
        return np.stack([c[0] for c in chosen]), actions


def make_contexts(spec: str, task: str, context_frames: int, frame_shape: tuple[int, int, int], seed: int
                  ) -> ContextSampler | LiveContexts:
    """"blockworld" -> LiveContexts (no data needed); anything else is an episode store path."""
    if spec == "blockworld":
        return LiveContexts(task, context_frames, frame_shape, seed=seed)
    return ContextSampler(spec, context_frames, seed=seed)


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

    world: a WorldModel (its own sampling seeded by the caller); reward_floor: predicted rewards of smaller
    magnitude count as 0 (the reward head's small noise would otherwise add up over long horizons)."""
    frames, context_actions = contexts
    first = np.asarray(world.reset(frames, context_actions))  # (B, h, w, 3)
    b = first.shape[0]
    actions = np.zeros((b, horizon), dtype=np.int64)
    device = next(agent.parameters()).device

    def act(t: int, shown: np.ndarray | None) -> dict[str, np.ndarray]:
        obs = first if shown is None else shown
        index = agent.act(torch.as_tensor(np.asarray(obs), device=device), generator=generator).cpu().numpy()
        actions[:, t] = index
        return action_set.batch(index)

    seen, reward, terminated = world.unroll(act, horizon)  # (B, H, h, w, 3), (B, H), (B, H)
    reward = np.asarray(reward, dtype=np.float32)
    rewards = np.where(np.abs(reward) >= reward_floor, reward, 0.0).astype(np.float32)
    continues = 1.0 - np.asarray(terminated, dtype=np.float32)
    return Imagined(np.concatenate([first[:, None], np.asarray(seen)], axis=1), actions, rewards, continues)


def to_tensors(imagined: Imagined, device: torch.device) -> dict[str, Tensor]:
    """Imagined -> tensors on `device` (frames, actions, rewards, continues, alive)."""
    return {"frames": torch.as_tensor(imagined.frames, device=device),
            "actions": torch.as_tensor(imagined.actions, device=device),
            "rewards": torch.as_tensor(imagined.rewards, device=device),
            "continues": torch.as_tensor(imagined.continues, device=device),
            "alive": torch.as_tensor(imagined.alive, device=device)}
