"""Keyboard and mouse -> the canonical action dict, driven only by the pygame event queue.

State is tracked from KEYDOWN/KEYUP and MOUSEBUTTONDOWN/UP events, so tests can drive it with
`pygame.event.post`. A key pressed and released between two ticks still counts as pressed for one tick.

CONTROLS is the one table of controls: each row says what to press and what it does (the help overlay, H, and
the `wm play --help` text are made from it) and holds that row's bindings; the key maps below are built from it,
so the help cannot list a key that does nothing or miss one that does something.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np
import pygame

from envs.actions import Action, noop_action


@dataclass(frozen=True)
class Control:
    """One row of the controls table: what to press, what it does, and the bindings it makes."""

    label: str
    """What to press, as the help shows it, e.g. "W A S D"."""
    does: str
    """What it does, e.g. "move"."""
    buttons: Mapping[int, str] = field(default_factory=dict)
    """pygame key -> the action button (envs/actions.py) it holds while down."""
    mouse: Mapping[int, str] = field(default_factory=dict)
    """Mouse button (1 left, 3 right) -> the action button it holds while down."""
    arrows: Mapping[int, tuple[float, float]] = field(default_factory=dict)
    """pygame key -> (pitch sign, yaw sign) of the camera turn while down; pitch positive looks down."""
    hotbar: Mapping[int, str] = field(default_factory=dict)
    """pygame key -> the hotbar action it selects for one tick."""
    commands: Mapping[int, str] = field(default_factory=dict)
    """pygame key -> a viewer command ("quit", "pause", "reset", "back", "forward", "bookmark", "branch", "help",
    "map")."""

    def bound_keys(self) -> set[int]:
        """Every pygame key this row binds."""
        return set(self.buttons) | set(self.arrows) | set(self.hotbar) | set(self.commands)


CONTROLS: tuple[Control, ...] = (
    Control("W A S D", "move", buttons={pygame.K_w: "forward", pygame.K_a: "left", pygame.K_s: "back",
                                        pygame.K_d: "right"}),
    Control("Space", "jump", buttons={pygame.K_SPACE: "jump"}),
    Control("Shift", "sneak", buttons={pygame.K_LSHIFT: "sneak", pygame.K_RSHIFT: "sneak"}),
    Control("Ctrl", "sprint", buttons={pygame.K_LCTRL: "sprint", pygame.K_RCTRL: "sprint"}),
    Control("mouse / arrows", "look around", arrows={pygame.K_UP: (-1.0, 0.0), pygame.K_DOWN: (1.0, 0.0),
                                                     pygame.K_LEFT: (0.0, -1.0), pygame.K_RIGHT: (0.0, 1.0)}),
    Control("left click / F", "attack (mine the block in view)", buttons={pygame.K_f: "attack"},
            mouse={1: "attack"}),
    Control("right click / E", "use (place the selected block)", buttons={pygame.K_e: "use"}, mouse={3: "use"}),
    Control("1-9", "select a hotbar slot",
            hotbar={getattr(pygame, f"K_{i}"): f"hotbar.{i}" for i in range(1, 10)}),
    Control("P", "pause / resume (pausing frees the mouse)", commands={pygame.K_p: "pause"}),
    Control("Backspace / ,", "step back one tick (pauses)", commands={pygame.K_BACKSPACE: "back",
                                                                      pygame.K_COMMA: "back"}),
    Control(".", "step forward one tick when paused", commands={pygame.K_PERIOD: "forward"}),
    Control("B", "bookmark this moment", commands={pygame.K_b: "bookmark"}),
    Control("N", "branch: back to the bookmark, play on", commands={pygame.K_n: "branch"}),
    Control("R", "new episode (the dream: a new prompt)", commands={pygame.K_r: "reset"}),
    Control("H", "show / hide the help overlay", commands={pygame.K_h: "help"}),
    Control("M", "show / hide the memory map", commands={pygame.K_m: "map"}),
    Control("Esc", "quit", commands={pygame.K_ESCAPE: "quit"}),
)
KEY_BUTTONS: dict[int, str] = {key: button for row in CONTROLS for key, button in row.buttons.items()}
MOUSE_BUTTONS: dict[int, str] = {button: name for row in CONTROLS for button, name in row.mouse.items()}
ARROWS: dict[int, tuple[float, float]] = {key: signs for row in CONTROLS for key, signs in row.arrows.items()}
HOTBAR_KEYS: dict[int, str] = {key: slot for row in CONTROLS for key, slot in row.hotbar.items()}
COMMAND_KEYS: dict[int, str] = {key: command for row in CONTROLS for key, command in row.commands.items()}


def controls_text() -> str:
    """The controls as one line (for `wm play --help`): "W A S D: move; Space: jump; ..."."""
    return "; ".join(f"{row.label}: {row.does}" for row in CONTROLS) + "."


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
        """Commands (see Control.commands) since the last call, in order."""
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
