"""Building blocks of probe scripts: turns, holds, walks, the panning prompt, and finding sites in a world.

Turns use whole steps of `rate` degrees per tick (10 by default: a camera bin centre of the world model, so the
model hears exactly the angle the truth turns). `ScriptBuilder` simulates while it builds, so closed-loop choices
(jump when blocked while walking) are baked into a fixed action list that truth and model both receive.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

import numpy as np

from envs.actions import Action, complete_action
from envs.blockworld import blocks as B
from envs.blockworld.env import BlockWorldEnv
from envs.blockworld.worldgen import spawn_point, surface_y
from worldmodel.probes.scenario import Cell, Scenario, start

GROUND = (B.GRASS, B.DIRT, B.SAND, B.STONE)
LANDMARKS = (B.WOOL_BLUE, B.WOOL_RED, B.DIAMOND, B.GOLD, B.WOOL_YELLOW, B.WOOL_GREEN)  # most legible first


def noop(n: int) -> list[Action]:
    """n ticks of doing nothing."""
    return [complete_action({}) for _ in range(max(0, int(n)))]


def _steps(total: float, rate: float, n: int) -> list[float]:
    """n per-tick increments summing to `total`: full `rate` steps, then the remainder (kept last so that all
    but one step sit exactly on a camera bin centre), then zeros."""
    out, left = [], float(total)
    for _ in range(n):
        step = math.copysign(min(abs(left), rate), total) if left else 0.0
        out.append(step)
        left -= step
    return out


def turn(dyaw: float, rate: float = 10.0, dpitch: float = 0.0) -> list[Action]:
    """Turn by dyaw (and dpitch) degrees, at most `rate` degrees per tick on each axis."""
    n = int(math.ceil(max(abs(dyaw), abs(dpitch)) / rate - 1e-9)) if (dyaw or dpitch) else 0
    yaws, pitches = _steps(dyaw, rate, n), _steps(dpitch, rate, n)
    return [complete_action({"camera": np.array([p, y], np.float32)}) for p, y in zip(pitches, yaws)]


def press(key: str, n: int = 1, **held: Any) -> list[Action]:
    """Hold `key` (with optional other keys) for n ticks."""
    return [complete_action({key: 1, **held}) for _ in range(n)]


def pan_prompt(prompt_len: int, rate: float = 10.0) -> list[Action]:
    """The P-1 actions of a panning prompt: the view turns right by `rate` per tick, so the prompt sweeps
    (P-1) * rate degrees and its first and last frames differ from the views in its middle."""
    return turn((prompt_len - 1) * rate, rate)


def yaw_to(feet: np.ndarray, target: Sequence[float]) -> float:
    """Yaw (degrees) that looks from the feet position towards a point, horizontally."""
    dx, dz = float(target[0]) - float(feet[0]), float(target[2]) - float(feet[2])
    return math.degrees(math.atan2(-dx, dz))


def pitch_to(feet: np.ndarray, target: Sequence[float], eye_height: float = 1.62) -> float:
    """Pitch (degrees, positive = down) that looks from the eye at a point."""
    dx, dz = float(target[0]) - float(feet[0]), float(target[2]) - float(feet[2])
    dy = float(target[1]) - (float(feet[1]) + eye_height)
    return -math.degrees(math.atan2(dy, math.hypot(dx, dz)))


def spawn_feet(env: BlockWorldEnv, world_seed: int) -> np.ndarray:
    """Reset to a world and return its spawn feet position (dry ground near the centre)."""
    env.reset(seed=int(world_seed))
    return np.asarray(spawn_point(env.voxels, int(world_seed)), np.float64)


def pillar_sites(env: BlockWorldEnv, seed: int, family: str, world: int, attempts: int, dist: float
                 ) -> Iterator[tuple[int, np.ndarray, float, list[Cell]]]:
    """Candidate sites of a 2-block pillar for world `world` of a probe family: up to `attempts` world seeds,
    12 headings 30 degrees apart from a seeded start in each. Yields (world seed, feet, heading in degrees, the
    pillar's cells) with the env freshly reset to that world, for the family to accept or pass over."""
    for attempt in range(attempts):
        ws = world_seed(seed, family, world * 10 + attempt)
        feet = spawn_feet(env, ws)
        base = float(np.random.default_rng(ws).uniform(0, 360))
        for k in range(12):
            env.reset(seed=ws)
            cells = pillar_site(env.voxels, feet, base + 30 * k, dist, 2)
            if cells is not None:
                yield ws, feet, base + 30 * k, cells


def pillar_site(voxels: np.ndarray, feet: np.ndarray, yaw: float, dist: float, height: int) -> list[Cell] | None:
    """Cells of a `height`-tall pillar standing on dry ground `dist` blocks ahead along yaw, or None when the
    ground there is water, a cliff, or the cells are not free."""
    rad = math.radians(yaw)
    x = int(math.floor(feet[0] - math.sin(rad) * dist))
    z = int(math.floor(feet[2] + math.cos(rad) * dist))
    sx, sy, sz = voxels.shape
    if not (2 <= x < sx - 2 and 2 <= z < sz - 2):
        return None
    g = surface_y(voxels, x, z)
    if voxels[x, g, z] not in GROUND or abs(g + 1 - feet[1]) > 1.01 or g + height >= sy - 1:
        return None
    cells = [(x, g + 1 + k, z) for k in range(height)]
    return cells if all(voxels[c] == B.AIR for c in cells) else None


def clear_path(voxels: np.ndarray, feet: np.ndarray, yaw: float, dist: float) -> bool:
    """True when the ground along yaw for `dist` blocks is dry, within one block of the feet level, with two
    free cells above (a walk there will not be blocked or drown)."""
    rad = math.radians(yaw)
    base = int(math.floor(feet[1])) - 1
    for step in np.arange(0.5, dist + 0.01, 0.5):
        x = int(math.floor(feet[0] - math.sin(rad) * step))
        z = int(math.floor(feet[2] + math.cos(rad) * step))
        if not (1 <= x < voxels.shape[0] - 1 and 1 <= z < voxels.shape[2] - 1):
            return False
        g = surface_y(voxels, x, z)
        if voxels[x, g, z] not in GROUND or abs(g - base) > 1:
            return False
    return True


class ScriptBuilder:
    """Plays a scenario's start and prompt, then builds the script by simulating each added action."""

    def __init__(self, env: BlockWorldEnv, scenario: Scenario) -> None:
        self.env = env
        self.scenario = scenario
        start(env, scenario)
        for action in scenario.prompt_actions:
            env.step(action)
        self.actions: list[Action] = []
        self.marks: dict[str, int] = {}

    @property
    def pose(self) -> np.ndarray:
        """Current pose [x, y, z, yaw, pitch]."""
        return self.env.player.pose()

    def add(self, actions: Sequence[Action]) -> "ScriptBuilder":
        """Append and simulate actions."""
        for action in actions:
            action = complete_action(action)
            self.env.step(action)
            self.actions.append(action)
        return self

    def mark(self, name: str) -> None:
        """Remember the script index of the next action (the frame after it is index + 1 of the script)."""
        self.marks[name] = len(self.actions)

    def walk(self, ticks: int, key: str = "forward") -> "ScriptBuilder":
        """Hold a movement key for `ticks`, jumping when the last step was blocked (closed loop, baked in)."""
        blocked = False
        for _ in range(int(ticks)):
            before = self.env.player.position.copy()
            jump = int(blocked and self.env.player.on_ground)
            self.add([complete_action({key: 1, "jump": jump})])
            moved = float(np.hypot(*(self.env.player.position - before)[[0, 2]]))
            blocked = moved < 0.1
        return self

    def finish(self, **tags: Any) -> Scenario:
        """The scenario with the built script and marks (as tags)."""
        s = self.scenario
        return Scenario(s.family, s.name, s.world_seed, s.pose, s.prompt_actions, self.actions, s.setup,
                        s.salient, {**s.tags, **self.marks, **tags})


def world_seed(seed: int, family: str, index: int) -> int:
    """A deterministic world seed per (suite seed, family, scenario index)."""
    rng = np.random.default_rng([int(seed), sum(ord(c) * 31**i for i, c in enumerate(family)) % 2**31, int(index)])
    return int(rng.integers(0, 2**31 - 1))
