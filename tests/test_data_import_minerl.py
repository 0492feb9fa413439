"""`wm import minerl`: v0.4 trajectory folders, alignment rule, key spellings, bad input, resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_reasons, import_one_minerl

from worldmodel.data import load_episode, open_dataset
from worldmodel.data.importers.cli import import_folder, main as import_main
from worldmodel.data.synthetic import find_episode, readable, coded_frames, decode_index, make_minerl_trajectory
from worldmodel.data.video import write_video


def episode_files(out: Path) -> list[str]:
    return sorted(readable(p.stem) for p in (out / "episodes").iterdir())


def test_alignment_actions_and_spellings(tmp_path: Path) -> None:
    src = tmp_path / "src" / "MineRLTreechop-v0"
    make_minerl_trajectory(src / "v3_a", steps=20, lead=3, spelling="dots")
    make_minerl_trajectory(src / "v3_b", steps=12, lead=0, spelling="dollars", seed=1)
    report = import_folder("minerl", tmp_path / "src", tmp_path / "out", progress=False)
    assert not report.failed and report.frames == 21 + 13
    episode = load_episode(find_episode(tmp_path / "out", "MineRLTreechop-v0__v3_a"))
    assert episode["frames"].shape == (21, 64, 64, 3)
    # the 3 extra leading frames were skipped: frame j carries code j
    assert [decode_index(f) for f in episode["frames"]] == [j % 8 for j in range(21)]
    npz = np.load(src / "v3_a" / "rendered.npz")
    assert np.array_equal(episode["actions"]["forward"], npz["action$forward"].astype(np.uint8))
    assert episode["actions"]["camera"].dtype == np.float32
    assert np.array_equal(episode["actions"]["camera"], npz["action$camera"])  # [pitch, yaw] degrees, as is
    assert np.array_equal(episode["actions"]["use"], (npz["action$place"] != "none").astype(np.uint8))
    assert not episode["actions"]["hotbar.1"].any()  # equip is not a hotbar slot
    assert np.array_equal(episode["raw_actions"]["equip"], npz["action$equip"])
    assert np.allclose(episode["rewards"], npz["reward"])
    assert episode["meta"]["video_skip"] == 3 and episode["meta"]["env_id"] == "MineRLTreechop-v0"
    other = load_episode(find_episode(tmp_path / "out", "MineRLTreechop-v0__v3_b"))
    for ep in (episode, other):  # both spellings land on one name
        assert {"equipped_items.mainhand.type", "compass.angle"} <= set(ep["observations"])
    assert len(open_dataset(tmp_path / "out").clips(8)) == (21 - 7) + (13 - 7)


def test_fps_downsampling_merges_actions(tmp_path: Path) -> None:
    episode, npz = import_one_minerl(tmp_path, fps=10)
    assert episode["frames"].shape[0] == 6 and episode["meta"]["fps"] == 10
    assert [decode_index(f) for f in episode["frames"]] == [0, 2, 4, 6, 0, 2]
    assert np.allclose(episode["actions"]["camera"], npz["action$camera"].reshape(5, 2, 2).sum(1))
    assert np.array_equal(episode["actions"]["jump"], npz["action$jump"].reshape(5, 2).max(1))
    report = import_folder("minerl", tmp_path / "src", tmp_path / "out2", progress=False, fps=7)
    assert "whole-number divisor" in report.failed[0][1]


def test_bad_inputs_are_skipped_and_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    make_minerl_trajectory(src / "good", steps=8)
    make_minerl_trajectory(src / "nokey", steps=8, drop_keys=["action$camera"])
    make_minerl_trajectory(src / "count", steps=8, true_count=30)  # metadata disagrees with the video
    make_minerl_trajectory(src / "short", steps=8, lead=0, true_count=6)
    write_video(src / "short" / "recording.mp4", coded_frames(6))  # 8 steps need 9 frames
    make_minerl_trajectory(src / "corrupt", steps=8)
    data = (src / "corrupt" / "recording.mp4").read_bytes()
    (src / "corrupt" / "recording.mp4").write_bytes(data[: len(data) // 3])
    make_minerl_trajectory(src / "badjson", steps=8)
    (src / "badjson" / "metadata.json").write_text('{"true_video_frame_count": 11,\n oops}')
    make_minerl_trajectory(src / "novideo", steps=8)
    (src / "novideo" / "recording.mp4").unlink()
    code = import_main(["minerl", str(src), "--out", str(tmp_path / "out"), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1 and episode_files(tmp_path / "out") == ["good"]
    reasons = dict(line.strip().split(": ", 1) for line in out.splitlines()[2:])
    assert_reasons(reasons, src, {"nokey": "missing key 'action$camera'", "count": "true_video_frame_count = 30",
                                  "short": "fewer than the 9", "corrupt": "recording.mp4",
                                  "badjson": "metadata.json:2", "novideo": "missing recording.mp4"})
    assert json.loads((tmp_path / "out" / "index.json").read_text())["episodes"][0]["file"] == find_episode(tmp_path / "out", "good").name


def test_resume_skips_finished(tmp_path: Path) -> None:
    for name in ("a", "b"):
        make_minerl_trajectory(tmp_path / "src" / name, steps=6)
    first = import_folder("minerl", tmp_path / "src", tmp_path / "out", progress=False)
    stamp = find_episode(tmp_path / "out", "a").stat().st_mtime_ns
    make_minerl_trajectory(tmp_path / "src" / "c", steps=6)
    second = import_folder("minerl", tmp_path / "src", tmp_path / "out", progress=False)
    names = [readable(n) for n in first.written + second.written + second.existing]
    assert names == ["a", "b", "c", "a", "b"]
    assert find_episode(tmp_path / "out", "a").stat().st_mtime_ns == stamp
