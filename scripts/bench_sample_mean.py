"""Open-loop PSNR of one sampled rollout, of the greedy rollout, and of the mean of K sampled rollouts.

PSNR rewards the conditional mean: where the future is uncertain, a sharp guess that is a little off costs more
than a blur. The mean of K rollouts sampled at `--temperature` approximates the mean of the model's predictive
distribution, so the gap between it and one sample says how much of the open-loop error is the model committing to
one guess rather than predicting wrongly. Windows and pooling as `wm bench quality` (pooled over windows and steps).

    python scripts/bench_sample_mean.py --model bundled --data data/bw_heldout --samples 8 --temperature 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worldmodel.evaluation.loading import build_model, load_windows  # noqa: E402
from worldmodel.metrics import psnr_from_mse  # noqa: E402


def rollouts(wm, frames: np.ndarray, actions: dict[str, np.ndarray], context: int, horizon: int) -> np.ndarray:
    """Open-loop frames (B, horizon, H, W, 3) float32 from the first `context` frames and the recorded actions."""
    wm.seed(0)
    wm.reset(frames[:, :context], {k: v[:, : context - 1] for k, v in actions.items()})
    script = [{k: v[:, t] for k, v in actions.items()} for t in range(context - 1, context - 1 + horizon)]
    return wm.unroll(script)[0].astype(np.float32)


def pooled_psnr(pred: np.ndarray, target: np.ndarray) -> float:
    """PSNR (dB) of the squared error pooled over every frame and window."""
    return float(psnr_from_mse(torch.tensor(float(((pred - target) ** 2).mean())), 255.0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="bundled", help="bundled or a world model directory")
    parser.add_argument("--data", required=True, help="store of held-out episodes with actions")
    parser.add_argument("--samples", type=int, default=8, help="K rollouts per window, averaged (default 8)")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1)")
    parser.add_argument("--context", type=int, default=4)
    parser.add_argument("--horizon", type=int, default=16)
    parser.add_argument("--max-windows", type=int, default=16, help="windows of context + 64 frames, as wm bench")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args(argv)
    if args.samples < 1:
        parser.error("--samples must be at least 1")
    torch.set_num_threads(args.threads)
    windows = [w for w in load_windows(args.data, args.context + 64, args.max_windows) if w["actions"] is not None]
    if not windows:
        print(f"no window of {args.context + 64} frames with actions in {args.data}", file=sys.stderr)
        return 2
    wm = build_model(args.model, "cpu")
    frames = np.stack([w["frames"] for w in windows])  # (B, T, H, W, 3)
    actions = {k: np.stack([w["actions"][k] for w in windows]) for k in windows[0]["actions"]}
    target = frames[:, args.context:args.context + args.horizon].astype(np.float32)
    wm.temperature = 0.0
    greedy = rollouts(wm, frames, actions, args.context, args.horizon)
    wm.temperature = args.temperature
    repeat = lambda x: np.repeat(x, args.samples, axis=0)  # noqa: E731  (B*K worlds, one forward)
    sampled = rollouts(wm, repeat(frames), {k: repeat(v) for k, v in actions.items()}, args.context, args.horizon)
    sampled = sampled.reshape(len(windows), args.samples, *sampled.shape[1:])  # (B, K, horizon, H, W, 3)
    copy = np.repeat(frames[:, args.context - 1:args.context].astype(np.float32), args.horizon, axis=1)
    result = {"model": args.model, "windows": len(windows), "horizon": args.horizon, "samples": args.samples,
              "temperature": args.temperature, "greedy": pooled_psnr(greedy, target),
              "one_sample": pooled_psnr(sampled[:, 0], target), "sample_mean": pooled_psnr(sampled.mean(1), target),
              "copy_last": pooled_psnr(copy, target)}
    print(f"{args.horizon}-step open loop, pooled PSNR over {len(windows)} windows: greedy {result['greedy']:.2f}, "
          f"one sample {result['one_sample']:.2f}, mean of {args.samples} samples {result['sample_mean']:.2f} "
          f"(temperature {args.temperature}), copy-last {result['copy_last']:.2f}")
    if args.json:
        temp = f"{args.json}.tmp"
        with open(temp, "w") as handle:
            json.dump(result, handle, indent=2)
        os.replace(temp, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
