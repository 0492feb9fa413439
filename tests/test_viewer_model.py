"""The viewer with the learned world: posted pygame events -> actions and frames of the dream, rewind / branch /
bookmark, the --compare view, headless recordings read back with PyAV, and `wm play` choosing the dream."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pygame
import pytest
from dream_fixtures import one_thread, tiny_model  # noqa: F401 (pytest fixtures)

from envs.actions import noop_action
from worldmodel import bundled
from worldmodel.dream.env import WorldModelEnv
from worldmodel.viewer import cli
from worldmodel.viewer.compare import CompareEnv
from worldmodel.viewer.loop import ViewerLoop
from pygame_events import display, post, queue  # noqa: F401  (display: autouse fixture)

FAST = dict(device="cpu", context_frames=2, render_mode="rgb_array")


def key(kind: int, code: int) -> tuple[int, dict]:
    return kind, {"key": code, "mod": 0, "unicode": "", "scancode": 0}


class Spy(WorldModelEnv):
    """The dream env, remembering the actions it was stepped with."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.actions: list[dict] = []

    def step(self, action):
        self.actions.append(action)
        return super().step(action)


def test_events_drive_the_dream(tiny_model: Path) -> None:
    env = Spy(model=tiny_model, **FAST)
    loop = ViewerLoop(env, seed=3, scale=2)
    frames = [loop.tick(post(key(pygame.KEYDOWN, pygame.K_w), key(pygame.KEYDOWN, pygame.K_RIGHT)))]
    frames.append(loop.tick(post(key(pygame.KEYUP, pygame.K_RIGHT), key(pygame.KEYDOWN, pygame.K_SPACE),
                                 key(pygame.KEYDOWN, pygame.K_4))))
    frames.append(loop.tick(post(key(pygame.KEYUP, pygame.K_w), key(pygame.KEYUP, pygame.K_SPACE),
                                 (pygame.MOUSEBUTTONDOWN, {"pos": (0, 0), "button": 1}))))
    first, second, third = env.actions
    assert first["forward"] == 1 and first["camera"].tolist() == [0.0, 5.0]
    assert (second["forward"], second["jump"], second["hotbar.4"]) == (1, 1, 1) and not second["camera"].any()
    assert (third["forward"], third["jump"], third["attack"]) == (0, 0, 1)
    assert frames[0].shape == (32, 32, 3) and frames[0].dtype == np.uint8
    # the frames on screen are the dream's: a fresh env with the same seed and actions reproduces them
    replay = WorldModelEnv(model=tiny_model, **FAST)
    replay.reset(seed=3)
    for action in env.actions:
        expected = replay.step(action)[0]
    np.testing.assert_array_equal(loop.image, expected)
    seed = env.seed_used
    loop.tick(post(key(pygame.KEYDOWN, pygame.K_r)))  # reset: a new prompt from a new episode seed
    assert loop.episodes == 1 and env.seed_used != seed and env.steps == 1


def test_rewind_branch_and_bookmark(tiny_model: Path) -> None:
    env = WorldModelEnv(model=tiny_model, **FAST)
    loop = ViewerLoop(env, seed=1, scale=1, overlay=False, keyframe_every=3)
    images = [loop.image]
    for t in range(7):
        loop.tick(post(key(pygame.KEYDOWN if t % 2 == 0 else pygame.KEYUP, pygame.K_w)))
        images.append(loop.image)
    for _ in range(3):
        loop.tick(post(key(pygame.KEYDOWN, pygame.K_BACKSPACE)))
    assert loop.paused and loop.timeline.rewound == 3 and env.steps == 7  # browsing costs no model step
    assert loop.steps == 4 and loop.ticks == 7  # the HUD step follows the frame on screen
    np.testing.assert_array_equal(loop.image, images[4])
    loop.tick(post(key(pygame.KEYDOWN, pygame.K_PERIOD)))
    np.testing.assert_array_equal(loop.image, images[5])
    loop.tick(post(key(pygame.KEYDOWN, pygame.K_b)))  # bookmark here (brings the env to this frame)
    assert env.steps == loop.steps == 5 and loop.timeline.rewound == 0
    # one step with the action tick 6 had ('w' released): same state, same action, same frame
    loop.tick(post(key(pygame.KEYDOWN, pygame.K_PERIOD), key(pygame.KEYUP, pygame.K_w)))
    np.testing.assert_array_equal(loop.image, images[6])
    loop.tick(post(key(pygame.KEYDOWN, pygame.K_p)))  # resume
    loop.tick(post(key(pygame.KEYDOWN, pygame.K_n)))  # back to the bookmark, play on from there
    assert env.steps == 6 and loop.message == "back at the bookmark" and loop.steps == 6
    for _ in range(3):
        loop.tick(post(key(pygame.KEYDOWN, pygame.K_BACKSPACE)))
    assert loop.timeline.rewound == 1  # the timeline restarted at the bookmark: one tick back is all there is


def test_compare_view_shows_truth_beside_the_dream(tiny_model: Path) -> None:
    env = CompareEnv(WorldModelEnv(model=tiny_model, **FAST))
    loop = ViewerLoop(env, seed=2, scale=2)
    frame = loop.tick(post(key(pygame.KEYDOWN, pygame.K_w)))
    assert env.observation_space.shape == (16, 33, 3) and frame.shape == (32, 66, 3)
    assert loop.image.shape == (16, 33, 3) and "PSNR" in env.status_lines()[0] and env.count == 2
    assert env.truth.tick == 2  # one prompt step (context 2) + one played step
    np.testing.assert_array_equal(loop.image[:, :16], env.truth.observe())
    loop.tick(post(key(pygame.KEYDOWN, pygame.K_BACKSPACE)))
    loop.tick(post(key(pygame.KEYDOWN, pygame.K_p)))  # resume = branch both worlds
    assert env.truth.tick == 2 and env.dream.steps == 1
    assert loop.task is None and not any("reward" in line for line in loop.hud_lines())  # the dream has no task
    with pytest.raises(ValueError, match="prompted by BlockWorld"):
        CompareEnv(WorldModelEnv(model=tiny_model, prompt=lambda seed: (np.zeros((1, 16, 16, 3), np.uint8), None),
                                 device="cpu"))


def test_compare_window_fits_the_screen(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pygame.display, "Info", lambda: SimpleNamespace(current_w=200, current_h=400))
    loop = ViewerLoop(CompareEnv(WorldModelEnv(model=tiny_model, **FAST)), seed=0)  # no scale: fit the screen
    queue(key(pygame.KEYDOWN, pygame.K_ESCAPE))
    loop.run()
    assert loop.scale == 5 and loop.surface.get_size() == (165, 80)  # 33 px wide: (200 - 32) // 33 = 5


def script(tmp_path: Path, lines: list[dict]) -> Path:
    path = tmp_path / "script.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_headless_recording_of_the_dream(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    lines = [{"forward": 1}, {"camera": [0, 8]}, {}, {"jump": 1, "forward": 1}, {"attack": 1}]
    out = tmp_path / "dream.mp4"
    from worldmodel.cli import main as wm

    code = wm(["play", "--headless", "--model", str(tiny_model), "--actions", str(script(tmp_path, lines)),
               "--record", str(out), "--seed", "1", "--device", "cpu", "--context", "2"])
    assert code == 0 and "5 frames" in capsys.readouterr().out
    frames = decoded(out)
    assert len(frames) == len(lines) and frames[0].shape == (64, 64, 3)  # 16 px x --record-scale 4
    side = tmp_path / "compare.gif"
    assert cli.main(["--headless", "--compare", "--model", str(tiny_model), "--actions",
                     str(script(tmp_path, lines)), "--record", str(side), "--device", "cpu"]) == 0
    from PIL import Image

    assert Image.open(side).n_frames == len(lines) and Image.open(side).size == (132, 64)


def test_play_picks_the_bundled_dream_by_default(tiny_model: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture) -> None:
    made: list[str] = []
    factory = cli.ENV_FACTORIES["WorldModel-v0"]
    monkeypatch.setitem(cli.ENV_FACTORIES, "WorldModel-v0", lambda args: made.append("dream") or factory(args))
    monkeypatch.setattr(bundled, "BUNDLED_DIR", tiny_model)  # stands in for worldmodel/bundled/
    queue(key(pygame.KEYDOWN, pygame.K_ESCAPE))
    assert cli.main(["--device", "cpu", "--scale", "1"]) == 0  # `wm play` with no (other) arguments
    assert made == ["dream"] and capsys.readouterr().out == "played 0 ticks, 0 episodes; reward 0.00 (no task)\n"
    monkeypatch.setattr(bundled, "BUNDLED_DIR", tiny_model.parent / "missing")
    args = cli.build_parser("wm play").parse_args([])
    assert cli.env_name(args) == "BlockWorld-v0" and "no bundled world model" in capsys.readouterr().err
    assert cli.main(["--model", "bundled", "--headless", "--actions", str(script(Path(tiny_model).parent,
                                                                                 [{}]))]) == 2
    assert "bundled world model is missing" in capsys.readouterr().err
    assert cli.main(["--model", str(tiny_model), "--size", "32", "--headless", "--actions",
                     str(script(Path(tiny_model).parent, [{}])), "--device", "cpu"]) == 2
    assert "--size 32" in capsys.readouterr().err
    assert noop_action()["forward"] == 0
