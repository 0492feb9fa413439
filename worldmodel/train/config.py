"""Typed configs of a training run: the optimisation loop (TrainConfig) and where clips come from (DataConfig).

The defaults here are generic; each `wm train` target sets its own in worldmodel/train/runs.py."""

from __future__ import annotations

from dataclasses import dataclass, field

PRECISIONS = ("auto", "fp32", "bf16")
"""Values of TrainConfig.precision."""


@dataclass
class TrainConfig:
    """The generic training loop (worldmodel/train/trainer.py); the `train` group of `wm train` (presets in
    configs/train/)."""

    steps: int = 3000
    """Total optimizer steps (a resumed run continues up to this count)."""
    batch_size: int = 8
    """Clips per step on each process (DDP: per rank)."""
    lr: float = 1e-3
    """Peak learning rate (AdamW)."""
    min_lr_ratio: float = 0.1
    """Cosine decay ends at lr * min_lr_ratio."""
    warmup_steps: int = 100
    """Linear warmup from 0 to lr."""
    weight_decay: float = 0.01
    """AdamW weight decay, applied to weight matrices/kernels only (not biases or norms)."""
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    """AdamW betas."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value (0 = off)."""
    log_every: int = 25
    """Write scalars to TensorBoard every N steps."""
    media_every: int = 500
    """Call module.log_media(writer, batch, step) every N steps (0 = never)."""
    ckpt_every: int = 250
    """Save a checkpoint every N steps (and always at the end)."""
    keep_last: int = 1
    """How many checkpoints to keep (the newest is the one resumed from)."""
    num_workers: int = 0
    """DataLoader worker processes."""
    seed: int = 0
    """Seed of the data order and of torch's RNG inside the loop."""
    amp: bool = True
    """Older switch of mixed precision, kept for old configs: false makes precision "auto" train in fp32."""
    precision: str = "auto"
    """"fp32", "bf16" (autocast to bfloat16 with fp32 master weights, on CPU or CUDA) or "auto": bf16 on CUDA and on
    CPUs that run bf16 matmuls fast (AVX-512 or AMX with bf16, checked by a timed probe), else fp32."""
    device: str = "auto"
    """"auto" (CUDA if available, else CPU), "cpu" or "cuda"."""
    find_unused_parameters: bool = False
    """DDP: set when some parameters get no gradient in some steps."""
    progress: bool = True
    """Show a tqdm progress bar (rank 0)."""
    threads: int = 0
    """torch.set_num_threads on CPU (0 = leave torch's default)."""
    max_minutes: float = 0.0
    """Stop after this many minutes of this invocation (checkpoint saved; running again resumes there), so a long
    run goes in stages; 0 = no limit. The learning-rate schedule still follows `steps`."""

    def validate(self) -> None:
        """Raise ValueError naming the offending key."""
        for key in ("steps", "batch_size", "log_every", "ckpt_every", "keep_last"):
            if getattr(self, key) < 1:
                raise ValueError(f"train config '{key}' must be >= 1, got {getattr(self, key)}")
        for key in ("warmup_steps", "media_every", "num_workers", "grad_clip", "weight_decay", "threads",
                    "max_minutes"):
            if getattr(self, key) < 0:
                raise ValueError(f"train config '{key}' must be >= 0, got {getattr(self, key)}")
        if self.lr <= 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("train config 'lr' must be > 0 and 'min_lr_ratio' in [0, 1]")
        if len(self.betas) != 2:
            raise ValueError(f"train config 'betas' must have 2 values, got {list(self.betas)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"train config 'precision' must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"train config 'device' must be auto, cpu or cuda, got {self.device!r}")


@dataclass
class DataConfig:
    """Where training clips come from: `worldmodel.data.open_dataset(path).clips(clip_len, seed)`; the `data` group of
    `wm train` (presets in configs/data/)."""

    path: str = "data/blockworld"
    """Episode store directory (written by `wm collect` or `wm import`)."""
    clip_len: int = 4
    """Frames per clip."""
    seed: int = 0
    """Seed of the clip sampler."""
    event_repeat: int = 0
    """List clips holding a reward or an episode end this many extra times (sparse-reward tasks, e.g. 10)."""
    pad_end: int = 0
    """Also take clips that run up to this many transitions past an episode's end (at most clip_len - 2; padded,
    and left out of the losses), so an episode's last transition sits at every clip position, not only the last.
    Without it a reward or termination head can learn the position instead of the event."""
    split: str = ""
    """Part of the store's split.json (`wm data split`) to read: "train", "held_out", or "" for every episode."""

    def validate(self) -> None:
        """Raise ValueError naming the offending key."""
        if self.split not in ("", "train", "held_out"):
            raise ValueError(f"data config 'split' must be '', 'train' or 'held_out', got {self.split!r}")
