"""Action/frame alignment: `--offset K`, `--align auto` on synthetic BlockWorld footage with a late log, and
`wm data check`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import import_one_minerl

from worldmodel.data import load_episode
from worldmodel.data.align import estimate_lag, image_shifts, lag_slices
from worldmodel.data.cli import main as data_main
from worldmodel.data.importers.cli import import_folder, main as import_main
from worldmodel.data.synthetic import find_episode, make_blockworld_vpt

TICKS = 60


@pytest.fixture(scope="module")
def late_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A BlockWorld turning recording whose .jsonl runs 3 ticks late."""
    src = tmp_path_factory.mktemp("late") / "src"
    _, _, camera = make_blockworld_vpt(src / "turns", ticks=TICKS, lag=3)
    return src, camera


def test_image_shift_follows_the_turn(late_log: tuple[Path, np.ndarray]) -> None:
    src, camera = late_log
    from worldmodel.data.video import read_frames

    shifts = image_shifts(read_frames(src / "turns.mp4"))
    assert shifts.shape == (TICKS, 2)
    turning = np.abs(camera[:, 1]) >= 4
    assert np.mean(np.sign(shifts[turning, 1]) == -np.sign(camera[turning, 1])) > 0.8  # right turn: picture left
    estimate = estimate_lag(shifts, camera)
    assert estimate is not None and estimate.lag == 0 and estimate.correlation > 0.5


def test_align_auto_finds_the_lag_and_check_agrees(late_log: tuple[Path, np.ndarray], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    src, camera = late_log
    report = import_folder("vpt", src, tmp_path / "auto", progress=False, align="auto")
    assert not report.failed
    episode = load_episode(find_episode(tmp_path / "auto", "turns"))
    lag = episode["meta"]["lag"]
    assert abs(lag - 3) <= 1 and episode["meta"]["align"] == "auto" and episode["meta"]["import"]["align"] == "auto"
    assert episode["meta"]["align_correlation"] > episode["meta"]["align_correlation_at_zero"]
    assert "turns-" in report.summary() and f"actions lag {lag:+d} frames" in report.summary()
    assert len(episode["actions"]["camera"]) == TICKS - lag and episode["frames"].shape[0] == TICKS - lag + 1
    if lag == 3:  # step t of the episode is the true turn t
        assert np.allclose(episode["actions"]["camera"], camera[:TICKS - 3], atol=1e-4)
    assert data_main(["check", str(tmp_path / "auto"), "--json"]) == 0
    check = json.loads(capsys.readouterr().out)
    assert check["episodes"][0]["lag"] == 0 and check["episodes"][0]["status"] == "aligned"

    import_folder("vpt", src, tmp_path / "plain", progress=False)  # imported as is: 3 ticks late
    assert data_main(["check", str(tmp_path / "plain")]) == 1
    text = capsys.readouterr().out
    assert "lag +3" in text and "warning:" in text and "--offset 3" in text


def test_offset_trims_and_counts_beyond_the_lag_are_errors(late_log: tuple[Path, np.ndarray], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    src, camera = late_log
    code = import_main(["vpt", str(src), "--out", str(tmp_path / "off"), "--offset", "3", "--no-progress"])
    assert code == 0
    episode = load_episode(find_episode(tmp_path / "off", "turns"))
    assert episode["meta"]["lag"] == 3 and episode["meta"]["align"] == "offset"
    assert np.allclose(episode["actions"]["camera"], camera[:TICKS - 3], atol=1e-4)
    assert episode["raw_actions"][0]["tick"] == 3
    # a log 12 ticks shorter than the video: a mismatch beyond the lag of 3
    lines = (src / "turns.jsonl").read_text().splitlines()
    short = tmp_path / "short"
    short.mkdir()
    (short / "turns.mp4").write_bytes((src / "turns.mp4").read_bytes())
    (short / "turns.jsonl").write_text("\n".join(lines[:TICKS - 12]) + "\n")
    report = import_folder("vpt", short, tmp_path / "bad", progress=False, offset=3)
    ((_, reason),) = report.failed
    assert f"{TICKS + 1} frames but turns.jsonl has {TICKS - 12} ticks" in reason and "lag of 3" in reason


def test_minerl_offset_shifts_actions_rewards_and_observations(tmp_path: Path) -> None:
    episode, npz = import_one_minerl(tmp_path, offset=2)
    assert episode["frames"].shape[0] == 9 and episode["meta"]["lag"] == 2
    assert np.array_equal(episode["actions"]["camera"], npz["action$camera"][2:])
    assert np.allclose(episode["rewards"], npz["reward"][2:])
    assert np.array_equal(episode["raw_actions"]["equip"], npz["action$equip"][2:])
    assert np.allclose(episode["observations"]["compass.angle"], npz["observation$compassAngle"][2:])
    import_folder("minerl", tmp_path / "src", tmp_path / "early", progress=False, offset=-2)
    early = load_episode(find_episode(tmp_path / "early", "t"))
    assert np.array_equal(early["actions"]["camera"], npz["action$camera"][:8]) and early["frames"].shape[0] == 9


def test_lag_slices() -> None:
    assert lag_slices(11, 10, 0) == (slice(0, 11), slice(0, 10))
    assert lag_slices(11, 10, 3) == (slice(0, 8), slice(3, 10))
    assert lag_slices(10, 10, -2) == (slice(2, 10), slice(0, 7))
    with pytest.raises(ValueError, match="leaves no transition"):
        lag_slices(3, 2, 5)


def test_check_reports_zero_on_collected_blockworld(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Recorded BlockWorld episodes are aligned by construction; the explorer's eased turns must not read as lag."""
    from worldmodel.data.collect import CollectConfig, collect

    collect(CollectConfig(env_id="BlockWorld-v0", out=str(tmp_path), policy="explorer", episodes=2, steps=200,
                          seed=0), progress=False)
    assert data_main(["check", str(tmp_path), "--json"]) == 0
    check = json.loads(capsys.readouterr().out)
    assert [row["lag"] for row in check["episodes"]] == [0, 0] and not check["warnings"]
