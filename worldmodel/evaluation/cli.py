"""`wm bench`: speed (frames/s of whole steps) and quality (PSNR against held-out episodes) of a world model.

    wm bench speed   [--model PATH|bundled|random] [--batch 1 64] [--device cpu|cuda] [--threads 2] [--json F]
    wm bench quality --model PATH [PATH ...] --data DIR [--context 4] [--horizons 16 64] [--max-windows 32]
                     [--split held_out] [--spread] [--decoding sample mean] [--json F] [--plot F.png]
    wm bench train   --target tokenizer|dynamics|fusion|agent [--size bundled|gpu|tiny] [--steps 10]
                     [--threads 2] [--precision fp32 bf16] [--device cpu|cuda] [--rollout-frames 0] [--token-cache] [--json F]

Speed times the whole `WorldModel.step` (speed.py). `--model random` times an untrained model of the default
configuration (no checkpoint needed). Quality reports, each beside the copy-last-frame baseline:
tokenizer reconstruction PSNR, teacher-forced next-frame PSNR, and PSNR over 16- and 64-step open-loop
rollouts driven by the recorded actions (quality.py; greedy decoding unless --temperature is given;
`--decoding mean` for mean-field rollouts, `--decoding sample mean` for both), as a windowed mean and pooled
(quality_table.py: compare by the pooled column). Windows: non-overlapping stretches of context +
max(horizons) frames of the store's episodes (loading.py). SSIM (mean over frames) of the tokenizer and of the
open loop beside copy-last is printed below the table. On BlockWorld stores (depth and pose recorded),
reprojection references follow: what perfect geometry alone scores, no model involved (reprojection.py,
references.py), and each open-loop error is split into the pixels visible from the last context frame and the
unseen ones, beside the tokenizer's own error there (regions.py). Train times training steps of one module per
precision, with a breakdown and the FLOP/s achieved against the machine's matmul peak (train_speed.py,
train_targets.py; the agent's target is built in agents/bench_train.py and handed over by the `wm` dispatcher).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import torch

from worldmodel.evaluation.loading import build_model, load_windows
from worldmodel.evaluation.quality import bench_quality
from worldmodel.evaluation.quality_table import print_quality, quality_table
from worldmodel.evaluation.references import print_references, reference_summary
from worldmodel.evaluation.speed import bench_speed, speed_text
from worldmodel.evaluation.train_speed import PRECISION_DTYPES
from worldmodel.evaluation.train_targets import SIZES, TARGETS, TrainTarget
from worldmodel.model import WorldModel
from worldmodel.precision import PRECISIONS, inference_dtype


def _parser(prog: str, more_targets: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    """The flags of `wm bench speed`, `wm bench quality` and `wm bench train` (its --target: TARGETS and
    more_targets)."""
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
    quality.add_argument("--split", choices=("train", "held_out"), default=None,
                         help="only this part of the store's split.json (`wm data split`)")
    quality.add_argument("--spread", action="store_true",
                         help="take windows in turn from every episode (default: in episode order up to the cap)")
    quality.add_argument("--batch", type=int, default=16, help="windows rolled out together")
    quality.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (0 = greedy)")
    quality.add_argument("--decoding", nargs="+", choices=("sample", "mean"), default=["sample"],
                         help="'sample': rollouts commit to tokens (greedy at temperature 0); 'mean': mean-field "
                              "rollouts that carry each token's distribution (WorldModel.decoding); several: "
                              "one table each")
    for p in (speed, quality):
        p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
        p.add_argument("--no-fusion", action="store_true",
                       help="decode the tokens alone even if the model has a frame-fusion net (WorldModel.fusion)")
        p.add_argument("--no-memory", action="store_true",
                       help="roll out without the spatial memory even if the model has geometry heads "
                            "(WorldModel.memory)")
        p.add_argument("--precision", choices=PRECISIONS, default="auto",
                       help="the step's convolutional nets in fp32, bf16, or auto: bf16 where this machine runs it "
                            "fast (WorldModel.precision)")
    train = sub.add_parser("train", help="training step time per precision, its breakdown and FLOP utilisation")
    train.add_argument("--target", required=True, choices=TARGETS + more_targets)
    train.add_argument("--size", default="bundled", choices=SIZES,
                       help="bundled: the shipped architecture, batches of the cpu recipe; gpu: the gpu recipe's")
    train.add_argument("--steps", type=int, default=10, help="timed steps per precision (after 2 warm-up steps)")
    train.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=list(PRECISION_DTYPES))
    train.add_argument("--device", default="cpu", help="cpu or cuda (timed with a sync at every phase boundary)")
    train.add_argument("--rollout-frames", type=int, default=0,
                       help="dynamics: self-forcing with this many rolled-out frames (model.rollout_frames)")
    train.add_argument("--token-cache", action="store_true",
                       help="dynamics: read tokens encoded once before the timed steps (what `wm train dynamics` "
                            "does by default) instead of encoding every clip at every step")
    for p in (speed, quality, train):
        p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
        p.add_argument("--json", default=None, help="also write the results to this JSON file")
    quality.add_argument("--plot", default=None, help="also plot PSNR per open-loop step to this PNG file")
    return parser


def main(argv: list[str], prog: str = "wm bench",
         targets: Mapping[str, Callable[[str], TrainTarget]] | None = None) -> int:
    """Entry point of `wm bench`; `targets`: more `wm bench train` targets, name -> builder(size) (the `wm`
    dispatcher adds the agent's, which worldmodel may not import)."""
    targets = dict(targets or {})
    args = _parser(prog, tuple(targets)).parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.what == "quality":
        return _quality_main(args, prog)
    if args.what == "train":
        return _train_main(args, prog, targets)
    return _speed_main(args, prog)


def _load_model(spec: str, args: argparse.Namespace, prog: str, hint: str = "") -> WorldModel | None:
    """The model `spec` on --device, frame fusion off with --no-fusion, its line printed; None (error printed)
    when it cannot be loaded."""
    try:
        wm = build_model(spec, args.device)
    except (FileNotFoundError, ValueError) as error:
        print(f"{prog}: {error}{hint}", file=sys.stderr)
        return None
    wm.fusion = wm.fusion and not args.no_fusion
    wm.memory = wm.memory and not args.no_memory
    wm.precision = args.precision
    cfg = wm.dynamics.cfg
    print(f"model {spec}: d_model {cfg.d_model}, {cfg.n_layers} layers, {cfg.n_heads} heads, context "
          f"{cfg.context_frames} frames, {wm.dynamics.tokens} tokens/frame, {cfg.decode_steps} decode steps; "
          f"frame fusion {'on' if wm.fusion else 'off'}, spatial memory {'on' if wm.memory else 'off'}; "
          f"device {wm.device}, {torch.get_num_threads()} threads, nets in {_precision_name(wm)}")
    return wm


def _precision_name(wm: WorldModel) -> str:
    """What the model's step nets run in: 'fp32' or 'bf16' (resolving 'auto' on this machine)."""
    return "bf16" if inference_dtype(wm.precision, wm.device) is not None else "fp32"


def _write_json(path: str, payload: dict[str, Any]) -> None:
    """Write JSON to a temp name in the same folder, then rename (no half-written file after a kill); mode 0644."""
    temp = f"{path}.tmp"
    with open(temp, "w") as handle:
        json.dump(payload, handle, indent=2)
    os.chmod(temp, 0o644)
    os.replace(temp, path)


def _speed_main(args: argparse.Namespace, prog: str) -> int:
    """`wm bench speed`: one line per batch size, then the optional JSON."""
    wm = _load_model(args.model, args, prog, "\n(use --model random to time an untrained default model)")
    if wm is None:
        return 2
    results = []
    for batch in args.batch:
        results.append(bench_speed(wm, batch, args.steps or max(5, 200 // batch)))
        print(speed_text(results[-1]))
    if args.json:
        _write_json(args.json, {"model": args.model, "device": str(wm.device), "speed": results})
    return 0


def _quality_main(args: argparse.Namespace, prog: str) -> int:
    """`wm bench quality`: a table per model, then the optional JSON (one model: flat; several: by name) and plot."""
    horizon = max(args.horizons)
    try:
        windows = load_windows(args.data, args.context + horizon, args.max_windows, args.split, args.spread)
    except ValueError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    if not windows:
        print(f"{prog}: no episode in {args.data} has {args.context + horizon} frames (context + horizon)",
              file=sys.stderr)
        return 2
    references, visible = reference_summary(windows, args.context, args.horizons)
    summaries: dict[str, dict[str, Any]] = {}
    for spec in args.model:
        wm = _load_model(spec, args, prog)
        if wm is None:
            return 2
        wm.temperature = args.temperature
        for decoding in args.decoding:
            wm.decoding = decoding
            name = spec if args.decoding == ["sample"] else f"{spec} ({decoding})"
            if len(args.decoding) > 1:
                print(f"decoding: {decoding}")
            rows, summary = quality_table(bench_quality(wm, windows, args.context, horizon, args.batch, visible),
                                          args.horizons)
            print_quality(rows, summary, args.horizons)
            summaries[name] = {"model": spec, "decoding": decoding, "device": str(wm.device), **summary,
                               **({"references": references} if references else {})}
    if references:
        print_references(references, args.horizons)
    if args.json:
        _write_json(args.json, next(iter(summaries.values())) if len(summaries) == 1 else {"models": summaries})
    if args.plot:
        from worldmodel.evaluation.plot import plot_quality

        print(f"plot: {plot_quality(summaries, args.plot)}")
    return 0


def _train_main(args: argparse.Namespace, prog: str, targets: dict[str, Callable[[str], TrainTarget]]) -> int:
    """`wm bench train`: record a tiny store, build the target (one of `targets`: by its builder), time it per
    precision; the table, optional JSON."""
    import tempfile
    from datetime import datetime, timezone
    from pathlib import Path

    from worldmodel.evaluation.train_speed import bench_train, train_table
    from worldmodel.evaluation.train_targets import SIZE, build_target, record_store

    if args.steps < 1 or args.rollout_frames < 0:
        print(f"{prog}: --steps must be >= 1 and --rollout-frames >= 0", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="wm_bench_train_") as temp:
        def store(clip_len: int, batch: int) -> Path:
            return record_store(Path(temp) / f"store_{clip_len}_{batch}", 2, clip_len + batch, SIZE[args.size].frame)

        if args.target in targets:
            target = targets[args.target](args.size)
        else:
            target = build_target(args.target, args.size, store, args.rollout_frames, args.token_cache)
        result = bench_train(target, list(dict.fromkeys(args.precision)), args.steps, device=args.device)
    result.update(size=args.size, date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  cpu_capability=torch.backends.cpu.get_cpu_capability(), torch=torch.__version__)
    print(train_table(result))
    if args.json:
        _write_json(args.json, result)
    return 0
