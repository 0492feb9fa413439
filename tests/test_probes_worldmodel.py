"""Probes against a real (tiny, untrained) WorldModel, the corruption harness, and the generic any-env probe."""

from __future__ import annotations

import json
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs  # noqa: F401  (registers BlockWorld-v0)
from worldmodel.dynamics import DynamicsConfig, DynamicsObjective
from worldmodel.probes.adapters import WorldModelAdapter, load_model
from worldmodel.probes.auxstore import load_all
from worldmodel.probes.cli import main
from worldmodel.probes.config import SuiteConfig
from worldmodel.probes.references import load_reference_tokenizer
from worldmodel.probes.corruption import KINDS, run_harness
from worldmodel.probes.generic import generic_lookback
from worldmodel.probes.suite import run_suite
from worldmodel.tokenizer import Tokenizer, TokenizerConfig

TINY = dict(d_model=32, n_layers=2, n_heads=2, context_frames=4, head_layers=1, lam_dim=16, lam_layers=1,
            lam_heads=2, lam_levels=[3, 3], decode_steps=1)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained 64x64 world model (8x8 tokens, 4-frame window) exported once."""
    torch.manual_seed(0)
    tokenizer = Tokenizer(TokenizerConfig(height=64, width=64, levels=[5, 5], channels=8, channel_mult=[1, 1, 1, 1],
                                          res_blocks=[0, 0, 0, 0], mid_blocks=0))
    path = tmp_path_factory.mktemp("wm") / "tiny"
    DynamicsObjective(DynamicsConfig(**TINY), tokenizer).export(path)
    return path


def test_world_model_rows(tiny_model: Path) -> None:
    model, tokenizer, context, size = load_model(str(tiny_model), batch=4, seed=1)
    assert isinstance(model, WorldModelAdapter) and context == 4 and size == (64, 64)
    cfg = SuiteConfig(quick=True, quick_scenarios=1, context=context, bootstrap=50)
    results, raw = run_suite(model, tokenizer, ["lookback", "permanence"], cfg, load_all(allow_train=False),
                             "tiny", progress=False, reference_tokenizer=load_reference_tokenizer())
    assert {"g50", "censored"} <= set(results["families"]["permanence"]["g50"]["model"])
    for name, fam in results["families"].items():
        raw_means = fam["raw"]
        assert all(math.isfinite(raw_means[k]) for k in ("model", "truth", "copy_last")), name
        # the untrained tokenizer's own ceiling is a separate column, far below the bundled reference tokenizer
        assert raw_means["model_tokenizer"] < raw_means["reference_tokenizer"] - 0.2, (name, raw_means)
        assert fam["normalised_rows"]["reference_tokenizer"] > 0.5, name
    seg = results["aux"]["segmenter"]["this_run"]
    assert seg["accuracy_reference_tokenizer"] > 0.5 and seg["accuracy_gt"] > 0.5
    strip = raw["lookback"].strips[0]
    assert strip.pred.shape == strip.truth.shape and not np.array_equal(strip.pred, strip.truth)


def test_corruption_harness_catches_damaged_truth(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deleted, swapped or moved landmarks, a frozen clip and mirrored turns each take at least their stated
    share of the truth-to-floor gap off the lookback score; a requirement the metric cannot meet (blur) fails
    the harness."""
    from worldmodel.probes import corruption

    monkeypatch.setitem(corruption.EXPECT, "lookback", {**corruption.EXPECT["lookback"], "blur": 0.25})
    result = run_harness(["lookback"], SuiteConfig(quick=True, quick_scenarios=1, bootstrap=10), load_all(allow_train=False))
    assert result["failures"] == ["lookback:blur@truth"] and not result["ok"]
    drops = {c["kind"]: c["drop"] for c in result["table"][0]["corrupted"]}
    assert set(drops) == set(KINDS) and all(drops[k] >= 0.25 for k in ("delete", "swap", "move", "freeze",
                                                                        "wrong_turn")), drops


def test_generic_lookback_on_a_gym_env(tmp_path: Path, tiny_model: Path) -> None:
    make_env = lambda: gym.make("BlockWorld-v0")  # noqa: E731
    oracle, _ = generic_lookback(make_env, None, seeds=[0], prompt_len=6, quick=True, bootstrap=50)
    assert oracle["deterministic_reset"] and oracle["raw"]["truth"] > oracle["raw"]["copy_last"]
    assert oracle["normalised_rows"]["shuffled_actions"] < 0.5  # the env fed mirrored turns looks elsewhere
    wm, tokenizer, _, _ = load_model(str(tiny_model), batch=4)
    learned, _ = generic_lookback(make_env, wm, tokenizer, seeds=[0], prompt_len=6, quick=True, bootstrap=50)
    assert math.isfinite(learned["model"]) and learned["raw"]["model_tokenizer"] < learned["raw"]["truth"]
    out = tmp_path / "generic"
    assert main(["--env", "BlockWorld-v0", "--suite", "lookback", "--model", "copy-last", "--quick", "--out",
                 str(out), "--prompt", "6"], prog="wm probe") == 0
    results = json.loads((out / "results.json").read_text())
    assert results["env"] == "BlockWorld-v0" and "lookback_generic" in results["families"]


def test_any_model_through_the_protocol(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`wm probe --model pkg.module:factory` drives a model through the documented protocol alone."""
    import probe_protocol_model as proto

    proto.CALLS.clear()
    out = tmp_path / "proto"
    assert main(["--model", "probe_protocol_model:make", "--suite", "lookback", "--quick", "--out", str(out),
                 "--no-progress", "--no-reference-tokenizer"], prog="wm probe") == 0
    results = json.loads((out / "results.json").read_text())
    fam = results["families"]["lookback"]
    assert results["config"]["context"] == 6 and math.isfinite(fam["raw"]["model"])
    assert len(proto.CALLS) == 2 * fam["n_scenarios"]  # the true and the wrong (mirrored) scripts
    assert all(c["prompt"] == (12, 64, 64, 3) and c["prompt_actions"] == 11 for c in proto.CALLS)
    assert main(["--model", "probe_protocol_model:broken", "--out", str(tmp_path)], prog="wm probe") == 2
    assert "predict" in capsys.readouterr().err
