"""Procedural 8x8 block textures: deterministic (fixed seed), detailed enough to tell blocks apart at 64x64.

Layout: `make_textures()[block, face, row, col, rgb]` with faces (top, side, bottom). For side faces row 0
is the top edge of the block; for top/bottom faces rows run along +z and columns along +x.
"""

from __future__ import annotations

import numpy as np

from envs.blockworld import blocks as B

T = 8  # texture resolution (texels per block edge)
TOP, SIDE, BOTTOM = 0, 1, 2
_SEED = 20240611


def _noisy(rng: np.random.Generator, color: tuple[int, int, int], amp: float) -> np.ndarray:
    """A face of `color` with per-texel brightness noise of +-amp (grey-ish, so hue is kept)."""
    base = np.array(color, dtype=np.float64)
    shade = 1.0 + rng.uniform(-amp, amp, size=(T, T, 1))
    return base * shade


def _specks(
    rng: np.random.Generator, face: np.ndarray, color: tuple[int, int, int], count: int, size: int = 1
) -> np.ndarray:
    """Paint `count` small square specks of `color` (ore spots, leaf highlights)."""
    out = face.copy()
    for _ in range(count):
        r, c = rng.integers(0, T - size + 1, size=2)
        jitter = rng.uniform(0.85, 1.1)
        out[r : r + size, c : c + size] = np.array(color, dtype=np.float64) * jitter
    return out


def _ore(rng: np.random.Generator, stone: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    """Stone with clusters of coloured specks; clusters avoid overlapping so the ore reads clearly."""
    out = stone.copy()
    for r, c in ((1, 1), (1, 5), (4, 3), (6, 0), (5, 6)):
        dr, dc = rng.integers(0, 2, size=2)
        out[r + dr : r + dr + 2, c + dc : c + dc + 2] = np.array(color, dtype=np.float64) * rng.uniform(0.85, 1.1)
    return out


def _shiny(color: tuple[int, int, int], dark: float, light: float) -> np.ndarray:
    """A metal/gem block: darker border, bright diagonal highlights (reads as 'shiny' even when tiny)."""
    base = np.array(color, dtype=np.float64)
    face = np.tile(base, (T, T, 1))
    face[[0, T - 1], :] *= dark
    face[:, [0, T - 1]] *= dark
    white = np.array((255.0, 255.0, 255.0))
    for k in (2, 3, 7, 8):  # two diagonal glints
        for r in range(1, T - 1):
            c = k - r
            if 1 <= c < T - 1:
                face[r, c] = base + (white - base) * light
    face[2, 2] = white
    return face


def _wool(color: tuple[int, int, int]) -> np.ndarray:
    """Saturated colour with a woven checker (alternating 2x1 stitches) so wool is not a flat fill."""
    base = np.array(color, dtype=np.float64)
    rows, cols = np.mgrid[0:T, 0:T]
    weave = np.where(((rows // 2) + (cols // 2)) % 2 == 0, 1.08, 0.86)
    weave = weave * np.where((rows + cols) % 2 == 0, 1.0, 0.95)
    return base * weave[..., None]


def _bricks(rng: np.random.Generator, color: tuple[int, int, int], mortar: tuple[int, int, int]) -> np.ndarray:
    """Offset brick courses (the edge wall): 4-wide bricks, rows of 4, with light mortar lines."""
    face = _noisy(rng, color, 0.08)
    face[[0, 4], :] = mortar
    for r0, offset in ((1, 0), (5, 2)):
        for c in range(offset, T, 4):
            face[r0 : r0 + 3, c] = mortar
    return face


def _planks(rng: np.random.Generator) -> np.ndarray:
    """Horizontal boards with dark seams every 4 rows and staggered end joints."""
    face = _noisy(rng, (176, 140, 84), 0.05)
    face *= (1.0 + 0.06 * np.sin(np.arange(T) * 2.1))[None, :, None]  # wood grain along the board
    face[[3, 7], :] *= 0.62
    face[0:3, 5] *= 0.7
    face[4:7, 1] *= 0.7
    return face


def _log_side(rng: np.random.Generator) -> np.ndarray:
    """Vertical bark stripes: alternating dark furrows and lighter ridges."""
    face = _noisy(rng, (104, 82, 50), 0.07)
    stripes = np.array([0.72, 1.05, 1.12, 0.8, 1.0, 1.15, 0.7, 1.02])
    face *= stripes[None, :, None]
    for _ in range(3):  # a few knots break the regularity
        r, c = rng.integers(0, T, size=2)
        face[r, c] *= 0.75
    return face


def _log_top() -> np.ndarray:
    """Cut log end: light wood with concentric rings and a bark border."""
    centre = (T - 1) / 2.0
    rows, cols = np.mgrid[0:T, 0:T]
    radius = np.maximum(np.abs(rows - centre), np.abs(cols - centre))
    light = np.array((188, 152, 96), dtype=np.float64)
    face = np.tile(light, (T, T, 1))
    face[np.isclose(radius, 1.5)] *= 0.72
    face[np.isclose(radius, 0.5)] *= 0.9
    face[np.isclose(radius, 3.5)] = (96, 74, 44)  # bark ring
    face[np.isclose(radius, 2.5)] *= 0.95
    return face


def _water(rng: np.random.Generator) -> np.ndarray:
    """Blue with lighter wavy ripple lines."""
    face = _noisy(rng, (48, 92, 210), 0.05)
    for r0 in (1, 5):
        for c in range(T):
            r = (r0 + int(round(np.sin(c * 0.9) * 0.8))) % T
            face[r, c] = (110, 160, 240)
    return face


def _grass_side(rng: np.random.Generator, dirt: np.ndarray, grass_top: np.ndarray) -> np.ndarray:
    """Dirt with a green fringe: 2 full green rows and random drips into the third/fourth row."""
    face = dirt.copy()
    depth = 2 + rng.integers(0, 3, size=T)  # 2..4 green texels per column
    depth[rng.random(T) < 0.5] = 2
    for c in range(T):
        face[: depth[c], c] = grass_top[: depth[c], c] * 0.92
    return face


def make_textures() -> np.ndarray:
    """All block textures: uint8 (NUM_BLOCKS, 3, 8, 8, 3), faces (top, side, bottom); deterministic."""
    rng = np.random.default_rng(_SEED)
    tex = np.zeros((B.NUM_BLOCKS, 3, T, T, 3), dtype=np.float64)

    def same(block: int, face: np.ndarray) -> None:
        tex[block, :] = face

    grass_top = _noisy(rng, (95, 159, 53), 0.12)
    grass_top = _specks(rng, grass_top, (74, 130, 40), 6)
    grass_top = _specks(rng, grass_top, (120, 182, 70), 4)
    dirt = _noisy(rng, (134, 96, 67), 0.1)
    dirt = _specks(rng, dirt, (105, 74, 50), 6)
    dirt = _specks(rng, dirt, (160, 122, 90), 3)
    stone = _noisy(rng, (122, 122, 122), 0.07)
    stone = _specks(rng, stone, (100, 100, 100), 5, size=2)
    stone = _specks(rng, stone, (142, 142, 142), 3)

    tex[B.GRASS, TOP] = grass_top
    tex[B.GRASS, SIDE] = _grass_side(rng, dirt, grass_top)
    tex[B.GRASS, BOTTOM] = dirt
    same(B.DIRT, dirt)
    same(B.STONE, stone)
    same(B.SAND, _specks(rng, _noisy(rng, (219, 207, 160), 0.05), (196, 182, 134), 6))
    same(B.WATER, _water(rng))
    tex[B.LOG, SIDE] = _log_side(rng)
    tex[B.LOG, TOP] = _log_top()
    tex[B.LOG, BOTTOM] = tex[B.LOG, TOP]
    leaves = _noisy(rng, (58, 122, 38), 0.15)
    leaves = _specks(rng, leaves, (34, 80, 24), 8)
    same(B.LEAVES, _specks(rng, leaves, (92, 160, 60), 5))
    same(B.COAL_ORE, _ore(rng, stone, (28, 28, 28)))
    same(B.IRON_ORE, _ore(rng, stone, (226, 176, 140)))
    same(B.GOLD, _shiny((250, 208, 30), 0.72, 0.7))
    same(B.DIAMOND, _shiny((80, 222, 216), 0.6, 0.7))
    bedrock = _noisy(rng, (70, 70, 70), 0.25)
    same(B.BEDROCK, _specks(rng, bedrock, (25, 25, 25), 8, size=2))
    same(B.PLANKS, _planks(rng))
    same(B.WOOL_RED, _wool((205, 40, 40)))
    same(B.WOOL_BLUE, _wool((45, 72, 210)))
    same(B.WOOL_YELLOW, _wool((245, 220, 45)))
    same(B.WOOL_GREEN, _wool((120, 210, 30)))  # lime: stands out from grass and leaves
    same(B.WALL, _bricks(rng, (72, 66, 92), (120, 114, 138)))
    return np.clip(np.rint(tex), 0, 255).astype(np.uint8)
