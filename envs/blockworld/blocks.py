"""Block ids and per-block properties of BlockWorld (the ids are part of the shared contract)."""

from __future__ import annotations

import numpy as np

AIR = 0
GRASS = 1
DIRT = 2
STONE = 3
SAND = 4
WATER = 5
LOG = 6
LEAVES = 7
COAL_ORE = 8
IRON_ORE = 9
GOLD = 10
DIAMOND = 11
BEDROCK = 12
PLANKS = 13
WOOL_RED = 14
WOOL_BLUE = 15
WOOL_YELLOW = 16
WOOL_GREEN = 17
WALL = 18  # edge barrier: solid, unbreakable
NUM_BLOCKS = 19

BLOCK_NAMES: tuple[str, ...] = (
    "air",
    "grass",
    "dirt",
    "stone",
    "sand",
    "water",
    "log",
    "leaves",
    "coal_ore",
    "iron_ore",
    "gold",
    "diamond",
    "bedrock",
    "planks",
    "wool_red",
    "wool_blue",
    "wool_yellow",
    "wool_green",
    "wall",
)

WOOLS: tuple[int, ...] = (WOOL_RED, WOOL_BLUE, WOOL_YELLOW, WOOL_GREEN)

# Solid blocks stop movement and rays used for attack/use; air and water do not.
SOLID: np.ndarray = np.ones(NUM_BLOCKS, dtype=np.bool_)
SOLID[[AIR, WATER]] = False

# What the player can mine: everything solid except bedrock and the edge barrier.
BREAKABLE: np.ndarray = SOLID.copy()
BREAKABLE[[BEDROCK, WALL]] = False

# Base RGB colour per block (textures add detail around it; also handy for maps and legends).
BASE_COLORS: np.ndarray = np.array(
    [
        (0, 0, 0),  # air (never drawn)
        (95, 159, 53),  # grass (top colour)
        (134, 96, 67),  # dirt
        (122, 122, 122),  # stone
        (219, 207, 160),  # sand
        (48, 92, 210),  # water
        (104, 82, 50),  # log bark
        (58, 122, 38),  # leaves
        (110, 110, 110),  # coal ore
        (130, 124, 118),  # iron ore
        (250, 212, 40),  # gold block
        (90, 225, 220),  # diamond block
        (60, 60, 60),  # bedrock
        (176, 140, 84),  # planks
        (200, 40, 40),  # red wool
        (45, 70, 200),  # blue wool
        (240, 215, 40),  # yellow wool
        (120, 210, 30),  # green (lime) wool
        (72, 66, 92),  # wall
    ],
    dtype=np.uint8,
)

assert len(BLOCK_NAMES) == NUM_BLOCKS and BASE_COLORS.shape == (NUM_BLOCKS, 3)


def block_id(name: str) -> int:
    """Id of a block by name (e.g. "gold"); ValueError naming the unknown name."""
    if name not in BLOCK_NAMES:
        raise ValueError(f"unknown block name {name!r}; expected one of {list(BLOCK_NAMES)}")
    return BLOCK_NAMES.index(name)
