"""The game loop: plays any Gymnasium env whose action space is the canonical Dict (envs/actions.py) and whose
observation is an RGB image (H, W, 3) uint8 (else `env.render()` in rgb_array mode is shown).

`ViewerLoop.tick(events) -> frame` does one tick without touching the display (tests post pygame events and
read frames); `ViewerLoop.run()` adds the window, mouse grab and frame pacing. The on-screen latency is the
time from handing a tick's input events to the env until its frame is on screen (in `tick` alone: until the
frame is composed); events wait up to one frame period in the queue before that.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

import gymnasium as gym
import numpy as np
import pygame

from envs.actions import ACTION_KEYS, Action, validate_action
from worldmodel.viewer.keys import HELP, KeyboardControls
from worldmodel.viewer.record import VideoWriter, upscale

TEXT = (255, 255, 255)
SHADOW = (0, 0, 0)


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
        scale: int = 8,
        fps: float = 20.0,
        controls: KeyboardControls | None = None,
        recorder: VideoWriter | None = None,
        record_scale: int = 1,
        overlay: bool = True,
    ) -> None:
        check_canonical(env)
        if scale < 1 or record_scale < 1:
            raise ValueError(f"viewer: 'scale' and 'record_scale' must be >= 1, got {scale}, {record_scale}")
        self.env, self.scale, self.fps = env, int(scale), float(fps)
        self.controls = controls or KeyboardControls()
        self.recorder, self.record_scale, self.overlay = recorder, int(record_scale), overlay
        self.running, self.paused = True, False
        self.steps = self.episodes = 0
        self.episode_return = 0.0
        self.measured_fps = 0.0
        self.latency_ms = 0.0
        self._last_tick: float | None = None
        self._font: Any = None
        obs, _ = env.reset(seed=seed)
        self.image = self._image(obs)
        self.surface = pygame.Surface((self.image.shape[1] * self.scale, self.image.shape[0] * self.scale))

    def tick(self, events: Iterable[pygame.event.Event]) -> np.ndarray:
        """Handle one tick's events, step the env unless paused, and return the display frame (H*s, W*s, 3)."""
        start = time.perf_counter()
        self.controls.handle_all(events)
        for command in self.controls.pop_commands():
            if command == "quit":
                self.running = False
            elif command == "pause":
                self.paused = not self.paused
            elif command == "reset":
                self.reset()
        action = self.controls.action()
        if self.running and not self.paused:
            self.step(action)
        frame = self.compose()
        self._timing(start)
        return frame

    def step(self, action: Action) -> np.ndarray:
        """Step the env with one canonical action (recording the new frame); auto-reset at episode end."""
        obs, reward, terminated, truncated, _ = self.env.step(validate_action(action))
        self.steps += 1
        self.episode_return += float(reward)
        self.image = self._image(obs)
        if self.recorder is not None:
            self.recorder.write(upscale(self.image, self.record_scale))
        if terminated or truncated:
            self.reset()
        return self.image

    def reset(self) -> None:
        """Start a new episode (no seed: the env's own RNG picks the next one)."""
        obs, _ = self.env.reset()
        self.image = self._image(obs)
        self.episodes += 1
        self.episode_return = 0.0

    def compose(self) -> np.ndarray:
        """Draw the upscaled image and the text overlay onto self.surface; return it as (H*s, W*s, 3) uint8."""
        big = upscale(self.image, self.scale)  # (H*s, W*s, 3)
        pygame.surfarray.blit_array(self.surface, big.transpose(1, 0, 2))  # surfarray is (W, H, 3)
        if self.overlay:
            lines = [f"{self.measured_fps:4.1f} fps  latency {self.latency_ms:5.1f} ms"]
            lines.append(f"step {self.steps}  return {self.episode_return:g}")
            if self.paused:
                lines.append("PAUSED (P resumes)")
            self._text(lines)
        return pygame.surfarray.array3d(self.surface).transpose(1, 0, 2)

    def run(self, caption: str = "wm play") -> int:
        """Open a window and play until Esc / window close; returns the number of steps taken."""
        pygame.display.init()
        pygame.display.set_caption(f"{caption}  |  {HELP}")
        screen = pygame.display.set_mode(self.surface.get_size())
        grabbed = self._grab(True)
        clock = pygame.time.Clock()
        try:
            while self.running:
                start = time.perf_counter()
                self.tick(pygame.event.get())
                if self.paused == grabbed:
                    grabbed = self._grab(not self.paused)  # pausing frees the mouse
                screen.blit(self.surface, (0, 0))
                pygame.display.flip()
                self.latency_ms = (time.perf_counter() - start) * 1000.0  # input handed over -> frame shown
                clock.tick(self.fps)
        finally:
            self._grab(False)
            pygame.display.quit()
        return self.steps

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
        y = 4
        for line in lines:
            for offset, colour in ((1, SHADOW), (0, TEXT)):
                self.surface.blit(self._font.render(line, True, colour), (4 + offset, y + offset))
            y += self._font.get_linesize()
