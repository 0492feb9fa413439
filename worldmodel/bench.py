"""`wm bench`: speed (frames/s of whole steps) and quality (PSNR against held-out episodes) of a world model.

    wm bench speed   [--model PATH|bundled|random] [--batch 1 64] [--device cpu|cuda] [--threads 2] [--json F]
    wm bench quality --model PATH [PATH ...] --data DIR [--context 4] [--horizons 16 64] [--max-windows 32]
                     [--decoding sample mean] [--json F] [--plot F.png]

Speed times the whole `WorldModel.step` (dynamics + tokenizer decode + copy to numpy) with a full context
window, so the KV cache is at its steady-state size. `--model random` times an untrained model of the default
configuration (no checkpoint needed). Quality reports, each beside the copy-last-frame baseline:
tokenizer reconstruction PSNR, teacher-forced next-frame PSNR, and PSNR over 16- and 64-step open-loop
rollouts driven by the recorded actions (greedy decoding unless --temperature is given; `--decoding mean`
for mean-field rollouts, `--decoding sample mean` for both). Two aggregations:
the mean over windows of the PSNR of each window's mean squared error, and the PSNR of the squared error pooled
over all windows and frames (the one to compare by: a window where nothing moves gives copy-last 100 dB and
lifts its windowed mean by up to 100 / windows dB). Windows: non-overlapping stretches of context +
max(horizons) frames of the store's episodes. SSIM (mean over frames) of the tokenizer and of the open loop
beside copy-last is printed below the table. On BlockWorld stores (depth and pose recorded), reprojection
references follow: what perfect geometry alone scores, no model involved (worldmodel/reprojection.py), and each
open-loop error is split into the pixels visible from the last context frame and the unseen ones, beside the
tokenizer's own error there (worldmodel/bench_split.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any

import numpy as np
import torch

from envs.actions import noop_action, stack_actions
from worldmodel.bench_split import REGIONS, pixel_counts, region_errors, split_summary, split_text
from worldmodel.metrics import psnr_from_mse
from worldmodel.model import WorldModel
from worldmodel.reprojection import GROUND_TRUTH, has_ground_truth, reference_errors


def build_model(spec: str, device: str) -> WorldModel:
    """'bundled', a directory, or 'random' (untrained default configuration, for speed only)."""
    if spec == "random":
        from worldmodel.dynamics import DynamicsConfig, DynamicsModel
        from worldmodel.tokenizer import Tokenizer, TokenizerConfig

        torch.manual_seed(0)
        tokenizer = Tokenizer(TokenizerConfig())
        return WorldModel(tokenizer, DynamicsModel(DynamicsConfig(), tokenizer.vocab_size, tokenizer.grid),
                          {"note": "untrained"}, device)
    return WorldModel.load(None if spec == "bundled" else spec, device=device)


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


def load_windows(data: str, length: int, max_windows: int) -> list[dict[str, Any]]:
    """Non-overlapping windows of `length` frames from the episodes of a store (at most max_windows)."""
    from worldmodel.data import open_dataset

    dataset = open_dataset(data)
    out: list[dict[str, Any]] = []
    for index, entry in enumerate(dataset.episodes):
        if int(entry["length"]) < length:
            continue
        episode = dataset.load(index)
        env_kwargs = entry.get("env_kwargs") or {}
        blockworld = str(entry.get("env_id", "")).startswith("BlockWorld")
        for start in range(0, int(entry["length"]) - length + 1, length):
            acts = episode["actions"]
            window = {"frames": episode["frames"][start:start + length],
                      "actions": None if acts is None else {k: v[start:start + length - 1] for k, v in acts.items()},
                      "fov_deg": float(env_kwargs.get("fov_deg", 70.0)), "hud": bool(env_kwargs.get("hud", True))}
            for key in GROUND_TRUTH:  # BlockWorld stores: lets `reference_errors` bound what a model can do
                window[key] = episode[key][start:start + length] if blockworld and key in episode else None
            out.append(window)
            if len(out) >= max_windows:
                return out
    return out


def _mse(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-frame mean squared error of uint8 frames (..., H, W, 3) -> (...)."""
    return ((pred.astype(np.float32) - target.astype(np.float32)) ** 2).mean(axis=(-3, -2, -1))


def _ssim(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-frame SSIM of uint8 frames (..., H, W, 3) -> (...) (worldmodel.metrics, Gaussian window)."""
    from worldmodel.metrics import ssim

    return ssim(torch.as_tensor(pred), torch.as_tensor(target)).numpy()


def _psnr(mse: np.ndarray) -> np.ndarray:
    """PSNR in dB of uint8 images from their MSE (capped at 100 dB for identical images)."""
    return psnr_from_mse(torch.as_tensor(mse), 255.0).numpy()


def bench_quality(wm: WorldModel, windows: list[dict[str, Any]], context: int, horizon: int,
                  batch: int, visible: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-window MSE arrays: tokenizer (B,), teacher-forced next frame (B,), open loop per step (B, H), and the
    copy-last-frame baselines; SSIM of the tokenizer (B,) and of the open loop and copy-last per step (B, H).
    PSNR is taken of MSEs averaged over frames, so that unchanged frames (infinite PSNR, capped at 100 dB) cannot
    dominate a mean of per-frame PSNRs. With visibility masks (B, H, h, w) of the open-loop targets
    (worldmodel.bench_split), also the open loop's and the tokenizer's squared error summed by region."""
    keys = ("tokenizer", "teacher", "teacher_copy", "open", "open_copy", "tokenizer_ssim", "open_ssim",
            "open_copy_ssim")
    out: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for known in (True, False):
        group = [i for i, w in enumerate(windows) if (w["actions"] is not None) == known]
        for first in range(0, len(group), batch):
            ids = group[first:first + batch]
            chunk = [windows[i] for i in ids]
            frames = np.stack([w["frames"] for w in chunk])  # (B, C+H, H, W, 3)
            acts = {k: np.stack([w["actions"][k] for w in chunk]) for k in chunk[0]["actions"]} if known else None
            step_action = (lambda t: {k: v[:, t] for k, v in acts.items()}) if known else (lambda t: None)
            with torch.inference_mode():
                grids = wm.tokenizer.encode(torch.as_tensor(frames.reshape(-1, *frames.shape[2:])).to(wm.device))
                recon = wm.tokenizer.decode(grids).cpu().numpy().reshape(frames.shape)
            out["tokenizer"].append(_mse(recon, frames).mean(1))
            out["tokenizer_ssim"].append(_ssim(recon, frames).mean(1))
            ctx_actions = None if acts is None else {k: v[:, : context - 1] for k, v in acts.items()}
            wm.seed(0)
            wm.reset(frames[:, :context], ctx_actions)
            teacher = []
            for t in range(context - 1, context - 1 + horizon):
                teacher.append(_mse(wm.step(step_action(t))[0], frames[:, t + 1]))
                wm.observe(frames[:, t + 1])
            out["teacher"].append(np.stack(teacher, 1).mean(1))
            out["teacher_copy"].append(_mse(frames[:, context - 1:-1], frames[:, context:]).mean(1))
            wm.reset(frames[:, :context], ctx_actions)
            rollout = [wm.step(step_action(t))[0] for t in range(context - 1, context - 1 + horizon)]
            out["open"].append(_mse(np.stack(rollout, 1), frames[:, context:]))  # (B, H)
            out["open_ssim"].append(_ssim(np.stack(rollout, 1), frames[:, context:]))  # (B, H)
            last = np.repeat(frames[:, context - 1:context], horizon, axis=1)
            out["open_copy"].append(_mse(last, frames[:, context:]))
            out["open_copy_ssim"].append(_ssim(last, frames[:, context:]))
            if visible is not None:
                _add_regions(out, np.stack(rollout, 1), recon[:, context:], frames[:, context:], visible[ids])
    return {k: np.concatenate(v) for k, v in out.items() if v}


def _add_regions(out: dict[str, list[np.ndarray]], rollout: np.ndarray, recon: np.ndarray, target: np.ndarray,
                 visible: np.ndarray) -> None:
    """Append the open loop's and the tokenizer's region errors and the pixel counts (B, H) to `out`."""
    for name, pred in (("open", rollout), ("tokenizer", recon)):
        for region, sums in region_errors(pred, target, visible).items():
            out.setdefault(f"{name}_{region}", []).append(sums)
    for region, count in pixel_counts(visible).items():
        out.setdefault(f"pixels_{region}", []).append(count)


def _region_split(results: dict[str, np.ndarray], horizon: int) -> dict[str, Any]:
    """Pooled MSE by region over `horizon` steps of the open loop ('model') and the tokenizer."""
    counts = {region: results[f"pixels_{region}"] for region in REGIONS}
    sums = {name: {region: results[f"{key}_{region}"] for region in REGIONS}
            for name, key in (("model", "open"), ("tokenizer", "tokenizer"))}
    return split_summary(sums, counts, horizon)


def quality_table(results: dict[str, np.ndarray], horizons: list[int]) -> tuple[list[tuple], dict[str, Any]]:
    """Rows (key, label, model, copy-last, model pooled, copy-last pooled, windows) and a JSON-able summary.

    Two aggregations of the same errors. 'mean': the mean over windows of the PSNR of each window's mean MSE.
    'pooled': the PSNR of the MSE pooled over all windows and frames. A window where nothing moves gives
    copy-last an error of 0 (PSNR capped at 100 dB), which lifts its windowed mean by up to 100 / windows dB
    no matter how the other windows go; the pooled number has no such cap and is the one to compare models by."""
    mean = lambda mse: float(np.mean(_psnr(mse))) if mse.size else math.nan  # noqa: E731
    pooled = lambda mse: float(_psnr(np.float64(mse.mean()))) if mse.size else math.nan  # noqa: E731
    n = len(results["tokenizer"])
    pairs = [("tokenizer_psnr", "tokenizer reconstruction PSNR", results["tokenizer"], None),
             ("next_frame_psnr", "next-frame PSNR (teacher-forced)", results["teacher"], results["teacher_copy"])]
    for h in horizons:
        pairs.append((f"open_loop_{h}_psnr", f"open-loop {h}-step PSNR", results["open"][:, :h].mean(1),
                      results["open_copy"][:, :h].mean(1)))
    rows = [(key, label, mean(model), math.nan if copy is None else mean(copy), pooled(model),
             math.nan if copy is None else pooled(copy), n) for key, label, model, copy in pairs]
    nan_none = lambda value: None if math.isnan(value) else value  # noqa: E731
    summary: dict[str, Any] = {key: {"model": m, "copy_last": nan_none(c), "model_pooled": mp,
                                     "copy_last_pooled": nan_none(cp), "windows": count}
                               for key, _, m, c, mp, cp, count in rows}
    summary["open_loop_psnr_per_step"] = _psnr(results["open"].mean(0)).round(3).tolist()
    summary["copy_last_psnr_per_step"] = _psnr(results["open_copy"].mean(0)).round(3).tolist()
    if "tokenizer_ssim" in results:
        summary["ssim"] = {"tokenizer": float(results["tokenizer_ssim"].mean()), **{
            f"open_loop_{h}": {"model": float(results["open_ssim"][:, :h].mean()),
                               "copy_last": float(results["open_copy_ssim"][:, :h].mean())} for h in horizons}}
    if "pixels_visible" in results:
        summary["regions"] = {f"open_loop_{h}": _region_split(results, h) for h in horizons}
    summary["static_copy_windows"] = int((results["open_copy"][:, : min(horizons)].mean(1) == 0).sum())
    return rows, summary


def _print_table(rows: list[tuple], static_windows: int) -> None:
    text = lambda value: "-" if math.isnan(value) else f"{value:.2f}"  # noqa: E731
    print(f"{'':<34} {'mean over windows':>20} {'pooled MSE':>20}")
    print(f"{'PSNR (dB)':<34} {'model':>9} {'copy-last':>10} {'model':>9} {'copy-last':>10} {'windows':>8}")
    for _, label, model, copy, model_pooled, copy_pooled, n in rows:
        print(f"{label:<34} {model:>9.2f} {text(copy):>10} {model_pooled:>9.2f} {text(copy_pooled):>10} {n:>8}")
    if static_windows:
        print(f"{static_windows} window(s) do not change over the shortest horizon: copy-last scores 100 dB "
              "there, which inflates its windowed mean; compare by the pooled column")


def main(argv: list[str], prog: str = "wm bench") -> int:
    """Entry point of `wm bench`."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    speed = sub.add_parser("speed", help="frames/s of whole steps at given batch sizes")
    speed.add_argument("--model", default="bundled", help="model directory, 'bundled', or 'random' (untrained)")
    speed.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    speed.add_argument("--steps", type=int, default=0, help="timed steps per batch size (0 = auto)")
    quality = sub.add_parser("quality", help="PSNR against held-out episodes, beside the copy-last-frame baseline")
    quality.add_argument("--model", required=True, nargs="+", help="model directories or 'bundled' (several: "
                         "one table each, one plot)")
    quality.add_argument("--data", required=True, help="episode store of held-out episodes")
    quality.add_argument("--context", type=int, default=4, help="real frames given before predicting")
    quality.add_argument("--horizons", type=int, nargs="+", default=[16, 64])
    quality.add_argument("--max-windows", type=int, default=32)
    quality.add_argument("--batch", type=int, default=16, help="windows rolled out together")
    quality.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (0 = greedy)")
    quality.add_argument("--decoding", nargs="+", choices=("sample", "mean"), default=["sample"],
                         help="'sample': rollouts commit to tokens (greedy at temperature 0); 'mean': mean-field "
                              "rollouts that carry each token's distribution (WorldModel.decoding); several: "
                              "one table each")
    for p in (speed, quality):
        p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
        p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
        p.add_argument("--json", default=None, help="also write the results to this JSON file")
        p.add_argument("--no-fusion", action="store_true",
                       help="decode the tokens alone even if the model has a frame-fusion net (WorldModel.fusion)")
    quality.add_argument("--plot", default=None, help="also plot PSNR per open-loop step to this PNG file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.what == "quality":
        return _quality_main(args, prog)
    try:
        wm = build_model(args.model, args.device)
    except (FileNotFoundError, ValueError) as error:
        print(f"{prog}: {error}\n(use --model random to time an untrained default model)", file=sys.stderr)
        return 2
    wm.fusion = wm.fusion and not args.no_fusion
    _print_model(args.model, wm)
    results = []
    for batch in args.batch:
        r = bench_speed(wm, batch, args.steps or max(5, 200 // batch))
        results.append(r)
        print(f"batch {batch:>4}: {r['frames_per_s']:8.1f} frames/s  ({r['ms_per_step']:.1f} ms/step mean, "
              f"{r['median_ms_per_step']:.1f} median = {r['frames_per_s_median']:.1f} frames/s; tokenizer "
              f"decode alone {r['decode_ms_per_step']:.1f} ms)")
    if args.json:
        _write_json(args.json, {"model": args.model, "device": str(wm.device), "speed": results})
    return 0


def _print_model(spec: str, wm: WorldModel) -> None:
    cfg = wm.dynamics.cfg
    print(f"model {spec}: d_model {cfg.d_model}, {cfg.n_layers} layers, {cfg.n_heads} heads, context "
          f"{cfg.context_frames} frames, {wm.dynamics.tokens} tokens/frame, {cfg.decode_steps} decode steps; "
          f"frame fusion {'on' if wm.fusion else 'off'}; device {wm.device}, {torch.get_num_threads()} threads")


def _write_json(path: str, payload: dict[str, Any]) -> None:
    """Write JSON to a temp name, then rename (no half-written file after a kill)."""
    temp = f"{path}.tmp"
    with open(temp, "w") as handle:
        json.dump(payload, handle, indent=2)
    os.replace(temp, path)


def _quality_main(args: argparse.Namespace, prog: str) -> int:
    """`wm bench quality`: a table per model, then the optional JSON (one model: flat; several: by name) and plot."""
    horizon = max(args.horizons)
    windows = load_windows(args.data, args.context + horizon, args.max_windows)
    if not windows:
        print(f"{prog}: no episode in {args.data} has {args.context + horizon} frames (context + horizon)",
              file=sys.stderr)
        return 2
    references, visible = _references(windows, args.context, args.horizons)
    summaries: dict[str, dict[str, Any]] = {}
    for spec in args.model:
        try:
            wm = build_model(spec, args.device)
        except (FileNotFoundError, ValueError) as error:
            print(f"{prog}: {error}", file=sys.stderr)
            return 2
        wm.fusion = wm.fusion and not args.no_fusion
        _print_model(spec, wm)
        wm.temperature = args.temperature
        for decoding in args.decoding:
            wm.decoding = decoding
            name = spec if args.decoding == ["sample"] else f"{spec} ({decoding})"
            if len(args.decoding) > 1:
                print(f"decoding: {decoding}")
            rows, summary = quality_table(bench_quality(wm, windows, args.context, horizon, args.batch, visible),
                                          args.horizons)
            _print_table(rows, summary["static_copy_windows"])
            ssim_text = ", ".join(f"{h}-step open loop {summary['ssim'][f'open_loop_{h}']['model']:.3f} (copy-last "
                                  f"{summary['ssim'][f'open_loop_{h}']['copy_last']:.3f})" for h in args.horizons)
            print(f"SSIM (mean over frames): tokenizer {summary['ssim']['tokenizer']:.3f}, {ssim_text}")
            for h in args.horizons if "regions" in summary else ():
                print(split_text(summary["regions"][f"open_loop_{h}"], h))
            summaries[name] = {"model": spec, "decoding": decoding, "device": str(wm.device), **summary,
                               **({"references": references} if references else {})}
    if references:
        _print_references(references, args.horizons)
    if args.json:
        _write_json(args.json, next(iter(summaries.values())) if len(summaries) == 1 else {"models": summaries})
    if args.plot:
        from worldmodel.bench_plot import plot_quality

        print(f"plot: {plot_quality(summaries, args.plot)}")
    return 0


def _references(windows: list[dict[str, Any]], context: int, horizons: list[int]
                ) -> tuple[dict[str, Any] | None, np.ndarray | None]:
    """Pooled open-loop PSNR of copy-last and of the reprojection references (worldmodel/reprojection.py) per
    horizon, their per-step curves and their error by region (worldmodel.bench_split), and the visibility masks
    (B, H, h, w) of the open-loop targets; (None, None) unless every window has BlockWorld ground truth."""
    if not all(has_ground_truth(w) for w in windows):
        return None, None
    errors = reference_errors(windows, context, max(horizons), windows[0]["fov_deg"])
    last = np.stack([np.repeat(w["frames"][context - 1:context], max(horizons), 0) for w in windows])  # (B, H, ...)
    target = np.stack([w["frames"][context:] for w in windows])  # (B, H, h, w, 3)
    copy = _mse(last, target)  # (B, H)
    pooled = lambda mse: float(_psnr(np.float64(mse.mean())))  # noqa: E731
    out: dict[str, Any] = {f"open_loop_{h}_psnr": {"copy_last_pooled": pooled(copy[:, :h]),
                                                   "reprojection_pooled": pooled(errors["reprojection"][:, :h]),
                                                   "reprojection_map_pooled": pooled(errors["reprojection_map"][:, :h])}
                           for h in horizons}
    out["reprojection_psnr_per_step"] = _psnr(errors["reprojection"].mean(0)).round(3).tolist()
    out["reprojection_map_psnr_per_step"] = _psnr(errors["reprojection_map"].mean(0)).round(3).tolist()
    out["visible_per_step"] = errors["visible"].mean(0).round(3).tolist()
    out["windows"] = len(windows)
    masks = errors["visible_masks"]
    regions = {"copy-last": region_errors(last, target, masks), "reprojection": errors["reprojection_regions"]}
    out["regions"] = {f"open_loop_{h}": split_summary(regions, pixel_counts(masks), h) for h in horizons}
    return out, masks


def _print_references(references: dict[str, Any], horizons: list[int]) -> None:
    print("References from BlockWorld ground truth, no model (worldmodel/reprojection.py), pooled PSNR:")
    for h in horizons:
        row = references[f"open_loop_{h}_psnr"]
        print(f"  open-loop {h}-step: copy-last {row['copy_last_pooled']:.2f}, reprojection (true depth and poses) "
              f"{row['reprojection_pooled']:.2f}, reprojection + true block types of unseen pixels "
              f"{row['reprojection_map_pooled']:.2f}; visible from the last context frame at step {h}: "
              f"{references['visible_per_step'][h - 1]:.0%}")
        print(f"  {split_text(references['regions'][f'open_loop_{h}'], h)}")
