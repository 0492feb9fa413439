"""Probe building blocks: surface visibility, HUD reader, scripts, scoring maths, adapters, pose search, aux IO."""

from __future__ import annotations

import math

import numpy as np
import pytest

from envs.actions import noop_action
from envs.blockworld.env import BlockWorldEnv
from worldmodel.probes import auxstore
from worldmodel.probes.adapters import CopyLast, FrozenFirst, Oracle, ShuffledActions, mirror_script
from worldmodel.probes.references import carry
from worldmodel.probes.idm import InverseDynamics, action_classes, infer_actions
from worldmodel.probes.posesearch import PoseSearch, yaw_difference
from worldmodel.probes.scenario import EnvPool, Scenario, run_truth, simulate
from worldmodel.probes.scoring import Metric, bootstrap_ci, half_life, json_safe, normalised
from worldmodel.probes.scripting import pan_prompt, spawn_feet, turn
from worldmodel.probes.segmenter import Segmenter, segment
from worldmodel.probes.visibility import SeenSet, cell_region, cells_mask, hud_mask, read_selected_slot, surface_keys


@pytest.fixture(scope="module")
def env() -> BlockWorldEnv:
    env = BlockWorldEnv(max_episode_steps=0)
    env.reset(seed=3)
    return env


def test_surface_keys_name_the_rendered_cells(env: BlockWorldEnv) -> None:
    x, y, z = env.voxels.shape
    for yaw, pitch in ((0.0, 0.0), (120.0, 30.0), (-70.0, -20.0)):
        env.set_pose(env.player.position, yaw, pitch)
        gt = env.ground_truth()
        keys = surface_keys(gt["depth"], gt["pose"], env.voxels.shape)
        hit = keys >= 0
        assert np.array_equal(hit, gt["block_ids"] > 0)
        cell = keys[hit] // 6
        vox = env.voxels[cell // (y * z), (cell // z) % y, cell % z]
        assert (vox == gt["block_ids"][hit]).mean() > 0.995


def test_seen_set_masks_only_surfaces_from_the_prompt(env: BlockWorldEnv) -> None:
    env.set_pose(env.player.position, 0.0, 0.0)
    gt0 = env.ground_truth()
    k0 = surface_keys(gt0["depth"], gt0["pose"], env.voxels.shape)
    seen = SeenSet()
    seen.add(k0)
    assert seen.mask(k0).sum() == (k0 >= 0).sum()
    env.set_pose(env.player.position, 180.0, 0.0)
    gt1 = env.ground_truth()
    k1 = surface_keys(gt1["depth"], gt1["pose"], env.voxels.shape)
    assert seen.mask(k1).mean() < 0.2  # looking the other way: mostly never-seen surfaces


def test_cell_region_covers_a_removed_block(env: BlockWorldEnv) -> None:
    pos = env.player.position.copy()
    env.set_pose(pos, 0.0, 45.0)
    target = np.array([int(pos[0]), int(pos[1]) - 1, int(pos[2]) + 2])  # ground two cells ahead
    gt = env.ground_truth()
    keys = surface_keys(gt["depth"], gt["pose"], env.voxels.shape)
    shown = cells_mask(keys, [tuple(target)], env.voxels.shape)
    region = cell_region([tuple(target)], gt["pose"], gt["depth"], env.voxels.shape)
    assert shown.sum() > 0 and (region | ~shown).all()  # the region contains the pixels showing the cell


def test_hud_reader_finds_the_selected_slot(env: BlockWorldEnv) -> None:
    for slot in (0, 4, 8):
        env.inventory.selected = slot
        assert read_selected_slot(env.observe()) == slot
    assert hud_mask(64, 64).sum() > 0 and not hud_mask(64, 64).flags.writeable


def test_turns_sum_to_the_angle_on_bin_centres() -> None:
    steps = turn(45.0, 10.0)
    yaws = [float(a["camera"][1]) for a in steps]
    assert math.isclose(sum(yaws), 45.0) and yaws[:4] == [10.0] * 4
    assert len(pan_prompt(12)) == 11


def test_normalised_bootstrap_and_half_life() -> None:
    assert normalised(0.5, 1.0, 0.0) == 0.5 and normalised(2.0, 1.0, 3.0) == 0.5  # lower-is-better works too
    assert math.isnan(normalised(1.0, 1.0, 1.0)) and math.isnan(normalised(0.5, 0.2, 0.8, higher_is_better=True))
    m = Metric({"model": np.array([0.5, 0.6, 0.7]), "ceiling": np.ones(3), "copy_last": np.zeros(3)})
    m.values["truth"] = m.values["ceiling"]
    lo, hi = bootstrap_ci(m, seed=0, resamples=200)
    assert lo <= 0.6 <= hi and bootstrap_ci(m, 0, 200) == (lo, hi)  # seeded
    hl = half_life(np.array([3, 6, 12, 24]), np.array([0.9, 0.8, 0.3, 0.1]))
    assert 6 < hl["g50"] < 12 and not hl["censored"]
    assert half_life(np.array([3, 6]), np.array([0.9, 0.9]))["censored"]
    assert json_safe({"a": np.float32(np.nan), "b": np.arange(2)}) == {"a": None, "b": [0, 1]}


@pytest.fixture(scope="module")
def run():
    pool = EnvPool()
    feet = spawn_feet(pool.get(64, 64), 5)
    sc = Scenario("t", "t", 5, (*feet, 0.0, 0.0), pan_prompt(6), turn(30.0) + [noop_action()] * 2)
    return run_truth(sc, pool.get(64, 64)), pool


def test_reference_rows(run) -> None:
    truth, pool = run
    t = len(truth.scenario.script)
    assert np.array_equal(Oracle(pool).predict([truth], [truth.scenario.script])[0], truth.script_frames)
    replay = simulate(truth, pool.get(64, 64), truth.scenario.script)["frames"]
    assert np.array_equal(replay, truth.script_frames)  # restore_state makes the replay exact
    assert (CopyLast().predict([truth], [truth.scenario.script])[0] == truth.prompt_frames[-1]).all()
    assert FrozenFirst().predict([truth], [truth.scenario.script])[0].shape == (t, 64, 64, 3)
    out = ShuffledActions(Oracle(pool), seed=1).predict([truth], [truth.scenario.script])[0]
    assert out.shape == truth.script_frames.shape and not np.array_equal(out[-1], truth.script_frames[-1])


def test_mirrored_script_ends_elsewhere_with_the_same_turns() -> None:
    from worldmodel.probes.scripting import noop, press

    script = turn(90.0) + turn(-140.0) + noop(2)  # the lookback shape: ends 50 degrees left of its start
    wrong = mirror_script(script)
    yaws = [float(a["camera"][1]) for a in script]
    assert sorted(abs(float(a["camera"][1])) for a in wrong) == sorted(abs(y) for y in yaws)  # same magnitudes
    assert abs(sum(float(a["camera"][1]) for a in wrong) - sum(yaws)) >= 80.0
    edits_like = turn(-30.0, dpitch=30.0) + turn(15.0, dpitch=-20.0) + turn(180.0) + noop(5) + turn(-180.0)
    end = sum(float(a["camera"][1]) for a in mirror_script(edits_like)) - sum(float(a["camera"][1]) for a in edits_like)
    assert 80.0 <= abs((end + 180.0) % 360.0 - 180.0)  # full mirroring would leave only 30 degrees: flipped later
    moves = mirror_script(press("forward", 3) + press("attack") + noop(4))
    assert [a["back"] for a in moves[:3]] == [1, 1, 1] and moves[3]["attack"] == 0 and moves[7]["attack"] == 1


def test_carry_matches_the_evaluation_reprojection(run) -> None:
    """The no-memory row, checked against worldmodel.evaluation.reprojection (an independent implementation),
    and the perfect-memory row returning to a prompt view reproduces it."""
    from envs.blockworld.hud import hud_mask
    from worldmodel.evaluation.reprojection import reproject

    truth, _ = run
    p = truth.prompt_len
    for target in (p, len(truth.frames) - 1):
        colours, visible = reproject(truth.frames[p - 1], truth.depth[p - 1], truth.poses[p - 1], truth.depth[target],
                                     truth.poses[target], truth.fov_deg, hud_mask(64, 64))
        mine = carry(truth, [p - 1], target).astype(np.int64)
        assert visible.mean() > 0.2 and (np.abs(mine - np.round(colours))[visible] <= 1).all()
    back = carry(truth, list(range(p)), p - 1)  # a view the prompt showed: carried onto itself
    assert (np.abs(back.astype(np.int64) - truth.frames[p - 1]).max(-1) <= 1).mean() > 0.97


def test_pose_search_recovers_a_turn(run) -> None:
    truth, _ = run
    search = PoseSearch(64, 64)
    i = len(truth.frames) - 1
    prior = truth.poses[i].copy()
    prior[3] += 12.0
    est = search.angles(truth.frames[i], truth.voxels_at(i), prior)
    assert abs(yaw_difference(est[3], truth.poses[i][3])) <= 1.5


def test_aux_models_round_trip(tmp_path) -> None:
    seg, idm = Segmenter().eval(), InverseDynamics().eval()
    for kind, model in (("segmenter", seg), ("idm", idm)):
        path = auxstore.save_aux(kind, model, {"accuracy_gt": 0.5}, tmp_path)
        loaded, info = auxstore.read_aux(kind, path)
        assert info["metrics"] == {"accuracy_gt": 0.5}
        assert auxstore.find_aux(kind, tmp_path) == path
    frames = np.zeros((3, 64, 64, 3), np.uint8)
    assert segment(loaded if kind == "segmenter" else seg, frames).shape == (3, 64, 64)
    probs, cams = infer_actions(idm, frames)
    assert probs.shape[0] == 2 and cams.shape == (2, 2)
    assert action_classes(probs, cams).dtype == bool
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "idm.safetensors").write_bytes(b"junk")
    with pytest.raises(ValueError, match="idm.safetensors"):
        auxstore.read_aux("idm", tmp_path / "bad" / "idm.safetensors")




def test_train_aux_cli_writes_loadable_weights(tmp_path) -> None:
    from worldmodel.probes.cli import main

    assert main(["train-aux", "--steps", "2", "--aux-dir", str(tmp_path)], prog="wm probe") == 0
    aux = auxstore.load_all(tmp_path, allow_train=False)
    assert aux.info["segmenter"]["path"] == str(tmp_path / "segmenter.safetensors")
    assert aux.info["idm"]["metrics"]["steps"] == 2.0


def test_aux_models_share_the_trainer_interface() -> None:
    import torch

    from worldmodel.probes.auxdata import TransitionStream, ViewStream, first_items
    from worldmodel.probes.auxtrain import aux_config

    seg, idm = Segmenter(), InverseDynamics()
    views = {k: torch.as_tensor(v) for k, v in first_items(ViewStream(0), 4).items()}
    pairs = {k: torch.as_tensor(v) for k, v in first_items(TransitionStream(0, players=2, chunk=2), 4).items()}
    for model, batch in ((seg, views), (idm, pairs)):
        loss, metrics = model.compute_loss(batch)
        assert loss.ndim == 0 and torch.isfinite(loss) and all(isinstance(v, float) for v in metrics.values())
    assert "class_weight" not in seg.state_dict() and "pos_weight" not in idm.state_dict()  # files keep their keys
    cfg = aux_config("idm", steps=5, seed=3)
    assert (cfg.train.steps, cfg.train.seed, cfg.train.batch_size, cfg.train.lr) == (5, 3, 64, 2e-3)
    assert aux_config("segmenter").train.steps == 3000 and auxstore.AUTO_STEPS == {"segmenter": 1500, "idm": 1500}
    with pytest.raises(ValueError, match="kind"):
        aux_config("depth")


def test_train_aux_run_dir_keeps_the_run_and_resumes(tmp_path, capsys) -> None:
    from worldmodel.probes.cli import main

    args = ["train-aux", "--only", "segmenter", "--aux-dir", str(tmp_path / "aux"), "--run-dir", str(tmp_path / "run")]
    assert main([*args, "--steps", "2"], prog="wm probe") == 0
    assert (tmp_path / "run" / "segmenter" / "checkpoints" / "step_00000002" / "model.safetensors").is_file()
    assert main([*args, "--steps", "3"], prog="wm probe") == 0
    assert "from step 2" in capsys.readouterr().out
    _, info = auxstore.read_aux("segmenter", tmp_path / "aux" / "segmenter.safetensors")
    assert info["metrics"]["steps"] == 3.0


def test_segmenter_learns_in_a_few_trainer_steps() -> None:
    from worldmodel.probes.auxtrain import train_aux

    model, metrics = train_aux("segmenter", steps=20, progress=False)  # 2 steps: 0.35; the old loop at 20: 0.73
    assert metrics["accuracy_gt"] > 0.6 and not model.training


@pytest.mark.parametrize("name", ["lookback", "edits", "drift"])
def test_scored_frames_cover_what_families_read(name: str) -> None:
    """Tokenizer rows are computed on a family's scored_frames only: a row that is the truth there and black
    everywhere else must score exactly as the truth."""
    from worldmodel.probes.config import SuiteConfig
    from worldmodel.probes.measure import Measure
    from worldmodel.probes.suite import FAMILIES

    family, cfg, pool = FAMILIES[name], SuiteConfig(quick=True, quick_scenarios=1), EnvPool()
    runs = [run_truth(s, pool.get(64, 64)) for s in family.build(cfg, pool)]
    masked = []
    for r in runs:
        clip = np.zeros_like(r.script_frames)
        keep = [i - r.prompt_len for i in family.scored_frames(r)]
        clip[keep] = r.script_frames[keep]
        masked.append(clip)
    truth = [r.script_frames for r in runs]
    aux = auxstore.load_all(allow_train=False)
    result = family.score(runs, {"model": truth, "truth": truth, "masked": masked}, Measure(aux.segmenter, aux.idm,
                                                                                            64, 64), cfg)
    for metric in result.metrics.values():
        assert np.array_equal(np.nan_to_num(metric.values["truth"]), np.nan_to_num(metric.values["masked"]))
