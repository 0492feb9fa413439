"""Make action-labelled gameplay footage from an engine that is not BlockWorld, to try `wm finetune` on.

    python scripts/finetune_footage.py data/raw_maze --clips 2 --seconds 37 --lag 2 --mouse-scale 0.1

A Wolfenstein-style ray-cast maze (textured walls of several kinds, a checkered floor, a cloudy sky, fog; walls
are 2.5 units high, the eye at 1.2), rendered at 640x360 and 20 fps with a horizontal field of view of `--fov`
(default 90 degrees; the middle 360x360 that `wm import --crop center` keeps then sees 58.7). A scripted player
walks (W, some S/A/D), turns and looks up and down with the mouse, holding each choice a few ticks, and stops at
walls. Each clip is written as CLIP.mp4 (ticks + 1 frames, through PyAV) and CLIP.jsonl, a VPT-style log whose
mouse deltas are degrees / --mouse-scale and which runs --lag ticks late (tick t logs what was done at t - lag).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from worldmodel.data.video import write_video

WALL_HEIGHT, EYE = 2.5, 1.2
SPEED = 0.16  # map units per tick walking forward (strafing and backing off: 0.6 of it)
WALL_COLOURS = np.array([[150, 60, 45], [70, 90, 160], [60, 130, 70], [190, 170, 80], [120, 120, 130]], np.float32)
KEYS = {"forward": "key.keyboard.w", "back": "key.keyboard.s", "left": "key.keyboard.a", "right": "key.keyboard.d"}


def make_map(size: int, seed: int) -> np.ndarray:
    """(size, size) int map: 0 = free, k > 0 = wall of kind k; a border wall, pillars and a few wall runs."""
    rng = np.random.default_rng(seed)
    grid = np.zeros((size, size), np.int64)
    grid[0, :], grid[-1, :], grid[:, 0], grid[:, -1] = 1, 2, 3, 4
    for _ in range(size * size // 18):
        x, y = rng.integers(2, size - 2, 2)
        grid[y, x] = rng.integers(1, len(WALL_COLOURS) + 1)
    for _ in range(size // 3):
        x, y = rng.integers(2, size - 6, 2)
        length, kind = int(rng.integers(2, 5)), int(rng.integers(1, len(WALL_COLOURS) + 1))
        if rng.random() < 0.5:
            grid[y, x:x + length] = kind
        else:
            grid[y:y + length, x] = kind
    mid = size // 2
    grid[mid - 1:mid + 2, mid - 1:mid + 2] = 0  # the player starts in the middle
    return grid


def render(grid: np.ndarray, x: float, y: float, yaw: float, pitch: float, width: int = 640, height: int = 360,
           fov: float = 90.0) -> np.ndarray:
    """(height, width, 3) uint8 view from (x, y) (map units; x east, y north) looking at yaw degrees clockwise
    from north and pitch degrees down; vectorised DDA ray casting, one ray a column."""
    focal = (width / 2) / math.tan(math.radians(fov) / 2)
    horizon = height / 2 - focal * math.tan(math.radians(pitch))
    a = math.radians(yaw)
    forward, right = np.array([math.sin(a), math.cos(a)]), np.array([math.cos(a), -math.sin(a)])
    cam = (np.arange(width) + 0.5 - width / 2) / focal
    rays = forward[None, :] + cam[:, None] * right[None, :]  # (W, 2), unit length along the view axis
    dist, kind, u = _cast(grid, x, y, rays)
    rows = np.arange(height)[:, None] + 0.5
    top = horizon - (WALL_HEIGHT - EYE) * focal / dist[None, :]
    bottom = horizon + EYE * focal / dist[None, :]
    image = np.empty((height, width, 3), np.float32)
    # sky: a blue gradient with soft clouds that turn with the view
    ang = np.arctan2(rays[:, 0], rays[:, 1])[None, :]
    elev = (horizon - rows) / focal
    clouds = 0.5 + 0.25 * np.sin(3 * ang + 4 * elev) * np.sin(5 * ang - 2 * elev + 1.3) + 0.25 * np.sin(7 * ang)
    sky_t = np.clip(elev, 0, 1)
    sky = (np.array([170, 200, 235])[None, None] * (1 - sky_t[..., None]) + np.array([60, 100, 190]) * sky_t[..., None])
    sky = sky + (np.clip(clouds, 0.55, 1)[..., None] - 0.55) * 250
    # floor: a checkerboard in world coordinates, darker far away
    below = np.maximum(rows - horizon, 1e-3)
    floor_d = EYE * focal / below  # distance along the view axis
    fx, fy = x + floor_d * rays[None, :, 0], y + floor_d * rays[None, :, 1]
    checker = ((np.floor(fx) + np.floor(fy)) % 2)[..., None]
    floor = np.array([110, 95, 70]) * (1 - checker) + np.array([140, 125, 95]) * checker
    floor = _fog(floor, floor_d)
    image[:] = np.where((rows < horizon)[..., None], sky, floor)
    # walls: base colour by kind, bricks by (u, height), shade by side, fog by distance
    wall = rows >= top
    wall &= rows < bottom
    v = (bottom - rows) / np.maximum(bottom - top, 1e-3) * WALL_HEIGHT  # height on the wall
    course = np.floor(v * 4)
    brick = ((u[None, :] * 2 + 0.5 * (course % 2)) % 1 < 0.92) & ((v * 4) % 1 < 0.88)
    base = WALL_COLOURS[np.maximum(kind, 1) - 1][None, :, :] * (0.55 + 0.45 * brick[..., None])
    shade = np.where(np.abs(u * 7 % 1 - 0.5) < 0.02, 0.8, 1.0)[None, :, None]
    walls = _fog(base * shade, np.broadcast_to(dist[None, :], wall.shape))
    image = np.where(wall[..., None], walls, image)
    return np.clip(image, 0, 255).astype(np.uint8)


def _fog(colour: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Blend toward the haze colour with distance."""
    t = np.clip(dist / 14.0, 0, 1)[..., None] ** 1.5
    return colour * (1 - t) + np.array([175, 190, 205]) * t


def _cast(grid: np.ndarray, x: float, y: float, rays: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per ray: distance along the view axis to the first wall, its kind and where along the wall face (0..1)."""
    n = len(rays)
    cell = np.stack([np.full(n, math.floor(x)), np.full(n, math.floor(y))], 1).astype(np.int64)
    with np.errstate(divide="ignore"):
        delta = np.abs(1.0 / rays)
    step = np.where(rays < 0, -1, 1)
    pos = np.array([x, y])
    side_dist = np.where(rays < 0, (pos - cell) * delta, (cell + 1 - pos) * delta)
    hit, side = np.zeros(n, bool), np.zeros(n, np.int64)
    for _ in range(4 * max(grid.shape)):
        axis = np.where(side_dist[:, 0] < side_dist[:, 1], 0, 1)
        live = ~hit
        idx = np.nonzero(live)[0]
        ax = axis[idx]
        cell[idx, ax] += step[idx, ax]
        side_dist[idx, ax] += delta[idx, ax]
        side[idx] = ax
        inside = (cell[:, 0] >= 0) & (cell[:, 0] < grid.shape[1]) & (cell[:, 1] >= 0) & (cell[:, 1] < grid.shape[0])
        kinds = np.where(inside, grid[np.clip(cell[:, 1], 0, grid.shape[0] - 1),
                                      np.clip(cell[:, 0], 0, grid.shape[1] - 1)], 1)
        hit |= live & (kinds > 0)
        if hit.all():
            break
    dist = np.maximum(side_dist[np.arange(n), side] - delta[np.arange(n), side], 1e-3)
    kind = grid[np.clip(cell[:, 1], 0, grid.shape[0] - 1), np.clip(cell[:, 0], 0, grid.shape[1] - 1)]
    along = np.where(side == 0, y + dist * rays[:, 1], x + dist * rays[:, 0])
    return dist, kind, along % 1.0


def play(grid: np.ndarray, ticks: int, seed: int) -> tuple[list[tuple[float, float, float, float]],
                                                          list[dict[str, object]]]:
    """A scripted player: poses (ticks + 1) and per-tick actions {keys, camera [dpitch, dyaw] degrees}."""
    rng = np.random.default_rng(seed)
    x = y = grid.shape[0] / 2
    yaw, pitch = float(rng.uniform(0, 360)), 0.0
    poses, actions = [(x, y, yaw, pitch)], []
    keys: list[str] = []
    turn = look = 0.0
    for t in range(ticks):
        if t % int(rng.integers(3, 7)) == 0:  # a new choice, held a few ticks
            keys = [str(k) for k in rng.choice(["forward", "forward", "forward", "back", "left", "right"],
                                               size=int(rng.integers(0, 2)) + (rng.random() < 0.7), replace=False)]
            turn = float(rng.choice([-7.0, -4.0, -2.0, 0.0, 0.0, 2.0, 4.0, 7.0]))
            look = float(rng.choice([-2.0, 0.0, 0.0, 0.0, 2.0]))
        dpitch = look if abs(pitch + look) <= 20 else -look
        yaw, pitch = (yaw + turn) % 360, pitch + dpitch
        a = math.radians(yaw)
        fwd, rgt = np.array([math.sin(a), math.cos(a)]), np.array([math.cos(a), -math.sin(a)])
        move = (SPEED * (("forward" in keys) - 0.6 * ("back" in keys)) * fwd
                + 0.6 * SPEED * (("right" in keys) - ("left" in keys)) * rgt)
        actions.append({"keys": list(keys), "camera": [dpitch, turn]})
        nx, ny = x + move[0], y + move[1]
        if grid[int(ny), int(nx)] == 0 and _clear(grid, nx, ny):
            x, y = nx, ny
        elif "forward" in keys:
            turn = float(rng.choice([-7.0, 7.0]))  # bumped into a wall: turn away from the next tick on
        poses.append((x, y, yaw, pitch))
    return poses, actions


def _clear(grid: np.ndarray, x: float, y: float, margin: float = 0.25) -> bool:
    """Whether a player of radius `margin` at (x, y) touches no wall."""
    for dx in (-margin, margin):
        for dy in (-margin, margin):
            if grid[int(y + dy), int(x + dx)]:
                return False
    return True


def make_clip(stem: Path, seconds: float, seed: int, lag: int, mouse_scale: float, fov: float,
              size: tuple[int, int] = (640, 360)) -> tuple[Path, Path]:
    """Write STEM.mp4 and STEM.jsonl (see the module docstring); returns both paths."""
    grid = make_map(24, seed)
    ticks = round(seconds * 20)
    poses, actions = play(grid, ticks, seed)
    frames = np.stack([render(grid, *pose, width=size[0], height=size[1], fov=fov) for pose in poses])
    logged = [actions[t - lag] if 0 <= t - lag < ticks else {"keys": [], "camera": [0.0, 0.0]} for t in range(ticks)]
    lines = []
    for t, action in enumerate(logged):
        keys = [KEYS[k] for k in action["keys"]]  # type: ignore[union-attr]
        dpitch, dyaw = action["camera"]  # type: ignore[misc]
        lines.append(json.dumps({"keyboard": {"keys": keys}, "hotbar": 0, "tick": t, "isGuiOpen": False,
                                 "mouse": {"dx": dyaw / mouse_scale, "dy": dpitch / mouse_scale, "buttons": []}}))
    stem.parent.mkdir(parents=True, exist_ok=True)
    jsonl = stem.with_suffix(".jsonl")
    tmp = jsonl.with_name(f".{jsonl.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(jsonl)
    return write_video(stem.with_suffix(".mp4"), frames, 20.0), jsonl


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for CLIP.mp4 + CLIP.jsonl pairs")
    parser.add_argument("--clips", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=37.0)
    parser.add_argument("--lag", type=int, default=2, help="ticks the log runs late")
    parser.add_argument("--mouse-scale", type=float, default=0.1, help="degrees per logged mouse unit")
    parser.add_argument("--fov", type=float, default=90.0, help="horizontal field of view of the 640x360 frame")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for i in range(args.clips):
        video, log = make_clip(args.out / f"maze_{i}", args.seconds, args.seed + i, args.lag, args.mouse_scale,
                               args.fov)
        print(f"wrote {video} and {log}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
