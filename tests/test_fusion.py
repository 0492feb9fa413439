"""Frame fusion: decoding with the previous shown frame turned by the camera (tokenizer, WorldModel, wm combine)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs.actions import BINARY_KEYS, noop_action
from envs.blockworld.env import BlockWorldEnv
from worldmodel.combine import combine, encoders_match
from worldmodel.dynamics import DynamicsConfig, DynamicsModel, save_world_model
from worldmodel.model import WorldModel
from worldmodel.tokenizer import Tokenizer, TokenizerConfig, save_tokenizer
from worldmodel.fusion.objective import FusionObjective, FusionTrainConfig
from worldmodel.fusion.net import SOURCE_BIAS, FusionInputs

TINY_DYN = dict(d_model=32, n_layers=1, n_heads=2, context_frames=3, head_layers=1, lam_dim=16, lam_layers=1,
                lam_heads=2, lam_levels=[3, 3])


def tiny_tokenizer(size: int = 32, fusion: int = 8, seed: int = 0) -> Tokenizer:
    """size x size frames -> (size / 4)^2 tokens of 25 codes, with a fusion net of width `fusion` (0 = none)."""
    torch.manual_seed(seed)
    return Tokenizer(TokenizerConfig(height=size, width=size, levels=[5, 5], channels=8, channel_mult=[1, 1, 1],
                                     res_blocks=[0, 0, 0], mid_blocks=0, fusion_channels=fusion))


def turning_clips(size: int = 32, clips: int = 2, length: int = 3) -> dict:
    """Real BlockWorld clips in which the camera turns 6 degrees right every tick, as a tokenizer batch."""
    frames, cameras = [], []
    for seed in range(clips):
        env = BlockWorldEnv(width=size, height=size)
        obs, _ = env.reset(seed=seed)
        clip = [obs]
        turn = noop_action()
        turn["camera"] = np.array([0.0, 6.0], np.float32)
        for _ in range(length - 1):
            clip.append(env.step(turn)[0])
        frames.append(np.stack(clip))
        cameras.append(np.tile([0.0, 6.0], (length - 1, 1)))
    return {"frames": torch.as_tensor(np.stack(frames)), "action_known": torch.ones(clips, dtype=torch.bool),
            "actions": {"camera": torch.as_tensor(np.stack(cameras), dtype=torch.float32)}}


def test_fusion_starts_near_plain_decoding_and_never_carries_from_outside_the_view() -> None:
    tokenizer = tiny_tokenizer()
    fusion = tokenizer.fusion
    decoded, previous = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    codes = torch.rand(2, 2, 8, 8) * 2 - 1
    still = FusionInputs(previous, torch.zeros(2, 2), previous, torch.zeros(2, 2), torch.ones(2))
    with torch.no_grad():
        _, weights = fusion(decoded, codes, still)
    expected = torch.softmax(torch.tensor(SOURCE_BIAS), 0)
    assert torch.allclose(weights.mean((0, 2, 3)), expected, atol=1e-5)
    fusion.out.bias.data[:3] = torch.tensor([-10.0, 10.0, 10.0])  # carry wherever a source may
    turned = torch.tensor([[0.0, 30.0], [0.0, -30.0]])
    with torch.no_grad():
        _, weights = fusion(decoded, codes, FusionInputs(previous, turned, previous, turned, torch.ones(2)))
    assert float(weights[0, 1:, :, -1].max()) == 0.0 and float(weights[1, 1:, :, 0].max()) == 0.0  # new edge
    assert float(weights[0, 0, :, -1].min()) > 0.99  # there only the decoded frame can be shown
    assert float(weights[0, 1:, :, :8].sum(0).min()) > 0.99  # the left side was in view before a right turn


def test_fusion_learns_to_carry_turned_pixels_past_a_useless_rollout() -> None:
    """Untrained dynamics and decoder (their frames are noise) on real turning footage: the fusion net alone
    learns to carry the context's pixels through the camera turns, far above what the rollout decodes to."""
    tokenizer = tiny_tokenizer()
    dynamics = DynamicsModel(DynamicsConfig(**TINY_DYN), tokenizer.vocab_size, tokenizer.grid)
    objective = FusionObjective(tokenizer, dynamics, FusionTrainConfig(channels=8, context=2, teacher_steps=1))
    batch = turning_clips(length=5)
    batch["actions"] = {**{k: torch.zeros(2, 4) for k in BINARY_KEYS}, **batch["actions"]}
    trainable = [p for p in objective.parameters() if p.requires_grad]
    assert trainable and all(p.requires_grad for p in tokenizer.fusion.parameters())
    assert len(trainable) == len(list(tokenizer.fusion.parameters()))
    optimizer = torch.optim.Adam(trainable, lr=1e-2)
    for _ in range(60):
        loss, metrics = objective.compute_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert metrics["open_psnr"] > metrics["open_psnr_decoded"] + 4.0
    assert metrics["weight_previous"] + metrics["weight_anchor"] > 0.5


def tiny_world(source_bias: list[float] | None) -> WorldModel:
    """An untrained WorldModel at 32x32 with frame fusion; source_bias sets the biases of the source logits
    (decoded, previous, anchor; None: as built)."""
    tokenizer = tiny_tokenizer()
    if source_bias is not None:
        tokenizer.fusion.out.bias.data[:3] = torch.tensor(source_bias)
    dynamics = DynamicsModel(DynamicsConfig(**TINY_DYN), tokenizer.vocab_size, tokenizer.grid)
    return WorldModel(tokenizer, dynamics)


def test_world_model_carries_the_real_context_frame_into_the_first_step() -> None:
    wm = tiny_world([-30.0, 30.0, -30.0])  # always the previous shown frame, wherever it was in view
    frames = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    wm.reset(frames)
    shown, _, _ = wm.step(noop_action())
    assert np.abs(shown.astype(int) - frames[-1]).max() <= 1  # no turn: the real last context frame, carried
    again, _, _ = wm.step(noop_action())
    assert np.abs(again.astype(int) - frames[-1]).max() <= 2
    observed = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    wm.observe(observed)
    assert np.abs(wm.step(noop_action())[0].astype(int) - observed).max() <= 1


@pytest.mark.parametrize("decoding", ["sample", "mean"])
def test_fused_rollouts_batch_and_branch_exactly(decoding: str) -> None:
    wm = tiny_world([0.0, 0.0, 0.0])
    wm.decoding = decoding
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 3, 32, 32, 3), dtype=np.uint8)
    turns = [{"forward": 1, "camera": [0.0, 5.0]}, {"camera": [2.0, -3.0]}, {"attack": 1}]
    wm.seed(0)
    wm.reset(frames)
    batched = [wm.step([a, a])[0] for a in turns]
    for world in range(2):
        wm.seed(world)
        wm.reset(frames[world])
        single = [wm.step(a)[0] for a in turns]
        for t in range(len(turns)):
            assert np.abs(single[t].astype(int) - batched[t][world]).max() <= 1
    wm.seed(0)
    wm.reset(frames[0])
    wm.step(turns[0])
    snap = wm.snapshot()
    first = [wm.step(a)[0] for a in turns]
    wm.restore(snap)
    second = [wm.step(a)[0] for a in turns]
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


def test_combine_pairs_dynamics_with_a_same_encoder_tokenizer(tmp_path) -> None:
    plain = tiny_tokenizer(fusion=0)
    dynamics = DynamicsModel(DynamicsConfig(**TINY_DYN), plain.vocab_size, plain.grid)
    save_world_model(tmp_path / "world", plain, dynamics)
    fused = tiny_tokenizer(fusion=8, seed=5)
    with pytest.raises(ValueError, match="encoder differs"):
        combine(tmp_path / "world", save_tokenizer(fused, tmp_path / "other"), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    fused.encoder.load_state_dict(plain.encoder.state_dict())
    assert encoders_match(plain, fused)
    out = combine(tmp_path / "world", save_tokenizer(fused, tmp_path / "fused"), tmp_path / "combined")
    wm = WorldModel.load(out)
    assert wm.tokenizer.fusion is not None
    assert all(torch.equal(a, b) for a, b in zip(wm.dynamics.state_dict().values(), dynamics.state_dict().values()))


def test_fusion_config_errors() -> None:
    with pytest.raises(ValueError, match="fusion_channels"):
        TokenizerConfig(fusion_channels=-1)
    with pytest.raises(ValueError, match="context"):
        FusionTrainConfig(context=0).validate()


def test_rollout_strip_draws_models_beside_the_real_frames(tmp_path) -> None:
    import importlib.util
    from pathlib import Path

    from worldmodel.data.collect import CollectConfig, collect

    store = tmp_path / "bw"
    collect(CollectConfig(env_id="BlockWorld-v0", out=str(store), policy="explorer", episodes=1, steps=20,
                          env_kwargs={"width": 32, "height": 32}), progress=False)
    world = tiny_world(None)
    save_world_model(tmp_path / "model", world.tokenizer, world.dynamics)
    path = Path(__file__).resolve().parents[1] / "scripts" / "rollout_strip.py"
    spec = importlib.util.spec_from_file_location("rollout_strip", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "strip.png"
    assert module.main(["--model", str(tmp_path / "model"), "--data", str(store), "--windows", "0", "1",
                        "--steps", "1", "3", "--context", "2", "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert module.main(["--model", str(tmp_path / "model"), "--data", str(store), "--windows", "9",
                        "--steps", "8", "--out", str(tmp_path / "none.png")]) == 2
    assert not (tmp_path / "none.png").exists()


def test_fusion_off_decodes_the_tokens_alone() -> None:
    frames = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    turn = {"forward": 1, "camera": [0.0, 4.0]}
    out = {}
    for fusion in (True, False):
        wm = tiny_world([0.0, 0.0, 0.0])
        wm.fusion = fusion
        wm.seed(0)
        wm.reset(frames)
        out[fusion] = [wm.step(turn)[0] for _ in range(3)]
    plain = tiny_world(None)
    plain.tokenizer.fusion = None  # the same weights without the net
    plain.fusion = False
    plain.seed(0)
    plain.reset(frames)
    assert all(np.array_equal(a, plain.step(turn)[0]) for a in out[False])
    assert not all(np.array_equal(a, b) for a, b in zip(out[True], out[False]))
    with pytest.raises(ValueError, match="no fusion net"):
        plain.fusion = True
        plain.reset(frames)


def test_dream_envs_and_agents_keep_the_fusion_setting() -> None:
    from agents.cli import train_parser
    from worldmodel.dream.loading import resolve_model

    wm = tiny_world(None)
    wm.fusion, wm.decoding = False, "mean"
    forked = resolve_model(wm)
    assert forked is not wm and forked.fusion is False and forked.decoding == "mean"
    assert vars(train_parser("wm agent").parse_args(["--no-fusion"]))["dream_fusion"] is False
    assert vars(train_parser("wm agent").parse_args([]))["dream_fusion"] is True


def test_wm_probe_no_fusion_loads_the_model_without_its_fusion(tmp_path) -> None:
    from worldmodel.probes.adapters import load_model
    from worldmodel.probes.cli import build_parser

    wm = tiny_world(None)
    save_world_model(tmp_path / "world", wm.tokenizer, wm.dynamics)
    fused, _, _, _ = load_model(str(tmp_path / "world"))
    plain, _, _, _ = load_model(str(tmp_path / "world"), fusion=False)
    assert fused.wm.fusion is True and plain.wm.fusion is False
    assert build_parser("wm probe").parse_args(["--no-fusion"]).no_fusion is True
    assert build_parser("wm probe").parse_args([]).no_fusion is False
