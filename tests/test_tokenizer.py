"""Frame tokenizer (FSQ conv autoencoder) and image metrics: shapes, round trips, overfitting, export."""

import math

import pytest
import torch
from helpers import fit

from worldmodel.metrics import masked_psnr, masked_ssim, psnr, ssim
from worldmodel.tokenizer import FSQ, Tokenizer, TokenizerConfig, load_tokenizer, save_tokenizer


TINY = dict(height=16, width=16, levels=[5, 5, 4], channels=8, channel_mult=[1, 2, 2], res_blocks=[0, 1, 1],
            mid_blocks=0)


def blocky_frames(n: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    """(n, size, size, 3) uint8 frames of a few flat-coloured rectangles (stand-ins for BlockWorld)."""
    gen = torch.Generator().manual_seed(seed)
    frames = torch.zeros(n, size, size, 3, dtype=torch.uint8)
    for i in range(n):
        frames[i] = torch.randint(0, 256, (3,), generator=gen, dtype=torch.uint8)
        for _ in range(3):
            y, x = torch.randint(0, size - 4, (2,), generator=gen).tolist()
            h, w = torch.randint(3, size // 2, (2,), generator=gen).tolist()
            frames[i, y : y + h, x : x + w] = torch.randint(0, 256, (3,), generator=gen, dtype=torch.uint8)
    return frames


def test_default_config_is_small_and_makes_8x8_tokens_of_1000_codes() -> None:
    tok = Tokenizer()
    assert tok.grid == (8, 8) and tok.vocab_size == 1000
    assert sum(p.numel() for p in tok.parameters()) < 3_000_000
    frames = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    tokens = tok.encode(frames)
    assert tokens.shape == (2, 8, 8) and tokens.dtype == torch.int64
    recon = tok.decode(tokens)
    assert recon.shape == (2, 64, 64, 3) and recon.dtype == torch.uint8


def test_grid_scales_with_downsampling() -> None:
    cfg = TokenizerConfig(height=128, width=96, channels=8, channel_mult=[1, 1, 2, 2, 4], res_blocks=[0, 0, 0, 0, 1])
    assert cfg.downsample == 16 and cfg.grid == (8, 6)
    tokens = Tokenizer(cfg).encode(torch.zeros(1, 128, 96, 3, dtype=torch.uint8))
    assert tokens.shape == (1, 8, 6)


def test_encode_decode_round_trip_shapes_and_vocab() -> None:
    torch.manual_seed(0)
    tok = Tokenizer(TokenizerConfig(**TINY))
    frames = blocky_frames(3)
    tokens = tok.encode(frames)
    assert tokens.shape == (3, 4, 4) and tokens.dtype == torch.int64
    assert int(tokens.min()) >= 0 and int(tokens.max()) < tok.vocab_size == 100
    recon = tok.decode(tokens)
    assert recon.shape == frames.shape and recon.dtype == torch.uint8
    # The float path yields the same codes as the token path.
    codes, float_tokens = tok.encode_float(frames.permute(0, 3, 1, 2).float() / 127.5 - 1)
    assert torch.equal(float_tokens, tokens)
    assert torch.allclose(tok.tokens_to_codes(tokens), codes.detach())


def test_bad_inputs_raise_value_error() -> None:
    tok = Tokenizer(TokenizerConfig(**TINY))
    with pytest.raises(ValueError, match="uint8"):
        tok.encode(torch.zeros(1, 16, 16, 3))
    with pytest.raises(ValueError, match="16, 16, 3"):
        tok.encode(torch.zeros(1, 32, 32, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\[0, 100\)"):
        tok.decode(torch.full((1, 4, 4), 100))
    with pytest.raises(ValueError, match="'height'"):
        TokenizerConfig(height=60)
    with pytest.raises(ValueError, match="'res_blocks'"):
        TokenizerConfig(res_blocks=[1])
    with pytest.raises(ValueError, match="unknown tokenizer config key 'chanels'"):
        TokenizerConfig.from_dict({"chanels": 3})


def test_fsq_indices_codes_bijection_and_idempotence() -> None:
    fsq = FSQ([8, 5, 5, 5])
    assert fsq.vocab_size == 1000
    ids = torch.arange(1000).view(10, 10, 10)
    codes = fsq.indices_to_codes(ids)
    assert codes.shape == (10, 4, 10, 10) and codes.abs().max() <= 1
    assert torch.equal(fsq.codes_to_indices(codes), ids)
    z = torch.randn(4, 4, 6, 6) * 3
    q = fsq(z)
    assert torch.equal(fsq.snap(q), q)  # quantised values are grid points: snapping again changes nothing
    assert torch.equal(fsq.indices_to_codes(fsq.codes_to_indices(q)), q)
    assert torch.equal(fsq(z), q)  # deterministic
    # Straight-through: gradients reach the latents.
    z.requires_grad_(True)
    fsq(z).sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_fsq_reaches_every_level() -> None:
    fsq = FSQ([8, 5])
    z = torch.linspace(-6, 6, 2001).view(1, 1, 1, -1).expand(1, 2, 1, -1)
    ids = fsq.codes_to_indices(fsq(z))
    assert torch.equal(torch.unique(ids % 8), torch.arange(8))
    assert torch.equal(torch.unique(ids // 8), torch.arange(5))


def test_compute_loss_flattens_clips_and_reports_metrics() -> None:
    tok = Tokenizer(TokenizerConfig(**TINY, max_frames=3, ssim_weight=0.1))
    batch = {"frames": blocky_frames(8).view(2, 4, 16, 16, 3)}
    loss, metrics = tok.compute_loss(batch)
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert {"l1", "psnr", "ssim", "code_usage", "code_perplexity"} <= metrics.keys()
    assert all(p.grad is not None for p in tok.encoder.parameters())


def test_overfits_a_tiny_batch() -> None:
    torch.manual_seed(0)
    tok = Tokenizer(TokenizerConfig(**{**TINY, "channels": 16}))
    batch = {"frames": blocky_frames(4).unsqueeze(1)}  # (B=4, L=1, 16, 16, 3)
    first, _ = tok.compute_loss(batch)
    loss, metrics = fit(tok, batch, 150, lr=3e-3)
    assert loss.item() < 0.2 * first.item(), (first.item(), loss.item())
    assert metrics["psnr"] > 20


def test_save_and_load_tokenizer(tmp_path) -> None:
    tok = Tokenizer(TokenizerConfig(**TINY))
    save_tokenizer(tok, tmp_path / "run" / "tokenizer")
    loaded = load_tokenizer(tmp_path / "run")  # a run dir resolves to RUN/tokenizer
    frames = blocky_frames(2)
    assert torch.equal(loaded.decode(loaded.encode(frames)), tok.decode(tok.encode(frames)))
    weights = tmp_path / "run" / "tokenizer" / "tokenizer.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match="tokenizer.safetensors"):
        load_tokenizer(tmp_path / "run")
    with pytest.raises(ValueError, match="no tokenizer found"):
        load_tokenizer(tmp_path)


def test_psnr_and_ssim() -> None:
    a = blocky_frames(2).float() / 255
    assert torch.allclose(psnr(a, a), torch.full((2,), 100.0))
    b = (a + 0.1).clamp(0, 1)
    mse = (a - b).pow(2).mean(dim=(1, 2, 3))
    assert torch.allclose(psnr(a, b), 10 * torch.log10(1 / mse))
    assert torch.allclose(psnr(a * 255, b * 255, data_range=255), psnr(a, b))
    u8 = blocky_frames(2)
    assert psnr(u8, u8).shape == (2,)
    assert torch.allclose(ssim(a, a), torch.ones(2))
    assert (ssim(a, torch.rand_like(a)) < 0.5).all()
    assert ssim(a, b).shape == (2,)


def test_masked_metrics() -> None:
    a = torch.rand(2, 16, 16, 3)
    b = a.clone()
    b[:, :8] = torch.rand(2, 8, 16, 3)  # top half differs
    full = torch.ones(2, 16, 16, dtype=torch.bool)
    assert torch.allclose(masked_psnr(a, b, full), psnr(a, b))
    assert torch.allclose(masked_ssim(a, b, full), ssim(a, b))
    bottom = full.clone()
    bottom[:, :8] = False
    assert (masked_psnr(a, b, bottom) == 100).all()
    assert (masked_ssim(a, b, bottom) > masked_ssim(a, b, ~bottom)).all()
    empty = torch.zeros_like(full)
    empty[1] = True
    result = masked_psnr(a, b, empty)
    assert math.isnan(result[0]) and not math.isnan(result[1])
    with pytest.raises(ValueError, match="mask"):
        masked_psnr(a, b, full[:, :8])
