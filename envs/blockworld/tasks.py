"""Task / reward hooks of BlockWorld. A task sees what happened in each tick and returns (reward, terminated).

Tasks: "mine_gold" (reward 1 and terminated when a GOLD block is mined) and "collect_logs" (reward 1 per LOG
collected into the hotbar; terminated at n logs, default 5). Each task also adds privileged facts to the env's
info (`info["goal_cell"]`: the gold landmark, or the nearest exposed log) for scripted baselines. Select with `task="collect_logs"` plus
`task_kwargs={"n": 3}`, or the shorthand `task="collect_logs:3"` (the value after ':' is the task's main
argument). Add a task by subclassing Task and registering it in TASKS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np

from envs.blockworld.blocks import AIR, GOLD, LOG


@dataclass
class StepEvents:
    """What the player did in one tick."""

    tick: int
    mined: list[int] = field(default_factory=list)
    """Block ids broken this tick."""
    collected: list[int] = field(default_factory=list)
    """Block ids added to the hotbar this tick (mined blocks that fitted)."""
    placed: list[int] = field(default_factory=list)
    """Block ids placed this tick."""


class Task:
    """Base task: no reward, never terminates. Subclasses keep their progress in plain attributes."""

    name: ClassVar[str] = "none"
    main_arg: ClassVar[str | None] = None
    """Name of the kwarg that the "name:value" shorthand sets."""

    def reset(self) -> None:
        """Start a new episode."""

    def start(self, voxels: np.ndarray, spawn: np.ndarray) -> None:
        """See the new episode's world (voxels (X, Y, Z), spawn feet position (3,)) before the first tick."""

    def info(self, voxels: np.ndarray, position: np.ndarray) -> dict[str, Any]:
        """Task facts added to the env's info dict (privileged ground truth: for scripted baselines and
        evaluation, never for learned agents), given the current voxels and the player's feet position."""
        return {}

    def step(self, events: StepEvents) -> tuple[float, bool]:
        """Reward and termination for one tick."""
        return 0.0, False


class MineGold(Task):
    """Reward 1 and terminate when a GOLD block is mined."""

    name = "mine_gold"

    def __init__(self) -> None:
        self.goal: np.ndarray | None = None

    def start(self, voxels: np.ndarray, spawn: np.ndarray) -> None:
        """Find the goal: the exposed GOLD cell nearest the spawn (the surface landmark, not a buried ore)."""
        self.goal = nearest_exposed(voxels, GOLD, spawn)

    def info(self, voxels: np.ndarray, position: np.ndarray) -> dict[str, Any]:
        """info["goal_cell"]: int64 (3,) cell of the gold landmark (absent when the world has none)."""
        return {} if self.goal is None else {"goal_cell": self.goal.copy()}

    def step(self, events: StepEvents) -> tuple[float, bool]:
        """Reward 1 and terminate on the tick a GOLD block breaks."""
        hit = GOLD in events.mined
        return (1.0 if hit else 0.0), hit


class CollectLogs(Task):
    """Reward 1 per LOG collected; terminate after n logs."""

    name = "collect_logs"
    main_arg = "n"

    def __init__(self, n: int = 5) -> None:
        if isinstance(n, str) and n.strip().isdigit():
            n = int(n)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"task collect_logs: 'n' must be an int >= 1, got {n!r}")
        self.n = n
        self.count = 0

    def reset(self) -> None:
        """Forget the logs of the previous episode."""
        self.count = 0

    def info(self, voxels: np.ndarray, position: np.ndarray) -> dict[str, Any]:
        """info["goal_cell"]: the exposed LOG cell nearest the player (absent when none is left)."""
        goal = nearest_exposed(voxels, LOG, np.asarray(position) + (0.0, 1.0, 0.0))
        return {} if goal is None else {"goal_cell": goal}

    def step(self, events: StepEvents) -> tuple[float, bool]:
        """Reward the logs collected this tick; terminate when n are held."""
        logs = sum(1 for block in events.collected if block == LOG)
        self.count += logs
        return float(logs), self.count >= self.n


def nearest_exposed(voxels: np.ndarray, block_id: int, origin: np.ndarray) -> np.ndarray | None:
    """The cell of `block_id` with an AIR face neighbour that is nearest `origin` (3,), or None."""
    cells = np.argwhere(voxels == block_id)  # (N, 3)
    if not len(cells):
        return None
    padded = np.pad(voxels == AIR, 1, constant_values=True)  # (X+2, Y+2, Z+2): outside the box counts as air
    exposed = np.zeros(len(cells), dtype=bool)
    for axis in range(3):
        for sign in (-1, 1):
            step = np.zeros(3, dtype=np.int64)
            step[axis] = sign
            n = cells + 1 + step
            exposed |= padded[n[:, 0], n[:, 1], n[:, 2]]
    cells = cells[exposed]
    if not len(cells):
        return None
    dist = np.linalg.norm(cells + 0.5 - np.asarray(origin, dtype=np.float64), axis=1)
    return cells[int(np.argmin(dist))].astype(np.int64)


TASKS: dict[str, type[Task]] = {MineGold.name: MineGold, CollectLogs.name: CollectLogs}


def make_task(spec: str | None, kwargs: Mapping[str, Any] | None = None) -> Task | None:
    """Build a task from "name" or "name:value" plus kwargs; None -> no task. ValueError naming bad keys."""
    if spec is None:
        return None
    name, _, value = spec.partition(":")
    if name not in TASKS:
        raise ValueError(f"BlockWorld: 'task' must be one of {[None, *TASKS]}, got {spec!r}")
    cls = TASKS[name]
    args = dict(kwargs or {})
    if value:
        if cls.main_arg is None:
            raise ValueError(f"BlockWorld: task {name!r} takes no ':' argument, got {spec!r}")
        args[cls.main_arg] = value
    try:
        return cls(**args)
    except TypeError as error:
        raise ValueError(f"BlockWorld: bad 'task_kwargs' {sorted(args)} for task {name!r}: {error}") from None
