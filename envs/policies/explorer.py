"""Scripted explorer: footage worth learning from in BlockWorld (or any env with the canonical action dict).

A seeded state machine of behaviours, each a generator of actions with smooth (eased) camera motion:
walk (with jumps over obstacles), look around, turn away 90-180 degrees and back (object permanence),
walk a square loop (revisiting places), mine the targeted block, place a block, idle, and (off by default) edit:
break a block with one press, place it back nearby, and look away and back (state changes that must persist).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator

import numpy as np
from gymnasium import spaces

from envs.actions import HOTBAR, Action, complete_action, is_canonical_space

Behaviour = Callable[[], Iterator[dict[str, Any]]]


def eased(total: float, steps: int) -> np.ndarray:
    """Per-step increments of a smooth (cosine ease-in-out) move of `total` over `steps` steps."""
    steps = max(1, steps)
    position = total * (1.0 - np.cos(np.pi * np.arange(steps + 1) / steps)) / 2.0
    return np.diff(position)


class ExplorerPolicy:
    """The scripted explorer; `weights` sets how often each behaviour is chosen."""

    WEIGHTS: dict[str, float] = {"walk": 3.0, "look": 1.5, "turn_back": 1.5, "loop": 1.0, "mine": 1.2,
                                 "place": 1.0, "idle": 0.4, "edit": 0.0}

    def __init__(self, action_space: spaces.Space, seed: int = 0, weights: dict[str, float] | None = None,
                 max_turn_rate: float = 12.0) -> None:
        if not is_canonical_space(action_space):
            raise ValueError("the explorer policy needs the canonical action dict (envs.actions.action_space())")
        self.weights = dict(self.WEIGHTS, **(weights or {}))
        unknown = sorted(set(self.weights) - set(self.WEIGHTS))
        if unknown:
            raise ValueError(f"unknown explorer behaviour(s) {unknown}; expected some of {sorted(self.WEIGHTS)}")
        self.max_turn_rate = max_turn_rate
        self.reset(seed)

    def reset(self, seed: int) -> None:
        """Reseed and start a fresh behaviour sequence."""
        self.rng = np.random.default_rng(seed)
        self.pitch = 0.0  # own estimate, corrected from info["pose"] when the env reports it
        self.position: np.ndarray | None = None
        self.stuck = 0
        self.current: Iterator[dict[str, Any]] = iter(())
        self.history: list[str] = []

    # --- behaviour primitives -------------------------------------------------------------------------------
    def _turn_steps(self, degrees: float) -> int:
        return max(3, int(math.ceil(abs(degrees) / self.max_turn_rate * 1.5)))

    def _look(self, dyaw: float, dpitch: float, **held: int) -> Iterator[dict[str, Any]]:
        dpitch = float(np.clip(self.pitch + dpitch, -80.0, 80.0) - self.pitch)
        steps = self._turn_steps(max(abs(dyaw), abs(dpitch)))
        for yaw_step, pitch_step in zip(eased(dyaw, steps), eased(dpitch, steps)):
            yield {"camera": np.array([pitch_step, yaw_step], np.float32), **held}

    def _level(self, target: float = 0.0) -> Iterator[dict[str, Any]]:
        if abs(target - self.pitch) > 3.0:
            yield from self._look(0.0, target - self.pitch)

    def walk(self) -> Iterator[dict[str, Any]]:
        """Walk forward with a slow drift of heading; jump now and then and whenever stuck."""
        yield from self._level(float(self.rng.uniform(-10, 15)))
        drift = float(self.rng.normal(0.0, 1.5))
        sprint = int(self.rng.random() < 0.3)
        for _ in range(int(self.rng.integers(20, 60))):
            jump = int(self.rng.random() < 0.04 or self.stuck >= 2)
            yield {"forward": 1, "sprint": sprint, "jump": jump, "camera": np.array([0.0, drift], np.float32)}
            if self.stuck >= 6:
                yield from self._look(float(self.rng.choice([-1, 1]) * self.rng.uniform(60, 120)), 0.0)
                self.stuck = 0

    def look(self) -> Iterator[dict[str, Any]]:
        """Stand and look around: a few smooth pans in yaw and pitch, then level the view."""
        for _ in range(int(self.rng.integers(2, 5))):
            yield from self._look(float(self.rng.uniform(-120, 120)), float(self.rng.uniform(-35, 35)))
            for _ in range(int(self.rng.integers(0, 6))):
                yield {}
        yield from self._level()

    def turn_back(self) -> Iterator[dict[str, Any]]:
        """Turn away 90-180 degrees, hold, and turn back to the same view (tests object permanence)."""
        angle = float(self.rng.choice([-1, 1]) * self.rng.uniform(90, 180))
        yield from self._look(angle, 0.0)
        for _ in range(int(self.rng.integers(5, 25))):
            yield {}
        yield from self._look(-angle, 0.0)
        for _ in range(int(self.rng.integers(3, 10))):
            yield {}

    def loop(self) -> Iterator[dict[str, Any]]:
        """Walk a square loop (four sides, four 90 degree turns the same way), coming back to the start."""
        side = int(self.rng.integers(8, 25))
        sign = float(self.rng.choice([-1, 1]))
        yield from self._level()
        for _ in range(4):
            for _ in range(side):
                yield {"forward": 1, "jump": int(self.stuck >= 2)}
            yield from self._look(90.0 * sign, 0.0)

    def mine(self) -> Iterator[dict[str, Any]]:
        """Look at a block ahead and below and hold attack until it breaks, maybe a second one."""
        for _ in range(int(self.rng.integers(1, 3))):
            yield from self._look(float(self.rng.uniform(-30, 30)), float(self.rng.uniform(25, 60)) - self.pitch)
            for _ in range(int(self.rng.integers(10, 30))):
                yield {"attack": 1}
        yield from self._level()

    def place(self) -> Iterator[dict[str, Any]]:
        """Pick a hotbar slot, look at the ground or a wall and place one to three blocks."""
        yield {str(self.rng.choice(HOTBAR)): 1}
        yield from self._look(float(self.rng.uniform(-45, 45)), float(self.rng.uniform(20, 55)) - self.pitch)
        for _ in range(int(self.rng.integers(1, 4))):
            yield {"use": 1}
            for _ in range(int(self.rng.integers(3, 8))):
                yield {}
            yield from self._look(float(self.rng.uniform(-25, 25)), 0.0)
        yield from self._level()

    def edit(self) -> Iterator[dict[str, Any]]:
        """Two to four times: break the targeted block (on the ground below or near eye level) with one press,
        place it (hotbar slot 1, where the first mined block goes) on another face near by; then now and then turn
        away and back to the edits."""
        for _ in range(int(self.rng.integers(2, 5))):
            yield from self._look(float(self.rng.uniform(-40, 40)), float(self.rng.uniform(-15, 50)) - self.pitch)
            yield {"attack": 1}
            yield from ({} for _ in range(int(self.rng.integers(2, 5))))
            yield {HOTBAR[0]: 1}
            yield from self._look(float(self.rng.uniform(-35, 35)), float(self.rng.uniform(-10, 20)))
            yield {"use": 1}
            yield from ({} for _ in range(int(self.rng.integers(2, 5))))
        if self.rng.random() < 0.5:
            angle = float(self.rng.choice([-1, 1]) * self.rng.uniform(60, 180))
            yield from self._look(angle, 0.0)
            yield from ({} for _ in range(int(self.rng.integers(1, 8))))
            yield from self._look(-angle, 0.0)
            yield from ({} for _ in range(int(self.rng.integers(2, 6))))
        yield from self._level()

    def idle(self) -> Iterator[dict[str, Any]]:
        """Do nothing for a moment (the world should stay still)."""
        for _ in range(int(self.rng.integers(5, 20))):
            yield {}

    # --- the state machine ------------------------------------------------------------------------------------
    def _observe(self, info: dict[str, Any]) -> None:
        pose = info.get("pose") if isinstance(info, dict) else None
        if pose is None or np.shape(pose) != (5,):
            return
        pose = np.asarray(pose, dtype=np.float64)
        self.pitch = float(pose[4])
        if self.position is not None and np.linalg.norm(pose[[0, 2]] - self.position[[0, 2]]) < 0.02:
            self.stuck += 1
        else:
            self.stuck = 0
        self.position = pose[:3]

    def act(self, obs: Any, info: dict[str, Any]) -> Action:
        """The next action of the current behaviour (a new behaviour is drawn when one ends)."""
        self._observe(info)
        for _ in range(len(self.WEIGHTS) * 4):
            partial = next(self.current, None)
            if partial is not None:
                break
            names = list(self.weights)
            probs = np.array([self.weights[n] for n in names], dtype=np.float64)
            name = names[int(self.rng.choice(len(names), p=probs / probs.sum()))]
            self.history.append(name)
            self.current = getattr(self, name)()
        else:
            partial = {}
        action = complete_action(partial)
        self.pitch = float(np.clip(self.pitch + float(action["camera"][0]), -90.0, 90.0))
        if not action["forward"]:
            self.stuck = 0
        return action
