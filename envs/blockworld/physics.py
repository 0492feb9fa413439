"""Player physics at a 20 Hz tick: walking relative to yaw, gravity, jumping, simple swimming, and AABB
collision against solid voxels (axis by axis, y then x then z, sweeping whole voxel layers so that fast falls
cannot tunnel). Outside the grid counts as solid sideways and below, as air above.

The collision sweep is numba-compiled (cached); the rest is plain Python.
Velocities are in blocks/s and are set directly from the keys each tick (no inertia): deterministic and easy
for a world model to learn.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
from numba import njit

from envs.blockworld.state import Player

TICK_HZ = 20
DT = 1.0 / TICK_HZ
WALK_SPEED = 4.317  # blocks/s (Minecraft values)
SNEAK_SPEED = 1.295
SPRINT_SPEED = 5.612  # only while moving forward
GRAVITY = 32.0  # blocks/s^2
JUMP_SPEED = 9.6  # blocks/s: peaks 1.2 blocks up (clears one block), about 0.55 s in the air
TERMINAL_SPEED = 60.0
SWIM_FACTOR = 0.5  # horizontal speed factor in water
SWIM_UP_SPEED = 3.0  # holding jump in water
SWIM_SINK_SPEED = 2.0
WATER_GRAVITY = 8.0
WATER_EXIT_SPEED = 10.5  # jump in water while pushing against a block: hop out onto a ledge up to ~1.3 high

HALF_WIDTH = 0.3  # player box is 0.6 x 1.8 x 0.6
HEIGHT = 1.8
EPS = 1e-6


def box(position: np.ndarray) -> tuple[list[float], list[float]]:
    """Player AABB (lo, hi) for a feet position."""
    x, y, z = float(position[0]), float(position[1]), float(position[2])
    return [x - HALF_WIDTH, y, z - HALF_WIDTH], [x + HALF_WIDTH, y + HEIGHT, z + HALF_WIDTH]


def cell_range(lo: float, hi: float) -> tuple[int, int]:
    """Inclusive range of cell indices that the open interval (lo, hi) overlaps (touching faces do not count)."""
    return math.floor(lo + EPS), math.ceil(hi - EPS) - 1


@njit(cache=True)
def any_solid(solid: np.ndarray, x0: int, x1: int, y0: int, y1: int, z0: int, z1: int) -> bool:
    """True if any cell in the inclusive box is solid; outside the grid is solid except above the top."""
    sx, sy, sz = solid.shape
    if x0 < 0 or z0 < 0 or y0 < 0 or x1 >= sx or z1 >= sz:
        return True
    for x in range(x0, x1 + 1):
        for y in range(y0, min(y1, sy - 1) + 1):
            for z in range(z0, z1 + 1):
                if solid[x, y, z]:
                    return True
    return False


def box_hits(solid: np.ndarray, lo: list[float], hi: list[float]) -> bool:
    """True if the AABB overlaps a solid cell."""
    (x0, x1), (y0, y1), (z0, z1) = (cell_range(lo[a], hi[a]) for a in range(3))
    return bool(any_solid(solid, x0, x1, y0, y1, z0, z1))


@njit(cache=True)
def move_axis(solid: np.ndarray, position: np.ndarray, axis: int, delta: float) -> bool:
    """Move `position` along one axis by up to `delta`, stopping flush at the first solid layer. True if blocked."""
    if delta == 0.0:
        return False
    half = np.array([HALF_WIDTH, 0.0, HALF_WIDTH])
    size = np.array([HALF_WIDTH, HEIGHT, HALF_WIDTH])
    lo, hi = position - half, position + size  # the player's AABB
    r0 = np.empty(3, np.int64)  # overlapped cell ranges, inclusive
    r1 = np.empty(3, np.int64)
    for a in range(3):
        r0[a] = math.floor(lo[a] + EPS)
        r1[a] = math.ceil(hi[a] - EPS) - 1
    if delta > 0:
        start, stop, step = math.ceil(hi[axis] - EPS), math.ceil(hi[axis] + delta - EPS), 1
    else:
        start, stop, step = math.floor(lo[axis] + EPS) - 1, math.floor(lo[axis] + delta + EPS) - 1, -1
    for k in range(start, stop, step):  # sweep the layers of cells the leading face enters
        r0[axis] = k
        r1[axis] = k
        if any_solid(solid, r0[0], r1[0], r0[1], r1[1], r0[2], r1[2]):
            position[axis] += (k - hi[axis]) if delta > 0 else (k + 1 - lo[axis])
            return True
    position[axis] += delta
    return False


def in_water(voxels: np.ndarray, position: np.ndarray, water_id: int) -> bool:
    """True if water fills the cell at the player's feet (0.1 above the soles) or waist."""
    x, z = math.floor(float(position[0])), math.floor(float(position[2]))
    sx, sy, sz = voxels.shape
    if not (0 <= x < sx and 0 <= z < sz):
        return False
    for dy in (0.1, 0.8):
        y = math.floor(float(position[1]) + dy)
        if 0 <= y < sy and int(voxels[x, y, z]) == water_id:
            return True
    return False


def wish_velocity(player: Player, action: Mapping[str, int]) -> tuple[float, float]:
    """Horizontal (vx, vz) in blocks/s from the movement keys, relative to yaw."""
    fwd = action["forward"] - action["back"]
    side = action["right"] - action["left"]
    if fwd == 0 and side == 0:
        return 0.0, 0.0
    yaw = math.radians(player.yaw)
    sin, cos = math.sin(yaw), math.cos(yaw)
    # forward = (-sin, 0, cos), right = (-cos, 0, -sin) (INTERFACES.md)
    vx, vz = -sin * fwd - cos * side, cos * fwd - sin * side
    norm = math.hypot(vx, vz)
    if action["sneak"]:
        speed = SNEAK_SPEED
    elif action["sprint"] and fwd > 0:
        speed = SPRINT_SPEED
    else:
        speed = WALK_SPEED
    if player.in_water:
        speed *= SWIM_FACTOR
    return vx / norm * speed, vz / norm * speed


def supported(solid: np.ndarray, position: np.ndarray) -> bool:
    """True if a solid cell lies directly under the player's footprint."""
    lo, hi = box(position)
    (x0, x1), (z0, z1) = cell_range(lo[0], hi[0]), cell_range(lo[2], hi[2])
    y = math.floor(float(position[1]) - 0.05)
    return any_solid(solid, x0, x1, y, y, z0, z1)


def step_player(player: Player, solid: np.ndarray, voxels: np.ndarray, action: Mapping[str, int], water_id: int) -> None:
    """Advance the player by one tick in place (velocity, position, on_ground, in_water)."""
    player.in_water = in_water(voxels, player.position, water_id)
    vx, vz = wish_velocity(player, action)
    vy = float(player.velocity[1])
    if player.in_water:  # slow sinking; holding jump swims up (a faster exit hop keeps decaying slowly)
        vy = max(vy - WATER_GRAVITY * DT, SWIM_UP_SPEED if action["jump"] else -SWIM_SINK_SPEED)
    else:
        if action["jump"] and player.on_ground:
            vy = JUMP_SPEED
        vy = max(vy - GRAVITY * DT, -TERMINAL_SPEED)
    pos = player.position
    blocked_y = move_axis(solid, pos, 1, vy * DT)
    player.on_ground = blocked_y and vy < 0
    if blocked_y:
        vy = 0.0
    guard = bool(action["sneak"]) and player.on_ground and not player.in_water
    for axis, v in ((0, vx), (2, vz)):
        if v == 0.0:
            continue
        before = float(pos[axis])
        if move_axis(solid, pos, axis, v * DT):
            v = 0.0
            if player.in_water and action["jump"]:
                vy = WATER_EXIT_SPEED
        if guard and not supported(solid, pos):  # sneaking does not walk off edges
            pos[axis] = before
            v = 0.0
        if axis == 0:
            vx = v
        else:
            vz = v
    player.velocity[:] = (vx, vy, vz)
    clamp_position(pos, solid.shape)


def clamp_position(position: np.ndarray, shape: tuple[int, ...]) -> None:
    """Keep the feet inside the grid horizontally and within a sane height range (in place)."""
    sx, sy, sz = shape
    position[0] = min(max(float(position[0]), HALF_WIDTH), sx - HALF_WIDTH)
    position[2] = min(max(float(position[2]), HALF_WIDTH), sz - HALF_WIDTH)
    position[1] = min(max(float(position[1]), 0.0), sy + 64.0)


def intersects_player(position: np.ndarray, cell: np.ndarray) -> bool:
    """True if a unit cell overlaps the player's AABB (used before placing a block)."""
    lo, hi = box(position)
    return all(lo[a] < cell[a] + 1 - EPS and hi[a] > cell[a] + EPS for a in range(3))
