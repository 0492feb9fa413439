"""bf16 training on the CPU: train.precision picks the autocast, fp32 master weights stay, and bf16 reaches the
loss fp32 reaches on the same small problems after the same steps."""

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from worldmodel.train import TrainConfig, Trainer
from worldmodel.train.trainer import autocast_dtype, cpu_bf16_fast

BUTTONS = ["forward", "back", "left", "right", "jump", "sneak", "sprint", "attack", "use"]


class BlobClips(Dataset):
    """Clips of 16x16 frames that a tiny tokenizer can learn: 4x4 random colours, upsampled smoothly, drifting
    one pixel a frame (so the dynamics has something to predict)."""

    def __init__(self, n: int = 32, clip_len: int = 3, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        coarse = torch.rand(n, 3, 4, 4, generator=gen)
        big = F.interpolate(coarse, size=(24, 24), mode="bilinear", align_corners=False)  # (n, 3, 24, 24)
        frames = torch.stack([big[:, :, 2 + t: 18 + t, 2 + t: 18 + t] for t in range(clip_len)], 1)
        self.frames = (frames * 255).round().to(torch.uint8).permute(0, 1, 3, 4, 2).contiguous()  # (n, L, 16, 16, 3)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> dict[str, Any]:
        steps = self.frames.shape[1] - 1
        actions: dict[str, torch.Tensor] = {key: torch.zeros(steps, dtype=torch.uint8) for key in BUTTONS}
        actions.update({f"hotbar.{k}": torch.zeros(steps, dtype=torch.uint8) for k in range(1, 10)})
        actions["camera"] = torch.zeros(steps, 2)
        return {"frames": self.frames[i], "actions": actions, "action_known": torch.tensor(True),
                "rewards": torch.zeros(steps), "terminated": torch.zeros(steps, dtype=torch.bool)}


class Recorded(nn.Module):
    """Wraps a trainable module and records every step's loss (and the autocast dtype it ran under)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module, self.losses, self.dtypes = module, [], []

    def compute_loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        enabled = torch.is_autocast_enabled("cpu")
        self.dtypes.append(torch.get_autocast_dtype("cpu") if enabled else torch.float32)
        loss, metrics = self.module.compute_loss(batch)
        self.losses.append(float(loss.detach()))
        return loss, metrics


def tiny_tokenizer() -> nn.Module:
    from worldmodel.tokenizer import Tokenizer, TokenizerConfig

    return Tokenizer(TokenizerConfig(height=16, width=16, levels=[5, 5], channels=8, channel_mult=[1, 2, 2],
                                     res_blocks=[0, 0, 1], mid_blocks=0))


def tiny_dynamics() -> nn.Module:
    from worldmodel.dynamics import DynamicsConfig, DynamicsObjective

    cfg = DynamicsConfig(d_model=32, n_layers=1, n_heads=2, context_frames=3, lam_dim=16, lam_layers=1,
                         lam_heads=2, lam_levels=[3, 3])
    return DynamicsObjective(cfg, tiny_tokenizer())


def train(build: Any, precision: str, tmp_path, steps: int, lr: float) -> Recorded:
    """Train a freshly seeded module for `steps` steps at `precision`; returns it with its losses."""
    torch.manual_seed(0)
    module = Recorded(build())
    cfg = TrainConfig(steps=steps, batch_size=4, lr=lr, warmup_steps=2, ckpt_every=steps, log_every=steps,
                      media_every=0, progress=False, device="cpu", precision=precision)
    Trainer(module, BlobClips(), cfg, tmp_path / precision).fit()
    return module


@pytest.mark.parametrize("build, steps, lr", [(tiny_tokenizer, 40, 3e-3), (tiny_dynamics, 40, 3e-3)],
                         ids=["tokenizer", "dynamics"])
def test_bf16_reaches_the_fp32_loss(build: Any, steps: int, lr: float, tmp_path) -> None:
    """Same seed, data and steps: the loss bf16 ends at (mean of the last 5 steps) lies within 5% of the progress
    fp32 made (its first loss - its end loss) of fp32's end loss. Why 5%: measured, bf16 lands within 0.5% of the
    progress of fp32 here (3 data orders, both problems), while merely another data order (train.seed) moves the
    fp32 end loss by 2-7%; so 5% leaves 10x headroom over what bf16 costs, and a bf16 path that learns
    measurably worse than fp32 fails. Master weights: the parameters stay fp32 (autocast casts per op)."""
    fp32 = train(build, "fp32", tmp_path, steps, lr)
    bf16 = train(build, "bf16", tmp_path, steps, lr)
    assert set(fp32.dtypes) == {torch.float32} and set(bf16.dtypes) == {torch.bfloat16}
    assert fp32.losses[0] == pytest.approx(bf16.losses[0], rel=0.02)  # same start (bf16 rounding only)
    end32, end16 = sum(fp32.losses[-5:]) / 5, sum(bf16.losses[-5:]) / 5
    progress = fp32.losses[0] - end32
    assert progress > 0.2 * fp32.losses[0]  # the problem is learnt at all
    assert abs(end16 - end32) <= 0.05 * progress, (end32, end16, progress)
    for param in bf16.parameters():  # master weights (and so the checkpoints) stay fp32
        assert param.dtype == torch.float32


def test_precision_is_validated_naming_the_key(tmp_path) -> None:
    from worldmodel.train.cli import compose_config

    with pytest.raises(ValueError, match=r"train config 'precision' must be one of auto, fp32, bf16, got 'fp16'"):
        TrainConfig(precision="fp16").validate()
    with pytest.raises(ValueError, match="'precision'"):
        compose_config("tokenizer", ["train.precision=half"])
    assert compose_config("tokenizer", ["train.precision=bf16"]).train.precision == "bf16"


def test_autocast_dtype_follows_precision_and_amp(monkeypatch) -> None:
    import worldmodel.train.trainer as trainer

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert autocast_dtype(TrainConfig(precision="fp32"), cuda) is None
    assert autocast_dtype(TrainConfig(precision="bf16"), cpu) is torch.bfloat16
    assert autocast_dtype(TrainConfig(precision="auto"), cuda) is torch.bfloat16  # as `amp` did before
    assert autocast_dtype(TrainConfig(precision="auto", amp=False), cuda) is None  # old configs with amp=false
    assert autocast_dtype(TrainConfig(precision="auto", amp=False), cpu) is None
    monkeypatch.setattr(trainer, "cpu_bf16_fast", lambda: False)
    assert autocast_dtype(TrainConfig(), cpu) is None
    monkeypatch.setattr(trainer, "cpu_bf16_fast", lambda: True)
    assert autocast_dtype(TrainConfig(), cpu) is torch.bfloat16


def test_cpu_probe_is_cached_and_keeps_the_threads() -> None:
    threads = torch.get_num_threads()
    fast = cpu_bf16_fast()
    assert cpu_bf16_fast() is fast and torch.get_num_threads() == threads
    if "AVX512" not in torch.backends.cpu.get_cpu_capability():
        assert fast is False


def test_inference_dtype_follows_precision(monkeypatch) -> None:
    from worldmodel import precision as prec

    cpu = torch.device("cpu")
    assert prec.inference_dtype("fp32", cpu) is None and prec.inference_dtype("bf16", cpu) is torch.bfloat16
    monkeypatch.setattr(prec, "cpu_bf16_fast", lambda: False)
    assert prec.inference_dtype("auto", cpu) is None
    monkeypatch.setattr(prec, "cpu_bf16_fast", lambda: True)
    assert prec.inference_dtype("auto", cpu) is torch.bfloat16
    with pytest.raises(ValueError, match="precision must be one of"):
        prec.inference_dtype("fp16", cpu)
