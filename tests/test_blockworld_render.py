"""BlockWorld blocks, textures, world generation and the numba renderer / ray cast (tiny and fast)."""

from __future__ import annotations

import numpy as np
import pytest

from envs.blockworld import blocks as B
from envs.blockworld.render import camera_basis, camera_rays, raycast, render
from envs.blockworld.textures import make_textures
from envs.blockworld.worldgen import generate_world, landmark_cells, spawn_point

EYE_HEIGHT = 1.62


@pytest.fixture(scope="module")
def world() -> np.ndarray:
    return generate_world(0)


@pytest.fixture(scope="module")
def tex() -> np.ndarray:
    return make_textures()


@pytest.fixture(scope="module")
def eye(world: np.ndarray) -> np.ndarray:
    return spawn_point(world, 0) + np.array([0.0, EYE_HEIGHT, 0.0])


def test_block_tables() -> None:
    assert B.NUM_BLOCKS == 19 and len(B.BLOCK_NAMES) == B.NUM_BLOCKS
    assert (B.GOLD, B.DIAMOND, B.WALL) == (10, 11, 18)
    assert B.SOLID.dtype == np.bool_ and not B.SOLID[B.AIR] and not B.SOLID[B.WATER] and B.SOLID[B.STONE]
    assert not B.BREAKABLE[B.BEDROCK] and not B.BREAKABLE[B.WALL] and B.BREAKABLE[B.GOLD]
    assert B.block_id("gold") == B.GOLD
    with pytest.raises(ValueError, match="nope"):
        B.block_id("nope")


def test_textures_are_deterministic_and_detailed(tex: np.ndarray) -> None:
    assert tex.shape == (B.NUM_BLOCKS, 3, 8, 8, 3) and tex.dtype == np.uint8
    np.testing.assert_array_equal(tex, make_textures())
    for block in range(1, B.NUM_BLOCKS):
        assert tex[block, 1].reshape(-1, 3).std(axis=0).max() > 2.0, B.BLOCK_NAMES[block]  # not a flat colour
    assert not np.array_equal(tex[B.GRASS, 0], tex[B.GRASS, 1])  # grass: green top, dirt side
    assert not np.array_equal(tex[B.LOG, 0], tex[B.LOG, 1])  # log: rings on top, bark on the side


def test_worldgen_is_deterministic_per_seed(world: np.ndarray) -> None:
    assert world.shape == (64, 32, 64) and world.dtype == np.uint8
    np.testing.assert_array_equal(world, generate_world(0))
    assert not np.array_equal(world, generate_world(1))
    assert world.max() < B.NUM_BLOCKS
    with pytest.raises(ValueError, match="world_size"):
        generate_world(0, size=(8, 8, 8))


@pytest.mark.parametrize("seed", [0, 7])
def test_world_has_landmarks_layers_and_edge(seed: int) -> None:
    vox = generate_world(seed)
    for block in (B.GOLD, B.DIAMOND, *B.WOOLS, B.LOG, B.LEAVES, B.WATER, B.COAL_ORE, B.GRASS):
        assert len(landmark_cells(vox, block)) > 0, B.BLOCK_NAMES[block]
    assert np.all(vox[:, 0, :] == B.BEDROCK)
    assert np.all(vox[0, 1, :] == B.WALL) and np.all(vox[:, 1, -1] == B.WALL)
    cells = landmark_cells(vox, B.DIAMOND)
    assert cells.dtype == np.int64 and cells.shape[1] == 3 and np.all(vox[tuple(cells.T)] == B.DIAMOND)


def test_spawn_point_stands_on_dry_ground(world: np.ndarray) -> None:
    feet = spawn_point(world, 0)
    assert feet.shape == (3,) and feet.dtype == np.float64
    np.testing.assert_array_equal(feet, spawn_point(world, 0))
    x, y, z = int(feet[0]), int(feet[1]), int(feet[2])
    assert feet[1] == y and B.SOLID[world[x, y - 1, z]] and world[x, y, z] == B.AIR == world[x, y + 1, z]
    assert abs(feet[0] - 32) < 8 and abs(feet[2] - 32) < 8


@pytest.mark.parametrize("size", [(64, 64), (640, 360), (1, 1)])
def test_render_shapes_and_dtypes(world: np.ndarray, tex: np.ndarray, eye: np.ndarray, size: tuple[int, int]) -> None:
    w, h = size
    rgb, depth, ids = render(world, tex, eye, 30.0, 5.0, w, h)
    assert rgb.shape == (h, w, 3) and rgb.dtype == np.uint8
    assert depth.shape == (h, w) and depth.dtype == np.float32
    assert ids.shape == (h, w) and ids.dtype == np.uint8
    assert np.all((ids == 0) == np.isinf(depth)) and np.all(depth[ids > 0] >= 0)


def test_centre_pixel_matches_raycast(world: np.ndarray, tex: np.ndarray, eye: np.ndarray) -> None:
    checked = 0
    for yaw in (0.0, 45.0, 100.0, 200.0, 300.0):
        rgb, depth, ids = render(world, tex, eye, yaw, 35.0, 64, 64)
        if ids[32, 32] == B.WATER:  # raycast skips water by design
            continue
        direction = camera_rays(yaw, 35.0, 64, 64)[32, 32]
        hit, cell, normal, dist = raycast(world, eye, direction, 64.0)
        assert hit and abs(dist - depth[32, 32]) < 1e-3
        assert ids[32, 32] == world[tuple(cell)]
        assert np.abs(normal).sum() == 1 and not B.SOLID[world[tuple(cell + normal)]]
        checked += 1
    assert checked >= 3


def test_odd_size_centre_ray_is_forward(world: np.ndarray, tex: np.ndarray, eye: np.ndarray) -> None:
    _, depth, ids = render(world, tex, eye, 10.0, 40.0, 65, 65)
    hit, cell, _, dist = raycast(world, eye, camera_basis(10.0, 40.0)[0], 64.0)
    assert hit and abs(dist - depth[32, 32]) < 1e-3 and ids[32, 32] == world[tuple(cell)]


def test_camera_convention() -> None:
    fwd, right, up = camera_basis(0.0, 0.0)
    np.testing.assert_allclose(fwd, [0, 0, 1], atol=1e-12)  # yaw 0 looks along +z
    np.testing.assert_allclose(right, [-1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(up, [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(camera_basis(90.0, 0.0)[0], [-1, 0, 0], atol=1e-12)  # turning right
    np.testing.assert_allclose(camera_basis(0.0, 90.0)[0], [0, -1, 0], atol=1e-12)  # positive pitch looks down


def test_sky_straight_up(world: np.ndarray, tex: np.ndarray, eye: np.ndarray) -> None:
    rgb, depth, ids = render(world, tex, eye, 0.0, -90.0, 32, 32)
    assert ids[16, 16] == 0 and np.isinf(depth[16, 16])
    assert (ids == 0).mean() > 0.9 and rgb[16, 16, 2] > rgb[16, 16, 0]  # blue sky


def test_placed_block_shows_up(world: np.ndarray, tex: np.ndarray, eye: np.ndarray) -> None:
    vox = world.copy()
    x, y, z = int(eye[0]), int(eye[1]), int(eye[2]) + 2  # two cells ahead along +z (yaw 0)
    vox[x, y, z] = B.DIAMOND
    before = render(world, tex, eye, 0.0, 0.0, 64, 64)
    after = render(vox, tex, eye, 0.0, 0.0, 64, 64)
    assert before[2][32, 32] != B.DIAMOND and after[2][32, 32] == B.DIAMOND
    assert 1.0 < after[1][32, 32] < 2.0
    assert not np.array_equal(before[0], after[0])


def test_yaw_180_differs_and_render_is_bit_identical(world: np.ndarray, tex: np.ndarray, eye: np.ndarray) -> None:
    a = render(world, tex, eye, 0.0, 5.0, 64, 64)
    b = render(world, tex, eye, 0.0, 5.0, 64, 64)
    c = render(world, tex, eye, 180.0, 5.0, 64, 64)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize(
    "pos, yaw, pitch",
    [((-30.0, 50.0, -30.0), 45.0, 30.0), ((32.0, 80.0, 32.0), 0.0, 90.0), ((500.0, 5.0, 9.0), 0.0, -90.0),
     ((32.5, 3.5, 32.5), 123.0, 0.0), ((64.0, 32.0, 0.0), -720.0, 89.999)],
)
def test_any_eye_or_angle_is_safe(world: np.ndarray, tex: np.ndarray, pos: tuple, yaw: float, pitch: float) -> None:
    rgb, depth, ids = render(world, tex, np.array(pos), yaw, pitch, 24, 16, fog=False)
    assert rgb.shape == (16, 24, 3) and not np.any(np.isnan(depth))


def test_water_is_a_hit_for_render_but_not_for_raycast(tex: np.ndarray) -> None:
    vox = np.zeros((32, 32, 32), np.uint8)
    vox[:, :4, :] = B.STONE
    vox[:, 4:6, :] = B.WATER
    eye = np.array([16.5, 10.0, 16.5])
    _, depth, ids = render(vox, tex, eye, 0.0, 90.0, 9, 9)
    assert ids[4, 4] == B.WATER and abs(depth[4, 4] - 4.0) < 1e-4  # surface at y = 6
    hit, cell, normal, dist = raycast(vox, eye, np.array([0.0, -1.0, 0.0]), 10.0)
    assert hit and tuple(cell) == (16, 3, 16) and tuple(normal) == (0, 1, 0) and abs(dist - 6.0) < 1e-9
    assert not raycast(vox, eye, np.array([0.0, 1.0, 0.0]), 4.5)[0]
    under = render(vox, tex, np.array([16.5, 5.0, 16.5]), 0.0, 90.0, 9, 9)
    assert under[1][4, 4] == pytest.approx(1.0) and under[2][4, 4] == B.STONE  # from inside water: the floor


def test_bad_inputs_raise(world: np.ndarray, tex: np.ndarray) -> None:
    with pytest.raises(ValueError, match="eye"):
        render(world, tex, np.array([np.nan, 1.0, 1.0]), 0.0, 0.0, 8, 8)
    with pytest.raises(ValueError, match="yaw_deg"):
        render(world, tex, np.zeros(3), float("inf"), 0.0, 8, 8)
    with pytest.raises(ValueError, match="textures"):
        render(world, tex[:5], np.zeros(3), 0.0, 0.0, 8, 8)
    with pytest.raises(ValueError, match="direction"):
        raycast(world, np.zeros(3), np.zeros(3), 4.5)
