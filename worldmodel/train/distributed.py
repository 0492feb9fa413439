"""torchrun-style process groups: read RANK / WORLD_SIZE / LOCAL_RANK from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    """Where this process sits in the job."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool
    """True when this process created the process group (and should destroy it)."""

    @property
    def is_main(self) -> bool:
        """Rank 0 logs and saves."""
        return self.rank == 0


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """"auto" -> CUDA (the local rank's GPU) when available, else CPU."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("train config 'device' is 'cuda' but no CUDA device is available")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def init_distributed(device_name: str = "auto") -> DistInfo:
    """Join the process group described by torchrun's env vars (WORLD_SIZE > 1), or run single-process.

    Backend: nccl on CUDA, gloo on CPU. MASTER_ADDR / MASTER_PORT come from the environment (env:// init).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    device = pick_device(device_name, local_rank)
    if world_size <= 1:
        return DistInfo(0, 1, 0, device, owns_group=False)
    owns = not dist.is_initialized()
    if owns:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", init_method="env://")
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, device, owns_group=owns)


def barrier(info: DistInfo) -> None:
    """Wait for all ranks (no-op single-process)."""
    if info.world_size > 1:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    """Destroy the process group if this process created it."""
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()
