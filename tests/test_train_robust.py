"""Robust training runs: data.split, re-export after a kill, the run-dir lock in forked workers, plain progress."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest
from test_trainer import Regressor, TinyClips

from worldmodel.checkpoint import RunLock, latest_checkpoint
from worldmodel.data import update_index, write_episode
from worldmodel.data.split import make_split
from worldmodel.train import TrainConfig, Trainer
from worldmodel.train.cli import main as train_main
from worldmodel.train.exports import remove_stale_exports

TOK = ["train=smoke", "model.height=16", "model.width=16", "model.channels=8", "model.channel_mult=[1,2,2]",
       "model.res_blocks=[0,0,1]", "model.mid_blocks=0", "data.clip_len=2"]
DYN = ["train=smoke", "data.clip_len=4", "model.d_model=32", "model.n_layers=1", "model.n_heads=2",
       "model.context_frames=3", "model.head_layers=1", "model.lam_dim=16", "model.lam_layers=1",
       "model.lam_heads=2", "model.lam_levels=[3,3]"]


def tiny_store(root: Path, episodes: int = 4) -> Path:
    rng = np.random.default_rng(0)
    for i in range(episodes):
        write_episode(root / "episodes" / f"ep_{i}.npz", rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8),
                      meta={"source": "test", "fps": 20})
    update_index(root)
    return root


class CapturingTrainer:
    """Stands in for Trainer: records the dataset it was given and trains nothing."""

    seen: ClassVar[list[Any]] = []

    def __init__(self, module: Any, dataset: Any, cfg: Any, run_dir: Any, **_: Any) -> None:
        CapturingTrainer.seen.append(dataset)
        self.resumed_from, self.finished, self.dist = None, False, SimpleNamespace(is_main=True)

    def fit(self) -> dict[str, float]:
        return {}


def test_wm_train_reads_the_split_it_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    store = tiny_store(tmp_path / "store")
    split = make_split(store, 0.25)
    monkeypatch.setattr("worldmodel.train.trainer.Trainer", CapturingTrainer)
    base = ["tokenizer", f"data.path={store}", f"run_dir={tmp_path / 'run'}", *TOK]
    for part in ("train", "held_out"):
        assert train_main([*base, f"data.split={part}"]) == 0
        assert [p.name for p in CapturingTrainer.seen[-1].files] == split[part]
    assert "split.json exists but data.split is unset" not in capsys.readouterr().err
    assert train_main(base) == 0
    assert len(CapturingTrainer.seen[-1].files) == 4
    assert "data.split=train" in capsys.readouterr().err
    assert train_main([*base, "data.split=test"]) == 2
    assert "'split'" in capsys.readouterr().err


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_run_killed_before_its_export_exports_when_run_again(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from worldmodel.model import WorldModel
    from worldmodel.tokenizer import Tokenizer, TokenizerConfig, save_tokenizer

    store = tiny_store(tmp_path / "store", 2)
    save_tokenizer(Tokenizer(TokenizerConfig(height=16, width=16, levels=[5, 5], channels=8,
                                             channel_mult=[1, 2, 2], res_blocks=[0, 0, 1], mid_blocks=0)),
                   tmp_path / "tok" / "tokenizer")
    run = tmp_path / "dyn"
    argv = ["dynamics", f"tokenizer_checkpoint={tmp_path / 'tok'}", f"data.path={store}", f"run_dir={run}", *DYN]
    assert train_main(argv) == 0
    final = latest_checkpoint(run)
    # what a kill between the last checkpoint and the export leaves: no world_model/, a half-written hidden one
    (run / "world_model").rename(run / f".world_model.tmp-{_dead_pid()}")
    capsys.readouterr()
    assert train_main(argv) == 0
    assert "already trained to step 3; exporting" in capsys.readouterr().err
    assert latest_checkpoint(run) == final
    assert WorldModel.load(run / "world_model") is not None
    assert [p.name for p in run.iterdir() if p.name.startswith(".world_model")] == []


def test_remove_stale_exports_keeps_live_writers(tmp_path: Path) -> None:
    import os

    (tmp_path / f".world_model.tmp-{os.getpid()}").mkdir()
    (tmp_path / f".tokenizer.old-{_dead_pid()}").mkdir()
    (tmp_path / "world_model").mkdir()
    assert [p.name.split("-")[0] for p in remove_stale_exports(tmp_path)] == [".tokenizer.old"]
    assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir()) == [".world_model.tmp", "world_model"]


def _cfg(**overrides: Any) -> TrainConfig:
    base: dict[str, Any] = {"steps": 4, "batch_size": 4, "lr": 1e-2, "warmup_steps": 1, "ckpt_every": 2,
                            "log_every": 2, "media_every": 0, "progress": False, "device": "cpu"}
    return TrainConfig(**{**base, **overrides})


def _worker(started: Any) -> None:
    started.set()
    time.sleep(30)


def test_forked_children_do_not_hold_the_run_lock(tmp_path: Path) -> None:
    trainer = Trainer(Regressor(), TinyClips(), _cfg(), tmp_path)
    fork = multiprocessing.get_context("fork")
    started = fork.Event()
    child = fork.Process(target=_worker, args=(started,))  # stands in for a DataLoader worker
    child.start()
    try:
        assert started.wait(10)
        trainer.lock.release()  # the trainer is gone (as if killed); its forked worker still runs
        again = RunLock(tmp_path)
        again.acquire()  # refused naming the dead trainer's pid when the worker kept the lock
        again.release()
    finally:
        child.kill()
        child.join()


def test_progress_false_still_prints_plain_progress_lines(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    Trainer(Regressor(), TinyClips(), _cfg(), tmp_path).fit()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["1/4", "2/4", "4/4"]
    assert "loss=" in lines[-1] and "s/step, ETA 0m00s" in lines[-1]
    Trainer(Regressor(), TinyClips(), _cfg(steps=6, num_workers=1), tmp_path).fit()  # resumed; workers forked
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["5/6", "6/6"]
