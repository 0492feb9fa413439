"""Camera-rotation warp and the dynamics' camera hint: geometry against BlockWorld, training, cached stepping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs.actions import noop_action
from envs.blockworld.env import BlockWorldEnv
from envs.blockworld.hud import hud_mask
from worldmodel.dynamics import DynamicsConfig, DynamicsModel, DynamicsObjective
from worldmodel.dynamics.warp import CameraHint, rotation_warp
from worldmodel.model import WorldModel
from worldmodel.tokenizer import Tokenizer, TokenizerConfig

TINY = dict(d_model=32, n_layers=2, n_heads=2, context_frames=3, head_layers=1, lam_dim=16, lam_layers=1,
            lam_heads=2, lam_levels=[3, 3], camera_hint_fov=70.0)


def tiny_tokenizer() -> Tokenizer:
    """16x16 frames -> 4x4 tokens of 25 codes."""
    torch.manual_seed(0)
    return Tokenizer(TokenizerConfig(height=16, width=16, levels=[5, 5], channels=8, channel_mult=[1, 1, 1],
                                     res_blocks=[0, 0, 0], mid_blocks=0))


@pytest.mark.parametrize("camera", [[0.0, 6.0], [0.0, -6.0], [5.0, 0.0], [-4.0, 8.0]])
def test_warp_predicts_a_real_blockworld_turn(camera: list[float]) -> None:
    env = BlockWorldEnv()
    env.reset(seed=3)
    before, *_ = env.step(noop_action())
    turn = noop_action()
    turn["camera"] = np.array(camera, np.float32)
    after, *_ = env.step(turn)
    warped, valid = rotation_warp(torch.as_tensor(before)[None], torch.tensor([camera]), env.cfg.fov_deg)
    region = valid[0].numpy() & ~hud_mask(after.shape[1], after.shape[0])
    assert 0.6 < region.mean() < 0.95  # a turn of a few degrees leaves most of the view in view
    warp_error = np.abs(warped[0].numpy().astype(float) - after)[region].mean()
    copy_error = np.abs(before.astype(float) - after)[region].mean()
    assert warp_error < 0.5 * copy_error


def test_no_turn_is_the_identity() -> None:
    frames = torch.randint(0, 256, (2, 16, 16, 3), dtype=torch.uint8)
    warped, valid = rotation_warp(frames, torch.zeros(2, 2), 70.0)
    assert torch.equal(warped, frames) and bool(valid.all())


def test_cached_grids_equal_computed_ones() -> None:
    from worldmodel.geometry import cached_rotation_grid, rotation_grid

    camera = torch.tensor([[0.0, 6.0], [-4.0, 8.0], [0.0, 6.0], [2.5, -30.0]])
    for _ in range(2):  # the second call is served from the cache
        grid, valid = cached_rotation_grid(camera, 12, 20, 70.0)
        want_grid, want_valid = rotation_grid(camera, 12, 20, 70.0)
        assert torch.equal(grid, want_grid) and torch.equal(valid, want_valid)
    assert not torch.equal(grid[0], grid[1]) and not bool(valid[3].all())


def test_hint_weight_follows_view_and_known_actions() -> None:
    tokenizer = tiny_tokenizer()
    hint = CameraHint(tokenizer, 70.0, tokenizer.grid)
    tokens = torch.randint(0, tokenizer.vocab_size, (3, 16))
    camera = torch.tensor([[0.0, 0.0], [0.0, 30.0], [0.0, 30.0]])
    hinted, weight = hint(tokens, camera, torch.tensor([True, True, False]))
    assert hinted.shape == (3, 16) and hinted.dtype == torch.int64
    assert torch.all(weight[0] == 1.0)  # no turn: everything stays in view
    assert 0.5 < float(weight[1].mean()) < 1.0 and float(weight[1].min()) < 0.5  # a 30-degree turn: one side new
    assert torch.all(weight[2] == 0.0)  # unknown action: no hint


def test_hint_weights_get_gradients() -> None:
    tokenizer = tiny_tokenizer()
    objective = DynamicsObjective(DynamicsConfig(**TINY), tokenizer)
    g = torch.Generator().manual_seed(0)
    actions = {key: torch.zeros(2, 3, dtype=torch.uint8) for key in noop_action() if key != "camera"}
    actions["camera"] = torch.randn(2, 3, 2, generator=g) * 5
    batch = {"frames": torch.randint(0, 256, (2, 4, 16, 16, 3), generator=g, dtype=torch.uint8),
             "actions": actions, "action_known": torch.ones(2, dtype=torch.bool),
             "rewards": torch.zeros(2, 3), "terminated": torch.zeros(2, 3, dtype=torch.bool)}
    loss, _ = objective.compute_loss(batch)
    loss.backward()
    grad = objective.model.hint_emb.weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0  # zero-initialised but learning
    assert float(objective.model.hint_unseen.grad.abs().sum()) > 0


def test_cached_steps_with_hints_equal_full_recomputation() -> None:
    torch.manual_seed(1)
    model = DynamicsModel(DynamicsConfig(**TINY), vocab_size=25, grid=(4, 4)).eval()
    torch.nn.init.normal_(model.hint_emb.weight, std=1.0)
    b, t = 2, 6
    tokens = torch.randint(0, 25, (b, t, 16))
    cond = torch.randn(b, t, 32)
    hints = (torch.randint(0, 25, (b, t, 16)), torch.rand(b, t, 16))
    with torch.no_grad():
        full = model.hidden(tokens, cond, hint=hints)
        cache = model.new_cache(b, torch.device("cpu"))
        for step in range(t):
            cached = model.hidden_step(tokens[:, step], cond[:, step], cache, hint=(hints[0][:, step],
                                                                                     hints[1][:, step]))
            torch.testing.assert_close(cached, full[:, step], atol=1e-5, rtol=0)
        assert not torch.allclose(model.hidden(tokens, cond), full, atol=1e-3)  # the hint matters


def test_fine_tuning_a_hint_free_model_starts_the_hint_from_its_token_embedding(tmp_path) -> None:
    from worldmodel.dynamics.warm_start import warm_start

    tokenizer = tiny_tokenizer()
    source = DynamicsObjective(DynamicsConfig(**{**TINY, "camera_hint_fov": 0.0}), tokenizer)
    source.export(tmp_path / "plain")
    target = DynamicsObjective(DynamicsConfig(**TINY), tokenizer)
    warm_start(target.model, str(tmp_path / "plain"))
    model = target.model
    assert torch.equal(model.hint_emb.weight, source.model.tok_emb.weight)
    assert torch.equal(model.tok_emb.weight, source.model.tok_emb.weight)
    assert not bool(model.hint_unseen.detach().any())


def test_world_model_passes_the_hint_to_its_dynamics() -> None:
    """Stepping through WorldModel uses the hint: dropping it (as for an unknown camera) changes the frame."""
    tokenizer = tiny_tokenizer()
    torch.manual_seed(2)
    dynamics = DynamicsModel(DynamicsConfig(**{**TINY, "temperature": 0.0}), 25, (4, 4))
    torch.nn.init.normal_(dynamics.hint_emb.weight, std=1.0)
    context = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    turn = noop_action()
    turn["camera"] = np.array([0.0, 25.0], np.float32)
    frames = []
    for use_hint in (True, False):
        world = WorldModel(tokenizer, dynamics)
        if not use_hint:
            world._hint = None  # what a hint-free caller would do
        world.reset(context, {key: np.stack([turn[key]] * 2) for key in turn})
        frames.append(world.step(turn)[0])
    assert not np.array_equal(frames[0], frames[1])
