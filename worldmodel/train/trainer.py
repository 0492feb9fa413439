"""One training loop for every trainable module: `loss, metrics = module.compute_loss(batch)`.

AdamW with linear warmup + cosine decay, gradient clipping, bf16 autocast with fp32 master weights (train.precision:
on CUDA and on CPUs with fast bf16 matmuls; see docs/training-speed.md), TensorBoard + tqdm on rank 0,
atomic checkpoints every `ckpt_every` steps with automatic resume from the newest one in the run dir, and DDP
when launched by torchrun (gloo on CPU, nccl on CUDA). Checkpoint layout: see worldmodel/checkpoint.py.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset
from tqdm import tqdm

from worldmodel.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint, write_json
from worldmodel.precision import autocast, cpu_bf16_fast
from worldmodel.train.config import TrainConfig
from worldmodel.train.distributed import DistInfo, barrier, cleanup, init_distributed
from worldmodel.train.runlock import ForkSafeRunLock


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate for optimizer step `step` (0-based): linear warmup, then cosine down to lr * min_lr_ratio."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def autocast_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The dtype the training forward autocasts to on `device` (None: plain fp32), from cfg.precision and cfg.amp.
    Weights, gradients and optimizer state stay fp32 either way; bf16 has fp32's range, so no loss scaling."""
    if cfg.precision == "fp32" or (cfg.precision == "auto" and not cfg.amp):
        return None
    if cfg.precision == "bf16" or device.type == "cuda" or (device.type == "cpu" and cpu_bf16_fast()):
        return torch.bfloat16
    return None


def make_optimizer(params: list[nn.Parameter], cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW over `params`: weight decay on matrices and kernels (ndim >= 2) only, not on biases and norms. Fused
    (one kernel for all parameters) on CPU and CUDA: on the bundled tokenizer and dynamics (2M parameters each) a
    CPU step took 10-18 ms instead of 30 (foreach) on 2 threads; same update, same state_dict."""
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in params)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(float(cfg.betas[0]), float(cfg.betas[1])),
        fused=fused or None,
    )


def optimizer_step(params: list[nn.Parameter], optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> Tensor:
    """Clip the gradients of `params` to cfg.grad_clip (0 = no clipping), step, zero them; returns the norm."""
    max_norm = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
    grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return grad_norm


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a nested dict/list batch to `device`."""
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(value, device) for value in batch)
    return batch


def progress_line(step: int, steps: int, done: int, seconds: float, metrics: dict[str, float], lr: float) -> str:
    """A plain progress line (train.progress=false): step, loss, lr, seconds a step and the time left, e.g.
    `step 50/400 (12%) loss=0.1234 lr=1.00e-03 0.52 s/step, ETA 3m02s`."""
    per_step = seconds / max(1, done)
    left = round(per_step * max(0, steps - step))
    eta = f"{left // 3600}h{left % 3600 // 60:02d}m" if left >= 3600 else f"{left // 60}m{left % 60:02d}s"
    return (f"step {step}/{steps} ({100 * step // max(1, steps)}%) loss={metrics.get('loss', float('nan')):.4f} "
            f"lr={lr:.2e} {per_step:.2f} s/step, ETA {eta}")


class _LossModule(nn.Module):
    """Routes forward() to compute_loss, so DDP's forward bookkeeping sees every step."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, batch: dict[str, Any]) -> tuple[Tensor, dict[str, float]]:
        """The wrapped module's (loss, metrics)."""
        return self.module.compute_loss(batch)


class ResumableSampler(DistributedSampler):
    """DistributedSampler that can skip the first `start` samples of its epoch (to resume mid-epoch exactly)."""

    start: int = 0

    def __iter__(self) -> Iterator[int]:
        return iter(list(super().__iter__())[self.start :])

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start)


class Trainer:
    """Train `module` on `dataset` for `cfg.steps` steps, checkpointing into `run_dir` and resuming from it.

    `dataset` is a map-style Dataset (shuffled each epoch, split across DDP ranks) or an IterableDataset (a
    stream, e.g. data rendered on the fly: read in order, batched by cfg.batch_size; under DDP every rank reads
    the same stream unless the dataset splits it itself). Constructing a Trainer already loads the newest
    checkpoint of `run_dir`, if any (`trainer.step` tells where it continues). `on_checkpoint(step_dir)` runs on
    rank 0 after each saved checkpoint (e.g. to export a model).
    """

    def __init__(
        self,
        module: nn.Module,
        dataset: Dataset,
        cfg: TrainConfig,
        run_dir: str | Path,
        config: dict[str, Any] | None = None,
        on_checkpoint: Callable[[Path], None] | None = None,
    ) -> None:
        if not callable(getattr(module, "compute_loss", None)):
            raise ValueError(f"{type(module).__name__} has no compute_loss(batch) method")
        cfg.validate()
        self.cfg, self.run_dir, self.config, self.on_checkpoint = cfg, Path(run_dir), config or {}, on_checkpoint
        self.dist: DistInfo = init_distributed(cfg.device)
        if cfg.threads and self.dist.device.type == "cpu":
            torch.set_num_threads(cfg.threads)
        self.module = module.to(self.dist.device)
        self.params = [p for p in module.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError(f"{type(module).__name__} has no trainable parameters")
        self.optimizer = make_optimizer(self.params, cfg)
        self.amp_dtype = autocast_dtype(cfg, self.dist.device)
        self.dataset = dataset
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.resumed_from: Path | None = None
        self.lock = ForkSafeRunLock(self.run_dir)
        if self.dist.is_main:
            self.lock.acquire()  # held until fit() ends (or the process dies)
        try:
            self._resume()
        except BaseException:
            self.lock.release()
            raise
        wrapped = _LossModule(module)
        if self.dist.world_size > 1:
            ids = [self.dist.device] if self.dist.device.type == "cuda" else None
            wrapped = DistributedDataParallel(
                wrapped, device_ids=ids, find_unused_parameters=cfg.find_unused_parameters
            )
        self.model: nn.Module = wrapped

    # ---- checkpoints ----

    def _resume(self) -> None:
        """Load the newest checkpoint of run_dir (all ranks read it; DDP then starts from identical weights)."""
        path = latest_checkpoint(self.run_dir)
        if path is None:
            return
        state = load_checkpoint(path, self.module)
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except (ValueError, KeyError, RuntimeError) as error:
            raise ValueError(f"{path / 'trainer.pt'}: optimizer state does not match the module ({error})") from error
        self.step = int(state["step"])
        self.epoch = int(state.get("epoch", 0))
        self.batch_in_epoch = int(state.get("batch_in_epoch", 0))
        self.resumed_from = path

    def save(self) -> Path | None:
        """Write a checkpoint of the current step (rank 0) and wait for it on all ranks; returns its dir on rank 0."""
        path = None
        if self.dist.is_main:
            state = {
                "optimizer": self.optimizer.state_dict(),
                "epoch": self.epoch,
                "batch_in_epoch": self.batch_in_epoch,
                "world_size": self.dist.world_size,
            }
            path = save_checkpoint(self.run_dir, self.step, self.module, state, self.config, self.cfg.keep_last)
            if self.on_checkpoint is not None:
                self.on_checkpoint(path)
        barrier(self.dist)
        return path

    # ---- data ----

    def _batches(self) -> Iterator[dict[str, Any]]:
        """Endless batches; epoch and position are tracked so a resumed run continues the same data order."""
        cfg, info = self.cfg, self.dist
        generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + info.rank)
        if isinstance(self.dataset, IterableDataset):
            # A stream has no sampler to fast-forward: a resumed run replays its epoch and skips the batches the
            # checkpoint already trained on (exact for a seeded stream, at the cost of producing them again).
            while True:
                loader = DataLoader(self.dataset, batch_size=cfg.batch_size, num_workers=cfg.num_workers,
                                    drop_last=True, generator=generator)
                used, produced = self.batch_in_epoch, 0
                for batch in loader:
                    produced += 1
                    if produced <= used:
                        continue
                    self.batch_in_epoch += 1
                    yield batch
                if produced == 0:
                    raise ValueError(f"the dataset yielded fewer than train.batch_size={cfg.batch_size} samples")
                self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        per_rank = math.ceil(len(self.dataset) / info.world_size)  # type: ignore[arg-type]
        if per_rank < cfg.batch_size:
            raise ValueError(
                f"dataset has {len(self.dataset)} clips ({per_rank} per rank), fewer than train.batch_size="  # type: ignore[arg-type]
                f"{cfg.batch_size}: collect more data or lower the batch size"
            )
        sampler = ResumableSampler(self.dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True,
                                   seed=cfg.seed)
        while True:
            sampler.set_epoch(self.epoch)
            sampler.start = self.batch_in_epoch * cfg.batch_size
            loader = DataLoader(self.dataset, batch_size=cfg.batch_size, sampler=sampler, drop_last=True,
                                num_workers=cfg.num_workers, generator=generator,
                                pin_memory=info.device.type == "cuda")
            for batch in loader:
                self.batch_in_epoch += 1
                yield batch
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0

    # ---- loop ----

    def _writer(self) -> Any:
        """TensorBoard writer on rank 0, None elsewhere."""
        if not self.dist.is_main:
            return None
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(log_dir=str(self.run_dir / "tb"), purge_step=self.step + 1 if self.step else None)

    @property
    def finished(self) -> bool:
        """Whether the run has reached cfg.steps."""
        return self.step >= self.cfg.steps

    def _out_of_time(self, start: float) -> bool:
        """Whether cfg.max_minutes have passed since `start` (under DDP: on any rank, so all ranks stop together)."""
        if not self.cfg.max_minutes:
            return False
        late = torch.tensor(float(time.perf_counter() - start >= 60.0 * self.cfg.max_minutes))
        if self.dist.world_size > 1:
            import torch.distributed as dist

            late = late.to(self.dist.device)
            dist.all_reduce(late, op=dist.ReduceOp.MAX)
        return bool(late.item())

    def fit(self) -> dict[str, float]:
        """Train until cfg.steps, or until cfg.max_minutes have passed (then `finished` is False and the run resumes
        from the checkpoint saved at the stop); returns the last step's metrics (empty if nothing was left to do)."""
        cfg, info = self.cfg, self.dist
        metrics: dict[str, float] = {}
        if self.finished:
            self.lock.release()
            cleanup(info)
            return metrics
        if info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if self.config:
                write_json(self.run_dir / "config.json", self.config)
        torch.manual_seed(cfg.seed + 1_000_003 * info.rank + 7919 * self.step)
        writer = self._writer()
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not (info.is_main and cfg.progress), dynamic_ncols=True)
        batches = self._batches()
        self.module.train()
        tick = start = time.perf_counter()
        first = self.step
        try:
            while self.step < cfg.steps:
                batch = to_device(next(batches), info.device)
                lr = lr_at(self.step, cfg)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                with autocast(info.device, self.amp_dtype):
                    loss, step_metrics = self.model(batch)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"non-finite loss {loss.item()} at step {self.step}: {step_metrics}")
                loss.backward()
                grad_norm = optimizer_step(self.params, self.optimizer, cfg)
                self.step += 1
                metrics = {"loss": loss.item(), **{k: float(v) for k, v in step_metrics.items()}}
                if info.is_main:
                    bar.set_postfix(loss=f"{metrics['loss']:.4f}", lr=f"{lr:.2e}", refresh=False)
                    bar.update(1)
                    if self.step % cfg.log_every == 0 or self.step == 1:
                        now = time.perf_counter()
                        for key, value in metrics.items():
                            writer.add_scalar(f"train/{key}", value, self.step)
                        writer.add_scalar("train/lr", lr, self.step)
                        writer.add_scalar("train/grad_norm", float(grad_norm), self.step)
                        writer.add_scalar("perf/sec_per_step", (now - tick) / cfg.log_every, self.step)
                        tick = now
                    if not cfg.progress and (self.step % cfg.log_every == 0 or self.step in (first + 1, cfg.steps)):
                        print(progress_line(self.step, cfg.steps, self.step - first, time.perf_counter() - start,
                                            metrics, lr), file=sys.stderr, flush=True)
                    if cfg.media_every and self.step % cfg.media_every == 0 and hasattr(self.module, "log_media"):
                        with torch.no_grad():
                            self.module.log_media(writer, batch, self.step)
                late = self._out_of_time(start)
                if self.step % cfg.ckpt_every == 0 or self.step == cfg.steps or late:
                    self.save()
                if late:
                    break
        finally:
            bar.close()
            if writer is not None:
                writer.close()
            self.lock.release()
        cleanup(info)
        return metrics
