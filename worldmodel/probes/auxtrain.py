"""Training of the probes' auxiliary models (segmenter, inverse dynamics) with the one Trainer.

Each model has a typed run config (the one place its training defaults are written): the network config, a
TrainConfig for worldmodel/train/trainer.py, and what the data stream and the held-out check need. The data is
rendered on the fly (worldmodel/probes/auxdata.py streams), the Trainer optimises `module.compute_loss(batch)`,
and the held-out metrics are measured on fresh worlds of another seed. The Trainer's run dir (checkpoints,
TensorBoard, config.json) is a temporary dir unless one is given, in which case a rerun resumes from it.
`wm probe train-aux` maps its flags onto these configs (`aux_config`).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import IterableDataset

from worldmodel.probes.auxdata import TransitionStream, ViewSampler, ViewStream, first_items
from worldmodel.probes.idm import IDMConfig, InverseDynamics, evaluate_idm, label_weights
from worldmodel.probes.segmenter import Segmenter, SegmenterConfig, accuracy, class_weights, segment
from worldmodel.train.config import TrainConfig
from worldmodel.train.trainer import Trainer

SMOKE_STEPS = 100
"""Runs shorter than this (smoke runs, tests) use an eighth of each sample size below (at least 16)."""


def _samples(n: int, cfg: TrainConfig) -> int:
    """Sample size `n`, cut to an eighth (at least 16) for a smoke run."""
    return n if cfg.steps >= SMOKE_STEPS else max(16, n // 8)


def _aux_train(steps: int, batch_size: int, lr: float) -> TrainConfig:
    """The aux models' optimisation: AdamW (weight decay 1e-4, betas 0.9/0.999) at `lr`, no warmup, cosine decay
    to 5 % of lr, no gradient clipping, fp32 on the CPU (rendering the data costs more than the steps)."""
    return TrainConfig(steps=steps, batch_size=batch_size, lr=lr, min_lr_ratio=0.05, warmup_steps=0,
                       weight_decay=1e-4, betas=[0.9, 0.999], grad_clip=0.0, media_every=0, ckpt_every=500,
                       device="cpu")


@dataclass
class SegmenterTrainConfig:
    """`wm probe train-aux` (segmenter): train the block-id segmenter on freshly rendered views."""

    model: SegmenterConfig = field(default_factory=SegmenterConfig)
    """Network widths and classes (stored in the weights' metadata)."""
    train: TrainConfig = field(default_factory=lambda: _aux_train(steps=3000, batch_size=16, lr=3e-3))
    """Optimisation (worldmodel/train/trainer.py): 3000 steps of 16 views; train.seed also seeds the initial
    weights, the rendered worlds and the augmentation."""
    size: int = 64
    """Height and width of the rendered views."""
    weight_views: int = 256
    """Views whose block-id frequencies set the class weights (the stream's first views)."""
    eval_views: int = 128
    """Held-out views (other worlds) for the reported pixel accuracy."""


@dataclass
class IDMTrainConfig:
    """`wm probe train-aux` (idm): train the inverse dynamics model on babbling transitions."""

    model: IDMConfig = field(default_factory=IDMConfig)
    """Network widths (stored in the weights' metadata)."""
    train: TrainConfig = field(default_factory=lambda: _aux_train(steps=3000, batch_size=64, lr=2e-3))
    """Optimisation (worldmodel/train/trainer.py): 3000 steps of 64 transitions; train.seed also seeds the initial
    weights and the babbling players."""
    size: int = 64
    """Height and width of the rendered frames."""
    players: int = 8
    """Independent babbling players per batch (train.batch_size must be a multiple of it)."""
    rate_transitions: int = 512
    """Transitions whose label frequencies set the positive-class weights (the stream's first transitions)."""
    eval_transitions: int = 512
    """Held-out transitions (fresh babbling, another seed) for the reported F1 scores and camera error."""


@contextmanager
def _run_dir(run_dir: str | Path | None) -> Iterator[Path]:
    """`run_dir`, or a temporary dir removed afterwards."""
    if run_dir is not None:
        yield Path(run_dir)
        return
    with tempfile.TemporaryDirectory(prefix="wm-aux-") as tmp:
        yield Path(tmp)


def _fit(name: str, module: nn.Module, stream: IterableDataset, cfg: Any, run_dir: str | Path | None,
         log: Callable[[str], None] | None) -> None:
    """Train `module` on `stream` with the Trainer for cfg.train.steps (resuming from run_dir if it holds a run)."""
    start = time.time()
    with _run_dir(run_dir) as path:
        trainer = Trainer(module, stream, cfg.train, path, config=dataclasses.asdict(cfg))
        if log is not None:
            where = "" if run_dir is None else f" in {path}" + (f" from step {trainer.step}" if trainer.step else "")
            log(f"{name}: training {cfg.train.steps} steps{where}")
        metrics = trainer.fit()
    module.cpu().eval()
    if log is not None and metrics:
        log(f"{name}: final loss {metrics['loss']:.3f} ({time.time() - start:.0f}s)")


def train_segmenter(cfg: SegmenterTrainConfig | None = None, run_dir: str | Path | None = None,
                    log: Callable[[str], None] | None = None, init: Segmenter | None = None
                    ) -> tuple[Segmenter, dict[str, float]]:
    """Train from scratch (or fine-tune `init`, whose own network config then applies); returns the model (CPU,
    eval mode) and held-out metrics."""
    cfg = cfg or SegmenterTrainConfig()
    seed = cfg.train.seed
    torch.manual_seed(seed)
    model = init if init is not None else Segmenter(cfg.model)
    stream = ViewStream(seed, cfg.size)
    ids = first_items(stream, _samples(cfg.weight_views, cfg.train))["block_ids"]
    model.class_weight.copy_(class_weights(ids, model.cfg.classes))
    _fit("segmenter", model, stream, cfg, run_dir, log)
    held_frames, held_ids = ViewSampler(seed + 10_007, cfg.size).sample(_samples(cfg.eval_views, cfg.train))
    return model, {"accuracy_gt": accuracy(segment(model, held_frames), held_ids), "steps": float(cfg.train.steps)}


def train_idm(cfg: IDMTrainConfig | None = None, run_dir: str | Path | None = None,
              log: Callable[[str], None] | None = None) -> tuple[InverseDynamics, dict[str, float]]:
    """Train on babbling transitions; returns the model (CPU, eval mode) and held-out metrics."""
    cfg = cfg or IDMTrainConfig()
    seed = cfg.train.seed
    if cfg.players < 1 or cfg.train.batch_size % cfg.players:
        raise ValueError(f"idm train.batch_size={cfg.train.batch_size} is not a multiple of players={cfg.players}")
    torch.manual_seed(seed)
    model = InverseDynamics(cfg.model)
    stream = TransitionStream(seed, cfg.size, cfg.players, cfg.train.batch_size // cfg.players)
    model.pos_weight.copy_(label_weights(first_items(stream, _samples(cfg.rate_transitions, cfg.train))["buttons"]))
    _fit("idm", model, stream, cfg, run_dir, log)
    metrics = evaluate_idm(model, seed + 20_011, _samples(cfg.eval_transitions, cfg.train), cfg.size)
    metrics["steps"] = float(cfg.train.steps)
    return model, metrics


KINDS = ("segmenter", "idm")


def aux_config(kind: str, steps: int | None = None, seed: int | None = None, threads: int | None = None
               ) -> SegmenterTrainConfig | IDMTrainConfig:
    """`kind`'s default training config with the given overrides (None keeps the default); the flags of
    `wm probe train-aux` map onto it here."""
    if kind not in KINDS:
        raise ValueError(f"unknown aux model kind {kind!r}; expected one of {sorted(KINDS)}")
    cfg = SegmenterTrainConfig() if kind == "segmenter" else IDMTrainConfig()
    for key, value in (("steps", steps), ("seed", seed), ("threads", threads)):
        if value is not None:
            setattr(cfg.train, key, value)
    cfg.train.validate()
    return cfg


def train_aux(kind: str, steps: int | None = None, seed: int | None = None,
              log: Callable[[str], None] | None = None, run_dir: str | Path | None = None,
              threads: int | None = None, progress: bool = True) -> tuple[nn.Module, dict[str, float]]:
    """Train one aux model from scratch on rendered BlockWorld data (see aux_config for the overrides)."""
    cfg = aux_config(kind, steps, seed, threads)
    cfg.train.progress = progress
    if isinstance(cfg, SegmenterTrainConfig):
        return train_segmenter(cfg, run_dir, log)
    return train_idm(cfg, run_dir, log)

