"""Keyboard and mouse -> the canonical action dict, driven only by the pygame event queue.

State is tracked from KEYDOWN/KEYUP and MOUSEBUTTONDOWN/UP events, so tests can drive it with
`pygame.event.post`. A key pressed and released between two ticks still counts as pressed for one tick.

Controls: W A S D move, Space jump, Shift sneak, Ctrl sprint, mouse or arrow keys look, left click (or F)
attack, right click (or E) use, 1-9 select a hotbar slot, P pause, Backspace (or ,) step back, . step forward,
B bookmark, N branch from the bookmark, R reset, Esc quit.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pygame

from envs.actions import Action, noop_action

KEY_BUTTONS: dict[int, str] = {
    pygame.K_w: "forward",
    pygame.K_s: "back",
    pygame.K_a: "left",
    pygame.K_d: "right",
    pygame.K_SPACE: "jump",
    pygame.K_LSHIFT: "sneak",
    pygame.K_RSHIFT: "sneak",
    pygame.K_LCTRL: "sprint",
    pygame.K_RCTRL: "sprint",
    pygame.K_f: "attack",
    pygame.K_e: "use",
}
MOUSE_BUTTONS: dict[int, str] = {1: "attack", 3: "use"}
ARROWS: dict[int, tuple[float, float]] = {  # key -> (pitch sign, yaw sign); pitch positive looks down
    pygame.K_UP: (-1.0, 0.0),
    pygame.K_DOWN: (1.0, 0.0),
    pygame.K_LEFT: (0.0, -1.0),
    pygame.K_RIGHT: (0.0, 1.0),
}
HOTBAR_KEYS: dict[int, str] = {getattr(pygame, f"K_{i}"): f"hotbar.{i}" for i in range(1, 10)}
COMMAND_KEYS: dict[int, str] = {
    pygame.K_ESCAPE: "quit",
    pygame.K_p: "pause",
    pygame.K_r: "reset",  # a new episode (the dream: a new prompt)
    pygame.K_BACKSPACE: "back",  # step back one tick (rewind; pauses)
    pygame.K_COMMA: "back",
    pygame.K_PERIOD: "forward",  # paused: one tick forward (through the rewound frames, then live)
    pygame.K_b: "bookmark",  # remember this moment
    pygame.K_n: "branch",  # return to the bookmark and play on from there
}
HELP = ("WASD move, Space jump, Shift sneak, Ctrl sprint, mouse/arrows look, LMB/F attack, RMB/E use, 1-9 slot, "
        "P pause, Backspace back, . forward, B bookmark, N branch, R reset, Esc quit")


class KeyboardControls:
    """Accumulates pygame events; `action()` returns the action for the next tick and clears one-tick state."""

    def __init__(self, mouse_sensitivity: float = 0.15, arrow_deg: float = 5.0, mouse_look: bool = True) -> None:
        """mouse_sensitivity: degrees per pixel of mouse motion; arrow_deg: degrees per tick while an arrow is held."""
        self.mouse_sensitivity = float(mouse_sensitivity)
        self.arrow_deg = float(arrow_deg)
        self.mouse_look = mouse_look
        self.held: dict[str, set[tuple[str, int]]] = {}  # button -> the keys / mouse buttons holding it
        self.tapped: set[str] = set()  # pressed since the last tick (counts even if already released)
        self.arrows: set[int] = set()
        self.tapped_arrows: set[int] = set()
        self.mouse = np.zeros(2, dtype=np.float64)  # accumulated [delta pitch, delta yaw] degrees
        self.hotbar: str | None = None
        self.commands: list[str] = []

    def handle(self, event: pygame.event.Event) -> None:
        """Update the state from one pygame event."""
        kind = event.type
        if kind == pygame.QUIT:
            self.commands.append("quit")
        elif kind == pygame.KEYDOWN:
            key = event.key
            if key in KEY_BUTTONS:
                self._press(KEY_BUTTONS[key], ("key", key))
            elif key in ARROWS:
                self.arrows.add(key)
                self.tapped_arrows.add(key)
            elif key in HOTBAR_KEYS:
                self.hotbar = HOTBAR_KEYS[key]
            elif key in COMMAND_KEYS:
                self.commands.append(COMMAND_KEYS[key])
        elif kind == pygame.KEYUP:
            if event.key in KEY_BUTTONS:
                self._release(KEY_BUTTONS[event.key], ("key", event.key))
            self.arrows.discard(event.key)
        elif kind == pygame.MOUSEBUTTONDOWN and event.button in MOUSE_BUTTONS:
            self._press(MOUSE_BUTTONS[event.button], ("mouse", event.button))
        elif kind == pygame.MOUSEBUTTONUP and event.button in MOUSE_BUTTONS:
            self._release(MOUSE_BUTTONS[event.button], ("mouse", event.button))
        elif kind == pygame.MOUSEMOTION and self.mouse_look:
            dx, dy = event.rel
            self.mouse += (dy * self.mouse_sensitivity, dx * self.mouse_sensitivity)
        elif kind == pygame.WINDOWFOCUSLOST:
            self.release_all()

    def handle_all(self, events: Iterable[pygame.event.Event]) -> None:
        """Update the state from a batch of events (one tick's worth)."""
        for event in events:
            self.handle(event)

    def action(self) -> Action:
        """The action for this tick: held + tapped buttons, arrow and mouse camera, a selected hotbar slot."""
        action = noop_action()
        for button, sources in self.held.items():
            if sources:
                action[button] = 1
        for button in self.tapped:
            action[button] = 1
        if self.hotbar is not None:
            action[self.hotbar] = 1
        camera = self.mouse.copy()
        for key in self.arrows | self.tapped_arrows:
            pitch, yaw = ARROWS[key]
            camera += (pitch * self.arrow_deg, yaw * self.arrow_deg)
        action["camera"] = np.clip(camera, -180.0, 180.0).astype(np.float32)
        self.tapped.clear()
        self.tapped_arrows.clear()
        self.mouse[:] = 0.0
        self.hotbar = None
        return action

    def pop_commands(self) -> list[str]:
        """Commands ("quit", "pause", "reset", "back", "forward", "bookmark", "branch") since the last call, in order."""
        commands, self.commands = self.commands, []
        return commands

    def release_all(self) -> None:
        """Forget every held key and button (e.g. when the window loses focus)."""
        self.held.clear()
        self.arrows.clear()

    def _press(self, button: str, source: tuple[str, int]) -> None:
        self.held.setdefault(button, set()).add(source)
        self.tapped.add(button)

    def _release(self, button: str, source: tuple[str, int]) -> None:
        self.held.get(button, set()).discard(source)
