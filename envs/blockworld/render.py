"""Numba voxel renderer and ray cast for BlockWorld (Amanatides-Woo DDA, one ray per pixel).

Camera (as envs/actions.py): forward(yaw, pitch) = (-sin(yaw)cos(pitch), -sin(pitch), cos(yaw)cos(pitch)),
yaw 0 looks along +z, positive yaw turns right, positive pitch looks down; right = (-cos(yaw), 0, -sin(yaw));
`fov_deg` is the vertical field of view; pixel (row 0, col 0) is the top-left of the image.

Water is drawn semi-transparent (the ray continues and the colour behind is tinted by the water depth
crossed), but for `depth` and `block_ids` a water surface entered from air counts as the hit. A camera
inside water sees the underwater scene tinted blue; water cells around the eye are not a hit.
Rays farther than MAX_DIST, leaving the world box, or starting outside it and missing it show sky.
Compiled with cache=True: the first call in a fresh install compiles (~seconds), later processes load the cache.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from envs.blockworld.blocks import NUM_BLOCKS

AIR = 0  # repeated from blocks.py as literals so numba sees compile-time constants
WATER = 5
MAX_DIST = 64.0
FOG_START = 0.5 * MAX_DIST
WATER_ABSORB = 0.2  # per block of water crossed
SURFACE_T = 0.55  # how much of the scene shows through a water surface
RINGS = (2, 4, 8, 16)  # half-sizes (columns) of squares around the eye whose ceilings cut rising rays short
UNDERWATER_T = 0.7  # ... and through the water around a submerged eye, before depth absorption
SHADE = (1.0, 0.8, 0.66, 0.5)  # top, x-facing sides, z-facing sides, bottom: fixed "sun from above" lighting

_JIT = dict(cache=True, fastmath=False, error_model="numpy", nogil=True)


@njit(**_JIT)
def _sky(dy: float) -> tuple[float, float, float]:
    """Sky colour for a ray with vertical component dy: pale at the horizon, deeper blue overhead."""
    t = min(max(dy, 0.0), 1.0)
    t = math.sqrt(t)
    if dy < 0.0:  # below the horizon (only visible outside the world): slightly hazier
        return 176.0, 198.0, 230.0
    return 186.0 - 86.0 * t, 212.0 - 62.0 * t, 250.0 - 15.0 * t


@njit(**_JIT)
def _slab(o: float, d: float, n: int, a: int, t0: float, t1: float, axis: int) -> tuple[float, float, int]:
    """Clip [t0, t1] to the slab 0 <= o + d t <= n of axis a; an empty interval has t0 > t1."""
    if d == 0.0:
        return (t0, t1, axis) if 0.0 <= o < n else (1.0, 0.0, axis)
    ta, tb = (0.0 - o) / d, (n - o) / d
    if ta > tb:
        ta, tb = tb, ta
    if ta > t0:
        t0, axis = ta, a
    return t0, min(t1, tb), axis


@njit(**_JIT)
def _clip(ox, oy, oz, dx, dy, dz, nx, ny, nz, max_dist) -> tuple[float, float, int]:
    """Ray/box clip: (t_in, t_out, axis the ray enters the box through, -1 if it starts inside)."""
    t0, t1, axis = _slab(ox, dx, nx, 0, 0.0, max_dist, -1)
    t0, t1, axis = _slab(oy, dy, ny, 1, t0, t1, axis)
    return _slab(oz, dz, nz, 2, t0, t1, axis)


@njit(**_JIT)
def _step_init(o: float, d: float, t0: float, n: int) -> tuple[int, int, float, float]:
    """DDA start on one axis: (cell, step, t of the next boundary, t between boundaries)."""
    c = min(max(int(math.floor(o + d * t0)), 0), n - 1)
    if d > 0.0:
        return c, 1, (c + 1.0 - o) / d, 1.0 / d
    if d < 0.0:
        return c, -1, (c - o) / d, -1.0 / d
    return c, 0, np.inf, np.inf


@njit(**_JIT)
def _start(d: float, inv: float, pos: float, neg: float) -> tuple[int, float]:
    """DDA start on one axis from inside the first cell: (step, t of the first boundary)."""
    if d > 0.0:
        return 1, pos * inv
    if d < 0.0:
        return -1, neg * inv
    return 0, np.inf


@njit(**_JIT)
def _steps_within(tn: float, e: float, t1: float) -> int:
    """How many boundaries of one axis (at tn, tn + e, ...) the ray crosses up to distance t1."""
    if tn > t1:
        return 0
    return int((t1 - tn) / e) + 1


@njit(**_JIT)
def _face(lx: float, ly: float, lz: float, axis: int, down: bool) -> tuple[int, int, int, float]:
    """Texture (face, row, col) and shade for local hit coords on the face entered through `axis`."""
    lx = min(max(lx, 0.0), 0.99999)
    ly = min(max(ly, 0.0), 0.99999)
    lz = min(max(lz, 0.0), 0.99999)
    if axis == 1:
        if down:
            return 0, int(lz * 8.0), int(lx * 8.0), SHADE[0]
        return 2, int(lz * 8.0), int(lx * 8.0), SHADE[3]
    if axis == 0:
        return 1, int((1.0 - ly) * 8.0), int(lz * 8.0), SHADE[1]
    return 1, int((1.0 - ly) * 8.0), int(lx * 8.0), SHADE[2] if axis == 2 else SHADE[3]


@njit(**_JIT)
def _fog(r, g, b, t, sr, sg, sb) -> tuple[float, float, float]:
    """Blend towards the sky colour of the ray beyond FOG_START (reaching it at MAX_DIST)."""
    if t <= FOG_START:
        return r, g, b
    f = min((t - FOG_START) / (MAX_DIST - FOG_START), 1.0)
    return r + (sr - r) * f, g + (sg - g) * f, b + (sb - b) * f


@njit(**_JIT)
def _ceiling(vox: np.ndarray) -> int:
    """1 + the highest y holding any non-air voxel (0 for an empty world): rays above it can hit nothing."""
    nx, ny, nz = vox.shape
    best = 0
    for x in range(nx):
        for y in range(ny - 1, best - 1, -1):
            acc = 0
            for z in range(nz):  # branch-free OR over a contiguous row: vectorises
                acc |= vox[x, y, z]
            if acc != 0:
                best = y + 1
                break
    return best


@njit(**_JIT)
def _ring_ceilings(vox: np.ndarray, cx0: int, cz0: int, top: int) -> np.ndarray:
    """Per square of half-size RINGS[k] columns around the eye column: 1 + its highest non-air y."""
    nx, nz = vox.shape[0], vox.shape[2]
    out = np.empty(len(RINGS), np.int64)
    best = 0  # a larger square holds the smaller one, so scan it only above the smaller one's ceiling
    for k in range(len(RINGS)):
        x0, x1 = max(cx0 - RINGS[k], 0), min(cx0 + RINGS[k] + 1, nx)
        z0, z1 = max(cz0 - RINGS[k], 0), min(cz0 + RINGS[k] + 1, nz)
        for x in range(x0, x1):
            for y in range(top - 1, best - 1, -1):
                acc = 0
                for z in range(z0, z1):
                    acc |= vox[x, y, z]
                if acc != 0:
                    best = y + 1
                    break
        out[k] = best
    return out


@njit(**_JIT)
def _rising_limit(ox, oy, oz, dx, dz, ex, ey, ez, cx0, cz0, ceil, top) -> float:
    """Distance beyond which a rising ray (dy > 0) can hit nothing: within the ring between squares k-1 and k
    it can only hit below that square's ceiling, so the bound is the max over rings of min(exit_k, above_k)."""
    limit, t_prev = 0.0, 0.0
    for k in range(len(RINGS)):
        tx = (cx0 + RINGS[k] + 1.0 - ox) * ex if dx > 0.0 else ((ox - cx0 + RINGS[k]) * ex if dx < 0.0 else np.inf)
        tz = (cz0 + RINGS[k] + 1.0 - oz) * ez if dz > 0.0 else ((oz - cz0 + RINGS[k]) * ez if dz < 0.0 else np.inf)
        t_exit = min(tx, tz)
        t_above = (ceil[k] - oy) * ey
        if t_above > t_prev:
            limit = max(limit, min(t_exit, t_above))
        t_prev = t_exit
    t_above = (top - oy) * ey  # beyond the largest square: the world ceiling
    if t_above > t_prev:
        limit = max(limit, t_above)
    return limit


@njit(**_JIT)
def _render_row(vox, top, ceil, tex, eye, basis, tan_h, aspect, fog, rgb, depth, ids, j) -> None:
    """Trace every pixel of image row j through the box [0, X) x [0, top) x [0, Z).

    One function on purpose: numba calls that pass arrays cost ~25 ns each, as much as a few DDA steps.
    """
    nx, nz = vox.shape[0], vox.shape[2]
    flat = vox.ravel()  # a view: the wrapper passes C-contiguous voxels
    h, w = depth.shape
    ox, oy, oz = eye[0], eye[1], eye[2]
    inside = 0.0 <= ox < nx and 0.0 <= oy < top and 0.0 <= oz < nz
    cx0, cy0, cz0 = int(math.floor(ox)), int(math.floor(oy)), int(math.floor(oz))  # eye cell when inside
    # Branch-free pre-pass over the row (vectorises): unit directions and 1/|d|, so the divisions and
    # square roots are off the DDA's critical path (~30 ns per ray saved).
    rays = np.empty((6, w))
    v = (1.0 - 2.0 * (j + 0.5) / h) * tan_h
    for i in range(w):
        u = (2.0 * (i + 0.5) / w - 1.0) * tan_h * aspect
        dx = basis[0, 0] + u * basis[1, 0] + v * basis[2, 0]
        dy = basis[0, 1] + u * basis[1, 1] + v * basis[2, 1]
        dz = basis[0, 2] + u * basis[1, 2] + v * basis[2, 2]
        n = 1.0 / math.sqrt(dx * dx + dy * dy + dz * dz)
        rays[0, i], rays[1, i], rays[2, i] = dx * n, dy * n, dz * n
        rays[3, i], rays[4, i], rays[5, i] = 1.0 / abs(dx * n), 1.0 / abs(dy * n), 1.0 / abs(dz * n)
    for i in range(w):
        dx, dy, dz = rays[0, i], rays[1, i], rays[2, i]
        first_t, first_id = np.inf, 0
        r, g, b, hit_t = 0.0, 0.0, 0.0, np.inf
        sr, sg, sb = 0.0, 0.0, 0.0  # sky colour, computed only when needed
        wr, wg, wb, wt = 30.0, 60.0, 140.0, np.inf  # water layer colour: deep tint unless a surface is hit
        water_len = 0.0
        if inside:  # the common case: every ray starts in the eye cell, no box clip
            t0, t1, axis = 0.0, MAX_DIST, -1
            ex, ey, ez = rays[3, i], rays[4, i], rays[5, i]
            cx, cy, cz = cx0, cy0, cz0
            sx, tx = _start(dx, ex, cx0 + 1.0 - ox, ox - cx0)
            sy, ty = _start(dy, ey, cy0 + 1.0 - oy, oy - cy0)
            sz, tz = _start(dz, ez, cz0 + 1.0 - oz, oz - cz0)
            if dy > 0.0:
                t1 = min(t1, _rising_limit(ox, oy, oz, dx, dz, ex, ey, ez, cx0, cz0, ceil, top))
        else:
            t0, t1, axis = _clip(ox, oy, oz, dx, dy, dz, nx, top, nz, MAX_DIST)
            cx, sx, tx, ex = _step_init(ox, dx, t0, nx)
            cy, sy, ty, ey = _step_init(oy, dy, t0, top)
            cz, sz, tz, ez = _step_init(oz, dz, t0, nz)
        if t0 <= t1:
            # Flat voxel index plus per-axis counts of steps left before leaving the box: cheaper per step
            # than 3-D indexing and bounds checks (~10% measured).
            idx = (cx * vox.shape[1] + cy) * nz + cz
            ix, iy, iz = sx * vox.shape[1] * nz, sy * nz, sz
            lx = nx - 1 - cx if sx > 0 else cx
            ly = top - 1 - cy if sy > 0 else cy
            lz = nz - 1 - cz if sz > 0 else cz
            # Fold the distance limit into the same counts, so the loop needs no `t > t1` test.
            lx = min(lx, _steps_within(tx, ex, t1))
            ly = min(ly, _steps_within(ty, ey, t1))
            lz = min(lz, _steps_within(tz, ez, t1))
            t = t0
            water_exit = -1.0  # t at which the ray left the last water cell: tells a surface from more water
            while True:
                blk = flat[idx]
                if blk != AIR:
                    if blk != WATER:
                        if first_id == 0:
                            first_t, first_id = t, blk
                        hit_t = t
                        f, row, col, shade = _face(ox + dx * t - cx, oy + dy * t - cy, oz + dz * t - cz, axis,
                                                   sy < 0)
                        r = tex[blk, f, row, col, 0] * shade
                        g = tex[blk, f, row, col, 1] * shade
                        b = tex[blk, f, row, col, 2] * shade
                        break
                    if t != water_exit and axis >= 0 and first_id == 0:  # entered water from air: a surface
                        first_t, first_id, wt = t, WATER, t
                        f, row, col, shade = _face(ox + dx * t - cx, oy + dy * t - cy, oz + dz * t - cz, axis,
                                                   sy < 0)
                        wr = tex[WATER, f, row, col, 0] * shade
                        wg = tex[WATER, f, row, col, 1] * shade
                        wb = tex[WATER, f, row, col, 2] * shade
                    water_exit = min(min(tx, ty), tz)
                    water_len += min(water_exit, t1) - t
                # Step into the neighbour across the nearest cell boundary (plain branches: measured
                # faster under numba than branch-free selects, 4^3 empty-brick leaps or 8x8 column tiles).
                if tx < ty and tx < tz:
                    t, axis, cx, idx, lx = tx, 0, cx + sx, idx + ix, lx - 1
                    tx += ex
                    if lx < 0:
                        break
                elif ty < tz:
                    t, axis, cy, idx, ly = ty, 1, cy + sy, idx + iy, ly - 1
                    ty += ey
                    if ly < 0:
                        break
                else:
                    t, axis, cz, idx, lz = tz, 2, cz + sz, idx + iz, lz - 1
                    tz += ez
                    if lz < 0:
                        break
        if hit_t == np.inf or (fog and hit_t > FOG_START) or wt < np.inf:  # the sky colour is needed
            sr, sg, sb = _sky(dy)
            if hit_t == np.inf:
                r, g, b = sr, sg, sb
            elif fog:
                r, g, b = _fog(r, g, b, hit_t, sr, sg, sb)
        if water_len > 0.0 or wt < np.inf:
            keep = math.exp(-WATER_ABSORB * water_len) * (SURFACE_T if wt < np.inf else UNDERWATER_T)
            if fog and wt < np.inf:
                wr, wg, wb = _fog(wr, wg, wb, wt, sr, sg, sb)
            r, g, b = r * keep + wr * (1.0 - keep), g * keep + wg * (1.0 - keep), b * keep + wb * (1.0 - keep)
        depth[j, i] = first_t
        ids[j, i] = first_id
        rgb[j, i, 0] = np.uint8(min(max(r + 0.5, 0.0), 255.0))
        rgb[j, i, 1] = np.uint8(min(max(g + 0.5, 0.0), 255.0))
        rgb[j, i, 2] = np.uint8(min(max(b + 0.5, 0.0), 255.0))


@njit(**_JIT)
def _render_serial(vox, top, ceil, tex, eye, basis, tan_h, aspect, fog, rgb, depth, ids) -> None:
    """All rows, one thread (prange over rows measured 2-10x slower with the 2 cores shared)."""
    for j in range(depth.shape[0]):
        _render_row(vox, top, ceil, tex, eye, basis, tan_h, aspect, fog, rgb, depth, ids, j)


def camera_basis(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Camera axes float64 (3, 3): rows forward, right, up (unit vectors), per the shared angle convention."""
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    sy, cy, sp, cp = math.sin(yaw), math.cos(yaw), math.sin(pitch), math.cos(pitch)
    # up = right x forward, written out (np.cross costs ~50 us per call)
    return np.array([[-sy * cp, -sp, cy * cp], [-cy, 0.0, -sy], [-sy * sp, cp, cy * sp]])


def camera_rays(yaw_deg: float, pitch_deg: float, width: int, height: int, fov_deg: float = 70.0) -> np.ndarray:
    """Unit ray direction of every pixel, float64 (H, W, 3), as `render` traces them (row 0 = top)."""
    fwd, right, up = camera_basis(yaw_deg, pitch_deg)
    tan_h = math.tan(math.radians(fov_deg) / 2.0)
    v = (1.0 - 2.0 * (np.arange(height) + 0.5) / height) * tan_h  # (H,)
    u = (2.0 * (np.arange(width) + 0.5) / width - 1.0) * tan_h * (width / height)  # (W,)
    d = fwd + u[None, :, None] * right + v[:, None, None] * up  # (H, W, 3)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def _check(voxels: np.ndarray, eye: np.ndarray, **scalars: float) -> None:
    """ValueError naming the bad argument (cheap: this runs every frame)."""
    if not isinstance(voxels, np.ndarray) or voxels.ndim != 3 or voxels.dtype != np.uint8:
        raise ValueError(f"voxels must be a uint8 (X, Y, Z) array, got {getattr(voxels, 'dtype', type(voxels))}")
    if eye.shape != (3,) or not (math.isfinite(eye[0]) and math.isfinite(eye[1]) and math.isfinite(eye[2])):
        raise ValueError(f"eye must be a finite (3,) position, got {eye!r}")
    for key, value in scalars.items():
        if not math.isfinite(value):
            raise ValueError(f"{key} must be finite, got {value}")


def render(
    voxels: np.ndarray,
    textures: np.ndarray,
    eye: np.ndarray,
    yaw_deg: float,
    pitch_deg: float,
    width: int,
    height: int,
    fov_deg: float = 70.0,
    fog: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render a view: rgb uint8 (H, W, 3), depth float32 (H, W) (euclidean, inf = sky), block_ids uint8 (H, W).

    Voxel ids must be < NUM_BLOCKS (the kernel does not bounds-check them, for speed).
    """
    eye = np.asarray(eye, dtype=np.float64)
    _check(voxels, eye, yaw_deg=float(yaw_deg), pitch_deg=float(pitch_deg), fov_deg=float(fov_deg))
    h, w = int(height), int(width)
    if h < 1 or w < 1:
        raise ValueError(f"width and height must be >= 1, got {width}x{height}")
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"fov_deg must be in (0, 180), got {fov_deg}")
    if textures.dtype != np.uint8 or textures.shape != (NUM_BLOCKS, 3, 8, 8, 3):
        raise ValueError(f"textures must be uint8 {(NUM_BLOCKS, 3, 8, 8, 3)}, got {textures.dtype} {textures.shape}")
    voxels = np.ascontiguousarray(voxels)
    rgb = np.empty((h, w, 3), np.uint8)
    depth = np.empty((h, w), np.float32)
    ids = np.empty((h, w), np.uint8)
    # Rays stop at the highest filled layer (or just above the eye), so sky rays end early.
    top = min(voxels.shape[1], max(_ceiling(voxels), int(math.floor(eye[1])) + 1, 1))
    ceil = _ring_ceilings(voxels, int(math.floor(eye[0])), int(math.floor(eye[2])), top)
    _render_serial(voxels, top, ceil, np.ascontiguousarray(textures), eye, camera_basis(yaw_deg, pitch_deg),
           math.tan(math.radians(fov_deg) / 2.0), w / h, bool(fog), rgb, depth, ids)
    return rgb, depth, ids


@njit(**_JIT)
def _raycast(vox, ox, oy, oz, dx, dy, dz, max_dist) -> tuple[bool, int, int, int, int, float]:
    """DDA to the first cell that is neither air nor water: (hit, x, y, z, entry axis or -1, distance)."""
    nx, ny, nz = vox.shape
    t0, t1, axis = _clip(ox, oy, oz, dx, dy, dz, nx, ny, nz, max_dist)
    if t0 > t1:
        return False, 0, 0, 0, -1, np.inf
    cx, sx, tx, ex = _step_init(ox, dx, t0, nx)
    cy, sy, ty, ey = _step_init(oy, dy, t0, ny)
    cz, sz, tz, ez = _step_init(oz, dz, t0, nz)
    t = t0
    while True:
        blk = vox[cx, cy, cz]
        if blk != AIR and blk != WATER:
            return True, cx, cy, cz, axis, t
        if tx < ty and tx < tz:
            t, axis, cx = tx, 0, cx + sx
            tx += ex
            if cx < 0 or cx >= nx:
                break
        elif ty < tz:
            t, axis, cy = ty, 1, cy + sy
            ty += ey
            if cy < 0 or cy >= ny:
                break
        else:
            t, axis, cz = tz, 2, cz + sz
            tz += ez
            if cz < 0 or cz >= nz:
                break
        if t > t1:
            break
    return False, 0, 0, 0, -1, np.inf


def raycast(
    voxels: np.ndarray, eye: np.ndarray, direction: np.ndarray, max_dist: float
) -> tuple[bool, np.ndarray, np.ndarray, float]:
    """First solid block along a ray (air and water are skipped): (hit, cell int64 (3,), normal int64 (3,), dist).

    `normal` is the outward normal of the face the ray entered through (place a block at cell + normal);
    `dist` is euclidean along the normalised direction. On a miss: (False, zeros, zeros, inf).
    """
    eye = np.asarray(eye, dtype=np.float64)
    d = np.asarray(direction, dtype=np.float64)
    _check(voxels, eye, max_dist=float(max_dist))
    n = float(np.linalg.norm(d)) if d.shape == (3,) else 0.0
    if not (math.isfinite(n) and n > 0.0):
        raise ValueError(f"direction must be a finite non-zero (3,) vector, got {direction!r}")
    d = d / n
    hit, x, y, z, axis, dist = _raycast(np.ascontiguousarray(voxels), eye[0], eye[1], eye[2], d[0], d[1], d[2],
                                        float(max_dist))
    if not hit:
        return False, np.zeros(3, np.int64), np.zeros(3, np.int64), math.inf
    if axis < 0:  # the eye is inside a solid block: report the face pointing back along the ray
        axis = int(np.argmax(np.abs(d)))
    normal = np.zeros(3, np.int64)
    normal[axis] = -1 if d[axis] > 0 else 1
    return True, np.array([x, y, z], np.int64), normal, float(dist)
