"""Probe suites end to end (quick mode, shipped aux weights): `wm probe` writes results.json + report, the oracle
scores at the ceiling and copy-last-frame at the floor on every family, and results.json keeps its schema."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from worldmodel.probes.adapters import CopyLast
from worldmodel.probes.auxstore import load_all
from worldmodel.probes.cli import main
from worldmodel.probes.config import SuiteConfig
from worldmodel.probes.suite import FAMILIES, run_suite

FAMILY_KEYS = {"letter", "headline", "description", "higher_is_better", "model", "ceiling", "floors", "floor",
               "floor_is_floor", "normalised", "ci", "normalised_vs", "n_scenarios", "scenarios", "metrics"}


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """`wm probe --model oracle --suite all --quick` through the CLI entry point."""
    out = tmp_path_factory.mktemp("probe") / "oracle"
    code = main(["--model", "oracle", "--suite", "all", "--quick", "--out", str(out), "--no-progress"],
                prog="wm probe")
    assert code == 0
    return out, json.loads((out / "results.json").read_text())


def test_cli_writes_results_and_report(oracle: tuple[Path, dict]) -> None:
    out, results = oracle
    report = (out / "report.md").read_text()
    assert "# Probe report: oracle" in report and "plots/summary.png" in report
    for name in FAMILIES:
        assert (out / "plots" / f"{name}.png").is_file() and (out / "plots" / f"strip_{name}.png").is_file()
        assert f"## {results['families'][name]['letter']}. {name}" in report


def test_results_schema(oracle: tuple[Path, dict]) -> None:
    _, results = oracle
    assert results["format"] == "worldmodel.probes/1" and results["model"] == "oracle"
    assert results["suites"] == list(FAMILIES) and results["config"]["quick"] is True
    assert {"segmenter", "idm"} <= set(results["aux"])
    for name, fam in results["families"].items():
        assert FAMILY_KEYS <= set(fam), (name, FAMILY_KEYS - set(fam))
        assert set(fam["floors"]) == {"copy_last", "frozen_first", "shuffled_actions"}
        assert fam["headline"] in fam["metrics"] and fam["n_scenarios"] == len(fam["scenarios"]) > 0
        assert len(fam["ci"]) == 2
        for metric in fam["metrics"].values():
            assert {"model", "ceiling", "copy_last", "higher_is_better", "normalised"} <= set(metric)
    g50 = results["families"]["permanence"]["g50"]["model"]
    assert {"g50", "censored", "reference"} <= set(g50)


def test_oracle_scores_at_the_ceiling(oracle: tuple[Path, dict]) -> None:
    _, results = oracle
    for name, fam in results["families"].items():
        assert fam["floor_is_floor"], name
        assert fam["normalised"] is not None and math.isclose(fam["normalised"], 1.0, abs_tol=1e-9), name
        assert fam["ci"][0] == pytest.approx(1.0) and fam["ci"][1] == pytest.approx(1.0)


def test_copy_last_scores_at_the_floor() -> None:
    cfg = SuiteConfig(quick=True, bootstrap=50)
    results, _ = run_suite(CopyLast(), None, list(FAMILIES), cfg, load_all(allow_train=False), "copy-last",
                           progress=False)
    for name, fam in results["families"].items():
        assert fam["floor"] == "copy_last" and fam["floor_is_floor"], name
        assert fam["normalised"] is not None and math.isclose(fam["normalised"], 0.0, abs_tol=1e-9), name
        ceiling, floor = fam["ceiling"], fam["floors"]["copy_last"]
        better = ceiling > floor if fam["higher_is_better"] else ceiling < floor
        assert better, (name, ceiling, floor)  # the floor really is below the ceiling
    assert results["families"]["drift"]["metrics"]["idle_horizon"]["floor_is_floor"] is False


def test_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--model", str(tmp_path / "missing"), "--out", str(tmp_path)], prog="wm probe") == 2
    assert "--model" in capsys.readouterr().err
    assert main(["--model", "oracle", "--suite", "nope", "--out", str(tmp_path)], prog="wm probe") == 2
    assert "--suite" in capsys.readouterr().err
