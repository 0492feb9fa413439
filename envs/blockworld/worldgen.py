"""Seeded BlockWorld terrain: value-noise hills, water, beaches, trees, ores, surface landmarks, an edge wall.

Everything random comes from `np.random.default_rng(seed)`, so a seed gives the same world bit for bit.
The centre is kept dry land with landmarks (a gold block, a diamond block, four wool pillars) a few blocks
away, so an agent spawned there sees them by turning around.
"""

from __future__ import annotations

import numpy as np

from envs.blockworld import blocks as B

EDGE_WIDTH = 6  # columns over which the land sinks into the border ocean
CENTRE_RADIUS = 13  # radius around the centre kept above water (landmarks and spawn live here)
TREE_CLEARANCE = 3  # no trees this close to a landmark or to another tree
CENTRE_CLEARANCE = 6  # no trees this close to the centre, so the spawn view stays open


def water_level(height: int) -> int:
    """Sea level (highest water cell) for a world of `height` cells."""
    return max(3, height // 4)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    return t * t * (3.0 - 2.0 * t)


def _value_noise(rng: np.random.Generator, nx: int, nz: int, cell: int) -> np.ndarray:
    """Smooth noise in [0, 1] on an (nx, nz) grid: random lattice values every `cell` columns, eased lerp."""
    gx, gz = nx // cell + 2, nz // cell + 2
    lattice = rng.random((gx, gz))
    fx = np.arange(nx) / cell
    fz = np.arange(nz) / cell
    ix, iz = fx.astype(np.int64), fz.astype(np.int64)
    tx, tz = _smoothstep(fx - ix)[:, None], _smoothstep(fz - iz)[None, :]
    v00 = lattice[ix][:, iz]
    v10 = lattice[ix + 1][:, iz]
    v01 = lattice[ix][:, iz + 1]
    v11 = lattice[ix + 1][:, iz + 1]
    return (v00 * (1 - tx) + v10 * tx) * (1 - tz) + (v01 * (1 - tx) + v11 * tx) * tz


def _heightmap(rng: np.random.Generator, nx: int, ny: int, nz: int) -> np.ndarray:
    """Integer surface height per column (x, z): hills, a dry centre plateau, ocean towards the edge."""
    n = _value_noise(rng, nx, nz, 16) + 0.5 * _value_noise(rng, nx, nz, 8) + 0.2 * _value_noise(rng, nx, nz, 4)
    n = (n - n.min()) / max(float(n.max() - n.min()), 1e-9)  # (X, Z) in [0, 1]
    wl = water_level(ny)
    top = ny - 9  # leave room for trees on the highest hill
    h = wl - 4 + n * (top - (wl - 4))
    xs, zs = np.meshgrid(np.arange(nx), np.arange(nz), indexing="ij")
    r = np.hypot(xs - nx // 2, zs - nz // 2)
    # Flatten the centre into a dry, gentle plateau: the spawn and the landmarks around it stay dry and
    # at similar heights, so they are in view from the spawn.
    w = _smoothstep(np.clip(1.0 - (r - CENTRE_RADIUS * 0.6) / (CENTRE_RADIUS * 0.4), 0.0, 1.0))
    plateau = wl + 3 + 0.25 * (h - (wl + 3))
    h = h * (1 - w) + np.maximum(plateau, wl + 2) * w
    # Sink the rim into the sea: a finite world ending in water and a low wall.
    d = np.minimum(np.minimum(xs, nx - 1 - xs), np.minimum(zs, nz - 1 - zs)).astype(np.float64)
    e = _smoothstep(np.clip((d - 1.0) / EDGE_WIDTH, 0.0, 1.0))
    h = (wl - 4) * (1 - e) + h * e
    return np.clip(np.rint(h), 2, top).astype(np.int64)


def _fill_columns(vox: np.ndarray, h: np.ndarray, rng: np.random.Generator) -> None:
    """Bedrock, stone, dirt/sand, grass and water per column (in place)."""
    nx, ny, nz = vox.shape
    wl = water_level(ny)
    pad = np.pad(h, 1, mode="edge")
    slope = np.max(
        np.abs(np.stack([pad[2:, 1:-1], pad[:-2, 1:-1], pad[1:-1, 2:], pad[1:-1, :-2]]) - h[None]), axis=0
    )
    ys = np.arange(ny)[None, :, None]  # broadcast against (X, 1, Z) heights
    hh = h[:, None, :]
    vox[:] = B.AIR
    vox[(ys <= hh)] = B.STONE
    soil = (ys > hh - 4) & (ys <= hh)
    beach = (h <= wl + 1)[:, None, :]
    cliff = (slope >= 3)[:, None, :]
    vox[soil & ~beach & ~cliff] = B.DIRT
    vox[soil & beach] = B.SAND
    vox[(ys == hh) & ~beach & ~cliff] = B.GRASS
    vox[(ys > hh) & (ys <= wl)] = B.WATER
    vox[:, 0, :] = B.BEDROCK
    vox[:, 1, :][rng.random((nx, nz)) < 0.5] = B.BEDROCK


def _place_ores(vox: np.ndarray, rng: np.random.Generator) -> None:
    """Small random-walk clusters of ore inside stone only (in place); rarer ores sit deeper."""
    nx, ny, nz = vox.shape
    scale = nx * nz / 4096.0
    specs = ((B.COAL_ORE, 45, ny, 5), (B.IRON_ORE, 28, ny // 2 + 2, 4), (B.GOLD, 7, ny // 4, 3), (B.DIAMOND, 4, 6, 2))
    steps = np.array([(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)])
    for ore, count, ymax, size in specs:
        for _ in range(max(1, int(round(count * scale)))):
            cell = np.array([rng.integers(1, nx - 1), rng.integers(2, max(3, ymax)), rng.integers(1, nz - 1)])
            for _ in range(int(rng.integers(1, size + 1))):
                x, y, z = np.clip(cell, (0, 0, 0), (nx - 1, ny - 1, nz - 1))
                if vox[x, y, z] == B.STONE:
                    vox[x, y, z] = ore
                cell = cell + steps[rng.integers(0, 6)]


def surface_y(vox: np.ndarray, x: int, z: int) -> int:
    """Highest non-air cell of column (x, z) (water counts), or -1 if the column is empty."""
    filled = np.flatnonzero(vox[x, :, z] != B.AIR)
    return int(filled[-1]) if filled.size else -1


def _place_landmarks(vox: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int]]:
    """A gold block, a diamond block and four 3-high wool pillars around the centre; returns their columns."""
    nx, _, nz = vox.shape
    cx, cz = nx // 2, nz // 2
    a0 = rng.uniform(0.0, 2 * np.pi)
    items = [(B.GOLD, 0.0, 6.0, 1), (B.DIAMOND, np.pi, 8.0, 1)]
    items += [(w, np.pi / 4 + k * np.pi / 2, 10.0, 3) for k, w in enumerate(B.WOOLS)]
    columns = []
    for block, angle, dist, tall in items:
        dist = dist + rng.uniform(-1.0, 1.0)
        x = int(np.clip(round(cx + np.cos(a0 + angle) * dist), 1, nx - 2))
        z = int(np.clip(round(cz + np.sin(a0 + angle) * dist), 1, nz - 2))
        y = surface_y(vox, x, z) + 1
        vox[x, y : y + tall, z] = block
        columns.append((x, z))
    return columns


def _place_trees(vox: np.ndarray, rng: np.random.Generator, keep_clear: list[tuple[int, int]]) -> None:
    """Oak-like trees on grass: a 4-5 log trunk with a leaf blob (leaves only fill air)."""
    nx, ny, nz = vox.shape
    taken = list(keep_clear)
    target = int(round(16 * nx * nz / 4096.0))
    for _ in range(target * 20):
        if len(taken) - len(keep_clear) >= target:
            break
        x = int(rng.integers(EDGE_WIDTH + 2, nx - EDGE_WIDTH - 2))
        z = int(rng.integers(EDGE_WIDTH + 2, nz - EDGE_WIDTH - 2))
        if any(max(abs(x - tx), abs(z - tz)) < TREE_CLEARANCE for tx, tz in taken):
            continue
        if max(abs(x - nx // 2), abs(z - nz // 2)) < CENTRE_CLEARANCE:
            continue
        y = surface_y(vox, x, z)
        trunk = int(rng.integers(4, 6))
        if vox[x, y, z] != B.GRASS or y + trunk + 2 >= ny:
            continue
        top = y + trunk
        for dy, radius in ((-2, 2), (-1, 2), (0, 1), (1, 1)):
            ly = top + dy
            for dx in range(-radius, radius + 1):
                for dz in range(-radius, radius + 1):
                    corner = abs(dx) == radius and abs(dz) == radius
                    if corner and (radius == 1 or rng.random() < 0.6):
                        continue  # rounded blob: drop corners
                    if vox[x + dx, ly, z + dz] == B.AIR:
                        vox[x + dx, ly, z + dz] = B.LEAVES
        vox[x, y + 1 : top + 1, z] = B.LOG
        taken.append((x, z))


def generate_world(seed: int, size: tuple[int, int, int] = (64, 32, 64)) -> np.ndarray:
    """A BlockWorld: uint8 voxels (X, Y, Z), y up; deterministic for `seed`."""
    if len(size) != 3 or any(int(s) != s for s in size):
        raise ValueError(f"world_size must be 3 integers (X, Y, Z), got {size!r}")
    nx, ny, nz = (int(s) for s in size)
    if nx < 2 * EDGE_WIDTH + 16 or nz < 2 * EDGE_WIDTH + 16 or ny < 24:
        raise ValueError(f"world_size {size!r} too small: need X, Z >= {2 * EDGE_WIDTH + 16} and Y >= 24")
    rng = np.random.default_rng(int(seed))
    vox = np.zeros((nx, ny, nz), dtype=np.uint8)
    h = _heightmap(rng, nx, ny, nz)
    _fill_columns(vox, h, rng)
    _place_ores(vox, rng)
    landmarks = _place_landmarks(vox, rng)
    _place_trees(vox, rng, landmarks)
    # Border ring: a low unbreakable wall rising 3 blocks above the sea; the world box ends here.
    wall_top = min(water_level(ny) + 3, ny - 1)
    for ring in (vox[0], vox[-1], vox[:, :, 0].T, vox[:, :, -1].T):  # each ring view is (Y, horizontal)
        ring[1 : wall_top + 1] = B.WALL
        ring[wall_top + 1 :] = B.AIR
    return vox


def spawn_point(voxels: np.ndarray, seed: int) -> np.ndarray:
    """Feet position (3,) float64 standing on dry ground near the centre (a seed-jittered nearest column)."""
    nx, ny, nz = voxels.shape
    rng = np.random.default_rng(int(seed))
    want = np.array([nx / 2.0, nz / 2.0]) + rng.uniform(-1.5, 1.5, size=2)
    ground = (B.GRASS, B.DIRT, B.SAND, B.STONE)
    best: tuple[float, np.ndarray] | None = None
    for x in range(1, nx - 1):
        for z in range(1, nz - 1):
            dist = float(np.hypot(x + 0.5 - want[0], z + 0.5 - want[1]))
            if best is not None and dist >= best[0]:
                continue
            y = surface_y(voxels, x, z)
            if 0 <= y < ny - 2 and voxels[x, y, z] in ground:
                best = (dist, np.array([x + 0.5, y + 1.0, z + 0.5]))
    if best is None:  # no dry land at all: stand on top of the centre column
        x, z = nx // 2, nz // 2
        return np.array([x + 0.5, float(min(surface_y(voxels, x, z) + 1, ny - 2)), z + 0.5])
    return best[1]


def landmark_cells(voxels: np.ndarray, block_id: int) -> np.ndarray:
    """All cells holding `block_id`: int64 (N, 3) rows of (x, y, z), in x-major order."""
    if not 0 <= int(block_id) < B.NUM_BLOCKS:
        raise ValueError(f"block_id must be in [0, {B.NUM_BLOCKS}), got {block_id}")
    return np.argwhere(voxels == block_id).astype(np.int64)
