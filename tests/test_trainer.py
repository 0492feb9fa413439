"""The generic Trainer: checkpoints, resume, corrupt checkpoints, DDP on gloo (`wm train`: tests/test_train_cli.py)."""

import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import Dataset

from worldmodel.checkpoint import latest_checkpoint, list_checkpoints
from worldmodel.train import TrainConfig, Trainer, lr_at

BUTTONS = ["forward", "back", "left", "right", "jump", "sneak", "sprint", "attack", "use"]


class TinyClips(Dataset):
    """In-memory clips in the format of `open_dataset(dir).clips(L)` (frames (L,H,W,3) uint8, actions, ...)."""

    def __init__(self, n: int = 16, clip_len: int = 3, size: int = 8, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.frames = torch.randint(0, 256, (n, clip_len, size, size, 3), generator=gen, dtype=torch.uint8)
        self.clip_len = clip_len

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> dict:
        steps = self.clip_len - 1
        actions = {key: torch.zeros(steps, dtype=torch.uint8) for key in BUTTONS}
        actions["camera"] = torch.zeros(steps, 2)
        return {
            "frames": self.frames[i],
            "actions": actions,
            "action_known": torch.tensor(True),
            "rewards": self.frames[i, 1:].float().mean(dim=(1, 2, 3)) / 255,
            "terminated": torch.zeros(steps, dtype=torch.bool),
        }


class Regressor(nn.Module):
    """Predicts each transition's reward from the mean colour of the frame before it."""

    def __init__(self, hidden: int = 8) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def compute_loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        colour = batch["frames"][:, :-1].float().mean(dim=(2, 3)) / 255  # (B, L-1, 3)
        pred = self.net(colour).squeeze(-1)
        loss = (pred - batch["rewards"]).pow(2).mean()
        return loss, {"mae": (pred - batch["rewards"]).abs().mean().item()}


def small_cfg(**overrides) -> TrainConfig:
    base = dict(steps=4, batch_size=4, lr=1e-2, warmup_steps=1, ckpt_every=2, log_every=1, media_every=0,
                progress=False, device="cpu")
    return TrainConfig(**{**base, **overrides})


def params(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_lr_schedule_warms_up_then_decays() -> None:
    cfg = TrainConfig(steps=100, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1) and lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(10, cfg) == pytest.approx(1.0) and lr_at(100, cfg) == pytest.approx(0.1)
    assert lr_at(55, cfg) == pytest.approx(0.55)


def test_train_save_and_load_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    module = Regressor()
    exported: list[Path] = []
    trainer = Trainer(module, TinyClips(), small_cfg(), tmp_path, config={"note": "x"},
                      on_checkpoint=exported.append)
    metrics = trainer.fit()
    assert trainer.step == 4 and {"loss", "mae"} <= metrics.keys()
    assert [s for s, _ in list_checkpoints(tmp_path)] == [4]  # keep_last=1
    assert [p.name for p in exported] == ["step_00000002", "step_00000004"]
    assert (tmp_path / "config.json").is_file() and any((tmp_path / "tb").iterdir())
    fresh = Regressor()
    again = Trainer(fresh, TinyClips(), small_cfg(), tmp_path)
    assert again.step == 4 and again.resumed_from == latest_checkpoint(tmp_path)
    for key, value in params(module).items():
        assert torch.equal(value, fresh.state_dict()[key])
    assert again.optimizer.state_dict()["state"].keys() == trainer.optimizer.state_dict()["state"].keys()
    assert again.fit() == {}  # nothing left to do


def test_resume_continues_the_step_count(tmp_path) -> None:
    Trainer(Regressor(), TinyClips(), small_cfg(steps=3, ckpt_every=3), tmp_path).fit()
    resumed = Trainer(Regressor(), TinyClips(), small_cfg(steps=6, ckpt_every=3, keep_last=3), tmp_path)
    assert resumed.step == 3 and resumed.batch_in_epoch == 3
    resumed.fit()
    assert resumed.step == 6
    assert [s for s, _ in list_checkpoints(tmp_path)] == [3, 6]


def test_resume_matches_an_uninterrupted_run(tmp_path) -> None:
    torch.manual_seed(1)
    straight = Regressor()
    Trainer(straight, TinyClips(), small_cfg(steps=6, ckpt_every=3), tmp_path / "a").fit()

    def kill_at_3(step_dir: Path) -> None:
        if step_dir.name == "step_00000003":
            raise KeyboardInterrupt  # as if killed right after the checkpoint of step 3

    torch.manual_seed(1)
    with pytest.raises(KeyboardInterrupt):
        Trainer(Regressor(), TinyClips(), small_cfg(steps=6, ckpt_every=3), tmp_path / "b",
                on_checkpoint=kill_at_3).fit()
    resumed = Regressor()
    trainer = Trainer(resumed, TinyClips(), small_cfg(steps=6, ckpt_every=3), tmp_path / "b")
    assert trainer.step == 3
    trainer.fit()
    for key, value in params(straight).items():
        assert torch.allclose(resumed.state_dict()[key], value, atol=1e-6), key


KILL_SCRIPT = """
import sys, time
sys.path.insert(0, {tests!r})
from test_trainer import Regressor, TinyClips, small_cfg
from worldmodel.train import Trainer

class Slow(Regressor):
    def compute_loss(self, batch):
        time.sleep(0.05)
        return super().compute_loss(batch)

Trainer(Slow(), TinyClips(), small_cfg(steps=100000, ckpt_every=5), {run_dir!r}).fit()
"""


@pytest.mark.slow
def test_sigkill_loses_at_most_one_checkpoint_interval(tmp_path) -> None:
    import signal
    import subprocess
    import sys
    import time

    script = KILL_SCRIPT.format(tests=str(Path(__file__).parent), run_dir=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while len(list_checkpoints(tmp_path)) == 0 or list_checkpoints(tmp_path)[-1][0] < 10:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    saved = list_checkpoints(tmp_path)[-1][0]
    resumed = Trainer(Regressor(), TinyClips(), small_cfg(steps=saved + 2, ckpt_every=5), tmp_path)
    assert resumed.step == saved >= 10
    resumed.fit()
    assert resumed.step == saved + 2


def test_corrupt_or_mismatched_checkpoint_is_a_clear_error(tmp_path) -> None:
    Trainer(Regressor(), TinyClips(), small_cfg(steps=2), tmp_path).fit()
    with pytest.raises(ValueError, match=r"model.safetensors.*'net.0.weight' has shape"):
        Trainer(Regressor(hidden=5), TinyClips(), small_cfg(steps=3), tmp_path)
    weights = latest_checkpoint(tmp_path) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-7])
    with pytest.raises(ValueError, match=str(weights)):
        Trainer(Regressor(), TinyClips(), small_cfg(steps=3), tmp_path)


def test_two_trainers_cannot_share_a_run_dir(tmp_path) -> None:
    first = Trainer(Regressor(), TinyClips(), small_cfg(), tmp_path)
    with pytest.raises(ValueError, match="another training process"):
        Trainer(Regressor(), TinyClips(), small_cfg(), tmp_path)
    first.fit()  # releases the lock
    Trainer(Regressor(), TinyClips(), small_cfg(steps=5), tmp_path).fit()


def test_bad_setups_raise_value_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="compute_loss"):
        Trainer(nn.Linear(2, 2), TinyClips(), small_cfg(), tmp_path)
    with pytest.raises(ValueError, match="'batch_size'"):
        Trainer(Regressor(), TinyClips(), small_cfg(batch_size=0), tmp_path)
    with pytest.raises(ValueError, match="fewer than train.batch_size"):
        Trainer(Regressor(), TinyClips(n=3), small_cfg(), tmp_path).fit()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ddp_worker(rank: int, world_size: int, port: int, run_dir: str) -> None:
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    torch.manual_seed(100 + rank)  # different inits: DDP must broadcast rank 0's weights
    module = Regressor()
    trainer = Trainer(module, TinyClips(), small_cfg(steps=3, batch_size=2, ckpt_every=3), run_dir)
    trainer.fit()
    torch.save(params(module), Path(run_dir) / f"rank{rank}.pt")


def test_ddp_gloo_two_processes_stay_in_sync(tmp_path) -> None:
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    assert [s for s, _ in list_checkpoints(tmp_path)] == [3]
