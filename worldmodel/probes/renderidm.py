"""Render-and-compare inverse dynamics: which action explains a row's next frame, found by simulating BlockWorld.

A probe run knows the true world. From the simulator state at the last prompt frame, each step tries every action
of a fixed vocabulary (no-op, each movement key, jump, attack, yaw and pitch turns of the probe's step sizes) from
the current state, renders the result and keeps the action whose frame is closest to the row's next frame
(blurred mean absolute difference, HUD excluded; ties go to the earlier candidate, the no-op first). The kept
candidate's state is the next step's start, so the row's own pose is tracked: a model that walks half as far as
commanded is read as walking on about half of the steps. The hotbar class is read from the HUD (the highlighted
slot changed). A row frame identical to the one before took no action (its state takes a no-op step).

On the truth the reading is exact: the commanded action renders the very next frame, so the labels are the actions
that took effect (a move into a wall or a jump in mid-air reads as a no-op, as in the learned IDM's training).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from envs.actions import Action, noop_action
from envs.blockworld.env import BlockWorldEnv, BlockWorldState
from worldmodel.probes.auxdata import IDM_BUTTONS, IDM_LABELS
from worldmodel.probes.idm import action_classes
from worldmodel.probes.posesearch import blur
from worldmodel.probes.scenario import TruthRun
from worldmodel.probes.visibility import hud_mask, read_selected_slot

TURN_STEPS = (3.2, 5.8, 10.0)  # degrees per tick of the probes' scripted turns (camera bin centres of the models)
KEYS = ("forward", "back", "left", "right", "jump", "attack")


DIRECTIONS = ((0.0, 1.0), (0.0, -1.0), (1.0, 0.0), (-1.0, 0.0))  # [pitch, yaw] signs: right, left, down, up


def vocabulary(turn_steps: Sequence[float] = TURN_STEPS) -> list[Action]:
    """The candidate actions: no-op first, then single keys, then per turn direction each step size."""
    out = [noop_action()]
    for key in KEYS:
        action = noop_action()
        action[key] = 1
        out.append(action)
    for pitch, yaw in DIRECTIONS:
        for step in turn_steps:
            action = noop_action()
            action["camera"] = np.array([pitch * step, yaw * step], np.float32)
            out.append(action)
    return out


class RenderIDM:
    """Reads the actions of a row's frames by simulating every candidate in the true world (one per frame size)."""

    def __init__(self, height: int, width: int, fov_deg: float = 70.0,
                 turn_steps: Sequence[float] = TURN_STEPS) -> None:
        self.env = BlockWorldEnv(width=int(width), height=int(height), fov_deg=float(fov_deg), max_episode_steps=0)
        self.env.reset(seed=0)
        self.keep = ~hud_mask(int(height), int(width))
        self.candidates = vocabulary(turn_steps)
        n, mid = len(turn_steps), len(turn_steps) // 2
        turns = [[1 + len(KEYS) + d * n + k for k in range(n)] for d in range(len(DIRECTIONS))]
        self.first_pass = list(range(1 + len(KEYS))) + [t[mid] for t in turns]  # one step size per direction
        self.refine = {t[mid]: [i for i in t if i != t[mid]] for t in turns}  # then the others of the best one
        self._memo: dict[tuple, np.ndarray] = {}
        self.renders = 0

    def _try(self, state: BlockWorldState, action: Action) -> np.ndarray:
        self.env.restore_state(state)
        frame, *_ = self.env.step(action)
        self.renders += 1
        return frame

    def _cost(self, frame: np.ndarray, target: np.ndarray) -> float:
        return float(np.abs(blur(frame) - target)[self.keep].mean())

    def match(self, state: BlockWorldState, target: np.ndarray, first: int = 0) -> tuple[int, BlockWorldState]:
        """Index of the candidate whose frame from `state` is closest to `target`, and the state it leads to.
        Tried in order: the no-op, `first`, the keys and one step size per turn direction, then the other step
        sizes of the best turn direction; an exact match ends the search, ties go to the lower index."""
        goal = blur(target)
        costs: dict[int, float] = {}

        def trial(order: Sequence[int]) -> bool:
            for i in order:
                if i not in costs:
                    costs[i] = self._cost(self._try(state, self.candidates[i]), goal)
                    if costs[i] == 0.0:
                        return True
            return False

        if not trial([0, first, *self.first_pass]):
            turn = min(self.refine, key=lambda i: (costs[i], i))
            trial(self.refine[turn])
        best = min(costs, key=lambda i: (costs[i], i))
        self._try(state, self.candidates[best])
        return best, self.env.save_state()

    def read(self, run: TruthRun, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Buttons (T, len(IDM_LABELS)) in {0, 1} and camera (T, 2) degrees [pitch, yaw] of a row's T script
        frames (the step into each), prompted with the run's prompt (memoised on the run and the frames)."""
        key = (id(run), hashlib.blake2b(row.tobytes(), digest_size=16).digest())
        if key in self._memo:
            return self._memo[key][:, : len(IDM_LABELS)], self._memo[key][:, len(IDM_LABELS) :]
        if run.frames.shape[1:3] != self.keep.shape:
            raise ValueError(f"RenderIDM: frames {run.frames.shape[1:3]} but the IDM renders {self.keep.shape}")
        state, last, previous = run.prompt_state, 0, run.frames[run.prompt_len - 1]
        buttons = np.zeros((len(row), len(IDM_LABELS)), np.float32)
        camera = np.zeros((len(row), 2), np.float32)
        hotbar = IDM_LABELS.index("hotbar")
        for t, frame in enumerate(row):
            buttons[t, hotbar] = float(read_selected_slot(frame) != read_selected_slot(previous))
            if np.array_equal(frame, previous):  # nothing changed: nothing took effect (time still passes)
                self._try(state, self.candidates[0])
                state = self.env.save_state()
                continue
            last, state = self.match(state, frame, last)
            action = self.candidates[last]
            for k, name in enumerate(IDM_BUTTONS):
                buttons[t, k] = float(action[name])
            camera[t] = action["camera"]
            previous = frame
        self._memo[key] = np.concatenate([buttons, camera], axis=1)
        return buttons, camera

    def classes(self, run: TruthRun, row: np.ndarray) -> np.ndarray:
        """Binary action classes (T, len(ACTION_CLASSES)) of a row's script frames."""
        return action_classes(*self.read(run, row))
