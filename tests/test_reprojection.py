"""Reprojection references (worldmodel/evaluation/reprojection.py): exact on a still view, right under a real
BlockWorld camera turn, and reported by `wm bench quality` for a BlockWorld store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from envs.blockworld.env import BlockWorldEnv
from envs.blockworld.hud import hud_mask
from worldmodel.evaluation.reprojection import reference_errors, reproject

TINY = dict(d_model=32, n_layers=2, n_heads=2, context_frames=3, head_layers=1, lam_dim=16, lam_layers=1,
            lam_heads=2, lam_levels=[3, 3], decode_steps=2)


def _view(env: BlockWorldEnv, position: np.ndarray, yaw: float, pitch: float) -> tuple[np.ndarray, dict]:
    env.set_pose(position, yaw, pitch)
    return env.observe(), env.ground_truth()


@pytest.fixture(scope="module")
def env() -> BlockWorldEnv:
    world = BlockWorldEnv(width=48, height=48)
    world.reset(seed=3)
    return world


def test_a_still_view_reprojects_onto_itself_exactly(env: BlockWorldEnv) -> None:
    frame, truth = _view(env, env.player.position.copy(), 30.0, 10.0)
    colours, visible = reproject(frame, truth["depth"], truth["pose"], truth["depth"], truth["pose"], 70.0)
    assert visible.all()
    np.testing.assert_array_equal(colours, frame.astype(np.float32))


def test_a_camera_turn_is_carried_to_the_right_pixels(env: BlockWorldEnv) -> None:
    position = env.player.position.copy()
    before, truth_before = _view(env, position, 30.0, 10.0)
    after, truth_after = _view(env, position, 36.0, 10.0)  # a 6 degree turn: ~4 pixels of 48
    colours, visible = reproject(before, truth_before["depth"], truth_before["pose"], truth_after["depth"],
                                 truth_after["pose"], 70.0, hud_mask(48, 48))
    assert 0.8 < visible.mean() < 1.0  # a strip at one edge is new
    target = after.astype(np.float32)
    carried = ((colours - target) ** 2)[visible].mean()
    copied = ((before.astype(np.float32) - target) ** 2)[visible].mean()
    assert carried < 0.5 * copied, (carried, copied)


def test_reference_errors_need_ground_truth() -> None:
    window = {"frames": np.zeros((6, 8, 8, 3), np.uint8), "depth": None, "pose": None, "block_ids": None}
    with pytest.raises(ValueError, match="depth, pose, block_ids"):
        reference_errors([window], 2, 4)


def test_bench_quality_reports_references_for_blockworld(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from worldmodel.evaluation.cli import main
    from worldmodel.data.collect import CollectConfig, collect
    from worldmodel.dynamics import DynamicsConfig, DynamicsObjective
    from worldmodel.tokenizer import Tokenizer, TokenizerConfig

    store = tmp_path / "bw"
    collect(CollectConfig(env_id="BlockWorld-v0", out=str(store), policy="explorer", episodes=1, steps=30,
                          env_kwargs={"width": 16, "height": 16}), progress=False)
    torch.manual_seed(0)
    tokenizer = Tokenizer(TokenizerConfig(height=16, width=16, levels=[5, 5], channels=8, channel_mult=[1, 1, 1],
                                          res_blocks=[0, 0, 0], mid_blocks=0))
    model = tmp_path / "model"
    DynamicsObjective(DynamicsConfig(**TINY), tokenizer).export(model)
    report, plot = tmp_path / "q.json", tmp_path / "q.png"
    assert main(["quality", "--model", str(model), "--data", str(store), "--context", "2", "--horizons", "4", "8",
                 "--json", str(report), "--plot", str(plot)]) == 0
    assert "reprojection (true depth and poses)" in capsys.readouterr().out
    summary = json.loads(report.read_text())
    references = summary["references"]
    row = references["open_loop_8_psnr"]  # the same windows as the model's table: the same copy-last error
    assert row["copy_last_pooled"] == pytest.approx(summary["open_loop_8_psnr"]["copy_last_pooled"], abs=1e-4)
    assert 0 < row["reprojection_pooled"] < 100 and 0 < row["reprojection_map_pooled"] < 100
    assert len(references["visible_per_step"]) == 8 and 0 < references["visible_per_step"][0] <= 1
    assert plot.read_bytes()[:4] == b"\x89PNG"
    # the error split by region recombines into the pooled error, for the model and for copy-last
    for split, pooled in ((summary["regions"]["open_loop_8"]["model"], summary["open_loop_8_psnr"]["model_pooled"]),
                          (references["regions"]["open_loop_8"]["copy-last"], row["copy_last_pooled"])):
        share = summary["regions"]["open_loop_8"]["visible_share"]
        mse = share * split["visible"] + (1 - share) * split["unseen"]
        assert 10 * np.log10(255**2 / mse) == pytest.approx(pooled, abs=1e-3)
    reproj = references["regions"]["open_loop_8"]["reprojection"]
    assert reproj["visible"] < references["regions"]["open_loop_8"]["copy-last"]["visible"]  # geometry helps


def test_hud_mask_covers_exactly_what_the_hud_paints() -> None:
    with_hud, without = BlockWorldEnv(width=64, height=64), BlockWorldEnv(width=64, height=64, hud=False)
    with_hud.reset(seed=5)
    without.reset(seed=5)
    painted = (with_hud.observe() != without.observe()).any(-1)
    mask = hud_mask(64, 64)
    assert painted.any() and not (painted & ~mask).any()  # nothing painted outside the mask...
    assert painted[mask].mean() > 0.9  # ...and the mask is not much larger than what is painted
