"""`wm bench speed`: frames/s of the whole `WorldModel.step` (dynamics + tokenizer decode + copy to numpy).

Each step runs with a full context window, so the KV cache is at its steady-state size.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from envs.actions import noop_action, stack_actions
from worldmodel.model import WorldModel


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_speed(wm: WorldModel, batch: int, steps: int, warmup: int = 3) -> dict[str, float]:
    """Frames/s of whole steps for `batch` worlds after a full-window random context."""
    h, w, _ = wm.frame_shape
    context = wm.dynamics.cfg.context_frames
    rng = np.random.default_rng(0)
    wm.seed(0)
    wm.reset(rng.integers(0, 256, (batch, context, h, w, 3), dtype=np.uint8))
    action = stack_actions([noop_action()] * batch)
    action["forward"][:] = 1
    for _ in range(warmup):
        wm.step(action)
    _sync(wm.device)
    times = []
    for _ in range(steps):  # per-step times: the median is robust to other processes sharing the CPU
        start = time.perf_counter()
        wm.step(action)
        _sync(wm.device)
        times.append(time.perf_counter() - start)
    seconds, median = sum(times), float(np.median(times))
    tokens = torch.zeros(batch, *wm.dynamics.grid, dtype=torch.long, device=wm.device)
    with torch.inference_mode():
        start = time.perf_counter()
        for _ in range(steps):
            wm.tokenizer.decode(tokens).cpu()
        _sync(wm.device)
        decode = time.perf_counter() - start
    return {"batch": batch, "steps": steps, "ms_per_step": 1000 * seconds / steps,
            "frames_per_s": batch * steps / seconds, "median_ms_per_step": 1000 * median,
            "frames_per_s_median": batch / median, "decode_ms_per_step": 1000 * decode / steps}


def speed_text(result: dict[str, float]) -> str:
    """One printed line of a `bench_speed` result."""
    r = result
    return (f"batch {r['batch']:>4}: {r['frames_per_s']:8.1f} frames/s  ({r['ms_per_step']:.1f} ms/step mean, "
            f"{r['median_ms_per_step']:.1f} median = {r['frames_per_s_median']:.1f} frames/s; tokenizer "
            f"decode alone {r['decode_ms_per_step']:.1f} ms)")
