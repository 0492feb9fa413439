"""`wm import video` (any footage, action-free, fps + size resampling) and `wm import crafter` (Recorder npz)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from worldmodel.data import load_episode, open_dataset
from worldmodel.data.importers.cli import import_folder, main as import_main
from worldmodel.data.synthetic import find_episode, readable, coded_frames, decode_index, make_crafter_npz
from worldmodel.data.video import crop_resize, parse_size, write_video


def test_crop_resize_and_size_parsing() -> None:
    frame = np.zeros((40, 100, 3), np.uint8)
    frame[:, 30:70] = 255  # the centre 40x40 square is white, the sides black
    assert crop_resize(frame, (8, 8)).min() == 255
    assert crop_resize(frame, (20, 8)).shape == (8, 20, 3)
    assert parse_size("64") == (64, 64) and parse_size("96x64") == (96, 64) and parse_size(None) is None
    with pytest.raises(ValueError, match="size must be"):
        parse_size("big")


@pytest.mark.parametrize("ext", [".mp4", ".avi", ".mkv", ".webm"])
def test_video_formats(tmp_path: Path, ext: str) -> None:
    write_video(tmp_path / "src" / f"clip{ext}", coded_frames(16, (48, 32)), fps=20)
    report = import_folder("video", tmp_path / "src", tmp_path / "out", progress=False, size="16", fps=20)
    assert not report.failed and report.frames == 16
    episode = load_episode(find_episode(tmp_path / "out", "clip"))
    assert episode["frames"].shape == (16, 16, 16, 3) and episode["actions"] is None
    assert [decode_index(f) for f in episode["frames"]] == [j % 8 for j in range(16)]


def test_fps_resampling_and_clips(tmp_path: Path) -> None:
    write_video(tmp_path / "src" / "a.mp4", coded_frames(40), fps=20)
    write_video(tmp_path / "src" / "sub" / "b.mp4", coded_frames(10), fps=10)
    import_folder("video", tmp_path / "src", tmp_path / "out", progress=False, fps=10)
    a = load_episode(find_episode(tmp_path / "out", "a"))
    assert a["frames"].shape[0] == 20 and a["meta"]["fps"] == 10 and a["meta"]["source_fps"] == 20
    assert [decode_index(f) for f in a["frames"][:5]] == [0, 2, 4, 6, 0]
    import_folder("video", tmp_path / "src", tmp_path / "up", progress=False, fps=20)
    b = load_episode(find_episode(tmp_path / "up", "sub__b"))
    assert [decode_index(f) for f in b["frames"][:6]] == [0, 0, 1, 1, 2, 2]  # 10 -> 20 fps repeats frames
    clip = open_dataset(tmp_path / "out").clips(4)[0]
    assert not clip["action_known"] and clip["actions"]["forward"].sum() == 0


def test_corrupt_video_is_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_video(tmp_path / "src" / "good.mp4", coded_frames(5))
    (tmp_path / "src" / "junk.mkv").write_bytes(b"\x1a\x45\xdf\xa3 not really a video")
    code = import_main(["video", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1 and "junk.mkv" in out and "skipped 1 source(s)" in out
    assert sorted(readable(p.stem) for p in (tmp_path / "out" / "episodes").iterdir()) == ["good"]


def test_crafter_import(tmp_path: Path) -> None:
    make_crafter_npz(tmp_path / "src" / "ep1.npz", steps=12, dead=True)
    make_crafter_npz(tmp_path / "src" / "ep2.npz", steps=9, seed=1)
    np.savez(tmp_path / "src" / "broken.npz", image=coded_frames(3), reward=np.zeros(3))
    report = import_folder("crafter", tmp_path / "src", tmp_path / "out", progress=False)
    assert [readable(n) for n in report.written] == ["ep1", "ep2"]
    assert "missing key 'action'" in report.failed[0][1] and "broken.npz" in report.failed[0][1]
    src = np.load(tmp_path / "src" / "ep1.npz")
    ep = load_episode(find_episode(tmp_path / "out", "ep1"))
    assert ep["frames"].shape == (13, 64, 64, 3)
    assert np.array_equal(ep["raw_actions"]["action"], src["action"][1:])
    from envs.crafter_actions import to_crafter  # the canonical dicts of the same ids: action-conditioned

    assert [to_crafter({k: v[t] for k, v in ep["actions"].items()}) for t in range(12)] == src["action"][1:].tolist()
    assert np.allclose(ep["rewards"], src["reward"][1:])
    assert ep["terminated"][-1] and not ep["truncated"].any()
    ep2 = load_episode(find_episode(tmp_path / "out", "ep2"))
    assert ep2["truncated"][-1] and not ep2["terminated"].any()
    assert "achievement_collect_wood" in ep["observations"]
