"""Shared by the viewer tests: a pygame display for the module (SDL dummy driver) and real queued events.

Import into a test module (`from pygame_events import display, post  # noqa: F401`): the autouse fixture then
applies there.
"""

from __future__ import annotations

from typing import Iterator

import pygame
import pytest


@pytest.fixture(scope="module", autouse=True)
def display() -> Iterator[None]:
    pygame.display.init()  # SDL_VIDEODRIVER=dummy (tests/conftest.py)
    yield
    pygame.display.quit()


def queue(*events: tuple[int, dict]) -> None:
    """Post events to the real queue, for ViewerLoop.run() to read (re-opening the display a run() closed)."""
    if not pygame.display.get_init():
        pygame.display.init()
    pygame.event.clear()
    for kind, attrs in events:
        pygame.event.post(pygame.event.Event(kind, attrs))


def post(*events: tuple[int, dict]) -> list[pygame.event.Event]:
    """Post events through the real queue and read them back."""
    queue(*events)
    return pygame.event.get()
