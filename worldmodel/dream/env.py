"""WorldModelEnv (`WorldModel-v0`): step a learned world like a game, through the Gymnasium API.

    env = gymnasium.make("WorldModel-v0")                        # bundled model, BlockWorld prompts
    env = gymnasium.make("WorldModel-v0", model="runs/wm", prompt="dataset:data/bw_heldout", context_frames=8)
    obs, info = env.reset(seed=0)                                # context from the prompt source
    obs, info = env.reset(options={"frames": frames, "actions": actions})  # or from frames you pass
    obs, reward, terminated, truncated, info = env.step(action)  # canonical action dict (envs/actions.py)

Observations are the model's frames, uint8 (H, W, 3); the reset observation is the model's view (tokenizer
reconstruction) of the newest context frame. Reward and termination come from the model's heads (termination
when its probability exceeds 0.5); truncation after max_episode_steps. Determinism: a reset with seed s prompts
with seed s and seeds the model's sampling with s, so the same seed and actions give the same frames; a reset
without a seed draws the episode seed from the env's RNG (so `reset(seed=s)` then `reset()` is reproducible).
Note: `gymnasium.make(..., max_episode_steps=N)` is gymnasium's own TimeLimit wrapper (it never reaches this
env), so it can shorten episodes but not lengthen them past this env's max_episode_steps (default 1000); for
longer episodes construct WorldModelEnv(max_episode_steps=N) or use make_vec, which passes it through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from envs.actions import complete_action
from worldmodel.dream.config import DreamConfig
from worldmodel.dream.loading import resolve_model
from worldmodel.dream.prompts import Context, Prompt, check_context, make_prompt

RESET_OPTIONS = ("frames", "actions")
SEED_LIMIT = 2**31 - 1


def episode_seed(seed: int | None, rng: np.random.Generator) -> int:
    """The seed of an episode: the reset seed if given, else one drawn from the env's RNG."""
    return int(seed) if seed is not None else int(rng.integers(0, SEED_LIMIT))


def reset_context(options: dict[str, Any] | None, prompt: Prompt, seed: int,
                  frame_shape: tuple[int, int, int]) -> Context:
    """Context from reset options ({"frames": ..., "actions": ...}) or, without frames, from the prompt source."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(RESET_OPTIONS))
    if unknown:
        raise ValueError(f"unknown reset option(s) {unknown}; expected some of {list(RESET_OPTIONS)}")
    if options.get("frames") is not None:
        return check_context(options["frames"], options.get("actions"), frame_shape)
    if options.get("actions") is not None:
        raise ValueError("reset option 'actions' needs 'frames' (the T-1 actions between T frames)")
    frames, actions = prompt(seed)
    return check_context(frames, actions, frame_shape, source="prompt")


def open_world(cfg: DreamConfig) -> tuple[Any, Prompt]:
    """The model of a dream env (cfg.model on cfg.device, a fresh one; the sampling overrides applied) and its
    prompt source."""
    model = resolve_model(cfg.model, cfg.device)
    cfg.apply_sampling(model)
    return model, make_prompt(cfg.prompt, model.frame_shape, cfg.context_frames, **cfg.prompt_kwargs)


@dataclass
class DreamState:
    """A copy of a dream episode (from `save_state`): model snapshot, step count, frame, RNG state."""

    snapshot: Any
    steps: int
    frame: np.ndarray
    rng_state: dict[str, Any]


class WorldModelEnv(gym.Env):
    """Gymnasium env over a WorldModel; kwargs are validated by DreamConfig (see config.py)."""

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 20}

    def __init__(self, **kwargs: Any) -> None:
        self.cfg = DreamConfig.from_kwargs(**kwargs)
        self.render_mode = self.cfg.render_mode
        self.model, self.prompt = open_world(self.cfg)
        self.frame_shape: tuple[int, int, int] = self.model.frame_shape
        self.observation_space = gym.spaces.Box(0, 255, shape=self.frame_shape, dtype=np.uint8)
        self.action_space = self.model.action_space
        self.steps = 0
        self.seed_used: int | None = None  # episode seed of the current episode
        self._frame: np.ndarray | None = None
        self._window: Any = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """New episode from options["frames"] (+ options["actions"]) or from the prompt source."""
        super().reset(seed=seed)
        self.seed_used = episode_seed(seed, self.np_random)
        frames, actions = reset_context(options, self.prompt, self.seed_used, self.frame_shape)
        self.model.seed(self.seed_used)  # the model's sampling follows the episode seed: same seed, same frames
        self._frame = np.asarray(self.model.reset(frames, actions))
        self.steps = 0
        if self.render_mode == "human":
            self.render()
        return self._frame.copy(), self._info()

    def step(self, action: dict[str, Any]) -> tuple[np.ndarray, float, bool, bool, dict]:
        """One model step with a canonical action dict (absent keys = not pressed; ValueError naming a bad key)."""
        if self._frame is None:
            raise RuntimeError("WorldModel-v0: call reset() before step()")
        frame, reward, terminated = self.model.step(complete_action(action))
        self._frame = np.asarray(frame)
        self.steps += 1
        limit = self.cfg.max_episode_steps
        truncated = limit > 0 and self.steps >= limit
        if self.render_mode == "human":
            self.render()
        return self._frame.copy(), float(reward), bool(terminated), bool(truncated), self._info()

    def _info(self) -> dict[str, Any]:
        return {"step": self.steps, "episode_seed": self.seed_used}

    def memory_map(self) -> np.ndarray | None:
        """The model's memory seen from above (`WorldModel.memory_map`; None without a memory): `wm play`, M."""
        return self.model.memory_map()

    # --- branching (the viewer's rewind uses the same names as BlockWorld's scripting API) ---
    def save_state(self) -> DreamState:
        """Copy of the episode (model KV cache and random states, step count, frame) for restore_state()."""
        if self._frame is None:
            raise RuntimeError("WorldModel-v0: call reset() before save_state()")
        return DreamState(self.model.snapshot(), self.steps, self._frame.copy(),
                          dict(self.np_random.bit_generator.state))

    def restore_state(self, state: DreamState) -> None:
        """Return to a saved state: the same actions then give the same frames again."""
        if not isinstance(state, DreamState):
            raise ValueError(f"expected a DreamState from save_state(), got {type(state).__name__}")
        self.model.restore(state.snapshot)
        self.steps, self._frame = state.steps, state.frame.copy()
        self.np_random.bit_generator.state = dict(state.rng_state)

    def observe(self) -> np.ndarray:
        """The current frame (a copy)."""
        if self._frame is None:
            raise RuntimeError("WorldModel-v0: call reset() before observe()")
        return self._frame.copy()

    # --- rendering ---
    def render(self) -> np.ndarray | None:
        """rgb_array: the current frame; human: show it in a pygame window (pygame imported lazily)."""
        if self._frame is None:
            raise RuntimeError("WorldModel-v0: call reset() before render()")
        if self.render_mode == "rgb_array":
            return self._frame.copy()
        if self.render_mode == "human":
            self._show(self._frame)
        return None

    def _show(self, frame: np.ndarray) -> None:
        import pygame

        scale = self.cfg.human_scale
        big = frame.repeat(scale, axis=0).repeat(scale, axis=1)  # (H*s, W*s, 3)
        if self._window is None:
            pygame.display.init()
            pygame.display.set_caption("WorldModel-v0")
            self._window = pygame.display.set_mode((big.shape[1], big.shape[0]))
        pygame.event.pump()  # keeps the window responsive
        pygame.surfarray.blit_array(self._window, big.transpose(1, 0, 2))  # surfarray is (W, H, 3)
        pygame.display.flip()

    def close(self) -> None:
        """Close the human window if one is open (safe to call twice)."""
        if self._window is not None:
            import pygame

            pygame.display.quit()
            self._window = None
