"""Viewer: posted pygame events -> actions and frames, the game loop, recording, `wm play` (headless replay)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import av
import gymnasium as gym
import numpy as np
import pygame
import pytest

import envs  # noqa: F401
from envs.blockworld.env import BlockWorldEnv
from worldmodel.viewer import cli
from worldmodel.viewer.hud import HUD_HELP, help_rows, render_help
from worldmodel.viewer.keys import CONTROLS, KeyboardControls
from worldmodel.viewer.loop import ViewerLoop, fit_scale
from worldmodel.viewer.record import VideoWriter
from pygame_events import display, post, queue  # noqa: F401  (display: autouse fixture)


def down(key: int) -> tuple[int, dict]:
    return pygame.KEYDOWN, {"key": key, "mod": 0, "unicode": "", "scancode": 0}


def up(key: int) -> tuple[int, dict]:
    return pygame.KEYUP, {"key": key, "mod": 0, "unicode": "", "scancode": 0}


def test_events_map_to_actions() -> None:
    controls = KeyboardControls(mouse_sensitivity=0.1, arrow_deg=5.0)
    controls.handle_all(post(
        down(pygame.K_w), down(pygame.K_SPACE), down(pygame.K_LSHIFT), down(pygame.K_3),
        (pygame.MOUSEMOTION, {"pos": (0, 0), "rel": (10, -20), "buttons": (0, 0, 0)}),
        (pygame.MOUSEBUTTONDOWN, {"pos": (0, 0), "button": 1}),
    ))
    a = controls.action()
    assert (a["forward"], a["jump"], a["sneak"], a["attack"], a["hotbar.3"]) == (1, 1, 1, 1, 1)
    assert a["back"] == a["use"] == a["sprint"] == 0
    assert np.allclose(a["camera"], [-2.0, 1.0])  # mouse up = look up (negative pitch), right = positive yaw
    b = controls.action()  # held keys stay, one-tick things clear
    assert (b["forward"], b["attack"], b["hotbar.3"]) == (1, 1, 0) and not b["camera"].any()
    controls.handle_all(post(up(pygame.K_w), (pygame.MOUSEBUTTONUP, {"pos": (0, 0), "button": 1}),
                             down(pygame.K_LCTRL), down(pygame.K_LEFT),
                             (pygame.MOUSEBUTTONDOWN, {"pos": (0, 0), "button": 3})))
    c = controls.action()
    assert (c["forward"], c["attack"], c["sprint"], c["use"]) == (0, 0, 1, 1)
    assert np.allclose(c["camera"], [0.0, -5.0]) and np.allclose(controls.action()["camera"], [0.0, -5.0])
    controls.handle_all(post(down(pygame.K_d), up(pygame.K_d)))  # a tap between two ticks
    assert controls.action()["right"] == 1 and controls.action()["right"] == 0
    controls.handle_all(post(down(pygame.K_p), down(pygame.K_r), down(pygame.K_ESCAPE)))
    assert controls.pop_commands() == ["pause", "reset", "quit"]


def test_loop_steps_the_env_from_events() -> None:
    env = BlockWorldEnv(width=32, height=32)
    loop = ViewerLoop(env, seed=4, scale=4)
    frame = loop.tick(post())
    assert frame.shape == (128, 128, 3) and frame.dtype == np.uint8
    start = env.player.pose().copy()
    loop.tick(post(down(pygame.K_RIGHT)))
    turned = loop.tick(post(up(pygame.K_RIGHT)))
    assert env.player.pose()[3] == pytest.approx((start[3] + 5.0 + 180.0) % 360.0 - 180.0)  # held for one tick
    assert not np.array_equal(turned, frame)
    loop.tick(post(down(pygame.K_w)))
    for _ in range(5):
        loop.tick(post())
    moved = np.hypot(*(env.player.position[[0, 2]] - start[[0, 2]]))
    assert moved > 0.5
    loop.tick(post(down(pygame.K_p)))  # pause: the env stops
    tick = env.tick
    paused = loop.tick(post())
    assert env.tick == tick and loop.paused and paused.shape == frame.shape
    loop.tick(post(down(pygame.K_p), up(pygame.K_w)))
    loop.tick(post(down(pygame.K_r)))
    assert loop.episodes == 1 and env.tick == 1
    loop.tick(post(down(pygame.K_ESCAPE)))
    assert not loop.running


def test_run_opens_window_and_quits(monkeypatch: pytest.MonkeyPatch) -> None:
    captions: list[str] = []
    monkeypatch.setattr(pygame.display, "set_caption", captions.append)
    loop = ViewerLoop(BlockWorldEnv(width=16, height=16), seed=0, scale=2)
    queue(down(pygame.K_ESCAPE))
    assert loop.run(caption="wm play - BlockWorld-v0") == 0
    assert captions == ["wm play - BlockWorld-v0  (H: help)"]  # a short title; the controls are in the overlay


def reacts(key: int) -> bool:
    """True if pressing `key` changes the action or gives a command."""
    controls = KeyboardControls()
    controls.handle_all(post(down(key)))
    action = controls.action()
    return bool(controls.pop_commands()) or any(np.any(value) for value in action.values())


def test_help_table_lists_exactly_the_bound_keys() -> None:
    listed = [key for row in CONTROLS for key in row.bound_keys()]
    assert len(listed) == len(set(listed))  # no key in two rows
    every_key = {getattr(pygame, name) for name in dir(pygame) if name.startswith("K_")}
    assert {key for key in every_key if reacts(key)} == set(listed)
    clicks = set()
    for button in range(1, 6):
        controls = KeyboardControls()
        controls.handle_all(post((pygame.MOUSEBUTTONDOWN, {"pos": (0, 0), "button": button})))
        if any(np.any(value) for value in controls.action().values()):
            clicks.add(button)
    assert clicks == {button for row in CONTROLS for button in row.mouse} == {1, 3}
    shown = help_rows()
    assert [(row.label, row.does) for row in CONTROLS] == shown[1:len(CONTROLS) + 1]
    assert list(HUD_HELP) == shown[-len(HUD_HELP):]
    assert "E: use" in cli.build_parser("wm play").epilog and "H: show / hide the help overlay" in \
        cli.build_parser("wm play").epilog


def test_h_toggles_the_help_overlay() -> None:
    loop = ViewerLoop(BlockWorldEnv(width=64, height=64), seed=0)  # the default 8x: 512 px
    loop.tick(post(down(pygame.K_p)))  # paused: only the overlay changes the frame
    plain = loop.tick(post()).astype(np.float32)
    shown = loop.tick(post(down(pygame.K_h))).astype(np.float32)
    assert loop.show_help and shown.shape == plain.shape == (512, 512, 3)
    centre = (slice(200, 312), slice(100, 412))
    assert shown[centre].mean() < 0.6 * plain[centre].mean()  # the dark box over the middle of the frame
    assert render_help(help_rows(), (512, 512)).get_height() <= 512 - 16  # the whole table fits
    hidden = loop.tick(post(down(pygame.K_h)))
    below_hud = slice(80, None)  # the fps text changes from tick to tick
    assert not loop.show_help and np.array_equal(hidden[below_hud], plain[below_hud].astype(np.uint8))


def test_hud_shows_reward_only_with_a_task_and_r_resets_the_step() -> None:
    loop = ViewerLoop(BlockWorldEnv(width=16, height=16), seed=0, scale=2)
    loop.tick(post(down(pygame.K_w)))
    loop.tick(post())
    assert loop.task is None and loop.hud_lines()[1] == "episode 1  step 2"
    assert not any("reward" in line for line in loop.hud_lines())
    loop.tick(post(down(pygame.K_r)))  # a new episode, then this tick's step
    assert (loop.steps, loop.episodes, loop.ticks) == (1, 1, 3) and loop.hud_lines()[1] == "episode 2  step 1"
    assert loop.summary() == "played 3 ticks, 2 episodes; reward 0.00 (no task)"
    task = ViewerLoop(BlockWorldEnv(width=16, height=16, task="collect_logs:3"), seed=0, scale=2)
    task.tick(post())
    assert task.hud_lines()[2] == "task collect_logs:3  reward this episode 0.00"
    assert task.summary() == "played 1 tick, 1 episode; reward 0.00 (task collect_logs:3)"
    task.episode_return = task.total_reward = -0.004  # never "-0.00"
    assert task.hud_lines()[2].endswith("reward this episode 0.00") and "reward 0.00 " in task.summary()


def test_scale_fits_the_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    assert fit_scale(64, 64, 1024, 768) == 8  # one pane: the 8x default fits
    assert fit_scale(129, 64, 1024, 768) * 129 <= 1024 - 32  # --compare's two panes on a 1024 px screen
    assert fit_scale(129, 64, 2560, 1440) == 8 and fit_scale(64, 64, 0, 0) == 8  # capped; unknown screen
    assert fit_scale(300, 300, 200, 200) == 1
    monkeypatch.setattr(pygame.display, "Info", lambda: SimpleNamespace(current_w=1024, current_h=768))
    wide = ViewerLoop(BlockWorldEnv(width=129, height=64), seed=0)  # as wide as --compare's 64 px panes
    queue(down(pygame.K_ESCAPE))
    wide.run()
    assert wide.scale == 7 and wide.surface.get_width() <= 1024
    fixed = ViewerLoop(BlockWorldEnv(width=129, height=64), seed=0, scale=8)  # --scale given: kept
    queue(down(pygame.K_ESCAPE))
    fixed.run()
    assert fixed.surface.get_width() == 1032


def test_loop_rejects_other_action_spaces() -> None:
    with pytest.raises(ValueError, match="canonical"):
        ViewerLoop(gym.make("CartPole-v1"))


def test_headless_replay_writes_one_frame_per_action(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    script = tmp_path / "script.jsonl"
    lines = [{"forward": 1}, {"forward": 1, "camera": [0, 20]}, {}, {"attack": 1, "camera": [30, 0]}, {"use": 1},
             {"jump": 1}, {"hotbar.2": 1}]
    script.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = tmp_path / "replay.mp4"
    code = cli.main(["--env", "BlockWorld-v0", "--headless", "--actions", str(script), "--record", str(out),
                     "--seed", "1", "--size", "32"],
                    prog="wm play")
    assert code == 0 and out.exists()
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == len(lines) and frames[0].shape == (128, 128, 3)  # --record-scale 4
    assert capsys.readouterr().out == f"played 7 ticks, 1 episode; reward 0.00 (no task); 7 frames -> {out}\n"
    assert cli.main(["--env", "BlockWorld-v0", "--headless", "--actions", str(script), "--task", "mine_gold",
                     "--size", "16"]) == 0
    assert capsys.readouterr().out == "played 7 ticks, 1 episode; reward 0.00 (task mine_gold)\n"


def test_bad_script_line_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    script = tmp_path / "bad.jsonl"
    script.write_text('{"forward": 1}\n{"camera": [1, 2, 3]}\n')
    assert cli.main(["--headless", "--actions", str(script)], prog="wm play") == 2
    assert "bad.jsonl:2" in capsys.readouterr().err


def test_no_display_suggests_headless(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cli.sys, "platform", "linux")
    assert cli.main([], prog="wm play") == 2
    assert "--headless" in capsys.readouterr().err


def test_gif_and_odd_sized_mp4(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (15, 21, 3), dtype=np.uint8) for _ in range(4)]
    with VideoWriter(tmp_path / "a.gif", fps=10) as gif:
        for f in frames:
            gif.write(f)
    from PIL import Image

    assert Image.open(tmp_path / "a.gif").n_frames == 4
    with VideoWriter(tmp_path / "a.mp4") as mp4:
        for f in frames:
            mp4.write(f)
    with av.open(str(tmp_path / "a.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (22, 16)
        assert sum(1 for _ in container.decode(video=0)) == 4
    with pytest.raises(ValueError, match="avi"):
        VideoWriter(tmp_path / "a.avi")
