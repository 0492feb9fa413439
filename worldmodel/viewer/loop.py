"""The game loop: plays any Gymnasium env whose action space is the canonical Dict (envs/actions.py) and whose
observation is an RGB image (H, W, 3) uint8 (else `env.render()` in rgb_array mode is shown).

`ViewerLoop.tick(events) -> frame` does one tick without touching the display (tests post pygame events and
read frames); `ViewerLoop.run()` adds the window, mouse grab and frame pacing. The on-screen latency is the
time from handing a tick's input events to the env until its frame is on screen (in `tick` alone: until the
frame is composed); events wait up to one frame period in the queue before that.

Envs with save_state() / restore_state() (BlockWorld, the dream, the --compare view) also get rewind: step
back and forward through recent frames, branch from any of them by playing on, and a bookmark to return to
(see history.py). Envs with a `status_lines()` method add their own overlay text (e.g. the live PSNR).
What is written over the frame (the HUD, the help overlay on H) is in hud.py. The window scale is chosen to fit
the screen (fit_scale) unless one is given.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

import gymnasium as gym
import numpy as np
import pygame

from envs.actions import ACTION_KEYS, Action, validate_action
from worldmodel.viewer.history import Entry, Timeline, supports_states
from worldmodel.viewer.hud import HelpOverlay, draw_lines, env_task
from worldmodel.viewer.keys import KeyboardControls
from worldmodel.viewer.record import VideoWriter, upscale

MESSAGE_TICKS = 40  # a rewind message stays on screen for 2 s of play
DEFAULT_SCALE = 8  # window pixels per frame pixel, at most, when the scale is chosen automatically
SCREEN_MARGIN = (32, 96)  # pixels of the screen (W, H) left free: window borders, title bar, task bar


def fit_scale(frame_w: int, frame_h: int, screen_w: int, screen_h: int, largest: int = DEFAULT_SCALE) -> int:
    """The largest scale <= `largest` at which a frame_w x frame_h frame fits the screen less SCREEN_MARGIN
    (at least 1; `largest` when the screen size is unknown, i.e. not positive)."""
    if screen_w <= 0 or screen_h <= 0:
        return largest
    fit = min((screen_w - SCREEN_MARGIN[0]) // frame_w, (screen_h - SCREEN_MARGIN[1]) // frame_h)
    return max(1, min(largest, fit))


def two_decimals(value: float) -> str:
    """A reward with 2 decimals, never "-0.00"."""
    return f"{round(value, 2) + 0.0:.2f}"


def plural(count: int, noun: str) -> str:
    """The count and its noun, plural unless the count is 1: "1 tick", "2 ticks"."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def check_canonical(env: gym.Env) -> None:
    """ValueError unless the env's action space is the canonical action Dict."""
    space = env.action_space
    if not isinstance(space, gym.spaces.Dict) or set(space.spaces) != set(ACTION_KEYS):
        raise ValueError(f"viewer: env action space must be the canonical Dict {list(ACTION_KEYS)}, got {space}")


class ViewerLoop:
    """Steps an env from keyboard / mouse events, composes an upscaled frame with fps and latency text."""

    def __init__(
        self,
        env: gym.Env,
        *,
        seed: int | None = None,
        scale: int | None = None,
        fps: float = 20.0,
        controls: KeyboardControls | None = None,
        recorder: VideoWriter | None = None,
        record_scale: int = 1,
        overlay: bool = True,
        rewind: int = 400,
        keyframe_every: int = 20,
    ) -> None:
        """scale: window pixels per frame pixel (None: DEFAULT_SCALE, and run() fits it to the screen);
        rewind: ticks kept for stepping back (0 = off); keyframe_every: ticks between saved env states."""
        check_canonical(env)
        if (scale is not None and scale < 1) or record_scale < 1:
            raise ValueError(f"viewer: 'scale' and 'record_scale' must be >= 1, got {scale}, {record_scale}")
        self.env, self.fps = env, float(fps)
        self.scale, self.auto_scale = int(scale or DEFAULT_SCALE), scale is None
        self.controls = controls or KeyboardControls()
        self.recorder, self.record_scale, self.overlay = recorder, int(record_scale), overlay
        self.running, self.paused, self.show_help, self.show_map = True, False, False, False
        self.task = env_task(env)  # None: the env has no task, so its reward is not shown
        self.steps = 0  # ticks since this episode began (R and episode ends reset it; rewind restores it)
        self.episodes = 0  # resets so far (the episode on screen is number episodes + 1)
        self.ticks = 0  # env steps played in all, over every episode and branch
        self.episode_return = 0.0
        self.total_reward = 0.0  # reward summed over every tick played
        self.help = HelpOverlay()
        self.measured_fps = 0.0
        self.latency_ms = 0.0
        self._last_tick: float | None = None
        self._font: Any = None
        self._small: Any = None  # frame-sized surface, scaled up onto self.surface
        self.timeline = Timeline(rewind, keyframe_every) if rewind > 0 and supports_states(env) else None
        self.bookmark: Entry | None = None
        self.message = ""  # feedback of the last rewind command, shown in the overlay for MESSAGE_TICKS steps
        self._message_ticks = 0
        self._single_step = False
        obs, _ = env.reset(seed=seed)
        self.image = self._image(obs)
        self._start_timeline()
        self.surface = pygame.Surface((self.image.shape[1] * self.scale, self.image.shape[0] * self.scale))

    def set_scale(self, scale: int) -> None:
        """Change the window pixels per frame pixel (a new surface; the HUD font follows its size)."""
        if scale < 1:
            raise ValueError(f"viewer: 'scale' must be >= 1, got {scale}")
        self.scale = int(scale)
        self.surface = pygame.Surface((self.image.shape[1] * self.scale, self.image.shape[0] * self.scale))
        self._font = None

    def tick(self, events: Iterable[pygame.event.Event]) -> np.ndarray:
        """Handle one tick's events, step the env unless paused, and return the display frame (H*s, W*s, 3)."""
        self.advance(events)
        return pygame.surfarray.array3d(self.surface).transpose(1, 0, 2)

    def advance(self, events: Iterable[pygame.event.Event]) -> None:
        """tick() without reading the frame back from the surface (3 ms at 512x512: the window loop skips it)."""
        start = time.perf_counter()
        self.update(events)
        self.draw()
        self._timing(start)

    def update(self, events: Iterable[pygame.event.Event]) -> None:
        """Handle one tick's events and step the env unless paused (no drawing)."""
        self.controls.handle_all(events)
        for command in self.controls.pop_commands():
            if command == "quit":
                self.running = False
            elif command == "pause":
                self.paused = not self.paused
            elif command == "reset":
                self.reset()
            elif command == "help":
                self.show_help = not self.show_help
            elif command == "map":
                self.show_map = not self.show_map
            else:
                self.rewind_command(command)
        action = self.controls.action()
        if self.running and (not self.paused or self._single_step):
            self.step(action)
        self._single_step = False

    def step(self, action: Action) -> np.ndarray:
        """Step the env with one canonical action (recording the new frame); auto-reset at episode end.
        When rewound, the env first branches from the frame on screen (the frames after it are dropped)."""
        action = validate_action(action)
        if self.timeline is not None and self.timeline.rewound:
            self._show(self.timeline.branch(self.env))
            self._say("branched")
        obs, reward, terminated, truncated, _ = self.env.step(action)
        self.steps += 1
        self.ticks += 1
        self.episode_return += float(reward)
        self.total_reward += float(reward)
        self.image = self._image(obs)
        if self.recorder is not None:
            self.recorder.write(upscale(self.image, self.record_scale))
        if self.timeline is not None:
            self.timeline.push(self.image, action, self.episode_return, self.env.save_state, self.steps)
        self._message_ticks -= 1
        if self._message_ticks <= 0:
            self.message = ""
        if terminated or truncated:
            self.reset()
        return self.image

    def reset(self) -> None:
        """Start a new episode (no seed: the env's own RNG picks the next one)."""
        obs, _ = self.env.reset()
        self.image = self._image(obs)
        self.episodes += 1
        self.steps = 0
        self.episode_return = 0.0
        self._start_timeline()

    def rewind_command(self, command: str) -> None:
        """"back" / "forward" (pause and move through recent frames; forward at the newest frame steps once),
        "bookmark" (remember this moment), "branch" (return to the bookmark and play on from there)."""
        if self.timeline is None:
            self._say("no rewind: this env has no save_state()")
            return
        if command in ("back", "forward"):
            self.paused = True
            entry = self.timeline.back() if command == "back" else self.timeline.forward()
            if entry is not None:
                self._show(entry)
            elif command == "forward":
                self._single_step = True  # already at the newest frame: step once with this tick's action
            self._say("")
        elif command == "bookmark":
            if self.timeline.rewound:  # the env is at the newest frame: bring it to the one on screen first
                self._show(self.timeline.branch(self.env))
            self.bookmark = Entry(self.image.copy(), None, self.episode_return, self.env.save_state(), self.steps)
            self._say("bookmarked (N returns here)")
        elif command == "branch":
            if self.bookmark is None:
                self._say("no bookmark yet (B sets one)")
                return
            self.env.restore_state(self.bookmark.state)
            self._show(self.bookmark)
            self.timeline.start(self.image, self.bookmark.state, self.episode_return, self.steps)
            self._say("back at the bookmark")

    def _say(self, text: str) -> None:
        self.message, self._message_ticks = text, MESSAGE_TICKS

    def _show(self, entry: Entry) -> None:
        self.image, self.episode_return, self.steps = entry.image, entry.episode_return, entry.step

    def _start_timeline(self) -> None:
        if self.timeline is not None:
            self.timeline.start(self.image, self.env.save_state(), self.episode_return, self.steps)

    def compose(self) -> np.ndarray:
        """Draw the upscaled image and the text overlay onto self.surface; return it as (H*s, W*s, 3) uint8."""
        self.draw()
        return pygame.surfarray.array3d(self.surface).transpose(1, 0, 2)

    def draw(self) -> None:
        """Draw the upscaled image and the text overlay onto self.surface."""
        h, w = self.image.shape[:2]
        if self._small is None or self._small.get_size() != (w, h):
            self._small = pygame.Surface((w, h))
        pygame.surfarray.blit_array(self._small, self.image.transpose(1, 0, 2))  # surfarray is (W, H, 3)
        # pixel replication in C: 5x faster than numpy repeat + blit_array of the big frame
        pygame.transform.scale(self._small, self.surface.get_size(), self.surface)
        if self.show_map:
            self._draw_map()
        if self.overlay:
            self._text(self.hud_lines())
        if self.show_help:
            self.help.draw(self.surface)

    def _draw_map(self) -> None:
        """The env's memory map (`memory_map()`, dream envs with a spatial memory) in the top-right corner."""
        source = getattr(self.env.unwrapped, "memory_map", None)
        image = source() if callable(source) else None
        if image is None:
            self._say("M: this world keeps no memory map")
            self.show_map = False
            return
        side = max(32, self.surface.get_height() // 3)
        small = pygame.Surface((image.shape[1], image.shape[0]))
        pygame.surfarray.blit_array(small, image.transpose(1, 0, 2))
        self.surface.blit(pygame.transform.scale(small, (side, side)), (self.surface.get_width() - side - 4, 4))

    def hud_lines(self) -> list[str]:
        """The HUD text, top line first (hud.HUD_HELP says what each item means)."""
        lines = [f"{self.measured_fps:4.1f} fps  latency {self.latency_ms:5.1f} ms  H: help",
                 f"episode {self.episodes + 1}  step {self.steps}"]
        if self.task is not None:
            lines.append(f"task {self.task}  reward this episode {two_decimals(self.episode_return)}")
        status = getattr(self.env, "status_lines", None)
        if callable(status):
            lines.extend(status())
        if self.timeline is not None and self.timeline.rewound:
            lines.append(f"REWOUND {self.timeline.rewound} ticks (playing on branches from here)")
        if self.paused:
            lines.append("PAUSED (P resumes)")
        if self.message:
            lines.append(self.message)
        return lines

    def summary(self) -> str:
        """One line on what was played, e.g. "played 120 ticks, 1 episode; reward 0.00 (no task)"."""
        episodes = self.episodes + (1 if self.steps > 0 else 0)  # an episode just begun, with no tick, not counted
        reward = two_decimals(self.total_reward)
        if self.task is not None:
            about = f"task {self.task}"
        elif reward == "0.00":
            about = "no task"
        else:
            about = "no task: the env's own reward"
        return f"played {plural(self.ticks, 'tick')}, {plural(episodes, 'episode')}; reward {reward} ({about})"

    def run(self, caption: str = "wm play") -> int:
        """Open a window and play until Esc / window close (the scale fitted to the screen unless one was
        given); returns the number of ticks played."""
        pygame.display.init()
        if self.auto_scale:
            info = pygame.display.Info()  # the desktop size, before any window opens
            self.set_scale(fit_scale(self.image.shape[1], self.image.shape[0], info.current_w, info.current_h))
        pygame.display.set_caption(f"{caption}  (H: help)")
        screen = pygame.display.set_mode(self.surface.get_size())
        grabbed = self._grab(True)
        clock = pygame.time.Clock()
        try:
            while self.running:
                start = time.perf_counter()
                self.advance(pygame.event.get())
                if self.paused == grabbed:
                    grabbed = self._grab(not self.paused)  # pausing frees the mouse
                screen.blit(self.surface, (0, 0))
                pygame.display.flip()
                self.latency_ms = (time.perf_counter() - start) * 1000.0  # input handed over -> frame shown
                clock.tick(self.fps)
        finally:
            self._grab(False)
            pygame.display.quit()
        return self.ticks

    def _grab(self, on: bool) -> bool:
        pygame.event.set_grab(on)
        pygame.mouse.set_visible(not on)
        self.controls.mouse_look = on
        return on

    def _image(self, obs: Any) -> np.ndarray:
        if isinstance(obs, np.ndarray) and obs.ndim == 3 and obs.shape[2] == 3 and obs.dtype == np.uint8:
            return obs
        frame = self.env.render()
        if not isinstance(frame, np.ndarray) or frame.ndim != 3:
            raise ValueError("viewer: observations are not RGB images and env.render() gave no rgb_array frame")
        return frame

    def _timing(self, start: float) -> None:
        now = time.perf_counter()
        self.latency_ms = (now - start) * 1000.0
        if self._last_tick is not None:
            dt = max(now - self._last_tick, 1e-6)
            self.measured_fps = 1.0 / dt if self.measured_fps == 0.0 else 0.9 * self.measured_fps + 0.1 / dt
        self._last_tick = now

    def _text(self, lines: list[str]) -> None:
        if self._font is None:
            pygame.font.init()
            size = max(10, min(18, self.surface.get_height() // 28))
            self._font = pygame.font.Font(None, size + 4)
        draw_lines(self.surface, self._font, lines)
