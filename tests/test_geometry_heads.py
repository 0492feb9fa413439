"""Depth and odometry heads of the spatial memory: conventions, and a CPU-small training that must improve."""

from __future__ import annotations

import numpy as np
import torch
from helpers import fit

from envs.actions import BINARY_KEYS, complete_action, stack_actions
from envs.blockworld.env import BlockWorldEnv
from worldmodel.memory.geometry_heads import GeometryConfig, GeometryObjective, yaw_frame_translation


def walking_clips(clips: int = 2, length: int = 5, size: int = 32) -> dict:
    """Real BlockWorld clips (walk forward, turning a little) with their true depth and poses, as a batch."""
    frames, depth, pose, actions = [], [], [], []
    for seed in range(clips):
        env = BlockWorldEnv(width=size, height=size)
        obs, _ = env.reset(seed=seed)
        script = [complete_action({"forward": 1, "camera": np.array([0.0, 4.0 * (seed + 1)], np.float32)})
                  for _ in range(length - 1)]
        f, d, p = [obs], [env.ground_truth()["depth"]], [env.ground_truth()["pose"]]
        for action in script:
            obs, *_ = env.step(action)
            truth = env.ground_truth()
            f.append(obs)
            d.append(truth["depth"])
            p.append(truth["pose"])
        frames.append(np.stack(f))
        depth.append(np.stack(d))
        pose.append(np.stack(p))
        actions.append(stack_actions(script))
    return {"frames": torch.as_tensor(np.stack(frames)), "depth": torch.as_tensor(np.stack(depth)),
            "pose": torch.as_tensor(np.stack(pose), dtype=torch.float32),
            "actions": {k: torch.as_tensor(np.stack([a[k] for a in actions])) for k in (*BINARY_KEYS, "camera")}}


def test_translation_is_measured_along_the_view() -> None:
    # yaw 0 looks along +z; yaw 90 along -x (envs/blockworld/render.py camera_basis)
    pose = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0],
                         [0.0, 0.0, 0.0, 90.0, 0.0], [-1.0, 0.5, 0.0, 90.0, 0.0]])
    moves = yaw_frame_translation(pose)
    torch.testing.assert_close(moves[0], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(moves[2], torch.tensor([1.0, 0.5, 0.0]), atol=1e-6, rtol=0)


def test_walking_forward_is_forward_in_real_blockworld() -> None:
    batch = walking_clips(clips=1, length=6)
    moves = yaw_frame_translation(batch["pose"])[0]  # (5, 3)
    assert moves[-1, 0] > 0.05 and moves[-1, 0] > 3 * moves[-1, 2].abs()


def test_training_the_geometry_heads_improves_depth_and_odometry() -> None:
    torch.manual_seed(0)
    batch = walking_clips()
    objective = GeometryObjective(GeometryConfig(channels=8, odometry_channels=8))
    _, before = objective.compute_loss(batch)
    _, metrics = fit(objective, batch, 40, lr=3e-3)
    assert metrics["depth_l1_log"] < 0.6 * before["depth_l1_log"]
    assert metrics["pose_l1"] < 0.6 * before["pose_l1"]
    assert metrics["sky_bce"] < before["sky_bce"]


def test_wm_train_geometry_trains_and_exports_loadable_heads(tmp_path) -> None:
    from worldmodel import cli
    from worldmodel.memory.geometry_heads import load_geometry

    assert cli.main(["collect", "--env", "BlockWorld-v0", "--policy", "explorer", "--episodes", "1", "--steps", "12",
                     "--out", str(tmp_path / "data")]) == 0
    assert cli.main(["train", "geometry", f"data.path={tmp_path / 'data'}", f"run_dir={tmp_path / 'run'}",
                     "train=smoke", "model.channels=4", "model.odometry_channels=4"]) == 0
    heads = load_geometry(tmp_path / "run" / "geometry")
    assert heads.cfg.channels == 4
    depth, sky = heads.depth(torch.zeros(1, 64, 64, 3, dtype=torch.uint8))
    assert depth.shape == sky.shape == (1, 64, 64) and bool((depth >= 1.0).all())
