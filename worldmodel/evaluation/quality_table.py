"""The numbers `wm bench quality` prints: per-window errors of `bench_quality` -> PSNR and SSIM per horizon.

Two aggregations of the same errors. 'mean': the mean over windows of the PSNR of each window's mean MSE.
'pooled': the PSNR of the MSE pooled over all windows and frames. A window where nothing moves gives copy-last an
error of 0 (PSNR capped at 100 dB), which lifts its windowed mean by up to 100 / windows dB no matter how the
other windows go; the pooled number has no such cap and is the one to compare models by.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from worldmodel.evaluation.regions import REGIONS, split_summary, split_text
from worldmodel.evaluation.scores import pooled_psnr, psnr, psnr_curve


def _region_split(results: dict[str, np.ndarray], horizon: int) -> dict[str, Any]:
    """Pooled MSE by region over `horizon` steps of the open loop ('model') and the tokenizer."""
    counts = {region: results[f"pixels_{region}"] for region in REGIONS}
    sums = {name: {region: results[f"{key}_{region}"] for region in REGIONS}
            for name, key in (("model", "open"), ("tokenizer", "tokenizer"))}
    return split_summary(sums, counts, horizon)


def quality_table(results: dict[str, np.ndarray], horizons: list[int]) -> tuple[list[tuple], dict[str, Any]]:
    """Rows (key, label, model, copy-last, model pooled, copy-last pooled, windows) and a JSON-able summary
    (both aggregations: see the module docstring)."""
    mean = lambda mse: float(np.mean(psnr(mse))) if mse.size else math.nan  # noqa: E731
    n = len(results["tokenizer"])
    pairs = [("tokenizer_psnr", "tokenizer reconstruction PSNR", results["tokenizer"], None),
             ("next_frame_psnr", "next-frame PSNR (teacher-forced)", results["teacher"], results["teacher_copy"])]
    for h in horizons:
        pairs.append((f"open_loop_{h}_psnr", f"open-loop {h}-step PSNR", results["open"][:, :h].mean(1),
                      results["open_copy"][:, :h].mean(1)))
    rows = [(key, label, mean(model), math.nan if copy is None else mean(copy), pooled_psnr(model),
             math.nan if copy is None else pooled_psnr(copy), n) for key, label, model, copy in pairs]
    nan_none = lambda value: None if math.isnan(value) else value  # noqa: E731
    summary: dict[str, Any] = {key: {"model": m, "copy_last": nan_none(c), "model_pooled": mp,
                                     "copy_last_pooled": nan_none(cp), "windows": count}
                               for key, _, m, c, mp, cp, count in rows}
    summary["open_loop_psnr_per_step"] = psnr_curve(results["open"])
    summary["copy_last_psnr_per_step"] = psnr_curve(results["open_copy"])
    if "tokenizer_ssim" in results:
        summary["ssim"] = {"tokenizer": float(results["tokenizer_ssim"].mean()), **{
            f"open_loop_{h}": {"model": float(results["open_ssim"][:, :h].mean()),
                               "copy_last": float(results["open_copy_ssim"][:, :h].mean())} for h in horizons}}
    if "pixels_visible" in results:
        summary["regions"] = {f"open_loop_{h}": _region_split(results, h) for h in horizons}
    summary["static_copy_windows"] = int((results["open_copy"][:, : min(horizons)].mean(1) == 0).sum())
    return rows, summary


def print_quality(rows: list[tuple], summary: dict[str, Any], horizons: list[int]) -> None:
    """Print the table of `quality_table`, its SSIM line and, on BlockWorld stores, the error by region."""
    text = lambda value: "-" if math.isnan(value) else f"{value:.2f}"  # noqa: E731
    print(f"{'':<34} {'mean over windows':>20} {'pooled MSE':>20}")
    print(f"{'PSNR (dB)':<34} {'model':>9} {'copy-last':>10} {'model':>9} {'copy-last':>10} {'windows':>8}")
    for _, label, model, copy, model_pooled, copy_pooled, n in rows:
        print(f"{label:<34} {model:>9.2f} {text(copy):>10} {model_pooled:>9.2f} {text(copy_pooled):>10} {n:>8}")
    if summary["static_copy_windows"]:
        print(f"{summary['static_copy_windows']} window(s) do not change over the shortest horizon: copy-last "
              "scores 100 dB there, which inflates its windowed mean; compare by the pooled column")
    ssim = summary["ssim"]
    ssim_text = ", ".join(f"{h}-step open loop {ssim[f'open_loop_{h}']['model']:.3f} (copy-last "
                          f"{ssim[f'open_loop_{h}']['copy_last']:.3f})" for h in horizons)
    print(f"SSIM (mean over frames): tokenizer {ssim['tokenizer']:.3f}, {ssim_text}")
    for h in horizons if "regions" in summary else ():
        print(split_text(summary["regions"][f"open_loop_{h}"], h))
