"""`wm bench train`: where a training step spends its time, per precision, beside the machine's matmul peak.

A step is what the Trainer does (worldmodel/train/trainer.py, with its own helpers): forward under the precision's
autocast, backward, clip + optimizer step. The precisions are timed interleaved (one step of each in turn), so the
load of other processes on a shared machine falls on all of them alike; every time is the median over the timed
steps. The breakdown: data (a batch loaded in this process; with train.num_workers >= 1 the Trainer loads it in a
worker instead), forward (compute_loss, less its timed sections: the tokenizer encode of the dynamics, the
rollouts of the fusion and of self-forcing), backward, optimizer. FLOPs of one step (forward + backward) are
counted with torch's FlopCounterMode (matmuls, convolutions and attention); achieved FLOP/s = FLOPs / step time,
beside the peak of square matmuls of the same precision measured in the same run.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from worldmodel.evaluation.train_targets import TrainTarget
from worldmodel.train.trainer import autocast, make_optimizer, optimizer_step, to_device

PRECISION_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}
"""Precision name -> autocast dtype (None: plain fp32)."""

PHASES = ("data", "forward", "backward", "optimizer")
"""The breakdown of a step, besides the target's own sections (which are cut out of forward)."""


def clock(device: torch.device) -> float:
    """perf_counter once the device's queued work is done (CUDA runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def matmul_peak(dtype: torch.dtype, size: int = 1024, repeats: int = 10, device: str | torch.device = "cpu"
                ) -> float:
    """FLOP/s of a (size x size) @ (size x size) matmul in `dtype` (median of `repeats`; on CPU with the current
    threads). Use size >= 4096 on a GPU: 1024 measures launch latency there."""
    device = torch.device(device)
    a, b = (torch.randn(size, size, device=device).to(dtype) for _ in range(2))
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        start = clock(device)
        a @ b
        times.append(clock(device) - start)
    return 2 * size**3 / statistics.median(times)


def _cpu_attention_flops(query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, **kwargs: Any) -> int:
    """FLOPs of the CPU flash-attention kernel (FlopCounterMode has no formula for it): a dense attention's."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_attention_backward_flops(grad_out_shape: Any, query_shape: Any, key_shape: Any, value_shape: Any,
                                  *args: Any, **kwargs: Any) -> int:
    """FLOPs of the CPU flash-attention backward kernel."""
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


CPU_ATTENTION = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops,
                 torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_attention_backward_flops}


class _GlobalOnly:
    """Stands in for FlopCounterMode's module tracker, which fails on modules called under no_grad with views of
    tensors that need grad (the dynamics' metrics do that): only the global total is wanted here."""

    parents = {"Global"}

    def __enter__(self) -> "_GlobalOnly":
        return self

    def __exit__(self, *args: Any) -> None:
        return None


def step_flops(target: TrainTarget, batch: dict[str, Any]) -> int:
    """FLOPs of one forward + backward of the target on `batch` (fp32; autocast does the same work)."""
    counter = FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION)
    counter.mod_tracker = _GlobalOnly()  # type: ignore[assignment]
    with counter:
        loss, _ = target.module.compute_loss(batch)
        loss.backward()
    target.module.zero_grad(set_to_none=True)
    return counter.get_total_flops()


@contextmanager
def timed_sections(target: TrainTarget, device: torch.device) -> Iterator[dict[str, float]]:
    """Within: the target's sections add their wall seconds on `device` to the yielded dict (their methods wrapped
    on the instance; restored on exit)."""
    spent = {name: 0.0 for name in target.sections}
    originals = []
    for name, (owner, method) in target.sections.items():
        original = getattr(owner, method)

        def timed(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            start = clock(device)
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_name] += clock(device) - start

        setattr(owner, method, timed)
        originals.append((owner, method))
    try:
        yield spent
    finally:
        for owner, method in originals:
            delattr(owner, method)  # the class's method shows through again


def bench_train(target: TrainTarget, precisions: list[str], steps: int, warmup: int = 2,
                device: str | torch.device = "cpu") -> dict[str, Any]:
    """Time `steps` training steps of each precision (after `warmup` each), interleaved; with FLOPs and peaks."""
    device = torch.device(device)
    module = target.module.to(device).train()
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, target.train)
    flops = step_flops(target, to_device(next(target.batches), device))
    load_before = os.getloadavg()[0]
    phases: dict[str, dict[str, list[float]]] = {p: {k: [] for k in (*PHASES, *target.sections)} for p in precisions}
    losses: dict[str, float] = {}
    for index in range(warmup + steps):
        for precision in precisions:
            start = clock(device)
            batch = to_device(next(target.batches), device)
            loaded = clock(device)
            with timed_sections(target, device) as spent, autocast(device, PRECISION_DTYPES[precision]):
                loss, _ = module.compute_loss(batch)
            forward = clock(device)
            loss.backward()
            backward = clock(device)
            optimizer_step(params, optimizer, target.train)
            done = clock(device)
            losses[precision] = float(loss.detach())
            if index < warmup:
                continue
            times = phases[precision]
            for name, seconds in (("data", loaded - start), ("forward", forward - loaded - sum(spent.values())),
                                  ("backward", backward - forward), ("optimizer", done - backward), *spent.items()):
                times[name].append(seconds)
    size = 8192 if device.type == "cuda" else 1024
    peaks = {p: matmul_peak(PRECISION_DTYPES[p] or torch.float32, size, device=device) for p in precisions}
    rows = {}
    for precision in precisions:
        median = {name: statistics.median(values) for name, values in phases[precision].items()}
        step = sum(value for name, value in median.items() if name != "data")
        rows[precision] = {"step_ms": 1e3 * step, f"{target.unit}_per_s": target.per_step / step,
                           "breakdown_ms": {name: 1e3 * value for name, value in median.items()},
                           "flop_per_s": flops / step, "peak_flop_per_s": peaks[precision],
                           "peak_fraction": flops / step / peaks[precision], "last_loss": losses[precision]}
    return {"target": target.name, "shape": target.shape, "data": target.data, "unit": target.unit,
            "per_step": target.per_step, "gflop_per_step": flops / 1e9, "threads": torch.get_num_threads(),
            "device": str(device),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""), "load_average": [load_before, os.getloadavg()[0]],
            "steps": steps, "warmup": warmup, "precisions": rows}


def train_table(result: dict[str, Any]) -> str:
    """The result of bench_train as a text table: one row per precision, then the speed-up over fp32."""
    unit, rows = result["unit"], result["precisions"]
    names = list(next(iter(rows.values()))["breakdown_ms"])
    lines = [f"{result['target']}: {result['shape']}; {result['gflop_per_step']:.2f} GFLOP/step; data: "
             f"{result['data']}; {result['device']}, {result['threads']} threads (OMP_WAIT_POLICY={result['omp_wait_policy'] or 'unset'}); "
             f"median of {result['steps']} steps; load average {result['load_average'][0]:.1f} -> "
             f"{result['load_average'][1]:.1f} on {os.cpu_count()} cores",
             f"{'precision':<10}{'step ms':>9}{unit + '/s':>12}" + "".join(f"{n:>11}" for n in names)
             + f"{'GFLOP/s':>9}{'peak':>8}{'of peak':>9}"]
    for precision, row in rows.items():
        lines.append(f"{precision:<10}{row['step_ms']:>9.0f}{row[unit + '_per_s']:>12.0f}"
                     + "".join(f"{row['breakdown_ms'][n]:>11.1f}" for n in names)
                     + f"{row['flop_per_s'] / 1e9:>9.1f}{row['peak_flop_per_s'] / 1e9:>8.0f}"
                     + f"{100 * row['peak_fraction']:>8.0f}%")
    if "fp32" in rows and len(rows) > 1:
        for precision, row in rows.items():
            if precision != "fp32":
                lines.append(f"{precision} vs fp32: {rows['fp32']['step_ms'] / row['step_ms']:.2f}x faster steps")
    return "\n".join(lines)
