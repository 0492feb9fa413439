"""Heads-up display drawn with numpy on the RGB observation only: an inverted-colour crosshair and a 9-slot
hotbar (block texture swatch, count, highlighted selected slot). Frames under 36 px wide get no hotbar.

Counts: slots of 12+ px show the number (3x5 pixel digits, counts above 1); smaller slots show a one-pixel bar
whose length grows with the count (full at 64). The hotbar overlay is rebuilt only when the inventory changes,
and only the slots that changed are redrawn (from a cache of slot images): drawing costs two small array copies per frame.
"""

from __future__ import annotations

import numpy as np

from envs.blockworld.state import HOTBAR_SLOTS, Inventory

BORDER = np.array([70, 70, 70], dtype=np.uint8)
SELECTED = np.array([255, 255, 255], dtype=np.uint8)
EMPTY = np.array([35, 35, 35], dtype=np.uint8)
TEXT = np.array([255, 255, 255], dtype=np.uint8)
SHADOW = np.array([20, 20, 20], dtype=np.uint8)
DIGIT_ROWS = {  # 3x5 pixel font, one string of 3 bits per row
    "0": ("111", "101", "101", "101", "111"), "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"), "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"), "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"), "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"), "9": ("111", "101", "111", "001", "111"),
}
TILE_CACHE = 512  # slot images kept, keyed by (block_id, count, selected)
DIGITS = {d: np.array([[c == "1" for c in row] for row in rows]) for d, rows in DIGIT_ROWS.items()}


class Hud:
    """Crosshair + hotbar for a fixed frame size; `draw(rgb, inventory)` paints in place."""

    def __init__(self, width: int, height: int, textures: np.ndarray) -> None:
        """textures: uint8 (NUM_BLOCKS, 3, T, T, 3); slot swatches sample the side face."""
        self.width, self.height = width, height
        self.side = textures[:, 1]  # (NUM_BLOCKS, T, T, 3)
        self.slot, self.x0, self.y0, self.show_hotbar, self.cross = _layout(width, height)
        self.overlay = np.zeros((self.slot, HOTBAR_SLOTS * self.slot, 3), dtype=np.uint8)
        self.key: tuple | None = None
        self.slot_keys: list[tuple[int, int, bool] | None] = [None] * HOTBAR_SLOTS
        self.tiles: dict[tuple[int, int, bool], np.ndarray] = {}

    def draw(self, rgb: np.ndarray, inventory: Inventory) -> None:
        """Paint crosshair and hotbar onto rgb (H, W, 3) uint8 in place."""
        for index in self.cross:
            bar = rgb[index]
            np.subtract(255, bar, out=bar)  # inverted colours: visible on any background
        if not self.show_hotbar:
            return
        key = inventory.key()
        if key != self.key:
            s = self.slot
            for i, (block_id, count) in enumerate(inventory.slots):
                slot_key = (block_id, count, i == inventory.selected)
                if slot_key != self.slot_keys[i]:
                    tile = self.tiles.get(slot_key)
                    if tile is None:
                        if len(self.tiles) >= TILE_CACHE:
                            self.tiles.clear()
                        tile = self.tiles[slot_key] = self._tile(*slot_key)
                    self.overlay[:, i * s : (i + 1) * s] = tile
                    self.slot_keys[i] = slot_key
            self.key = key
        s = self.slot
        rgb[self.y0 : self.y0 + s, self.x0 : self.x0 + HOTBAR_SLOTS * s] = self.overlay

    def _tile(self, block_id: int, count: int, selected: bool) -> np.ndarray:
        """One slot image (s, s, 3)."""
        s = self.slot
        cell = np.empty((s, s, 3), dtype=np.uint8)
        cell[:] = SELECTED if selected else BORDER
        cell[1:-1, 1:-1] = EMPTY
        if count <= 0:
            return cell
        inner = s - 2
        if s >= 12:
            self._swatch(cell[2:-2, 2:-2], block_id)
            if count > 1:
                self._number(cell, count)
        else:
            self._swatch(cell[1 : 1 + inner - 1, 1:-1], block_id)
            length = max(1, round(inner * min(count, 64) / 64))
            cell[s - 2, 1 : 1 + length] = TEXT
        return cell

    def _swatch(self, area: np.ndarray, block_id: int) -> None:
        h, w = area.shape[:2]
        t = self.side.shape[1]
        rows = np.arange(h) * t // max(h, 1)
        cols = np.arange(w) * t // max(w, 1)
        area[:] = self.side[block_id][rows][:, cols]

    def _number(self, cell: np.ndarray, count: int) -> None:
        s = cell.shape[0]
        scale = max(1, s // 12)
        text = str(min(count, 999))
        width = (4 * len(text) - 1) * scale
        x0 = s - 1 - width
        y = s - 1 - 5 * scale
        for dy, dx, colour in ((1, 1, SHADOW), (0, 0, TEXT)):  # all shadows first, then the digits on top
            x = x0
            for ch in text:
                glyph = DIGITS[ch].repeat(scale, 0).repeat(scale, 1)
                gh, gw = glyph.shape
                y1, x1 = y + dy, x + dx
                sub = cell[max(y1, 0) : y1 + gh, max(x1, 0) : x1 + gw]
                g = glyph[max(-y1, 0) : max(-y1, 0) + sub.shape[0], max(-x1, 0) : max(-x1, 0) + sub.shape[1]]
                sub[g] = colour
                x += 4 * scale


def _layout(width: int, height: int) -> tuple[int, int, int, bool, tuple]:
    """Slot size, hotbar origin (x0, y0), whether the hotbar fits, and the crosshair's three index pairs."""
    slot = max(4, min(width // HOTBAR_SLOTS, height // 6))
    x0, y0 = (width - HOTBAR_SLOTS * slot) // 2, height - slot - (1 if height >= 96 else 0)
    show_hotbar = HOTBAR_SLOTS * slot <= width and slot <= height // 2
    arm = max(2, min(width, height) // 32)
    cy, cx = height // 2, width // 2
    cross = (  # horizontal bar, then the vertical bar above and below the centre pixel
        (cy, slice(max(cx - arm, 0), cx + arm + 1)),
        (slice(max(cy - arm, 0), cy), cx),
        (slice(cy + 1, cy + arm + 1), cx),
    )
    return slot, x0, y0, show_hotbar, cross


def hud_mask(width: int, height: int) -> np.ndarray:
    """Bool (H, W): the pixels the HUD paints over (crosshair and hotbar) in frames of this size."""
    slot, x0, y0, show_hotbar, cross = _layout(width, height)
    mask = np.zeros((height, width), dtype=bool)
    for index in cross:
        mask[index] = True
    if show_hotbar:
        mask[y0:y0 + slot, x0:x0 + HOTBAR_SLOTS * slot] = True
    return mask
