"""Importer input hardening: bad numbers and types, half-written videos, stable names, settings on resume,
concurrent imports into one store, damaged episode files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_reasons

from worldmodel.data import load_episode
from worldmodel.data.cli import dataset_info, main as data_main
from worldmodel.data.importers.cli import import_folder, main as import_main
from worldmodel.data.importers.vpt import tick_action
from worldmodel.data.synthetic import coded_frames, find_episode, make_minerl_trajectory, make_vpt_recording, readable
from worldmodel.data.video import write_video


def set_tick_field(jsonl: Path, line: int, path: tuple[str, ...], value: object) -> None:
    """Replace one field of line `line` (1-based) of a .jsonl with `value` (NaN/Infinity written as JSON5-ish)."""
    lines = jsonl.read_text().splitlines()
    tick = json.loads(lines[line - 1])
    node = tick
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    lines[line - 1] = json.dumps(tick)  # json.dumps writes NaN / Infinity, as Python-made logs do
    jsonl.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1e300])
def test_vpt_bad_mouse_values_are_rejected_with_file_and_line(tmp_path: Path, value: float) -> None:
    make_vpt_recording(tmp_path / "src" / "good", ticks=10)
    _, jsonl = make_vpt_recording(tmp_path / "src" / "bad", ticks=10)
    set_tick_field(jsonl, 6, ("mouse", "dx"), value)
    report = import_folder("vpt", tmp_path / "src", tmp_path / "out", progress=False)
    assert [readable(n) for n in report.written] == ["good"]
    ((_, reason),) = report.failed
    assert f"{jsonl}:6" in reason and "mouse.dx" in reason


def test_vpt_keys_as_a_string_is_one_key() -> None:
    tick = {"keyboard": {"keys": "key.keyboard.w"}, "mouse": {"dx": 0, "dy": 0, "buttons": 0}, "_line": 3}
    action = tick_action(tick, 0, Path("x.jsonl"))
    assert action["forward"] == 1 and action["attack"] == 1 and action["left"] == 0
    with pytest.raises(ValueError, match=r"x.jsonl:3: key 'keyboard.keys'"):
        tick_action({**tick, "keyboard": {"keys": {"w": 1}}}, 0, Path("x.jsonl"))
    with pytest.raises(ValueError, match=r"x.jsonl:3: key 'mouse.dy' must be a number"):
        tick_action({**tick, "mouse": {"dy": "3"}}, 0, Path("x.jsonl"))
    with pytest.raises(ValueError, match=r"x.jsonl:3: key 'mouse.dx' = 1000\d+\.\.\. pixels"):
        tick_action({**tick, "mouse": {"dx": 10**400}}, 0, Path("x.jsonl"))
    with pytest.raises(ValueError, match=r"x.jsonl:3: key 'isGuiOpen'"):
        tick_action({**tick, "isGuiOpen": "false"}, 0, Path("x.jsonl"))


def rewrite_npz(folder: Path, **changes: object) -> None:
    arrays = dict(np.load(folder / "rendered.npz"))
    arrays.update(changes)
    np.savez(folder / "rendered.npz", **arrays)


def test_minerl_bad_values_are_skipped_with_file_and_key(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_minerl_trajectory(src / "good", steps=8)
    make_minerl_trajectory(src / "nan_camera", steps=8)
    camera = np.load(src / "nan_camera" / "rendered.npz")["action$camera"].copy()
    camera[3, 1] = np.nan
    rewrite_npz(src / "nan_camera", **{"action$camera": camera})
    make_minerl_trajectory(src / "null_count", steps=8)
    (src / "null_count" / "metadata.json").write_text(json.dumps({"true_video_frame_count": None}))
    make_minerl_trajectory(src / "scalar_reward", steps=8)
    rewrite_npz(src / "scalar_reward", reward=np.array(1.0))
    make_minerl_trajectory(src / "string_forward", steps=8)
    rewrite_npz(src / "string_forward", **{"action$forward": np.array(["yes"] * 8)})
    make_minerl_trajectory(src / "string_camera", steps=8)
    rewrite_npz(src / "string_camera", **{"action$camera": np.array([["a", "b"]] * 8)})
    report = import_folder("minerl", src, tmp_path / "out", progress=False)
    assert [readable(n) for n in report.written] == ["good"]
    reasons = dict(report.failed)
    assert "step 3" in reasons[str(src / "nan_camera")]
    assert_reasons(reasons, src, {"nan_camera": "rendered.npz: key 'action$camera'",
                                  "null_count": "metadata.json: key 'true_video_frame_count'",
                                  "scalar_reward": "rendered.npz: key 'reward'",
                                  "string_forward": "rendered.npz: key 'action$forward'",
                                  "string_camera": "rendered.npz: key 'action$camera'"})


def test_half_written_mkv_is_skipped(tmp_path: Path) -> None:
    write_video(tmp_path / "src" / "good.mkv", coded_frames(60))
    half = write_video(tmp_path / "src" / "half.mkv", coded_frames(60))
    data = half.read_bytes()
    half.write_bytes(data[: len(data) * 55 // 100])  # the header still declares 3 s
    report = import_folder("video", tmp_path / "src", tmp_path / "out", progress=False)
    assert [readable(n) for n in report.written] == ["good"]
    (source, reason), = report.failed
    assert source == str(half) and "truncated video" in reason and "3.00 s" in reason
    assert load_episode(find_episode(tmp_path / "out", "good"))["frames"].shape[0] == 60


@pytest.mark.parametrize("fps", ["0", "-5", "nan"])
def test_fps_must_be_positive(tmp_path: Path, fps: str, capsys: pytest.CaptureFixture[str]) -> None:
    write_video(tmp_path / "src" / "a.mp4", coded_frames(5))
    with pytest.raises(SystemExit) as exit_info:
        import_main(["video", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--fps", fps])
    assert exit_info.value.code == 2 and "--fps" in capsys.readouterr().err
    with pytest.raises(ValueError, match="fps must be a positive number"):
        import_folder("video", tmp_path / "src", tmp_path / "out", progress=False, fps=float(fps))
    assert not (tmp_path / "out").exists()


def test_names_are_a_stable_function_of_the_source_path(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for relative in ("a__b.mp4", "a/b.mp4", "x.mp4", "x.mkv", "б.mp4", "в.mp4"):
        write_video(src / relative, coded_frames(3))
    first = import_folder("video", src, tmp_path / "out", progress=False)
    assert len(first.written) == 6 and len(set(first.written)) == 6 and not first.failed
    write_video(src / "а.mp4", coded_frames(3))  # Cyrillic a: sorts before б and в; must rename nothing
    second = import_folder("video", src, tmp_path / "out", progress=False)
    assert sorted(second.existing) == sorted(first.written) and len(second.written) == 1
    sources = {load_episode(p)["meta"]["source_path"] for p in (tmp_path / "out" / "episodes").glob("*.npz")}
    assert sources == {str(p) for p in src.rglob("*.mp*") if p.is_file()} | {str(src / "x.mkv")}


def test_resume_with_other_settings_is_refused_or_reimported(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    write_video(tmp_path / "src" / "a.mp4", coded_frames(10))
    import_folder("video", tmp_path / "src", tmp_path / "out", progress=False, size="32")
    path = find_episode(tmp_path / "out", "a")
    assert load_episode(path)["meta"]["import"] == {"kind": "video", "size": [32, 32], "fps": 20.0, "crop": "center"}
    with pytest.raises(ValueError, match=r"size=\[32, 32\].*size=\[16, 16\].*--reimport"):
        import_folder("video", tmp_path / "src", tmp_path / "out", progress=False, size="16")
    code = import_main(["video", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--fps", "10"])
    assert code == 2 and "fps=20.0" in capsys.readouterr().err
    assert load_episode(path)["frames"].shape[1] == 32  # nothing changed
    again = import_folder("video", tmp_path / "src", tmp_path / "out", progress=False, size="16", reimport=True)
    assert again.written == [path.stem] and load_episode(path)["frames"].shape[1] == 16
    same = import_folder("video", tmp_path / "src", tmp_path / "out", progress=False, size="16")
    assert same.existing == [path.stem]


WRITER = """
import sys, numpy as np
from worldmodel.data.store import EpisodeWriter
writer = EpisodeWriter(sys.argv[1], {"source": "test", "fps": 20})
writer.append(np.zeros((4, 8, 8, 3), np.uint8))
print("ready", flush=True)
sys.stdin.readline()
writer.close()
print("closed", flush=True)
"""


def test_a_second_import_leaves_the_first_ones_temporary_file_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "episodes").mkdir(parents=True)
    first = subprocess.Popen([sys.executable, "-c", WRITER, str(out / "episodes" / "other.npz")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "ready"
        write_video(tmp_path / "src" / "a.mp4", coded_frames(5))
        report = import_folder("video", tmp_path / "src", out, progress=False)  # the second import, meanwhile
        assert len(report.written) == 1
        stdout, _ = first.communicate("\n", timeout=60)
    finally:
        first.kill() if first.poll() is None else None
    assert first.returncode == 0 and "closed" in stdout
    assert load_episode(out / "episodes" / "other.npz")["frames"].shape == (4, 8, 8, 3)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    stale = out / "episodes" / f".gone.npz.tmp-{dead.stdout.strip()}-abcd1234"
    stale.write_bytes(b"half")
    import_folder("video", tmp_path / "src", out, progress=False)
    assert not stale.exists()  # a dead writer's leftovers are cleaned


def test_damaged_episode_file_is_named_and_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_video(tmp_path / "src" / "a.mp4", coded_frames(5))
    (tmp_path / "out" / "episodes").mkdir(parents=True)
    (tmp_path / "out" / "episodes" / "broken.npz").write_bytes(b"not a zip at all")
    report = import_folder("video", tmp_path / "src", tmp_path / "out", progress=False)
    assert len(report.written) == 1 and report.damaged[0][0] == "broken.npz"
    assert "broken.npz" in report.summary()
    info = dataset_info(tmp_path / "out")
    assert info["episodes"] == 1 and info["damaged"][0]["file"] == "broken.npz"
    assert data_main(["info", str(tmp_path / "out")]) == 0
    assert "damaged      broken.npz" in capsys.readouterr().out
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert [e["file"] for e in index["episodes"]] == [find_episode(tmp_path / "out", "a").name]
    assert index["damaged"][0]["file"] == "broken.npz"
    imported = find_episode(tmp_path / "out", "a")
    imported.write_bytes(imported.read_bytes()[:100])  # an imported episode damaged since: the resume redoes it
    again = import_folder("video", tmp_path / "src", tmp_path / "out", progress=False)
    assert again.written == [imported.stem] and load_episode(imported)["frames"].shape[0] == 5
