"""Run one episode of a policy in a Gymnasium env and write it to the episode store (frames, actions, truth)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import gymnasium
import numpy as np
from gymnasium import spaces

from envs.actions import BINARY_KEYS, is_canonical_space, stack_actions, validate_action
from worldmodel.data.store import DEFAULT_CHUNK, EpisodeWriter

IMAGE_KEYS = ("pov", "image", "rgb", "pixels", "observation")


def _is_image(space: spaces.Space) -> bool:
    return isinstance(space, spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3 and space.shape[2] == 3


def image_getter(env: gymnasium.Env) -> Callable[[Any], np.ndarray] | None:
    """How to get an (H,W,3) uint8 frame from an observation, or None when the env must render instead."""
    space = env.observation_space
    if _is_image(space):
        return lambda obs: np.asarray(obs, dtype=np.uint8)
    if isinstance(space, spaces.Dict):
        for key in IMAGE_KEYS:
            if key in space.spaces and _is_image(space.spaces[key]):
                return lambda obs, key=key: np.asarray(obs[key], dtype=np.uint8)
    return None


def make_env(env_id: str, env_kwargs: dict[str, Any] | None = None
             ) -> tuple[gymnasium.Env, Callable[[Any], np.ndarray]]:
    """gym.make the env (registering ours first) and a frame getter; falls back to render_mode='rgb_array'."""
    import envs  # noqa: F401  (registers BlockWorld-v0, Crafter-v0)

    kwargs = dict(env_kwargs or {})
    env = gymnasium.make(env_id, **kwargs)
    getter = image_getter(env)
    if getter is None:
        env.close()
        env = gymnasium.make(env_id, **{**kwargs, "render_mode": "rgb_array"})

        def getter(obs: Any) -> np.ndarray:
            frame = env.render()
            if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(f"env '{env_id}' has no image observations and render() gave no (H,W,3) image")
            return np.asarray(frame, dtype=np.uint8)
    return env, getter


def stack_native(space: spaces.Space, actions: list[Any]) -> dict[str, np.ndarray] | list[Any]:
    """Native actions -> dict of arrays ('action' for a non-dict space; one array per key of a flat Dict space);
    anything else (nested or odd spaces) -> a list for JSON lines."""
    try:
        if isinstance(space, spaces.Dict):
            if all(isinstance(s, (spaces.Box, spaces.Discrete, spaces.MultiBinary, spaces.MultiDiscrete))
                   for s in space.spaces.values()):
                return {key: np.array([a[key] for a in actions]) for key in space.spaces}
        elif isinstance(space, (spaces.Box, spaces.Discrete, spaces.MultiBinary, spaces.MultiDiscrete)):
            return {"action": np.array(actions)}
    except (KeyError, ValueError):
        pass
    return list(actions)


def record_episode(env: gymnasium.Env, get_frame: Callable[[Any], np.ndarray], policy: Any, seed: int,
                   steps: int, path: Path, meta: dict[str, Any], chunk_size: int = DEFAULT_CHUNK) -> int:
    """Play up to `steps` steps from `env.reset(seed=seed)` and write the episode atomically; returns frames."""
    canonical = is_canonical_space(env.action_space)
    to_canonical = getattr(env.unwrapped, "canonical_action", None)  # native action -> canonical dict (Crafter)
    truth_fn = getattr(env.unwrapped, "ground_truth", None)
    policy.reset(seed)
    obs, info = env.reset(seed=seed)
    frames, depth, block_ids, poses, actions = [], [], [], [], []
    rewards, terminated, truncated = [], [], []
    total = 0

    def observe(obs: Any) -> None:
        frames.append(get_frame(obs))
        if truth_fn is not None:
            truth = truth_fn()
            depth.append(np.asarray(truth["depth"], np.float16))
            block_ids.append(np.asarray(truth["block_ids"], np.uint8))
            poses.append(np.asarray(truth["pose"], np.float32))

    start = time.perf_counter()
    with EpisodeWriter(path, meta, chunk_size) as writer:
        def flush() -> None:
            nonlocal frames, depth, block_ids, total
            if frames:
                truth = {"depth": np.stack(depth), "block_ids": np.stack(block_ids)} if depth else {}
                writer.append(np.stack(frames), **truth)
                total += len(frames)
                frames, depth, block_ids = [], [], []

        observe(obs)
        for t in range(steps):
            action = policy.act(obs, info)
            obs, reward, term, trunc, info = env.step(action)
            actions.append(validate_action(action) if canonical else action)
            rewards.append(float(reward))
            terminated.append(bool(term))
            truncated.append(bool(trunc) or (t == steps - 1 and not term))
            observe(obs)
            if len(frames) >= chunk_size:
                flush()
            if term or trunc:
                break
        flush()
        if canonical:
            canon, raw = (stack_actions(actions) if actions else None), None
        else:
            canon, raw = None, stack_native(env.action_space, actions) if actions else None
            if to_canonical is not None and actions:
                canon = stack_actions([to_canonical(action) for action in actions])
        if canonical and canon is None:
            canon = {key: np.zeros(0, np.uint8) for key in BINARY_KEYS} | {"camera": np.zeros((0, 2), np.float32)}
        writer.meta["record_seconds"] = time.perf_counter() - start
        writer.close(actions=canon, raw_actions=raw, rewards=np.array(rewards, np.float32),
                     terminated=np.array(terminated, bool), truncated=np.array(truncated, bool),
                     pose=np.stack(poses) if poses else None)
    return total


def space_description(space: spaces.Space) -> str:
    """A JSON-friendly description of an action space for the metadata."""
    if is_canonical_space(space):
        return "canonical"
    return json.dumps(str(space))[1:-1]
