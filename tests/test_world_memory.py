"""The spatial memory inside the world model: poses, sky, recall through the rollout engine, edits, snapshots."""

from __future__ import annotations

import numpy as np
import pygame
import pytest
import torch
from pygame_events import display, post  # noqa: F401  (display: autouse fixture)

from envs.actions import BUTTONS, noop_action
from envs.blockworld.env import BlockWorldEnv
from worldmodel.memory.camera import Camera
from worldmodel.memory.geometry_heads import GeometryConfig, GeometryObjective, blur_frames, yaw_frame_translation
from worldmodel.memory.sky import SkyMap
from worldmodel.memory.world_memory import ATTACK, MOVES, USE, WorldMemory, move_pose, turn_pose
from worldmodel.model import WorldModel


def still_geometry() -> GeometryObjective:
    """Untrained heads that never move the player: under pure rotation the recall is exact whatever the depth."""
    torch.manual_seed(0)
    heads = GeometryObjective(GeometryConfig(channels=4, odometry_channels=4))
    for net in (heads.odometry, heads.motion):
        torch.nn.init.zeros_(net.head[-1].weight)
        torch.nn.init.zeros_(net.head[-1].bias)
    return heads.eval()


def act(yaw: float = 0.0, **buttons: int) -> dict:
    out = noop_action()
    out["camera"] = np.array([0.0, yaw], np.float32)
    out.update(buttons)
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-6))


def test_button_indices_match_the_action_space():
    assert BUTTONS[ATTACK] == "attack" and BUTTONS[USE] == "use"
    assert set(BUTTONS[MOVES]) == {"forward", "back", "left", "right", "jump"}


def test_move_pose_inverts_the_yaw_frame_translation():
    gen = torch.Generator().manual_seed(1)
    pose = torch.rand(6, 5, generator=gen) * torch.tensor([10, 10, 10, 360, 60]) - torch.tensor([5, 5, 5, 180, 30])
    move = torch.randn(6, 3, generator=gen)
    after = move_pose(pose, move)
    assert torch.allclose(yaw_frame_translation(torch.stack([pose, after], 1))[:, 0], move, atol=1e-5)
    turned = turn_pose(pose, torch.tensor([[100.0, 270.0]]).expand(6, 2))
    assert bool((turned[:, 4] <= 90).all()) and bool((turned[:, 3].abs() <= 180).all())


def test_sky_comes_back_by_direction_only():
    camera = Camera(16, 16)
    sky = SkyMap(camera, 1, torch.device("cpu"))
    frames = torch.randint(0, 255, (1, 16, 16, 3), dtype=torch.uint8)
    up = torch.zeros(1, 16, 16, dtype=torch.bool)
    up[:, :8] = True
    pose = torch.tensor([[0.0, 0.0, 0.0, 30.0, 0.0]])
    sky.write(frames, up, pose)
    colour, known = sky.render(pose + torch.tensor([[50.0, 3.0, -20.0, 0.0, 0.0]]))  # moved, same direction
    assert bool(known[:, :8].float().mean() > 0.9) and not bool(known[:, 8:].any())
    close = (colour[known].int() - frames[known].int()).abs().amax(-1) <= 0
    assert close.float().mean() > 0.5  # 2-degree bins: neighbouring pixels may share one; most keep their own
    _, behind = sky.render(turn_pose(pose, torch.tensor([[0.0, 180.0]])))
    assert not bool(behind.any())


def test_edits_win_around_the_crosshair_and_are_stored():
    memory = WorldMemory(still_geometry(), 32, 32, 1, torch.device("cpu"))
    frames = torch.full((1, 2, 32, 32, 3), 90, dtype=torch.uint8)
    memory.start(frames, torch.zeros(1, 1, 18), torch.zeros(1, 1, 2))
    red = torch.zeros(1, 32, 32, 3, dtype=torch.uint8)
    red[..., 0] = 255
    buttons = torch.zeros(1, 18)
    still = memory.step(red, buttons, torch.zeros(1, 2), torch.ones(1, dtype=torch.bool))
    buttons[0, ATTACK] = 1
    edited = memory.step(red, buttons, torch.zeros(1, 2), torch.ones(1, dtype=torch.bool))
    centre = (slice(None), slice(14, 18), slice(14, 18))
    assert bool((still[centre] == 90).all())  # remembered wins without an edit
    assert bool((edited[centre][..., 0] == 255).all())  # the edit wins around the crosshair
    for _ in range(memory.cfg.edit_ticks - 1):  # the edit may still show during its window: the model shows it
        memory.step(red, torch.zeros(1, 18), torch.zeros(1, 2), torch.ones(1, dtype=torch.bool))
    again = memory.step(torch.zeros_like(red), torch.zeros(1, 18), torch.zeros(1, 2), torch.ones(1, dtype=torch.bool))
    assert float(again[centre][..., 0].float().mean()) > 200  # ... and after it, the edit stays


def test_an_edit_shows_the_unfused_frame_in_its_zone_only():
    """With frame fusion the fused frame carries the previous picture; where an edit may show, the decoded frame
    (before fusion) wins instead, and nowhere else."""
    memory = WorldMemory(still_geometry(), 32, 32, 1, torch.device("cpu"))
    memory.start(torch.full((1, 2, 32, 32, 3), 90, dtype=torch.uint8), torch.zeros(1, 1, 18), torch.zeros(1, 1, 2))
    fused = torch.full((1, 32, 32, 3), 90, dtype=torch.uint8)  # the fusion kept the block
    decoded = torch.full((1, 3, 32, 32), -1.0)  # the decoder's frame, black: the dynamics broke the block
    buttons = torch.zeros(1, 18)
    known = torch.ones(1, dtype=torch.bool)
    idle = memory.step(fused, buttons, torch.zeros(1, 2), known, decoded)
    assert bool((idle == 90).all())  # no edit: the decoded frame is not used
    buttons[0, ATTACK] = 1
    shown = memory.step(fused, buttons, torch.zeros(1, 2), known, decoded)
    zone = memory.edit_zone & ~memory.hud
    assert bool((shown[0][zone] == 0).all()) and bool((shown[0][~memory.edit_zone] == 90).all())


def test_the_motion_net_goes_by_the_action_when_the_view_ahead_is_made_up():
    """Open loop into a turned-to view nothing real covers: the motion net reads the blurred frame (made_up_ahead);
    after a real frame is observed, the frame itself."""
    memory = WorldMemory(still_geometry(), 32, 32, 1, torch.device("cpu"))
    seen: list[torch.Tensor] = []
    motion = memory.geometry.motion.forward
    memory.geometry.motion.forward = lambda frame, action: (seen.append(frame.clone()), motion(frame, action))[1]
    frames = torch.randint(0, 255, (1, 2, 32, 32, 3), dtype=torch.uint8)
    memory.start(frames, torch.zeros(1, 1, 18), torch.zeros(1, 1, 2))
    forward, known = torch.zeros(1, 18), torch.ones(1, dtype=torch.bool)
    forward[0, MOVES.start] = 1
    away = memory.step(frames[:, 1], torch.zeros(1, 18), torch.tensor([[0.0, 180.0]]), known)  # nothing seen there
    assert float(memory.seen_ahead[0]) < 0.5
    memory.step(frames[:, 1], forward, torch.zeros(1, 2), known)
    assert torch.equal(seen[-1], blur_frames(away))
    memory.observe(frames[:, 0])
    memory.step(frames[:, 1], forward, torch.zeros(1, 2), known)
    assert torch.equal(seen[-1], frames[:, 0])


@pytest.fixture(scope="module")
def remembering() -> WorldModel:
    model = WorldModel.load()
    model.geometry, model.memory = still_geometry(), True
    return model


def _turned_prompt(model: WorldModel, env: BlockWorldEnv, turns: int, yaw: float) -> np.ndarray:
    frame, _ = env.reset(seed=7)
    model.seed(0)
    model.reset(frame[None])
    for _ in range(turns):  # a whole turn fed as real frames
        frame, *_ = env.step(act(yaw))
        model.step(act(yaw))
        model.observe(frame)
    return frame


def test_a_view_turned_away_from_comes_back(remembering: WorldModel):
    env = BlockWorldEnv(width=64, height=64, max_episode_steps=0)
    scores = {}
    for memory in (True, False):
        remembering.memory = memory
        _turned_prompt(remembering, env, 12, 30.0)
        truth = [env.step(act(30.0))[0] for _ in range(4)]
        frames, _, _ = remembering.unroll([act(30.0)] * 4)
        scores[memory] = np.mean([psnr(f, t) for f, t in zip(frames, truth)])
    remembering.memory = True
    assert scores[True] > 20.0 and scores[True] > scores[False] + 3.0, scores


def test_snapshot_restore_is_exact_with_memory(remembering: WorldModel):
    env = BlockWorldEnv(width=64, height=64, max_episode_steps=0)
    _turned_prompt(remembering, env, 3, 30.0)
    script = [act(20.0), act(forward=1), act(-10.0, attack=1)]
    snap = remembering.snapshot()
    first, _, _ = remembering.unroll(script)
    remembering.restore(snap)
    second, _, _ = remembering.unroll(script)
    assert np.array_equal(first, second)
    assert remembering._engine is not None and remembering._engine.memory is not None


def test_memory_needs_geometry_heads():
    model = WorldModel.load()
    model.geometry, model.memory = None, True
    with pytest.raises(ValueError, match="geometry heads"):
        model.reset(np.zeros((1, 64, 64, 3), np.uint8))


def test_m_shows_the_memory_map_in_the_viewer(remembering: WorldModel):
    from worldmodel.dream.env import WorldModelEnv
    from worldmodel.viewer.loop import ViewerLoop

    def down(key: int) -> tuple[int, dict]:
        return pygame.KEYDOWN, {"key": key, "mod": 0, "unicode": "", "scancode": 0}

    env = WorldModelEnv(model=remembering, device="cpu", context_frames=2, render_mode="rgb_array")
    loop = ViewerLoop(env, seed=0, scale=4, overlay=False)
    loop.tick(post(down(pygame.K_d)))  # walk right a tick: the memory holds the prompt and what came since
    loop.tick(post(down(pygame.K_p)))  # paused: only the map changes the frame
    plain = loop.tick(post())
    shown = loop.tick(post(down(pygame.K_m)))
    corner = (slice(4, 84), slice(256 - 84, 252))
    assert loop.show_map and not np.array_equal(shown[corner], plain[corner])
    assert np.array_equal(shown[100:], plain[100:])  # the rest of the frame is untouched
    image = env.memory_map()
    assert image.shape == (96, 96, 3) and (image != 24).any(axis=-1).mean() > 0.01  # cells drawn around
    hidden = loop.tick(post(down(pygame.K_m)))
    assert not loop.show_map and np.array_equal(hidden, plain)


def test_bf16_nets_recall_the_turned_away_view_like_fp32(remembering: WorldModel):
    """precision=bf16 autocasts the step's nets: the recall (geometry in fp32) is as good as fp32's, and the same
    seed still gives the same frames."""
    env = BlockWorldEnv(width=64, height=64, max_episode_steps=0)
    scores, frames = {}, {}
    try:
        for precision in ("fp32", "bf16", "bf16"):
            remembering.precision = precision
            _turned_prompt(remembering, env, 12, 30.0)
            truth = [env.step(act(30.0))[0] for _ in range(4)]
            out, _, _ = remembering.unroll([act(30.0)] * 4)
            assert remembering._engine is not None
            assert remembering._engine.dtype == (torch.bfloat16 if precision == "bf16" else None)
            assert precision not in frames or np.array_equal(frames[precision], out)
            frames[precision] = out
            scores[precision] = np.mean([psnr(f, t) for f, t in zip(out, truth)])
    finally:
        remembering.precision = "fp32"
    assert scores["bf16"] > 20.0 and abs(scores["bf16"] - scores["fp32"]) < 0.5, scores
