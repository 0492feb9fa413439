"""The rollout engine: serving and training roll out through the same code, and it is the tree's one open loop."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from envs.actions import BINARY_KEYS
from test_fusion import TINY_DYN, tiny_tokenizer, turning_clips
from worldmodel.dynamics import DynamicsConfig, DynamicsModel
from worldmodel.fusion.objective import FusionObjective, FusionTrainConfig
from worldmodel.model import WorldModel

ROOT = Path(__file__).resolve().parents[1]


def fused_pair(camera_hint_fov: float = 0.0) -> tuple[FusionObjective, WorldModel]:
    """A fusion objective and a WorldModel over the same tiny tokenizer (with fusion) and dynamics."""
    tokenizer = tiny_tokenizer()
    torch.nn.init.normal_(tokenizer.fusion.out.weight, std=0.3)  # a net whose blend depends on its inputs
    torch.manual_seed(1)
    dynamics = DynamicsModel(DynamicsConfig(**{**TINY_DYN, "camera_hint_fov": camera_hint_fov}),
                             tokenizer.vocab_size, tokenizer.grid)
    torch.nn.init.normal_(dynamics.head_out.weight, std=0.5)  # confident, varied predictions
    objective = FusionObjective(tokenizer, dynamics, FusionTrainConfig(channels=8, context=2, teacher_steps=0))
    return objective, WorldModel(tokenizer, dynamics)


@pytest.mark.parametrize("mode", ["sample", "mean"])
@pytest.mark.parametrize("fov", [0.0, 70.0])
def test_fusion_training_sees_exactly_the_frames_a_player_sees(mode: str, fov: float) -> None:
    objective, world = fused_pair(fov)
    batch = turning_clips(clips=2, length=6)
    frames, camera = batch["frames"], batch["actions"]["camera"]
    known = torch.ones(2, 5, dtype=torch.bool)
    buttons = torch.zeros(2, 5, len(BINARY_KEYS))
    cond = objective.dynamics.condition(buttons, camera, known)
    tokens = objective.tokenizer.encode(frames.flatten(0, 1)).reshape(2, 6, -1)
    trained = objective._rollout(frames, tokens, cond, camera, known, mean=mode == "mean")
    trained = torch.stack([step.rendered.frames for step in trained], 1).numpy()  # (2, 4, H, W, 3)

    world.decoding, world.temperature = mode, 0.0
    world.precision = "fp32"  # the objective here runs without autocast (training under bf16 autocast serves bf16)
    actions = [{"camera": camera[:, t].numpy()} for t in range(5)]
    prompt_actions = {**{key: np.zeros((2, 1), np.uint8) for key in BINARY_KEYS}, "camera": camera[:, :1].numpy()}
    world.reset(frames[:, :2].numpy(), prompt_actions)
    served, _, _ = world.unroll(actions[1:])
    np.testing.assert_array_equal(trained, served)
    assert trained.std() > 0


def test_unroll_is_stepping_one_action_at_a_time() -> None:
    _, world = fused_pair()
    frames = np.random.default_rng(0).integers(0, 256, (2, 3, 32, 32, 3), dtype=np.uint8)
    script = [[{"forward": 1, "camera": [0.0, 5.0]}, {"camera": [1.0, -4.0]}][t % 2] for t in range(5)]
    world.seed(3)
    world.reset(frames)
    stepped = [world.step([a, a]) for a in script]
    world.seed(3)
    world.reset(frames)
    seen = []

    def policy(t: int, shown: np.ndarray | None) -> list[dict]:
        seen.append(shown)
        return [script[t], script[t]]

    unrolled, rewards, terminated = world.unroll(policy, steps=5)
    assert unrolled.shape == (2, 5, 32, 32, 3) and rewards.shape == terminated.shape == (2, 5)
    np.testing.assert_array_equal(unrolled, np.stack([s[0] for s in stepped], 1))
    np.testing.assert_array_equal(rewards, np.stack([s[1] for s in stepped], 1))
    assert seen[0] is None and np.array_equal(seen[3], unrolled[:, 2])  # the policy sees the last frames
    with pytest.raises(ValueError, match="steps="):
        world.unroll(policy)
    with pytest.raises(ValueError, match="3 steps asked but 1 actions"):
        world.unroll([script[0]], steps=3)


STEPPERS = ("step", "hidden_step")  # what advances a world model by one frame
# receivers of the one-frame primitives below the WorldModel API (a KV-cached token rollout, the engine, the
# dynamics): a loop over them is a rollout implementation; loops over the public `WorldModel.step` (a timing loop,
# a script) are uses of the engine, not new rollouts
RECEIVERS = ("rollout", "engine", "tokens", "dynamics", "self.model")


def _open_loops(path: Path) -> list[int]:
    """Lines of loops in a file that implement an open-loop rollout: they call a one-frame primitive (RECEIVERS)
    every iteration without observing real frames in between; priming a cache with context frames, loops over
    envs and teacher-forced loops do not count."""
    tree = ast.parse(path.read_text(), str(path))
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.For, ast.While)):
            continue
        calls = [n for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]
        steps = [c for c in calls if c.func.attr in STEPPERS
                 and (any(r in ast.unparse(c.func.value).lower() for r in RECEIVERS)
                      or ast.unparse(c.func.value) == "self")
                 and "env" not in ast.unparse(c.func.value).lower()]
        priming = any(c.func.attr == "hidden_step" and isinstance(node, ast.For)
                      and "prime" in _enclosing_function(tree, node) for c in steps)
        if steps and not priming and not any(c.func.attr == "observe" for c in calls):
            lines.append(node.lineno)
    return lines


def _enclosing_function(tree: ast.AST, target: ast.AST) -> str:
    """Name of the function holding `target` ('' at module level)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(n is target for n in ast.walk(node)):
            return node.name
    return ""


def test_the_tree_has_one_open_loop_rollout_loop() -> None:
    found = {f"{path.relative_to(ROOT)}:{line}" for folder in ("worldmodel", "agents", "envs", "scripts")
             for path in sorted((ROOT / folder).rglob("*.py")) for line in _open_loops(path)}
    assert len(found) == 1 and next(iter(found)).startswith("worldmodel/rollout/engine.py"), sorted(found)


def test_the_loop_counter_finds_a_planted_rollout_loop(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text("def run(rollout, conds):\n    for c in conds:\n        rollout.step(c, 1, 0.0, 0)\n"
                       "def forced(rollout, tokens, conds):\n    for f, c in zip(tokens, conds):\n"
                       "        rollout.observe(f)\n        rollout.step(c, 1, 0.0, 0)\n"
                       "def play(env, actions):\n    for a in actions:\n        env.step(a)\n")
    assert _open_loops(planted) == [2]
