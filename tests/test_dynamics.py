"""Dynamics model: KV cache exactness (also after the window slides), training signal, action embedding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs.actions import BINARY_KEYS
from worldmodel.dynamics import DynamicsConfig, DynamicsModel, DynamicsObjective, Rollout
from worldmodel.dynamics.actions import camera_bin_centers, quantize_camera
from worldmodel.dynamics.sampling import decided_after, maskgit_decode, random_mask
from worldmodel.tokenizer import Tokenizer, TokenizerConfig

TINY = dict(d_model=32, n_layers=2, n_heads=2, context_frames=3, head_layers=1, lam_dim=16, lam_layers=1,
            lam_heads=2, lam_levels=[3, 3])


def tiny_tokenizer() -> Tokenizer:
    """16x16 frames -> 4x4 tokens of 25 codes."""
    torch.manual_seed(0)
    cfg = TokenizerConfig(height=16, width=16, levels=[5, 5], channels=8, channel_mult=[1, 1, 1],
                          res_blocks=[0, 0, 0], mid_blocks=0)
    return Tokenizer(cfg)


def make_batch(b: int, length: int, known: bool = True, seed: int = 0) -> dict:
    """A random clip batch in the Training-contract layout."""
    g = torch.Generator().manual_seed(seed)
    actions = {key: torch.randint(0, 2, (b, length - 1), generator=g, dtype=torch.uint8) for key in BINARY_KEYS}
    actions["camera"] = torch.randn(b, length - 1, 2, generator=g) * 5
    return {
        "frames": torch.randint(0, 256, (b, length, 16, 16, 3), generator=g, dtype=torch.uint8),
        "actions": actions,
        "action_known": torch.full((b,), known),
        "rewards": (torch.rand(b, length - 1, generator=g) < 0.2).float(),
        "terminated": torch.rand(b, length - 1, generator=g) < 0.1,
    }


def test_kv_cache_matches_full_recomputation_after_sliding() -> None:
    torch.manual_seed(1)
    model = DynamicsModel(DynamicsConfig(**TINY), vocab_size=25, grid=(4, 4)).eval()
    b, t = 2, 8  # 8 frames through a 3-frame window: the cache slides 5 times
    tokens = torch.randint(0, 25, (b, t, 16))
    cond = torch.randn(b, t, 32)
    masked = torch.full((b, t, 16), model.mask_id)
    with torch.no_grad():
        full = model.hidden(tokens, cond)  # (B, T, N, D), banded block-causal mask
        full_logits = model.logits(full, masked)
        full_reward, full_term = model.reward_term(full)
        cache = model.new_cache(b, torch.device("cpu"))
        for step in range(t):
            hidden = model.hidden_step(tokens[:, step], cond[:, step], cache)
            torch.testing.assert_close(model.logits(hidden, masked[:, step]), full_logits[:, step], atol=1e-4, rtol=0)
            reward, term = model.reward_term(hidden)
            torch.testing.assert_close(reward, full_reward[:, step], atol=1e-4, rtol=0)
            torch.testing.assert_close(term, full_term[:, step], atol=1e-4, rtol=0)
    # the window really limits attention: changing a frame older than the window leaves the last frame unchanged
    changed = tokens.clone()
    changed[:, 0] = (changed[:, 0] + 1) % 25
    with torch.no_grad():
        # frame 0 reaches frame 7 only through stacked windows (2 layers x 2 frames back < 7): no influence
        torch.testing.assert_close(model.hidden(changed, cond)[:, -1], full[:, -1], atol=1e-5, rtol=0)
        # ... but it does influence the next frame
        assert not torch.allclose(model.hidden(changed, cond)[:, 1], full[:, 1], atol=1e-5)


def test_resetting_one_world_matches_a_fresh_rollout_and_leaves_the_others_alone() -> None:
    torch.manual_seed(2)
    model = DynamicsModel(DynamicsConfig(**TINY), vocab_size=25, grid=(4, 4)).eval()
    cpu = torch.device("cpu")
    tokens = torch.randint(0, 25, (2, 3, 16))
    cond = torch.randn(2, 8, 32)
    fresh_context, fresh_cond = torch.randint(0, 25, (1, 5, 16)), torch.randn(1, 4, 32)  # 4 actions > window 3
    with torch.no_grad():
        both, undisturbed = Rollout(model, 2, cpu), Rollout(model, 2, cpu)
        for rollout in (both, undisturbed):
            rollout.prime(tokens, cond[:, :2])
            rollout.step(cond[:, 2], 2, 0.0, 0)
        both.prime_worlds(torch.tensor([1]), fresh_context, fresh_cond)  # clock at 3: positions -1..2
        fresh = Rollout(model, 1, cpu)
        fresh.prime(fresh_context, fresh_cond)
        for step in range(3, 7):
            hidden = both.hidden(cond[:, step])
            torch.testing.assert_close(hidden[1:], fresh.hidden(cond[1:, step]), atol=1e-4, rtol=0)
            torch.testing.assert_close(hidden[:1], undisturbed.hidden(cond[:, step])[:1], atol=1e-4, rtol=0)
            greedy = model.decode(hidden, 2, 0.0, 0, None)
            both.observe(greedy)
            fresh.observe(greedy[1:])
            undisturbed.observe(greedy)


def test_overfitting_a_tiny_batch_drives_the_loss_down() -> None:
    torch.manual_seed(0)
    cfg = DynamicsConfig(**TINY, p_unknown=0.0, p_latent_known=0.0)
    objective = DynamicsObjective(cfg, tiny_tokenizer())
    batch = make_batch(2, 4)
    optimizer = torch.optim.Adam([p for p in objective.parameters() if p.requires_grad], lr=3e-3)
    first = None
    for _ in range(150):
        loss, metrics = objective.compute_loss(batch)
        first = first if first is not None else metrics
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _, last = objective.compute_loss(batch)
    assert last["ce"] < 0.25 * first["ce"], (first, last)
    assert last["reward_loss"] < 0.5 * first["reward_loss"] + 1e-3
    assert last["term_loss"] < 0.5 * first["term_loss"]
    # the tokenizer stays frozen
    assert all(not p.requires_grad for p in objective.tokenizer.parameters())
    assert not objective.tokenizer.training


def test_predictions_follow_the_action() -> None:
    """Tokens move by 1 + forward each step: after a little training, the prediction depends on the action."""
    torch.manual_seed(0)
    model = DynamicsModel(DynamicsConfig(**TINY), vocab_size=8, grid=(2, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

    def clip(batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        forward = torch.randint(0, 2, (batch, 3))
        first = torch.randint(0, 8, (batch, 1, 4))
        steps = torch.cumsum(torch.cat([torch.zeros(batch, 1), (1 + forward).float()], 1), 1).long()
        tokens = (first + steps[..., None]) % 8  # (B, 4, 4)
        buttons = torch.zeros(batch, 3, len(BINARY_KEYS))
        buttons[..., 0] = forward.float()  # BINARY_KEYS[0] == "forward"
        return tokens, buttons, torch.zeros(batch, 3, 2)

    for _ in range(150):
        tokens, buttons, camera = clip(16)
        cond = model.condition(buttons, camera, torch.ones(16, 3, dtype=torch.bool))
        hidden = model.hidden(tokens[:, :-1], cond)
        logits = model.logits(hidden, torch.full_like(tokens[:, 1:], model.mask_id))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 8), tokens[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    tokens, buttons, camera = clip(64)
    with torch.no_grad():
        for flip in (False, True):
            pressed = 1 - buttons[..., 0] if flip else buttons[..., 0]
            used = buttons.clone()
            used[..., 0] = pressed
            cond = model.condition(used, camera, torch.ones(64, 3, dtype=torch.bool))
            predicted = model.logits(model.hidden(tokens[:, :1], cond[:, :1]),
                                     torch.full_like(tokens[:, 1:2], model.mask_id)).argmax(-1)
            expected = (tokens[:, :1] + 1 + pressed[:, :1, None].long()) % 8
            assert (predicted == expected).float().mean() > 0.95


def test_action_free_batches_train_through_the_latent_action_model() -> None:
    torch.manual_seed(0)
    objective = DynamicsObjective(DynamicsConfig(**TINY, p_unknown=0.0), tiny_tokenizer())
    loss, metrics = objective.compute_loss(make_batch(2, 4, known=False))
    assert torch.isfinite(loss) and metrics["frac_latent"] == 1.0
    loss.backward()
    lam_grad = sum(p.grad.abs().sum().item() for p in objective.model.lam.parameters() if p.grad is not None)
    assert lam_grad > 0
    assert sum(p.grad.abs().sum() for p in objective.model.actions.latent.parameters()) > 0
    # real-action embeddings get no gradient from action-free clips
    assert objective.model.actions.yaw.weight.grad.abs().sum() == 0


def test_camera_quantisation_is_mu_law_and_symmetric() -> None:
    cfg = DynamicsConfig()
    centers = camera_bin_centers(cfg.camera_bins, cfg.camera_max_deg, cfg.camera_mu)
    assert centers[cfg.camera_bins // 2] == 0 and centers[-1] == pytest.approx(10.0)
    assert np.all(np.diff(centers) > 0) and np.diff(centers)[5] < np.diff(centers)[-1]  # finer near zero
    bins = quantize_camera(torch.tensor(centers, dtype=torch.float32)[:, None].repeat(1, 2), cfg.camera_bins,
                           cfg.camera_max_deg, cfg.camera_mu)
    assert bins[:, 0].tolist() == list(range(cfg.camera_bins))
    far = quantize_camera(torch.tensor([[90.0, -90.0]]), cfg.camera_bins, cfg.camera_max_deg, cfg.camera_mu)
    assert far.tolist() == [[cfg.camera_bins - 1, 0]]


def test_maskgit_schedule_and_seeded_sampling() -> None:
    assert [decided_after(s, 3, 16) for s in range(3)][-1] == 16
    assert decided_after(0, 1, 16) == 16
    counts = [decided_after(s, 4, 16) for s in range(4)]
    assert counts == sorted(counts) and counts[0] >= 1
    logits = torch.randn(2, 16, 25)
    calls = []

    def fn(partial: torch.Tensor) -> torch.Tensor:
        calls.append((partial == 25).sum().item())
        return logits

    gens = lambda: [torch.Generator().manual_seed(5 + i) for i in range(2)]  # noqa: E731
    a = maskgit_decode(fn, 2, 16, 25, 3, 1.0, 5, gens(), torch.device("cpu"))
    b = maskgit_decode(fn, 2, 16, 25, 3, 1.0, 5, gens(), torch.device("cpu"))
    assert torch.equal(a, b) and int(a.max()) < 25
    assert calls[:3] == [32, 32 - 2 * counts_after(0, 3), 32 - 2 * counts_after(1, 3)]
    topk = logits.topk(5, dim=-1).indices
    assert (a[..., None] == topk).any(-1).all()  # top-k respected
    greedy = maskgit_decode(fn, 2, 16, 25, 2, 0.0, 0, None, torch.device("cpu"))
    assert torch.equal(greedy, logits.argmax(-1))
    mask = random_mask((3, 5, 16), torch.device("cpu"))
    assert mask.any(-1).all()


def counts_after(step: int, steps: int) -> int:
    return decided_after(step, steps, 16)


def test_config_rejects_unknown_and_bad_values() -> None:
    with pytest.raises(ValueError, match="bogus"):
        DynamicsConfig.from_dict({"bogus": 1})
    with pytest.raises(ValueError, match="camera_bins"):
        DynamicsConfig(camera_bins=10)
    assert DynamicsConfig.from_dict({"_target_": "x", "d_model": 64, "n_heads": 4}).d_model == 64


def test_padded_transitions_do_not_count_in_the_loss() -> None:
    torch.manual_seed(0)
    objective = DynamicsObjective(DynamicsConfig(**{**TINY, "p_unknown": 0.0, "p_latent_known": 0.0}),
                                  tiny_tokenizer())
    batch = make_batch(2, 4, seed=3)
    batch["valid"] = torch.tensor([[True, True, False], [True, True, True]])
    other = {**batch, "rewards": batch["rewards"].clone(), "terminated": batch["terminated"].clone(),
             "frames": batch["frames"].clone()}
    other["rewards"][0, 2] = 50.0  # padded: whatever it holds must not matter
    other["terminated"][0, 2] = ~batch["terminated"][0, 2]
    other["frames"][0, 3] = 255 - batch["frames"][0, 3]
    torch.manual_seed(5)
    loss, metrics = objective.compute_loss(batch)
    torch.manual_seed(5)
    same, _ = objective.compute_loss(other)
    torch.testing.assert_close(loss, same)
    other["rewards"][1, 2] = 50.0  # a real transition does count
    torch.manual_seed(5)
    changed, _ = objective.compute_loss(other)
    assert changed.item() > loss.item() + 1.0


def test_context_noise_corrupts_the_trunk_input_only_in_training() -> None:
    objective = DynamicsObjective(DynamicsConfig(**{**TINY, "context_noise": 0.5}), tiny_tokenizer())
    tokens = torch.randint(0, objective.model.vocab_size, (64, 3, 16))
    torch.manual_seed(0)
    noisy = objective.train()._corrupt(tokens)
    changed = (noisy != tokens).float().mean().item()
    # rate ~ U(0, 0.5) per clip, and a replacement hits the same token 1/25 of the time: about 0.24 on average
    assert 0.15 < changed < 0.33
    assert torch.equal(objective.eval()._corrupt(tokens), tokens)
    clean = DynamicsObjective(DynamicsConfig(**TINY), tiny_tokenizer()).train()
    assert torch.equal(clean._corrupt(tokens), tokens)
    with pytest.raises(ValueError, match="context_noise"):
        DynamicsConfig(**{**TINY, "context_noise": 1.5})


@pytest.mark.parametrize("frames, window", [(5, 5), (6, 3)])
def test_per_frame_attention_equals_the_dense_window_mask_forward_and_backward(frames: int, window: int) -> None:
    from worldmodel.dynamics.transformer import FrameWindow, frame_window_attention, window_mask

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, frames * 4, 8, generator=g, requires_grad=True) for _ in range(3))
    grad = torch.randn(2, 3, frames * 4, 8, generator=g)
    fast = frame_window_attention(q, k, v, FrameWindow(frames, 4, window))
    fast_grads = torch.autograd.grad(fast, (q, k, v), grad)
    dense = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=window_mask(frames, 4, window))
    dense_grads = torch.autograd.grad(dense, (q, k, v), grad)
    torch.testing.assert_close(fast, dense, atol=1e-5, rtol=1e-5)
    for a, b in zip(fast_grads, dense_grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert torch.equal(FrameWindow(frames, 4, window).dense(torch.device("cpu")), window_mask(frames, 4, window))


def test_edit_weight_counts_the_tokens_an_attack_or_use_changes() -> None:
    """Only changed tokens of transitions with attack / use pressed get edit_weight; the loss stays a weighted mean."""
    objective = DynamicsObjective(DynamicsConfig(**{**TINY, "edit_weight": 10.0}), tiny_tokenizer())
    prev = torch.zeros(1, 2, 4, dtype=torch.long)  # (B, T, N)
    target = prev.clone()
    target[0, :, 0] = 3  # token 0 changes on both transitions
    buttons = torch.zeros(1, 2, len(BINARY_KEYS))
    buttons[0, 0, BINARY_KEYS.index("attack")] = 1  # ... but only the first has attack pressed
    logits = torch.zeros(1, 2, 4, 25)
    logits[..., 0] = 5.0  # confident that nothing changes: wrong exactly on token 0
    mask = torch.ones(1, 2, 4, dtype=torch.bool)
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, 25), target.reshape(-1), reduction="none")
    weights = torch.ones(8)
    weights[0] = 10.0  # transition 0, token 0
    expected = (weights * ce).sum() / weights.sum()
    torch.testing.assert_close(objective._token_loss(logits, target, prev, buttons, mask), expected)
    objective.cfg.edit_weight = 1.0
    torch.testing.assert_close(objective._token_loss(logits, target, prev, buttons, mask), ce.mean())
    assert expected > ce.mean()
    with pytest.raises(ValueError, match="edit_weight"):
        DynamicsConfig(**{**TINY, "edit_weight": 0.0})
