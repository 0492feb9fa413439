"""Task / reward hooks of BlockWorld. A task sees what happened in each tick and returns (reward, terminated).

Tasks: "mine_gold" (reward 1 and terminated when a GOLD block is mined) and "collect_logs" (reward 1 per LOG
collected into the hotbar; terminated at n logs, default 5). Select with `task="collect_logs"` plus
`task_kwargs={"n": 3}`, or the shorthand `task="collect_logs:3"` (the value after ':' is the task's main
argument). Add a task by subclassing Task and registering it in TASKS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from envs.blockworld.blocks import GOLD, LOG


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

    def step(self, events: StepEvents) -> tuple[float, bool]:
        """Reward and termination for one tick."""
        return 0.0, False


class MineGold(Task):
    """Reward 1 and terminate when a GOLD block is mined."""

    name = "mine_gold"

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

    def step(self, events: StepEvents) -> tuple[float, bool]:
        """Reward the logs collected this tick; terminate when n are held."""
        logs = sum(1 for block in events.collected if block == LOG)
        self.count += logs
        return float(logs), self.count >= self.n


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
