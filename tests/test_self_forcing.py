"""Self-forcing: training contexts that end in the model's own open-loop rollout."""

from __future__ import annotations

import pytest
import torch

from envs.actions import noop_action
from worldmodel.dynamics import DynamicsConfig, DynamicsObjective
from worldmodel.dynamics.self_forcing import rollout_context
from worldmodel.model import WorldModel
from worldmodel.tokenizer import Tokenizer, TokenizerConfig

TINY = dict(d_model=32, n_layers=2, n_heads=2, context_frames=4, head_layers=1, lam_dim=16, lam_layers=1,
            lam_heads=2, lam_levels=[3, 3], p_unknown=0.0, p_latent_known=0.0)


def tiny_objective(**overrides: object) -> DynamicsObjective:
    torch.manual_seed(0)
    tokenizer = Tokenizer(TokenizerConfig(height=16, width=16, levels=[5, 5], channels=8, channel_mult=[1, 1, 1],
                                          res_blocks=[0, 0, 0], mid_blocks=0))
    return DynamicsObjective(DynamicsConfig(**{**TINY, **overrides}), tokenizer)


def clip_batch(batch: int = 4, length: int = 6) -> dict:
    g = torch.Generator().manual_seed(3)
    actions = {key: torch.zeros(batch, length - 1, dtype=torch.uint8) for key in noop_action() if key != "camera"}
    actions["forward"] = torch.randint(0, 2, (batch, length - 1), generator=g, dtype=torch.uint8)
    actions["camera"] = torch.randn(batch, length - 1, 2, generator=g) * 5
    return {"frames": torch.randint(0, 256, (batch, length, 16, 16, 3), generator=g, dtype=torch.uint8),
            "actions": actions, "action_known": torch.ones(batch, dtype=torch.bool),
            "rewards": torch.zeros(batch, length - 1), "terminated": torch.zeros(batch, length - 1, dtype=torch.bool)}


@pytest.mark.parametrize("fov", [0.0, 70.0])
def test_rollout_context_is_the_world_models_mean_field_rollout(tmp_path, fov: float) -> None:
    objective = tiny_objective(camera_hint_fov=fov).eval()
    torch.nn.init.normal_(objective.model.head_out.weight, std=0.5)  # confident, varied predictions
    batch = clip_batch(batch=2)
    tokens, buttons, camera, _, _, _ = objective._batch(batch)
    real = torch.ones(camera.shape[:2], dtype=torch.bool)
    cond = objective.model.condition(buttons, camera, real)
    context, depth = tokens[:, :-1], 3  # 5 context frames: 2 real, 3 rolled out
    soft, hints = rollout_context(objective.model, objective.tokenizer, context, cond, camera, real, depth)
    assert soft.shape == (2, depth, 16, objective.model.vocab_size)
    torch.testing.assert_close(soft.sum(-1), torch.ones(2, depth, 16))
    assert (hints is None) == (fov == 0.0)

    world = WorldModel.load(objective.export(tmp_path / "model"))
    world.decoding = "mean"
    world.precision = "fp32"  # training's rollout runs fp32; the train == serve check compares like with like
    frames = batch["frames"].numpy()
    acts = [{key: value[:, t].numpy() for key, value in batch["actions"].items()} for t in range(5)]
    start = context.shape[1] - depth
    world.reset(frames[:, :start], {key: value[:, : start - 1].numpy() for key, value in batch["actions"].items()})
    for t in range(start - 1, start - 1 + depth):
        world.step(acts[t])
        # the world model's mean-field state after each step is the rollout's predicted distribution
        torch.testing.assert_close(world._engine.tokens.soft, soft[:, t - start + 1], atol=1e-4, rtol=0)


def test_self_forced_loss_trains_and_reports_recovery() -> None:
    objective = tiny_objective(rollout_frames=2, rollout_fraction=0.5).train()
    loss, metrics = objective.compute_loss(clip_batch())
    loss.backward()
    assert 0.0 <= metrics["token_acc_rollout"] <= 1.0
    assert float(objective.model.tok_emb.weight.grad.abs().sum()) > 0
    plain = tiny_objective().train()
    torch.manual_seed(5)
    _, plain_metrics = plain.compute_loss(clip_batch())
    assert "token_acc_rollout" not in plain_metrics


def test_self_forcing_changes_only_the_forced_clips_and_only_in_training() -> None:
    objective = tiny_objective(rollout_frames=2, rollout_fraction=0.5)
    tokens, buttons, camera, _, _, _ = objective._batch(clip_batch())
    context = tokens[:, :-1]
    real = torch.ones(camera.shape[:2], dtype=torch.bool)
    cond = objective.model.condition(buttons, camera, real)
    objective.train()
    soft, _ = objective._self_forced(context, cond, camera, real, None)
    one_hot = torch.nn.functional.one_hot(context, objective.model.vocab_size).float()
    assert torch.equal(soft[2:], one_hot[2:])  # half the batch keeps teacher forcing
    assert torch.equal(soft[:2, :-2], one_hot[:2, :-2])  # forced clips keep their real start
    assert not torch.equal(soft[:2, -2:], one_hot[:2, -2:])  # ... and end in their own rollout
    objective.eval()
    assert objective._self_forced(context, cond, camera, real, None)[0] is None


def test_bad_self_forcing_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="rollout_fraction"):
        DynamicsConfig(rollout_fraction=1.5)
    with pytest.raises(ValueError, match="rollout_frames"):
        DynamicsConfig(rollout_frames=-1)
