"""WorldModelVectorEnv: B dream worlds stepped in one batched forward (`gymnasium.make_vec("WorldModel-v0", B)`).

Autoreset is SAME_STEP (declared in metadata["autoreset_mode"]): when world i terminates or truncates, the
step returns the first observation of its next episode, and, as Gymnasium 1.x documents for this mode,
info["final_obs"] (object array, the last observation where done, else None) with mask info["_final_obs"], and
info["final_info"] (the per-world infos of the ended episodes, with their own "_key" masks) with mask
info["_final_info"]. Rewards of the ending step belong to the ended episode.

Seeds: reset(seed=s) gives world i the episode seed s + i (a list gives one seed per world; None draws them from
the vector env's RNG); autoresets draw the next episode seed from that RNG. World i with episode seed s steps
exactly as `WorldModel-v0` reset with seed s (same prompt, same sampling).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.actions import BINARY_KEYS
from worldmodel.dream.config import DreamConfig
from worldmodel.dream.env import SEED_LIMIT, open_world, reset_context
from worldmodel.dream.loading import seed_worlds
from worldmodel.dream.prompts import Context


class WorldModelVectorEnv(VectorEnv):
    """B worlds of one WorldModel, batched; kwargs as WorldModel-v0 (DreamConfig) plus num_envs."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20, "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"WorldModel-v0: 'num_envs' must be a positive int, got {num_envs!r}")
        self.cfg = DreamConfig.from_kwargs(**kwargs)
        if self.cfg.render_mode == "human":
            raise ValueError("WorldModel-v0 vector env: 'render_mode' must be None or 'rgb_array'")
        self.num_envs = num_envs
        self.render_mode = self.cfg.render_mode
        self.model, self.prompt = open_world(self.cfg)
        self.frame_shape: tuple[int, int, int] = self.model.frame_shape
        self.single_observation_space = gym.spaces.Box(0, 255, shape=self.frame_shape, dtype=np.uint8)
        self.single_action_space = self.model.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self.seeds = np.zeros(num_envs, dtype=np.int64)  # episode seed of each world
        self._obs: np.ndarray | None = None

    # --- reset ---
    def _world_seeds(self, seed: int | Sequence[int | None] | None) -> list[int]:
        """Per-world episode seeds from the reset seed argument (see the module docstring)."""
        if seed is None:  # continue the RNG stream (seeded on first use), so unseeded resets are reproducible
            return [self._draw_seed() for _ in range(self.num_envs)]
        if isinstance(seed, (int, np.integer)):
            self._np_random, self._np_random_seed = seeding.np_random(int(seed))
            return [int(seed) + i for i in range(self.num_envs)]
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"reset 'seed': a list must hold num_envs={self.num_envs} seeds, got {len(seeds)}")
        if seeds[0] is not None:
            self._np_random, self._np_random_seed = seeding.np_random(int(seeds[0]))
        return [self._draw_seed() if s is None else int(s) for s in seeds]

    def _draw_seed(self) -> int:
        return int(self.np_random.integers(0, SEED_LIMIT))

    def _contexts(self, worlds: Sequence[int], options: dict[str, Any] | None) -> list[Context]:
        """One context per world: options frames (T, H, W, 3) shared or (B, T, H, W, 3) per world, else prompts."""
        options = dict(options or {})
        frames = options.get("frames")
        if frames is None or np.asarray(frames).ndim < 5:
            return [reset_context(options, self.prompt, int(self.seeds[i]), self.frame_shape) for i in worlds]
        frames, actions = np.asarray(frames), options.get("actions")
        if len(frames) != len(worlds):
            raise ValueError(f"reset option 'frames' holds {len(frames)} contexts for {len(worlds)} worlds")
        contexts = []
        for j, i in enumerate(worlds):
            world_actions = None if actions is None else {k: np.asarray(v)[j] for k, v in actions.items()}
            contexts.append(reset_context({"frames": frames[j], "actions": world_actions}, self.prompt,
                                          int(self.seeds[i]), self.frame_shape))
        return contexts

    def _prime(self, worlds: list[int], contexts: list[Context], full: bool) -> np.ndarray:
        """Reset the model for these worlds (all at once when full); returns their views (len(worlds), H, W, 3)."""
        views = np.zeros((len(worlds), *self.frame_shape), dtype=np.uint8)
        # worlds with known / unknown context actions and equal context length can share one batched reset
        groups: dict[tuple[bool, int], list[int]] = {}
        for j, (frames, actions) in enumerate(contexts):
            groups.setdefault((actions is not None, len(frames)), []).append(j)
        if full and len(groups) == 1:
            frames = np.stack([c[0] for c in contexts])  # (B, T, H, W, 3)
            actions = _stack_actions([c[1] for c in contexts])
            views[:] = self.model.reset(frames, actions)
        else:
            if full:  # mixed contexts: start a batch from world 0's context, then re-prime worlds group by group
                first = contexts[0]
                self.model.reset(np.stack([first[0]] * self.num_envs),
                                 _stack_actions([first[1]] * self.num_envs))
            for members in groups.values():
                frames = np.stack([contexts[j][0] for j in members])
                actions = _stack_actions([contexts[j][1] for j in members])
                views[members] = self.model.reset(frames, actions, worlds=[worlds[j] for j in members])
        seed_worlds(self.model, worlds, [int(self.seeds[i]) for i in worlds])
        self.steps[worlds] = 0
        return views

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset all worlds, or those in options["reset_mask"] (bool (B,)); options "frames"/"actions" as the
        single env, with frames (T, H, W, 3) shared by all reset worlds or (n, T, H, W, 3) one per reset world."""
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        seeds = self._world_seeds(seed)
        if mask is None or self._obs is None:
            worlds = list(range(self.num_envs))
        else:
            mask = np.asarray(mask)
            if mask.dtype != np.bool_ or mask.shape != (self.num_envs,) or not mask.any():
                raise ValueError(f"reset option 'reset_mask' must be a bool array ({self.num_envs},) with a True")
            worlds = [int(i) for i in np.flatnonzero(mask)]
        self.seeds[worlds] = [seeds[i] for i in worlds]
        full = len(worlds) == self.num_envs
        views = self._prime(worlds, self._contexts(worlds, options), full)
        if self._obs is None:
            self._obs = np.zeros((self.num_envs, *self.frame_shape), dtype=np.uint8)
        self._obs[worlds] = views
        infos: dict[str, Any] = {}
        for i in worlds:
            infos = self._add_info(infos, self._world_info(i), i)
        return self._obs.copy(), infos

    # --- step ---
    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step all B worlds with a dict of arrays (buttons (B,), camera (B, 2); absent buttons = not pressed)
        or a list of B action dicts; ended worlds are reset in the same step (SAME_STEP autoreset)."""
        if self._obs is None:
            raise RuntimeError("WorldModel-v0 vector env: call reset() before step()")
        frames, rewards, terminated = self.model.step(actions)
        self.steps += 1
        limit = self.cfg.max_episode_steps
        truncated = (self.steps >= limit) if limit > 0 else np.zeros(self.num_envs, dtype=bool)
        obs = np.array(frames, dtype=np.uint8)
        infos: dict[str, Any] = {}
        done = [int(i) for i in np.flatnonzero(terminated | truncated)]
        for i in done:
            infos = self._add_info(infos, {"final_obs": obs[i].copy(), "final_info": self._world_info(i)}, i)
        if done:
            for i in done:
                self.seeds[i] = self._draw_seed()
            obs[done] = self._prime(done, self._contexts(done, None), full=False)
        for i in range(self.num_envs):
            infos = self._add_info(infos, self._world_info(i), i)
        self._obs = obs
        return (obs.copy(), np.asarray(rewards, dtype=np.float64), np.asarray(terminated, dtype=np.bool_),
                np.asarray(truncated, dtype=np.bool_), infos)

    def _world_info(self, i: int) -> dict[str, Any]:
        return {"step": int(self.steps[i]), "episode_seed": int(self.seeds[i])}

    def render(self) -> tuple[np.ndarray, ...] | None:
        """rgb_array: the current frame of every world."""
        if self.render_mode != "rgb_array" or self._obs is None:
            return None
        return tuple(frame.copy() for frame in self._obs)


def _stack_actions(actions: list[dict[str, np.ndarray] | None]) -> dict[str, np.ndarray] | None:
    """Per-world context actions (all known or all None) -> dict of arrays (n, T-1, ...) or None."""
    if actions[0] is None:
        return None
    return {key: np.stack([a[key] for a in actions]) for key in (*BINARY_KEYS, "camera")}
