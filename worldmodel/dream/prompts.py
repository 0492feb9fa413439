"""Where the dream's reset contexts come from: a live BlockWorld run, a dataset clip, or frames passed in.

A context is (frames uint8 (k, H, W, 3), actions) with actions a dict of arrays (buttons (k-1,), camera
(k-1, 2)) in the canonical convention, or None when unknown (the model then infers latent actions). Every
prompt source is a callable `prompt(seed) -> context`, deterministic in the seed.

    make_prompt("blockworld", (64, 64, 3), k=4)         # BlockWorld from the seed, 3 noop steps
    make_prompt("blockworld:walk", (64, 64, 3), k=4)    # ... walking forward with a drifting heading
    make_prompt("dataset:data/bw_heldout", (64, 64, 3), k=4)  # a seeded random clip of an episode store
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from envs.actions import BINARY_KEYS, Action, complete_action, noop_action, stack_actions

Context = tuple[np.ndarray, "dict[str, np.ndarray] | None"]
PolicyFn = Callable[[np.ndarray, np.random.Generator], Mapping[str, Any]]


class Prompt(Protocol):
    """A source of reset contexts."""

    def __call__(self, seed: int) -> Context:
        """The context of the episode with this seed."""


def check_context(frames: Any, actions: Any, frame_shape: tuple[int, int, int], source: str = "reset options"
                  ) -> Context:
    """Validate frames ((H, W, 3) or (T, H, W, 3) uint8) and actions (None, T-1 action dicts or a dict of arrays
    (T-1, ...), absent buttons = not pressed) -> (frames (T, H, W, 3), dict of arrays or None)."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != tuple(frame_shape) or not len(frames):
        raise ValueError(f"{source} 'frames' must be uint8 (T, {frame_shape[0]}, {frame_shape[1]}, 3) for this "
                         f"model, got {frames.dtype} {frames.shape}")
    if actions is None:
        return frames, None
    steps = len(frames) - 1
    if isinstance(actions, Mapping):
        unknown = sorted(set(actions) - set(BINARY_KEYS) - {"camera"})
        if unknown:
            raise ValueError(f"{source} 'actions' has unknown key(s) {unknown}")
        out = {key: np.asarray(actions.get(key, np.zeros(steps)), dtype=np.uint8) for key in BINARY_KEYS}
        out["camera"] = np.asarray(actions.get("camera", np.zeros((steps, 2))), dtype=np.float32)
        for key, value in out.items():
            if value.shape != ((steps, 2) if key == "camera" else (steps,)):
                raise ValueError(f"{source} 'actions' key '{key}' must have {steps} entries (T-1 actions between "
                                 f"T frames), got shape {value.shape}")
        return frames, out
    actions = list(actions)
    if len(actions) != steps:
        raise ValueError(f"{source} 'actions' must hold {steps} action dicts (T-1 between T frames), "
                         f"got {len(actions)}")
    try:
        return frames, stack_actions([complete_action(a) for a in actions])
    except ValueError as error:
        raise ValueError(f"{source} 'actions': {error}") from None


def noop_policy(obs: np.ndarray, rng: np.random.Generator) -> Action:
    """Stand still (the player may still fall or drift in water)."""
    return noop_action()


def walk_policy(obs: np.ndarray, rng: np.random.Generator) -> Mapping[str, Any]:
    """Walk forward with a slowly drifting heading and an occasional jump (footage-like motion)."""
    return {"forward": 1, "jump": int(rng.random() < 0.05),
            "camera": np.array([0.0, rng.normal(0.0, 2.0)], dtype=np.float32)}


POLICIES: dict[str, PolicyFn] = {"noop": noop_policy, "walk": walk_policy}


class BlockWorldPrompt:
    """A live BlockWorld episode from the seed: reset, then k-1 policy steps; their frames and actions are the
    context. `state` is the BlockWorld state after the last prompt (the viewer's --compare continues the ground
    truth from there with the same actions as the dream)."""

    def __init__(self, frame_shape: tuple[int, int, int], context_frames: int, policy: str | PolicyFn = "noop",
                 env_kwargs: Mapping[str, Any] | None = None) -> None:
        if isinstance(policy, str) and policy not in POLICIES:
            raise ValueError(f"prompt 'policy' must be one of {sorted(POLICIES)} or a callable, got {policy!r}")
        self.policy: PolicyFn = POLICIES[policy] if isinstance(policy, str) else policy
        self.context_frames = int(context_frames)
        height, width = int(frame_shape[0]), int(frame_shape[1])
        self.env_kwargs: dict[str, Any] = {**dict(env_kwargs or {}), "width": width, "height": height,
                                           "max_episode_steps": 0}
        self._env: Any = None
        self.state: Any = None

    @property
    def env(self) -> Any:
        """The BlockWorld env used for prompting (built on first use; numba compiles on first render)."""
        if self._env is None:
            from envs.blockworld.env import BlockWorldEnv

            self._env = BlockWorldEnv(**self.env_kwargs)
        return self._env

    def __call__(self, seed: int) -> Context:
        """Context of the BlockWorld world built from `seed` (same seed, same frames and actions)."""
        env = self.env
        obs, _ = env.reset(seed=int(seed))
        rng = np.random.default_rng(int(seed))
        frames, actions = [obs], []
        for _ in range(self.context_frames - 1):
            action = complete_action(self.policy(obs, rng))
            obs, *_ = env.step(action)
            frames.append(obs)
            actions.append(action)
        self.state = env.save_state()
        return np.stack(frames), (stack_actions(actions) if actions else None)


class DatasetPrompt:
    """A seeded random clip of k frames from an episode store (its actions, or None for action-free footage)."""

    def __init__(self, path: str | Path, frame_shape: tuple[int, int, int], context_frames: int) -> None:
        from worldmodel.data import open_dataset

        self.path = Path(path)
        if not (self.path / "index.json").is_file():
            raise ValueError(f"prompt 'dataset:{path}': no episode store there ({self.path / 'index.json'} missing)")
        self.context_frames = int(context_frames)
        dataset = open_dataset(self.path)
        self.clips = dataset.clips(max(2, self.context_frames))  # the clip sampler needs >= 2 frames
        frames = self.clips[0]["frames"]
        if tuple(frames.shape[1:]) != tuple(frame_shape):
            raise ValueError(f"prompt 'dataset:{path}': frames are {tuple(frames.shape[1:])}, the model needs "
                             f"{tuple(frame_shape)}")

    def __call__(self, seed: int) -> Context:
        """A clip chosen by the seed."""
        item = self.clips[int(np.random.default_rng(int(seed)).integers(len(self.clips)))]
        frames = item["frames"].numpy()[: self.context_frames]
        if not bool(item["action_known"]) or self.context_frames < 2:
            return frames, None
        return frames, {key: value.numpy() for key, value in item["actions"].items()}


def make_prompt(spec: str | Prompt, frame_shape: tuple[int, int, int], context_frames: int,
                **kwargs: Any) -> Prompt:
    """Build a prompt source from "blockworld[:POLICY]", "dataset:PATH" or a callable (returned as is)."""
    if callable(spec):
        return spec
    name, _, arg = str(spec).partition(":")
    if name == "blockworld":
        if arg:
            kwargs = {**kwargs, "policy": arg}
        return BlockWorldPrompt(frame_shape, context_frames, **kwargs)
    if name == "dataset" and arg:
        return DatasetPrompt(arg, frame_shape, context_frames, **kwargs)
    raise ValueError(f"prompt must be 'blockworld', 'blockworld:POLICY', 'dataset:PATH' or a callable, got {spec!r}")
