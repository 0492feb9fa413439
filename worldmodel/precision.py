"""Mixed precision shared by training and inference: bf16 autocast where this machine runs it fast.

Training autocasts its forward (`worldmodel/train/trainer.py`); inference autocasts only the convolutional nets
of a rollout step (decoder, fusion, encoder, geometry heads; `nets_autocast`), never the geometry of the spatial
memory or the token sampling, which need fp32.
"""

from __future__ import annotations

import contextlib
import functools
import time
from typing import Any

import torch

PRECISIONS = ("auto", "fp32", "bf16")


@functools.cache
def cpu_bf16_fast() -> bool:
    """Whether this CPU multiplies bf16 matrices much faster than fp32 ones: torch's CPU capability names AVX-512 or
    AMX, and a tiny timed probe (256x256 matmuls on one thread, best of 5, about 10 ms once per process) runs bf16
    at least 1.3x faster. AVX-512 CPUs without the bf16 instructions emulate bf16 and fail the probe."""
    capability = torch.backends.cpu.get_cpu_capability()
    if "AVX512" not in capability and "AMX" not in capability:
        return False
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = torch.randn(256, 256)
        seconds = {}
        for dtype in (torch.float32, torch.bfloat16):
            x = a.to(dtype)
            x @ x  # warm up (first call allocates and picks the kernel)
            times = []
            for _ in range(5):
                start = time.perf_counter()
                x @ x
                times.append(time.perf_counter() - start)
            seconds[dtype] = min(times)
    finally:
        torch.set_num_threads(threads)
    return seconds[torch.bfloat16] * 1.3 <= seconds[torch.float32]



def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    """Autocast to `dtype` on `device` (a training forward), or nothing for None (fp32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def nets_autocast(device: torch.device | str, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    """Autocast around a net's forward at inference (its output is cast back to fp32 by the caller)."""
    return autocast(torch.device(device), dtype)


def inference_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype a rollout's nets autocast to (None: fp32) for precision "fp32", "bf16" or "auto" (bf16 on CUDA and
    on CPUs with fast bf16 matmuls)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return None
    if precision == "bf16" or device.type == "cuda" or (device.type == "cpu" and cpu_bf16_fast()):
        return torch.bfloat16
    return None
