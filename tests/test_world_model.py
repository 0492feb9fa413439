"""WorldModel API: export/load round trip, batched = single, snapshot/restore, seeds, safe loading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from envs.actions import BINARY_KEYS, noop_action, stack_actions
from worldmodel import bundled
from worldmodel.dynamics import DynamicsConfig, DynamicsObjective
from worldmodel.model import WorldModel
from worldmodel.tokenizer import Tokenizer, TokenizerConfig

TINY = dict(d_model=32, n_layers=2, n_heads=2, context_frames=3, head_layers=1, lam_dim=16, lam_layers=1,
            lam_heads=2, lam_levels=[3, 3], decode_steps=2, temperature=1.0, top_k=8)


@pytest.fixture(scope="module", params=[0.0, 70.0], ids=["no_hint", "camera_hint"])
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[Path, DynamicsObjective]:
    """An untrained tiny model (16x16 frames, 4x4 tokens), exported once for the module; with and without the
    camera hint (its weights randomised, so that the hint changes what the model predicts)."""
    torch.manual_seed(0)
    tokenizer = Tokenizer(TokenizerConfig(height=16, width=16, levels=[5, 5], channels=8, channel_mult=[1, 1, 1],
                                          res_blocks=[0, 0, 0], mid_blocks=0))
    objective = DynamicsObjective(DynamicsConfig(**TINY, camera_hint_fov=request.param), tokenizer)
    if objective.model.uses_hint:
        torch.nn.init.normal_(objective.model.hint_emb.weight, std=1.0)
    path = tmp_path_factory.mktemp("wm") / "model"
    objective.export(path, card={"note": "test"})
    return path, objective


def frames(t: int, b: int | None = None, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (t, 16, 16, 3) if b is None else (b, t, 16, 16, 3)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def actions(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a = noop_action()
        a.update({key: int(rng.integers(0, 2)) for key in BINARY_KEYS})
        a["camera"] = rng.normal(0, 5, 2).astype(np.float32)
        out.append(a)
    return out


def rollout(wm: WorldModel, acts: list) -> list:
    return [wm.step(a) for a in acts]


def assert_same(a: list, b: list) -> None:
    for (fa, ra, ta), (fb, rb, tb) in zip(a, b):
        np.testing.assert_array_equal(fa, fb)
        np.testing.assert_allclose(ra, rb, atol=1e-5)
        np.testing.assert_array_equal(ta, tb)


def test_export_load_round_trip_gives_identical_outputs(exported) -> None:
    path, objective = exported
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "dynamics.safetensors", "tokenizer.safetensors"]
    config = json.loads((path / "config.json").read_text())
    assert config["format"] == "worldmodel/1" and config["card"]["note"] == "test" and config["grid"] == [4, 4]
    loaded = WorldModel.load(path)
    direct = WorldModel(objective.tokenizer, objective.model, device="cpu")
    for wm in (loaded, direct):
        wm.seed(7)
        wm.reset(frames(4), stack_actions(actions(3, seed=1)))
    acts = actions(6, seed=2)
    assert_same(rollout(loaded, acts), rollout(direct, acts))
    frame, reward, terminated = loaded.step(noop_action())
    assert frame.shape == (16, 16, 3) and frame.dtype == np.uint8
    assert isinstance(reward, float) and isinstance(terminated, bool)
    assert loaded.action_space.contains(noop_action())


def test_batched_step_equals_single_steps(exported) -> None:
    path, _ = exported
    wm = WorldModel.load(path)
    ctx = frames(3, b=3, seed=3)
    acts = [actions(4, seed=10 + b) for b in range(3)]
    for temperature in (0.0, 1.0):
        wm.temperature = temperature
        wm.seed(11)
        wm.reset(ctx)  # unknown context actions: latent actions inferred
        batched = [wm.step(stack_actions([acts[b][t] for b in range(3)])) for t in range(4)]
        assert batched[0][0].shape == (3, 16, 16, 3) and batched[0][1].shape == (3,) and batched[0][2].dtype == bool
        for b in range(3):
            wm.seed(11 + b)  # world b of a batch seeded s uses seed s + b
            wm.reset(ctx[b])
            single = rollout(wm, acts[b])
            assert_same([(f[b], r[b], t[b]) for f, r, t in batched], single)
    # a list of action dicts works as a batched action too
    wm.reset(ctx)
    assert wm.step([noop_action()] * 3)[0].shape == (3, 16, 16, 3)


def test_resetting_some_worlds_of_a_batch(exported) -> None:
    wm = WorldModel.load(exported[0])
    wm.temperature = 0.0
    ctx, fresh = frames(3, b=3, seed=12), frames(4, b=1, seed=13)
    acts = actions(6, seed=14)
    wm.reset(ctx)
    rollout(wm, [[a] * 3 for a in acts[:2]])
    view = wm.reset(fresh, worlds=[2])
    assert view.shape == (1, 16, 16, 3)
    batched = rollout(wm, [[a] * 3 for a in acts[2:]])
    wm.reset(fresh[0])
    single = rollout(wm, acts[2:])
    assert_same([(f[2], r[2], t[2]) for f, r, t in batched], single)
    wm.reset(ctx)
    with pytest.raises(ValueError, match="worlds"):
        wm.reset(fresh, worlds=[3])


def test_snapshot_restore_gives_identical_continuations(exported) -> None:
    wm = WorldModel.load(exported[0])
    wm.seed(3)
    wm.reset(frames(5, seed=4), stack_actions(actions(4, seed=5)))  # 5 frames > 3-frame window: cache slid
    rollout(wm, actions(2, seed=6))
    snap = wm.snapshot()
    acts = actions(5, seed=7)
    first = rollout(wm, acts)
    wm.restore(snap)
    second = rollout(wm, acts)
    wm.restore(snap)
    third = rollout(wm, acts)
    assert_same(first, second)
    assert_same(first, third)


def test_same_seed_same_rollout_and_sampling_varies(exported) -> None:
    wm = WorldModel.load(exported[0])
    acts = actions(5, seed=8)
    runs = []
    for seed in (1, 1, 2):
        wm.seed(seed)
        wm.reset(frames(2, seed=9))
        runs.append(rollout(wm, acts))
    assert_same(runs[0], runs[1])
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(runs[0], runs[2]))


def test_teacher_forcing_and_unknown_step(exported) -> None:
    wm = WorldModel.load(exported[0])
    wm.reset(frames(2))
    wm.observe(frames(1)[0])
    frame, _, _ = wm.step(None)  # unknown action
    assert frame.shape == (16, 16, 3)
    with pytest.raises(ValueError, match="jump"):
        wm.step({"jump": 3})
    wm.reset(frames(2, b=2))
    with pytest.raises(ValueError, match="camera"):
        wm.step({"camera": np.zeros((3, 2))})


def test_corrupt_or_mismatched_files_raise_value_error_naming_the_file(exported, tmp_path: Path) -> None:
    source, _ = exported
    corrupt = tmp_path / "corrupt"
    shutil.copytree(source, corrupt)
    (corrupt / "dynamics.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError, match="dynamics.safetensors"):
        WorldModel.load(corrupt)
    mismatch = tmp_path / "mismatch"
    shutil.copytree(source, mismatch)
    config = json.loads((mismatch / "config.json").read_text())
    config["dynamics"]["d_model"] = 64
    (mismatch / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="dynamics.safetensors"):
        WorldModel.load(mismatch)
    broken = tmp_path / "broken"
    shutil.copytree(source, broken)
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json"):
        WorldModel.load(broken)


def test_missing_bundled_model_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bundled, "BUNDLED_DIR", tmp_path / "bundled")
    with pytest.raises(FileNotFoundError, match="bundled world model is missing"):
        WorldModel.load()


def test_single_frame_context(exported) -> None:
    wm = WorldModel.load(exported[0])
    view = wm.reset(frames(1))
    assert view.shape == (16, 16, 3)
    assert wm.step(noop_action())[0].shape == (16, 16, 3)


def test_bench_speed_and_quality_cli(exported, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from worldmodel.evaluation.cli import main
    from worldmodel.data import episode_path, update_index, write_episode

    path, _ = exported
    assert main(["speed", "--model", str(path), "--batch", "1", "2", "--steps", "2"]) == 0
    assert "frames/s" in capsys.readouterr().out
    store = tmp_path / "store"
    for index, known in enumerate((True, True, False)):
        acts = stack_actions(actions(11, seed=index)) if known else None
        write_episode(episode_path(store, f"ep_{index:06d}"), frames(12, seed=index), {"source": "test"},
                      actions=acts)
    update_index(store)
    report = tmp_path / "quality.json"
    code = main(["quality", "--model", str(path), "--data", str(store), "--context", "2", "--horizons", "4", "8",
                 "--batch", "2", "--json", str(report)])
    assert code == 0
    out = capsys.readouterr().out
    assert "open-loop 8-step PSNR" in out and "copy-last" in out
    summary = json.loads(report.read_text())
    assert summary["open_loop_8_psnr"]["windows"] == 3 and len(summary["open_loop_psnr_per_step"]) == 8
    assert summary["next_frame_psnr"]["copy_last"] is not None
    assert summary["open_loop_8_psnr"]["model_pooled"] > 0 and "pooled MSE" in out
    assert 0 < summary["ssim"]["tokenizer"] <= 1 and "SSIM" in out
    torch.manual_seed(1)  # a second (different) model: one table each, a plot with both curves
    other = tmp_path / "other"
    DynamicsObjective(DynamicsConfig(**TINY), exported[1].tokenizer).export(other)
    plot, both = tmp_path / "plots" / "quality.png", tmp_path / "both.json"
    assert main(["quality", "--model", str(path), str(other), "--data", str(store), "--context", "2",
                 "--horizons", "4", "--batch", "2", "--json", str(both), "--plot", str(plot)]) == 0
    assert capsys.readouterr().out.count("open-loop 4-step PSNR") == 2
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    models = json.loads(both.read_text())["models"]
    assert set(models) == {str(path), str(other)}
    assert models[str(path)]["open_loop_4_psnr"]["model"] != models[str(other)]["open_loop_4_psnr"]["model"]
    modes = tmp_path / "modes.json"  # both rollout modes of one model: one table each
    assert main(["quality", "--model", str(path), "--data", str(store), "--context", "2", "--horizons", "4",
                 "--decoding", "sample", "mean", "--json", str(modes)]) == 0
    assert capsys.readouterr().out.count("open-loop 4-step PSNR") == 2
    by_mode = json.loads(modes.read_text())["models"]
    assert [row["decoding"] for row in by_mode.values()] == ["sample", "mean"]
    mean_psnr, sample_psnr = (by_mode[f"{path} ({mode})"]["open_loop_4_psnr"]["model"] for mode in ("mean", "sample"))
    assert mean_psnr != sample_psnr
    assert main(["quality", "--model", str(tmp_path / "missing"), "--data", str(store), "--context", "2",
                 "--horizons", "4"]) == 2
    assert "missing" in capsys.readouterr().err


def test_quality_table_pools_errors_so_a_static_window_cannot_dominate() -> None:
    from worldmodel.evaluation.quality_table import quality_table

    moving = np.full((3, 4), 100.0)  # 3 windows with MSE 100 at every step (28.1 dB)
    results = {"tokenizer": np.full(4, 10.0), "teacher": np.full(4, 50.0), "teacher_copy": np.full(4, 100.0),
               "open": np.full((4, 4), 50.0), "open_copy": np.concatenate([np.zeros((1, 4)), moving])}
    rows, summary = quality_table(results, [4])
    entry = summary["open_loop_4_psnr"]
    assert entry["copy_last"] > entry["model"]  # the static window's 100 dB wins the windowed mean...
    assert entry["model_pooled"] > entry["copy_last_pooled"]  # ...but not the pooled error
    assert entry["copy_last_pooled"] == pytest.approx(10 * np.log10(255.0**2 / 75.0), abs=1e-3)
    assert summary["static_copy_windows"] == 1 and len(rows[0]) == 7


def test_mean_field_decoding_batches_branches_and_differs_from_sampling(exported) -> None:
    wm = WorldModel.load(exported[0])
    ctx = frames(3, b=2, seed=20)
    acts = [actions(4, seed=21 + b) for b in range(2)]
    wm.decoding = "mean"
    wm.reset(ctx)
    batched = [wm.step(stack_actions([acts[b][t] for b in range(2)])) for t in range(4)]
    for b in range(2):  # mean-field rollouts use no randomness: no seeding needed
        wm.reset(ctx[b])
        single = rollout(wm, acts[b])
        for (f, r, _), (fs, rs, _) in zip(batched, single):
            np.testing.assert_allclose(f[b].astype(int), fs.astype(int), atol=1)
            np.testing.assert_allclose(r[b], rs, atol=1e-4)
    wm.reset(ctx[0])
    rollout(wm, acts[0][:2])
    snap = wm.snapshot()  # holds the token distribution of the newest frame
    first = rollout(wm, acts[1])
    wm.restore(snap)
    assert_same(first, rollout(wm, acts[1]))
    wm.decoding, wm.temperature = "sample", 0.0
    wm.restore(snap)
    greedy = rollout(wm, acts[1])
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(first, greedy))
    wm.decoding = "nearest"
    with pytest.raises(ValueError, match="decoding"):
        wm.step(noop_action())


def test_expected_code_of_a_certain_token_is_that_token() -> None:
    torch.manual_seed(0)
    tokenizer = Tokenizer(TokenizerConfig(height=16, width=16, levels=[5, 5], channels=8, channel_mult=[1, 1, 1],
                                          res_blocks=[0, 0, 0], mid_blocks=0)).eval()
    tokens = torch.randint(0, tokenizer.vocab_size, (2, 4, 4))
    certain = torch.nn.functional.one_hot(tokens, tokenizer.vocab_size).float()  # (2, 4, 4, V)
    with torch.no_grad():
        np.testing.assert_array_equal(tokenizer.decode_expected(certain).numpy(), tokenizer.decode(tokens).numpy())
        unsure = 0.5 * certain + 0.5 * torch.nn.functional.one_hot(torch.roll(tokens, 1, -1), tokenizer.vocab_size)
        assert not torch.equal(tokenizer.decode_expected(unsure), tokenizer.decode(tokens))
