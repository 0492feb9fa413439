"""What the viewer writes over the frame: the HUD (status lines, top left) and the help overlay (H).

The HUD (ViewerLoop.hud_lines): "20.0 fps  latency 3.1 ms  H: help", "episode 1  step 37", with a task also
"task mine_gold  reward this episode 1.00", then the env's own lines (the --compare PSNR), REWOUND / PAUSED and
the last rewind message. The help overlay lists keys.CONTROLS and HUD_HELP (what each HUD item means) on a
semi-transparent dark box, in the largest small font that fits the window.
"""

from __future__ import annotations

from typing import Any

import pygame

from worldmodel.viewer.keys import CONTROLS

TEXT = (255, 255, 255)
SHADOW = (0, 0, 0)
HEADING = (255, 215, 110)
KEY_COLOUR = (170, 210, 255)
BOX = (0, 0, 0, 200)  # RGBA: dark, the frame shows through a little
FONT_SIZES = range(22, 9, -1)  # help font sizes tried, largest first (pygame's default font, in points)
PAD = 8  # pixels around the help table and between its columns

HUD_HELP: tuple[tuple[str, str], ...] = (
    ("fps  latency", "ticks per second; ms from input to frame shown"),
    ("episode  step", "episode number; ticks since it began (R: new)"),
    ("reward this episode", "only with a task (--task): rewards summed"),
    ("PSNR", "--compare: truth (left) vs dream (right), dB"),
    ("REWOUND n", "showing n ticks back; playing on branches"),
    ("PAUSED", "the world waits; P resumes, . steps once"),
)
"""What each HUD item means: (the item as on screen, its meaning), shown in the help overlay."""


def env_task(env: Any) -> str | None:
    """The env's task as `--task` names it ("mine_gold", "collect_logs:5"), or None when it has none.

    An env declares a task with a `task` attribute (BlockWorld: its Task object, None without --task); an env
    without one (the dream, --compare) has no task, so the viewer does not show its reward."""
    task = getattr(getattr(env, "unwrapped", env), "task", None)
    if task is None:
        return None
    if isinstance(task, str):
        return task if task not in ("", "none") else None
    name = str(getattr(task, "name", type(task).__name__))
    if name == "none":
        return None
    main = getattr(task, "main_arg", None)
    if isinstance(main, str) and hasattr(task, main):
        return f"{name}:{getattr(task, main)}"
    return name


def help_rows() -> list[tuple[str, str]]:
    """The help table: ("", heading) rows, then (what to press / HUD item, meaning) rows; ("", "") is a gap."""
    rows: list[tuple[str, str]] = [("", "Controls")]
    rows.extend((row.label, row.does) for row in CONTROLS)
    rows.extend([("", ""), ("", "On screen")])
    rows.extend(HUD_HELP)
    return rows


def draw_lines(surface: pygame.Surface, font: pygame.font.Font, lines: list[str]) -> None:
    """White text with a 1-pixel shadow, one line under the other, from the top left corner."""
    y = 4
    for line in lines:
        for offset, colour in ((1, SHADOW), (0, TEXT)):
            surface.blit(font.render(line, True, colour), (4 + offset, y + offset))
        y += font.get_linesize()


def render_help(rows: list[tuple[str, str]], size: tuple[int, int]) -> pygame.Surface:
    """The help box for a window of `size` (W, H): a translucent surface, as large as its text needs, in the
    largest font of FONT_SIZES that fits the window (the smallest one when none fits)."""
    pygame.font.init()
    for points in FONT_SIZES:
        font = pygame.font.Font(None, points)
        left = max(font.size(label)[0] for label, _ in rows)
        right = max(font.size(text)[0] for _, text in rows)
        width = left + right + 3 * PAD
        height = len(rows) * font.get_linesize() + 2 * PAD
        if width <= size[0] - 2 * PAD and height <= size[1] - 2 * PAD:
            break
    box = pygame.Surface((width, height), pygame.SRCALPHA)
    box.fill(BOX)
    y = PAD
    for label, text in rows:
        if label:
            box.blit(font.render(label, True, KEY_COLOUR), (PAD, y))
            box.blit(font.render(text, True, TEXT), (2 * PAD + left, y))
        elif text:  # a heading
            box.blit(font.render(text, True, HEADING), (PAD, y))
        y += font.get_linesize()
    return box


class HelpOverlay:
    """The help box, rendered once per window size and drawn centred over the frame."""

    def __init__(self) -> None:
        self.rows = help_rows()
        self._box: pygame.Surface | None = None
        self._size: tuple[int, int] | None = None

    def draw(self, surface: pygame.Surface) -> None:
        """Blit the help box over `surface`, centred (top left when it is larger than the surface)."""
        size = surface.get_size()
        if self._box is None or self._size != size:
            self._box, self._size = render_help(self.rows, size), size
        x = max(0, (size[0] - self._box.get_width()) // 2)
        y = max(0, (size[1] - self._box.get_height()) // 2)
        surface.blit(self._box, (x, y))
