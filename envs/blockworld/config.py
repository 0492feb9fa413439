"""BlockWorldConfig: the validated constructor kwargs of BlockWorldEnv (mirrors configs/env/blockworld.yaml)."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from envs.blockworld.worldgen import EDGE_WIDTH
from envs.kwargs_config import KwargsConfig

RENDER_MODES: tuple[str | None, ...] = (None, "rgb_array", "human")
MIN_WORLD_SIZE = (2 * EDGE_WIDTH + 16, 24, 2 * EDGE_WIDTH + 16)  # what worldgen can build


@dataclass(frozen=True)
class BlockWorldConfig(KwargsConfig):
    """Settings of one BlockWorld env. Build with `BlockWorldConfig.from_kwargs(**kwargs)` to validate."""

    OWNER = "BlockWorld"

    render_mode: str | None = None
    """None, "rgb_array" (env.render() returns the last observation) or "human" (pygame window)."""
    width: int = 64
    """Observation width in pixels."""
    height: int = 64
    """Observation height in pixels."""
    world_size: tuple[int, int, int] = (64, 32, 64)
    """Voxel grid size (X, Y, Z); y is up."""
    fov_deg: float = 70.0
    """Vertical field of view in degrees."""
    hud: bool = True
    """Draw crosshair and hotbar on the RGB observation (never on depth / block ids)."""
    fog: bool = True
    """Distance fog in the renderer."""
    task: str | None = None
    """None, "mine_gold" or "collect_logs"; "collect_logs:3" is shorthand for task_kwargs={"n": 3}."""
    task_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra arguments of the task (collect_logs: n=5)."""
    max_episode_steps: int = 1000
    """Truncate the episode after this many steps (0 = never)."""
    human_scale: int = 8
    """Window scale factor of render_mode="human"."""

    @classmethod
    def normalise(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        """world_size as a tuple of three, task_kwargs as a dict (None: empty)."""
        if "world_size" in kwargs:
            kwargs["world_size"] = _size3(kwargs["world_size"])
        if "task_kwargs" in kwargs:
            if kwargs["task_kwargs"] is None:
                kwargs["task_kwargs"] = {}
            elif not isinstance(kwargs["task_kwargs"], Mapping):
                raise ValueError(f"BlockWorld: 'task_kwargs' must be a dict, got {kwargs['task_kwargs']!r}")
            kwargs["task_kwargs"] = dict(kwargs["task_kwargs"])
        return kwargs

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        if self.render_mode not in RENDER_MODES:
            raise ValueError(f"BlockWorld: 'render_mode' must be one of {list(RENDER_MODES)}, got {self.render_mode!r}")
        for key in ("width", "height"):
            value = getattr(self, key)
            if not _is_int(value) or not 8 <= value <= 2048:
                raise ValueError(f"BlockWorld: '{key}' must be an int in [8, 2048], got {value!r}")
        for axis, (n, low) in enumerate(zip(self.world_size, MIN_WORLD_SIZE)):
            if not _is_int(n) or not low <= n <= 1024:
                raise ValueError(f"BlockWorld: 'world_size' entries must be ints in [{low}, 1024], got {self.world_size!r}")
        if not isinstance(self.fov_deg, numbers.Real) or isinstance(self.fov_deg, bool) or not 10.0 <= float(self.fov_deg) <= 170.0:
            raise ValueError(f"BlockWorld: 'fov_deg' must be a number in [10, 170], got {self.fov_deg!r}")
        for key in ("hud", "fog"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"BlockWorld: '{key}' must be a bool, got {getattr(self, key)!r}")
        if self.task is not None and not isinstance(self.task, str):
            raise ValueError(f"BlockWorld: 'task' must be a string or None, got {self.task!r}")
        if not _is_int(self.max_episode_steps) or self.max_episode_steps < 0:
            raise ValueError(f"BlockWorld: 'max_episode_steps' must be an int >= 0, got {self.max_episode_steps!r}")
        if not _is_int(self.human_scale) or not 1 <= self.human_scale <= 32:
            raise ValueError(f"BlockWorld: 'human_scale' must be an int in [1, 32], got {self.human_scale!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _size3(value: Any) -> tuple[int, int, int]:
    try:
        size = tuple(value)
    except TypeError:
        raise ValueError(f"BlockWorld: 'world_size' must be three ints (X, Y, Z), got {value!r}") from None
    if len(size) != 3:
        raise ValueError(f"BlockWorld: 'world_size' must be three ints (X, Y, Z), got {value!r}")
    return tuple(int(v) if _is_int(v) else v for v in size)  # type: ignore[return-value]
