"""The Trainer on an IterableDataset (data made on the fly): batches in stream order, exact resume, empty streams."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import IterableDataset

from worldmodel.train import TrainConfig, Trainer


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on the shared 2-core machine two spinning threads are many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Stream(IterableDataset):
    """Endless seeded samples {"x": (3,), "y": ()} with y = x . (1, -2, 0.5), restarting from `seed` each iteration;
    `length` > 0 makes it finite (an epoch of `length` samples)."""

    def __init__(self, seed: int = 0, length: int = 0) -> None:
        super().__init__()
        self.seed, self.length = seed, length

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        gen = torch.Generator().manual_seed(self.seed)
        i = 0
        while not self.length or i < self.length:
            x = torch.randn(3, generator=gen)
            yield {"x": x, "y": x @ torch.tensor([1.0, -2.0, 0.5])}
            i += 1


class Linear(nn.Module):
    """A linear regressor that records the first input of every batch it trains on."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(3, 1)
        self.seen: list[torch.Tensor] = []

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        self.seen.append(batch["x"][0].clone())
        loss = (self.net(batch["x"]).squeeze(-1) - batch["y"]).pow(2).mean()
        return loss, {}


def cfg(**overrides) -> TrainConfig:
    base = {"steps": 6, "batch_size": 4, "lr": 0.05, "warmup_steps": 0, "ckpt_every": 3, "log_every": 1,
            "media_every": 0, "progress": False, "device": "cpu"}
    return TrainConfig(**{**base, **overrides})


def test_batches_follow_the_stream_and_epochs_count(tmp_path: Path) -> None:
    module = Linear()
    trainer = Trainer(module, Stream(length=10), cfg(steps=5), tmp_path)  # 2 full batches per epoch
    trainer.fit()
    first = [item["x"] for item in Stream(length=10)]
    assert [torch.equal(seen, first[i]) for seen, i in zip(module.seen, (0, 4, 0, 4, 0))] == [True] * 5
    assert (trainer.epoch, trainer.batch_in_epoch) == (2, 1)


def test_resume_on_a_stream_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    torch.manual_seed(0)
    straight = Linear()
    Trainer(straight, Stream(), cfg(), tmp_path / "a").fit()

    def kill_at_3(step_dir: Path) -> None:
        if step_dir.name == "step_00000003":
            raise KeyboardInterrupt  # as if killed right after the checkpoint of step 3

    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        Trainer(Linear(), Stream(), cfg(), tmp_path / "b", on_checkpoint=kill_at_3).fit()
    resumed = Linear()
    trainer = Trainer(resumed, Stream(), cfg(), tmp_path / "b")
    assert trainer.step == 3 and trainer.batch_in_epoch == 3
    trainer.fit()
    assert all(torch.equal(a, b) for a, b in zip(resumed.seen, straight.seen[3:]))  # skipped what step 3 had used
    for key, value in straight.state_dict().items():
        assert torch.allclose(resumed.state_dict()[key], value, atol=1e-6), key


def test_a_stream_shorter_than_a_batch_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_size=4"):
        Trainer(Linear(), Stream(length=3), cfg(), tmp_path).fit()
