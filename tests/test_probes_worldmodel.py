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
from worldmodel.probes.adapters import CopyLast, WorldModelAdapter, load_model
from worldmodel.probes.auxstore import load_all
from worldmodel.probes.cli import main
from worldmodel.probes.config import SuiteConfig
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
    cfg = SuiteConfig(quick=True, context=context, bootstrap=50)
    results, raw = run_suite(model, tokenizer, ["lookback", "permanence"], cfg, load_all(allow_train=False),
                             "tiny", progress=False)
    assert {"g50", "censored"} <= set(results["families"]["permanence"]["g50"]["model"])
    for name, fam in results["families"].items():
        assert all(fam[k] is not None for k in ("model", "ceiling")), name
        assert math.isfinite(fam["floors"]["copy_last"])
    seg = results["aux"]["segmenter"]["this_run"]
    assert 0.0 <= seg["accuracy_ceiling"] <= 1.0 and seg["accuracy_gt"] > 0.5
    strip = raw["lookback"].strips[0]
    assert strip.pred.shape == strip.truth.shape and not np.array_equal(strip.pred, strip.truth)


def test_corruption_harness_moves_metrics_the_expected_way() -> None:
    result = run_harness(["permanence", "lookback", "edits", "actions"], SuiteConfig(quick=True),
                         load_all(allow_train=False))
    assert result["ok"], result["failures"]
    checked = {c["kind"] for row in result["table"] for c in row["corrupted"] if c["expected_worse"]}
    assert checked == set(KINDS)


def test_generic_lookback_on_a_gym_env(tmp_path: Path, tiny_model: Path) -> None:
    make_env = lambda: gym.make("BlockWorld-v0")  # noqa: E731
    oracle, _ = generic_lookback(make_env, None, seeds=[0], prompt_len=6, quick=True, bootstrap=50)
    assert oracle["deterministic_reset"] and oracle["normalised"] == pytest.approx(1.0)
    copy, _ = generic_lookback(make_env, CopyLast(), seeds=[0], prompt_len=6, quick=True, bootstrap=50)
    assert copy["normalised"] == pytest.approx(0.0) and copy["ceiling"] > copy["floors"]["copy_last"]
    wm, tokenizer, _, _ = load_model(str(tiny_model), batch=4)
    learned, _ = generic_lookback(make_env, wm, tokenizer, seeds=[0], prompt_len=6, quick=True, bootstrap=50)
    assert math.isfinite(learned["model"]) and learned["ceiling"] < 1.0  # a tokenizer ceiling, not the truth
    out = tmp_path / "generic"
    assert main(["--env", "BlockWorld-v0", "--suite", "lookback", "--model", "copy-last", "--quick", "--out",
                 str(out), "--prompt", "6"], prog="wm probe") == 0
    results = json.loads((out / "results.json").read_text())
    assert results["env"] == "BlockWorld-v0" and "lookback_generic" in results["families"]
