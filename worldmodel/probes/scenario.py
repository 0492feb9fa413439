"""A probe scenario (start state + prompt + action script) and its ground-truth run in BlockWorld.

A `Scenario` fixes a world seed, setup edits (e.g. a landmark pillar), the pose of the first prompt frame, the
P-1 actions between the P prompt frames, and the script: the actions after the prompt whose frames the model
must predict. `run_truth` plays it in BlockWorld and keeps everything the scores need (frames, depth, block
ids, poses, edits, the simulator state after the prompt). `simulate` replays other actions (or a corrupted
world) from that state: the oracle and the corruption harness use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Sequence

import numpy as np

from envs.actions import Action, complete_action, stack_actions
from envs.blockworld.env import BlockWorldEnv, BlockWorldState, Edit
from worldmodel.probes.visibility import SeenSet, surface_keys

Cell = tuple[int, int, int]
WorldEdit = Callable[[BlockWorldEnv], None]  # mutates the env after the prompt (corruptions)


@dataclass
class Scenario:
    """One probe: everything needed to play it in truth and to prompt a model with it."""

    family: str
    name: str
    world_seed: int
    pose: tuple[float, float, float, float, float]
    """[x, y, z, yaw, pitch] (feet) of the first prompt frame."""
    prompt_actions: list[Action]
    """The P-1 actions between the P prompt frames (given to the model with the frames)."""
    script: list[Action]
    """The actions after the prompt; the model predicts one frame per action."""
    setup: list[tuple[Cell, int]] = field(default_factory=list)
    """(cell, block id) edits applied before the first frame (landmarks, targets)."""
    salient: list[Cell] = field(default_factory=list)
    """Cells the probe is about (landmark, edit targets): corruptions always hit these."""
    tags: dict[str, Any] = field(default_factory=dict)
    """Sweep values and script landmarks (gap, angle, step indices, ...)."""

    def __post_init__(self) -> None:
        self.prompt_actions = [complete_action(a) for a in self.prompt_actions]
        self.script = [complete_action(a) for a in self.script]

    @property
    def prompt_len(self) -> int:
        """Number of prompt frames P."""
        return len(self.prompt_actions) + 1


@dataclass
class TruthRun:
    """A scenario played in BlockWorld. Frame i (0..P+T-1) follows action i-1 of prompt + script."""

    scenario: Scenario
    frames: np.ndarray  # (P+T, H, W, 3) uint8
    depth: np.ndarray  # (P+T, H, W) float32, inf = sky
    block_ids: np.ndarray  # (P+T, H, W) uint8
    poses: np.ndarray  # (P+T, 5) float64
    edits: list[Edit]  # every voxel change after the setup, with its tick (= frame index)
    voxels0: np.ndarray  # world after the setup, before frame 0
    prompt_state: BlockWorldState  # simulator state at the last prompt frame
    fov_deg: float

    @property
    def prompt_len(self) -> int:
        """P."""
        return self.scenario.prompt_len

    @property
    def world_shape(self) -> tuple[int, int, int]:
        """(X, Y, Z) of the voxel grid."""
        return tuple(self.voxels0.shape)  # type: ignore[return-value]

    @property
    def prompt_frames(self) -> np.ndarray:
        """(P, H, W, 3) the frames the model is given."""
        return self.frames[: self.prompt_len]

    @property
    def script_frames(self) -> np.ndarray:
        """(T, H, W, 3) the frames the model must predict."""
        return self.frames[self.prompt_len :]

    def prompt_action_arrays(self) -> dict[str, np.ndarray]:
        """The P-1 prompt actions as a dict of arrays (the WorldModel.reset format)."""
        return stack_actions(self.scenario.prompt_actions)

    def keys(self, index: int) -> np.ndarray:
        """Surface keys (H, W) of frame `index` (cached)."""
        cache = self.__dict__.setdefault("_keys", {})
        if index not in cache:
            cache[index] = surface_keys(self.depth[index], self.poses[index], self.world_shape, self.fov_deg)
        return cache[index]

    @cached_property
    def seen(self) -> SeenSet:
        """Surfaces visible in the prompt frames (what the model was shown)."""
        seen = SeenSet()
        for i in range(self.prompt_len):
            seen.add(self.keys(i))
        return seen

    def voxels_at(self, index: int) -> np.ndarray:
        """The world as frame `index` shows it (setup + edits up to that tick)."""
        vox = self.voxels0.copy()
        for tick, x, y, z, _, new in self.edits:
            if 1 <= tick <= index:
                vox[x, y, z] = new
        return vox


class EnvPool:
    """One BlockWorld env per frame size, reused across scenarios (generated worlds are cached by the env)."""

    def __init__(self, fov_deg: float = 70.0) -> None:
        self.fov_deg = fov_deg
        self._envs: dict[tuple[int, int], BlockWorldEnv] = {}

    def get(self, height: int, width: int) -> BlockWorldEnv:
        """The env rendering (height, width) frames (episodes never truncate)."""
        key = (int(height), int(width))
        if key not in self._envs:
            self._envs[key] = BlockWorldEnv(width=key[1], height=key[0], fov_deg=self.fov_deg, max_episode_steps=0)
        return self._envs[key]


def start(env: BlockWorldEnv, scenario: Scenario) -> np.ndarray:
    """Reset the env into the scenario's start state; returns the voxels after the setup."""
    env.reset(seed=int(scenario.world_seed))
    for cell, block in scenario.setup:
        env.set_block(cell, block)
    x, y, z, yaw, pitch = scenario.pose
    env.set_pose((x, y, z), yaw, pitch)
    return env.voxels.copy()


def _record(env: BlockWorldEnv, out: dict[str, list]) -> None:
    obs = env.observe()
    gt = env.ground_truth()
    out["frames"].append(obs.copy())
    out["depth"].append(gt["depth"])
    out["block_ids"].append(gt["block_ids"])
    out["poses"].append(gt["pose"])


def run_truth(scenario: Scenario, env: BlockWorldEnv) -> TruthRun:
    """Play a scenario in BlockWorld and keep the ground truth of every frame."""
    voxels0 = start(env, scenario)
    n_setup = len(env.edits)
    out: dict[str, list] = {"frames": [], "depth": [], "block_ids": [], "poses": []}
    _record(env, out)
    for action in scenario.prompt_actions:
        env.step(action)
        _record(env, out)
    state = env.save_state()
    for action in scenario.script:
        env.step(action)
        _record(env, out)
    return TruthRun(scenario, np.stack(out["frames"]), np.stack(out["depth"]), np.stack(out["block_ids"]),
                    np.stack(out["poses"]), list(env.edits[n_setup:]), voxels0, state, float(env.cfg.fov_deg))


def simulate(run: TruthRun, env: BlockWorldEnv, actions: Sequence[Action], world_edit: WorldEdit | None = None,
             ground_truth: bool = False, edit_step: int = 0) -> dict[str, np.ndarray]:
    """Replay `actions` from the state after the prompt, optionally changing the world (corruptions) just before
    action `edit_step` (0 = right after the prompt).

    Returns {"frames": (T, H, W, 3)} and, with ground_truth, also "depth", "block_ids", "poses".
    """
    env.restore_state(run.prompt_state)
    out: dict[str, list] = {"frames": [], "depth": [], "block_ids": [], "poses": []}
    for t, action in enumerate(actions):
        if world_edit is not None and t == edit_step:
            world_edit(env)
        env.step(action)
        if ground_truth:
            _record(env, out)
        else:
            out["frames"].append(env.observe().copy())
    shape = run.frames.shape[1:]
    result = {"frames": np.stack(out["frames"]) if out["frames"] else np.zeros((0, *shape), np.uint8)}
    if ground_truth and out["frames"]:
        result.update({k: np.stack(out[k]) for k in ("depth", "block_ids", "poses")})
    return result
