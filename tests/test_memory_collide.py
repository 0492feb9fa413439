"""Walking against remembered walls: the wall's direction from a view's depth, and the slide along it."""

from __future__ import annotations

import math

import pytest
import torch

from worldmodel.memory.camera import Camera
from worldmodel.memory.collide import slide, wall_tangent
from worldmodel.memory.world_memory import WorldMemory, move_pose

ZONE_ROWS, ZONE_HALF_WIDTH = (0.45, 0.8), 0.3


def zone(camera: Camera) -> torch.Tensor:
    rows = torch.arange(camera.height)[:, None] / camera.height
    cols = (torch.arange(camera.width)[None, :] + 0.5) / camera.width
    return (rows >= ZONE_ROWS[0]) & (rows <= ZONE_ROWS[1]) & ((cols - 0.5).abs() <= ZONE_HALF_WIDTH)


def wall_view(camera: Camera, pose: torch.Tensor, point: tuple[float, float], direction_deg: float
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Depth (1, H, W) and world points of a vertical wall through (x, z) = point running along direction_deg
    (0 = +x, 90 = +z), seen from pose (1, 5); inf where the ray misses it (behind or parallel)."""
    rays = camera.rays(pose)  # (1, H, W, 3)
    eye = camera.eye(pose)[0]
    normal = torch.tensor([-math.sin(math.radians(direction_deg)), 0.0, math.cos(math.radians(direction_deg))])
    to_wall = torch.tensor([point[0], 0.0, point[1]]) - eye
    facing = (rays * normal).sum(-1)  # (1, H, W)
    depth = (to_wall * normal).sum() / facing
    depth = torch.where((depth > 0) & (facing.abs() > 1e-6), depth, torch.inf)
    return depth, camera.unproject(torch.where(torch.isfinite(depth), depth, 0.0), pose)


def test_the_direction_of_a_flat_wall_comes_from_its_depth():
    camera = Camera(32, 32)
    pose = torch.zeros(1, 5)  # at the origin, looking along +z
    for direction in (0.0, 30.0, 60.0, 120.0):
        depth, points = wall_view(camera, pose, (0.0, 1.5), direction)
        tangent = wall_tangent(points, depth, zone(camera))[0]
        expected = torch.tensor([math.cos(math.radians(direction)), math.sin(math.radians(direction))])
        assert abs(float(tangent @ expected)) > 0.99, (direction, tangent)


def test_nothing_ahead_gives_no_direction():
    camera = Camera(32, 32)
    depth = torch.full((1, 32, 32), torch.inf)
    points = torch.zeros(1, 32, 32, 3)
    assert bool((wall_tangent(points, depth, zone(camera)) == 0).all())


def test_a_square_wall_stops_the_step_and_an_oblique_one_keeps_its_part_along_the_wall():
    move = torch.tensor([[0.2, 0.0, 0.0]])  # forward 0.2
    yaw = torch.zeros(1)  # facing +z: forward = (0, 1) in (x, z)
    room = torch.tensor([0.05])
    square = slide(move, room, torch.tensor([[1.0, 0.0]]), yaw)  # a wall along x, across the walk
    assert torch.allclose(square, torch.tensor([[0.05, 0.0, 0.0]]), atol=1e-6)
    unknown = slide(move, room, torch.zeros(1, 2), yaw)  # no direction known: stops as before
    assert torch.allclose(unknown, square, atol=1e-6)
    angle = math.radians(34.0)  # a wall 34 degrees off the walking direction
    oblique = slide(move, room, torch.tensor([[math.sin(angle), math.cos(angle)]]), yaw)
    excess = 0.15
    assert math.isclose(float(oblique[0, 0]), 0.05 + excess * math.cos(angle) ** 2, rel_tol=1e-5)
    assert math.isclose(abs(float(oblique[0, 2])), excess * math.cos(angle) * math.sin(angle), rel_tol=1e-5)
    # the kept part runs along the wall: the world displacement past the wall is parallel to it
    start = torch.zeros(1, 5)
    past = move_pose(start, oblique - torch.tensor([[0.05, 0.0, 0.0]]))[0, [0, 2]]
    assert abs(float(past[0] * math.cos(angle) - past[1] * math.sin(angle))) < 1e-6
    free = slide(move, torch.tensor([1.0]), torch.tensor([[1.0, 0.0]]), yaw)  # the wall is farther than the step
    assert torch.allclose(free, move)


def test_walking_into_an_oblique_remembered_wall_slides_along_it(monkeypatch):
    """Through WorldMemory.step: a remembered wall ahead turns the motion net's step along it (walls='slide'),
    stops it dead ('stop') or does nothing ('pass', the default)."""
    from worldmodel.memory.geometry_heads import GeometryConfig, GeometryObjective
    from worldmodel.memory.world_memory import MemoryConfig

    heads = GeometryObjective(GeometryConfig(channels=4, odometry_channels=4)).eval()
    forward_step = torch.tensor([[0.2, 0.0, 0.0]])
    monkeypatch.setattr(heads.motion, "forward", lambda frame, action: forward_step.expand(frame.shape[0], 3))
    buttons = torch.zeros(1, 18)
    buttons[0, 0] = 1.0  # forward
    moved = {}
    for walls in ("slide", "stop", "pass"):
        memory = WorldMemory(heads, 16, 16, 1, torch.device("cpu"), MemoryConfig(walls=walls))
        memory.start(torch.zeros(1, 1, 16, 16, 3, dtype=torch.uint8), None, None)
        memory.ahead = torch.tensor([0.4])  # a wall 0.4 ahead: 0.05 of room past the body radius
        memory.wall = torch.tensor([[math.sin(math.radians(40.0)), math.cos(math.radians(40.0))]])
        shown = torch.zeros(1, 16, 16, 3, dtype=torch.uint8)
        memory.step(shown, buttons, torch.zeros(1, 2), torch.ones(1, dtype=torch.bool))
        moved[walls] = memory.pose[0, [0, 2]].clone()
    assert float(moved["stop"].norm()) < 0.06  # stopped at the wall
    assert float(moved["slide"].norm()) > 0.1 and abs(float(moved["slide"][0])) > 0.05  # on along it, sideways
    assert torch.allclose(moved["pass"], torch.tensor([0.0, 0.2]), atol=1e-5)  # straight on


def test_an_unknown_walls_setting_is_refused():
    from worldmodel.memory.world_memory import MemoryConfig

    with pytest.raises(ValueError, match="memory.walls"):
        MemoryConfig(walls="bounce")
