"""DreamConfig: the validated constructor kwargs shared by the single and the vector dream env."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envs.kwargs_config import KwargsConfig

RENDER_MODES: tuple[str | None, ...] = (None, "rgb_array", "human")


@dataclass
class DreamConfig(KwargsConfig):
    """Settings of `WorldModel-v0` (single env) and its vector env. Build with `from_kwargs` to validate."""

    OWNER = "WorldModel-v0"

    model: Any = "bundled"
    """"bundled", a WorldModel directory (str / Path) or a WorldModel instance (its weights are shared, its
    rollout state is not: each env gets its own)."""
    prompt: Any = "blockworld"
    """Where reset contexts come from when reset options hold no frames: "blockworld" (a live BlockWorld run
    from the reset seed), "blockworld:walk", "dataset:PATH" (a clip of an episode store), or a callable
    `prompt(seed) -> (frames, actions)` (see worldmodel/dream/prompts.py)."""
    context_frames: int = 4
    """Frames in a prompt context (k): k frames and the k-1 actions between them prime the model."""
    max_episode_steps: int = 1000
    """Truncate an episode after this many steps (0 = never)."""
    render_mode: str | None = None
    """None, "rgb_array" (render() returns the current frame) or "human" (pygame window)."""
    device: str | None = "auto"
    """"cpu", "cuda", "cuda:N" or "auto" (CUDA when available)."""
    temperature: float | None = None
    """Sampling temperature override (None = the model's default; 0 = greedy)."""
    top_k: int | None = None
    """Top-k override (None = the model's default; 0 = off)."""
    decode_steps: int | None = None
    """Parallel decoding passes per frame override (None = the model's default)."""
    prompt_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra arguments of the prompt source, e.g. {"policy": "walk", "env_kwargs": {"fov_deg": 70}}."""
    human_scale: int = 8
    """Window pixels per frame pixel for render_mode="human"."""

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        if not (isinstance(self.model, (str, Path)) or hasattr(self.model, "step")):
            raise ValueError(f"WorldModel-v0: 'model' must be 'bundled', a path or a WorldModel, got {self.model!r}")
        if not (isinstance(self.prompt, str) or callable(self.prompt)):
            raise ValueError(f"WorldModel-v0: 'prompt' must be a string or a callable, got {self.prompt!r}")
        checks: dict[str, bool] = {
            "context_frames": isinstance(self.context_frames, int) and self.context_frames >= 1,
            "max_episode_steps": isinstance(self.max_episode_steps, int) and self.max_episode_steps >= 0,
            "render_mode": self.render_mode in RENDER_MODES,
            "temperature": self.temperature is None or self.temperature >= 0,
            "top_k": self.top_k is None or self.top_k >= 0,
            "decode_steps": self.decode_steps is None or self.decode_steps >= 1,
            "prompt_kwargs": isinstance(self.prompt_kwargs, Mapping),
            "human_scale": isinstance(self.human_scale, int) and self.human_scale >= 1,
        }
        for key, ok in checks.items():
            if not ok:
                raise ValueError(f"WorldModel-v0: bad value for '{key}': {getattr(self, key)!r}")

    def apply_sampling(self, model: Any) -> None:
        """Set the sampling overrides (temperature, top_k, decode_steps) on a WorldModel."""
        for key in ("temperature", "top_k", "decode_steps"):
            value = getattr(self, key)
            if value is not None:
                setattr(model, key, value)
