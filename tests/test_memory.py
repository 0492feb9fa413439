"""Spatial memory (worldmodel/memory/) on real BlockWorld views at 64x64: a view comes back as it was shown, agrees
with the truth reprojection elsewhere, survives a full turn, forgets a removed block, snapshots exactly and stays
within its capacity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from envs.blockworld.env import BlockWorldEnv
from envs.blockworld.hud import hud_mask
from envs.blockworld.render import MAX_DIST, camera_rays, raycast
from envs.blockworld.state import EYE_HEIGHT
from worldmodel.evaluation.reprojection import reproject
from worldmodel.memory import Camera, SpatialMemory, blockworld_camera, blockworld_hud

SIZE = 64
HUD = torch.from_numpy(hud_mask(SIZE, SIZE))


@pytest.fixture()
def env() -> BlockWorldEnv:
    world = BlockWorldEnv(width=SIZE, height=SIZE)
    world.reset(seed=3)
    return world


def _view(env: BlockWorldEnv, position: np.ndarray, yaw: float, pitch: float
          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """frame uint8 (1, H, W, 3), depth (1, H, W), pose (1, 5) of the view from a pose."""
    env.set_pose(position, yaw, pitch)
    frame, truth = env.observe(), env.ground_truth()
    return (torch.from_numpy(frame)[None], torch.from_numpy(truth["depth"])[None],
            torch.from_numpy(truth["pose"])[None].float())


def _memory(batch: int = 1, capacity: int = 65536) -> SpatialMemory:
    return SpatialMemory(blockworld_camera(SIZE, SIZE), batch, capacity=capacity, ignore=blockworld_hud(SIZE, SIZE))


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a.float() - b.float()) ** 2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def test_camera_matches_blockworld(env: BlockWorldEnv) -> None:
    cam = blockworld_camera(48, 32)
    pose = torch.tensor([[10.0, 5.0, 12.0, 37.0, -20.0]], dtype=torch.float64)
    rays = cam.rays(pose)[0].numpy()
    np.testing.assert_allclose(rays, camera_rays(37.0, -20.0, 48, 32, 70.0), atol=1e-12)
    assert cam.eye_height == EYE_HEIGHT and cam.max_depth == MAX_DIST
    frame, depth, pose = _view(env, env.player.position.copy(), 20.0, 15.0)
    np.testing.assert_allclose(Camera(SIZE, SIZE).eye(pose)[0].numpy(), env.player.eye(), atol=1e-5)
    points = Camera(SIZE, SIZE).unproject(depth.double(), pose.double())[0]  # (H, W, 3)
    cell = torch.floor(points[32, 20] + 1e-3 * Camera(SIZE, SIZE).rays(pose.double())[0, 32, 20]).long()
    hit, hit_cell, _, _ = raycast(env.voxels, env.player.eye(), camera_rays(20.0, 15.0, SIZE, SIZE)[32, 20], 64.0)
    assert hit and cell.tolist() == hit_cell.tolist()


def test_a_written_view_renders_back_exactly(env: BlockWorldEnv) -> None:
    frame, depth, pose = _view(env, env.player.position.copy(), 30.0, 10.0)
    memory = _memory()
    memory.write(frame, depth, pose, 0)
    shown = memory.render(pose, 3)
    surface = torch.isfinite(depth[0]) & ~HUD
    both = shown.valid[0] & surface
    assert both.sum() >= 0.95 * surface.sum()
    assert not (shown.valid[0] & ~torch.isfinite(depth[0])).any()  # nothing on the sky (the world under the HUD)
    exact = (shown.rgb[0][both] == frame[0][both]).all(-1).float().mean().item()
    assert exact >= 0.99 and _psnr(shown.rgb[0][both], frame[0][both]) >= 40.0, exact
    torch.testing.assert_close(shown.depth[0][both], depth[0][both], atol=0.01, rtol=0.0)
    assert (shown.age[0][both] == 3).all() and (shown.age[0][~shown.valid[0]] == -1).all()


def test_a_nearby_view_agrees_with_the_truth_reprojection(env: BlockWorldEnv) -> None:
    start = env.player.position.copy()
    frame, depth, pose = _view(env, start, 30.0, 10.0)
    moved = start + np.array([0.5, 0.0, 0.3])
    target, target_depth, target_pose = _view(env, moved, 36.0, 8.0)
    memory = _memory()
    memory.write(frame, depth, pose, 0)
    shown = memory.render(target_pose, 1)
    colours, visible = reproject(frame[0].numpy(), depth[0].numpy(), pose[0].double().numpy(),
                                 target_depth[0].numpy(), target_pose[0].double().numpy(), 70.0, HUD.numpy())
    both = shown.valid[0] & torch.from_numpy(visible) & torch.isfinite(target_depth[0]) & ~HUD
    assert both.float().mean() > 0.6
    truth = torch.from_numpy(colours)[both]
    # The reprojection takes each pixel's colour from the nearest source pixel, the memory from the cell (texel)
    # the pixel's ray enters: mostly the same colour, and the memory is the closer of the two to the new view.
    assert _psnr(shown.rgb[0][both], truth) >= 26.0
    assert (shown.rgb[0][both].float() == truth).all(-1).float().mean() >= 0.7
    assert _psnr(shown.rgb[0][both], target[0][both]) >= _psnr(truth, target[0][both]) >= 24.0


def test_a_full_turn_comes_back_to_the_first_view(env: BlockWorldEnv) -> None:
    position = env.player.position.copy()
    memory = _memory()
    first = None
    for step in range(36):
        frame, depth, pose = _view(env, position, 10.0 * step, 5.0)
        first = first or (frame, depth, pose)
        memory.write(frame, depth, pose, step)
    frame, depth, pose = first
    shown = memory.render(pose, 36)
    surface = torch.isfinite(depth[0]) & ~HUD
    valid = shown.valid[0] & surface
    assert valid.sum() >= 0.9 * surface.sum()
    assert _psnr(shown.rgb[0][valid], frame[0][valid]) >= 25.0
    assert shown.age[0][valid].max() == 36  # the first view is older than any later one, and still there


def test_the_newest_observation_wins_a_removed_block_disappears(env: BlockWorldEnv) -> None:
    position = env.player.position.copy()
    frame, depth, pose = _view(env, position, 30.0, 25.0)
    forward = camera_rays(30.0, 25.0, SIZE, SIZE)[SIZE // 2, SIZE // 2]
    hit, cell, _, _ = raycast(env.voxels, env.player.eye(), forward, 20.0)
    assert hit
    memory = _memory()
    memory.write(frame, depth, pose, 0)
    env.remove_block(cell)
    after, after_depth, _ = _view(env, position, 30.0, 25.0)
    changed = (after_depth[0] - depth[0]).abs() > 0.2  # the pixels of the removed block
    assert changed.sum() > 20
    memory.write(after, after_depth, pose, 1)
    shown = memory.render(pose, 1)
    seen = changed & shown.valid[0] & ~HUD
    assert seen.sum() >= 0.9 * (changed & ~HUD & torch.isfinite(after_depth[0])).sum()
    assert (shown.rgb[0][seen] == after[0][seen]).all(-1).float().mean() >= 0.95
    assert ((shown.depth[0][seen] - after_depth[0][seen]).abs() < 0.01).float().mean() >= 0.95


def test_snapshot_restore_exact_and_reset_only_some_worlds(env: BlockWorldEnv) -> None:
    position = env.player.position.copy()
    views = [_view(env, position, yaw, 5.0) for yaw in (0.0, 90.0, 180.0)]
    frames, depth, pose = (torch.cat([v[i] for v in views[:2]]) for i in range(3))
    memory = _memory(batch=2)
    memory.write(frames, depth, pose, torch.tensor([0, 4]))
    snap = memory.snapshot()
    before = memory.render(pose, 5)
    later = torch.cat([views[2][0], views[0][0]]), torch.cat([views[2][1], views[0][1]])
    memory.write(*later, torch.cat([views[2][2], views[0][2]]), 6)
    assert not torch.equal(memory.state.key, snap.key)
    memory.restore(snap)
    for name in ("key", "pos", "rgb", "time"):
        assert torch.equal(getattr(memory.state, name), getattr(snap, name)), name
    again = memory.render(pose, 5)
    for a, b in zip(before, again):
        assert torch.equal(a, b)
    copy = memory.copy()
    memory.write(*later, torch.cat([views[2][2], views[0][2]]), 7)
    assert torch.equal(copy.state.key, snap.key)  # a copy is independent
    single = _memory()
    single.write(frames[1:], depth[1:], pose[1:], 4)
    memory.restore(snap)
    memory.reset_worlds([0])
    assert memory.count()[0] == 0 and memory.count()[1] == single.count()[0]
    alone, batched = single.render(pose[1:], 5), memory.render(pose, 5)  # a world does not see its neighbour
    for a, b in zip(alone, batched):
        assert torch.equal(a[0], b[1])
    assert not batched.valid[0].any()


def test_memory_is_bounded_and_evicts_the_oldest() -> None:
    torch.manual_seed(0)
    cam = Camera(16, 16)
    memory = SpatialMemory(cam, 50, capacity=1024, ways=16)
    tensors = [memory.state.key, memory.state.pos, memory.state.rgb, memory.state.time]
    shapes, pointers = [x.shape for x in tensors], [x.data_ptr() for x in tensors]
    for t in range(200):  # 50 worlds x 200 writes = 10,000 frames
        pose = torch.cat([torch.rand(50, 3) * 8.0, torch.rand(50, 1) * 360.0 - 180.0, torch.rand(50, 1) * 60.0 - 30.0],
                         1)
        frames = torch.randint(0, 256, (50, 16, 16, 3), dtype=torch.uint8)
        memory.write(frames, 1.0 + 9.0 * torch.rand(50, 16, 16), pose, t)
        assert (memory.count() <= 1024).all()
    tensors = [memory.state.key, memory.state.pos, memory.state.rgb, memory.state.time]
    assert [x.shape for x in tensors] == shapes and [x.data_ptr() for x in tensors] == pointers
    stored = memory.state.time[memory.state.key >= 0]
    assert memory.count().float().mean() > 0.5 * 1024
    assert stored.min() >= 150  # a full memory keeps the newest writes (each frame writes ~250 cells)


def test_a_write_without_carving_keeps_what_its_view_sees_through(env: BlockWorldEnv) -> None:
    """carve=False (made-up content) inserts only: a removed block stays in memory until a carving write."""
    position = env.player.position.copy()
    frame, depth, pose = _view(env, position, 30.0, 25.0)
    forward = camera_rays(30.0, 25.0, SIZE, SIZE)[SIZE // 2, SIZE // 2]
    _, cell, _, _ = raycast(env.voxels, env.player.eye(), forward, 20.0)
    env.remove_block(cell)
    after, after_depth, _ = _view(env, position, 30.0, 25.0)
    changed = ((after_depth[0] - depth[0]).abs() > 0.2) & ~HUD
    kept, carved = _memory(), _memory()
    for memory, carve in ((kept, False), (carved, True)):
        memory.write(frame, depth, pose, 0)
        memory.write(after, after_depth, pose, 1, carve=carve)
    near = lambda shown: ((shown.depth[0] - depth[0]).abs() < 0.05)[changed].float().mean()  # noqa: E731
    assert near(kept.render(pose, 1)) >= 0.9  # the old surface still shows
    assert near(carved.render(pose, 1)) <= 0.1
