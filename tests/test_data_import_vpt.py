"""`wm import vpt`: keyboard/mouse mapping, float camera, hotbar, GUI flag, null ticks, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from worldmodel.data import load_episode
from worldmodel.data.importers.cli import import_folder, main as import_main
from worldmodel.data.importers.vpt import CAMERA_SCALE, tick_action
from worldmodel.data.synthetic import find_episode, readable, coded_frames, decode_index, make_vpt_recording
from worldmodel.data.video import write_video


def tick(keys: list[str] = (), buttons: list[int] = (), dx: float = 0.0, dy: float = 0.0, hotbar: int = 0,
         gui: bool = False) -> dict:
    return {"keyboard": {"keys": list(keys), "newKeys": []}, "mouse": {"dx": dx, "dy": dy, "buttons": list(buttons)},
            "hotbar": hotbar, "isGuiOpen": gui, "_line": 1}


def test_tick_conversion() -> None:
    action = tick_action(tick(["key.keyboard.w", "key.keyboard.space", "key.keyboard.left.shift",
                               "key.keyboard.left.control", "key.keyboard.e", "key.keyboard.3"], [0, 1, 2],
                              dx=7.0, dy=-3.0), 0, Path("x.jsonl"))
    for key in ("forward", "jump", "sneak", "sprint", "attack", "use", "hotbar.3"):
        assert action[key] == 1, key
    assert action["back"] == action["left"] == action["right"] == 0
    # mouse pixels * 360/2400 -> degrees, kept as floats (7 * 0.15 = 1.05, not truncated to 1)
    assert action["camera"].dtype == np.float32
    assert np.allclose(action["camera"], [-3.0 * CAMERA_SCALE, 7.0 * CAMERA_SCALE])
    assert action["camera"][1] == pytest.approx(1.05)
    assert tick_action(tick(hotbar=4), 1, Path("x"))["hotbar.5"] == 1  # slot change 1 -> 4 presses hotbar.5
    assert tick_action(tick(hotbar=4), 4, Path("x"))["hotbar.5"] == 0
    assert not tick_action(tick(dx=50, dy=9, gui=True), 0, Path("x"))["camera"].any()  # GUI: cursor, not view
    with pytest.raises(ValueError, match=r"x.jsonl:1: key 'hotbar'"):
        tick_action(tick(hotbar=12), 0, Path("x.jsonl"))


def test_import_recording(tmp_path: Path) -> None:
    video, jsonl = make_vpt_recording(tmp_path / "src" / "player-1", ticks=30)
    report = import_folder("vpt", tmp_path / "src", tmp_path / "out", progress=False, size="32")
    assert not report.failed and report.frames == 30
    episode = load_episode(find_episode(tmp_path / "out", "player-1"))
    assert episode["frames"].shape == (30, 32, 32, 3)  # 128x72 centre-cropped and resized
    assert [decode_index(f) for f in episode["frames"]] == [j % 8 for j in range(30)]
    ticks = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(episode["actions"]["camera"]) == 29  # the last tick has no following frame
    for t in range(29):
        expect = [0.0, 0.0] if ticks[t]["isGuiOpen"] else [ticks[t]["mouse"]["dy"] * 0.15,
                                                           ticks[t]["mouse"]["dx"] * 0.15]
        assert np.allclose(episode["actions"]["camera"][t], expect, atol=1e-5)
        assert episode["actions"]["forward"][t] == ("key.keyboard.w" in ticks[t]["keyboard"]["keys"])
        assert episode["actions"]["attack"][t] == (0 in ticks[t]["mouse"]["buttons"])
        assert episode["actions"]["use"][t] == (1 in ticks[t]["mouse"]["buttons"])
    assert episode["raw_actions"][0]["mouse"] == ticks[0]["mouse"]
    assert np.array_equal(episode["observations"]["gui_open"], [t["isGuiOpen"] for t in ticks[:29]])


def test_null_ticks_kept_or_dropped(tmp_path: Path) -> None:
    make_vpt_recording(tmp_path / "src" / "rec", ticks=24, extra_frame=True, null_every=3)
    import_folder("vpt", tmp_path / "src", tmp_path / "keep", progress=False)
    import_folder("vpt", tmp_path / "src", tmp_path / "drop", progress=False, drop_null=True)
    kept = load_episode(find_episode(tmp_path / "keep", "rec"))
    dropped = load_episode(find_episode(tmp_path / "drop", "rec"))
    assert kept["frames"].shape[0] == 25 and len(kept["raw_actions"]) == 24  # one more frame than ticks
    nulls = 24 - len(dropped["raw_actions"])
    assert nulls >= 8 and dropped["frames"].shape[0] == 25 - nulls and dropped["meta"]["dropped_null_ticks"] == nulls
    assert all(t["tick"] % 3 != 2 for t in dropped["raw_actions"])


def test_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    make_vpt_recording(src / "good", ticks=10)
    _, jsonl = make_vpt_recording(src / "badline", ticks=10)
    lines = jsonl.read_text().splitlines()
    lines[4] = lines[4][:20]
    jsonl.write_text("\n".join(lines) + "\n")
    make_vpt_recording(src / "counts", ticks=10)
    write_video(src / "counts.mp4", coded_frames(14))
    make_vpt_recording(src / "truncated", ticks=10)
    data = (src / "truncated.mp4").read_bytes()
    (src / "truncated.mp4").write_bytes(data[: len(data) // 2])
    write_video(src / "lonely.mp4", coded_frames(3))
    code = import_main(["vpt", str(src), "--out", str(tmp_path / "out"), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1
    assert sorted(readable(p.stem) for p in (tmp_path / "out" / "episodes").iterdir()) == ["good"]
    assert f"{src / 'badline.jsonl'}:5: not JSON" in out
    assert "14 frames but counts.jsonl has 10 ticks" in out
    assert f"{src / 'truncated.mp4'}" in out and "missing lonely.jsonl" in out
    # resume: a second run writes nothing new and lists the same failures
    again = import_folder("vpt", src, tmp_path / "out", progress=False)
    assert [readable(n) for n in again.existing] == ["good"] and not again.written and len(again.failed) == 4


def test_mouse_scale_and_crop_are_options_recorded_in_meta(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, jsonl = make_vpt_recording(tmp_path / "src" / "rec", ticks=12)
    code = import_main(["vpt", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--size", "32",
                        "--mouse-scale", "0.3", "--crop", "full", "--no-progress"])
    assert code == 0
    episode = load_episode(find_episode(tmp_path / "out", "rec"))
    ticks = [json.loads(line) for line in jsonl.read_text().splitlines()]
    for t in range(11):
        if not ticks[t]["isGuiOpen"]:
            assert np.allclose(episode["actions"]["camera"][t], [ticks[t]["mouse"]["dy"] * 0.3,
                                                                 ticks[t]["mouse"]["dx"] * 0.3], atol=1e-4)
    meta = episode["meta"]
    assert meta["mouse_scale"] == 0.3 and meta["crop"] == "full"
    assert meta["import"]["mouse_scale"] == 0.3 and meta["import"]["crop"] == "full"
    # 128x72 letterboxed into 32x32: a 32x18 picture between black bars of 7 rows
    frame = episode["frames"][0]
    assert frame[:6].max() == 0 and frame[-6:].max() == 0 and decode_index(frame[8:24]) == 0
    centre = load_episode(find_episode(tmp_path / "out2", "rec")) if import_folder(
        "vpt", tmp_path / "src", tmp_path / "out2", progress=False, size="32").written else None
    assert centre is not None and centre["frames"][0].min() > 0 and centre["meta"]["crop"] == "center"
    assert centre["meta"]["mouse_scale"] == pytest.approx(360 / 2400)
    with pytest.raises(SystemExit):
        import_main(["vpt", str(tmp_path / "src"), "--out", str(tmp_path / "x"), "--mouse-scale", "0"])
    assert "--mouse-scale" in capsys.readouterr().err
