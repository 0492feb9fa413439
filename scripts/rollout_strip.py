"""A picture of open-loop rollouts: per held-out window, the real frames over each model's frames at a few steps.

    python scripts/rollout_strip.py --model bundled runs/fusion/world_model --data data/bw_heldout \
        --windows 0 5 9 --steps 1 4 8 16 --out strip.png

Rows per window: the real future, then one row per model (greedy, as `wm bench quality --temperature 0`; or
`--decoding mean`); columns: the last context frame, then the chosen open-loop steps. Windows and context as in
`wm bench quality` (non-overlapping windows of context + max(steps) frames).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worldmodel.evaluation.loading import build_model, load_windows  # noqa: E402


def rollout(wm, window: dict, context: int, horizon: int) -> np.ndarray:
    """Open-loop frames (horizon, H, W, 3) of one window from its first `context` frames and recorded actions."""
    actions = window["actions"]
    wm.seed(0)
    wm.reset(window["frames"][:context], {k: v[: context - 1] for k, v in actions.items()})
    frames, _, _ = wm.unroll([{k: v[t] for k, v in actions.items()} for t in range(context - 1, context - 1 + horizon)])
    return frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", required=True, help="model directories or 'bundled'")
    parser.add_argument("--data", required=True, help="episode store of held-out episodes")
    parser.add_argument("--windows", type=int, nargs="+", default=[0, 1, 2], help="window indices to show")
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 4, 8, 16], help="open-loop steps to show")
    parser.add_argument("--context", type=int, default=4)
    parser.add_argument("--decoding", choices=["sample", "mean"], default="sample")
    parser.add_argument("--out", required=True, help="PNG file")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    horizon = max(args.steps)
    windows = load_windows(args.data, args.context + horizon, max(args.windows) + 1)
    if len(windows) <= max(args.windows) or any(w["actions"] is None for w in windows):
        print(f"{args.data}: needs {max(args.windows) + 1} windows of {args.context + horizon} frames with actions",
              file=sys.stderr)
        return 2
    models = []
    for spec in args.model:
        wm = build_model(spec, "cpu")
        wm.temperature, wm.decoding = 0.0, args.decoding
        models.append((spec, wm))
    rows = 1 + len(models)
    fig, axes = plt.subplots(rows * len(args.windows), 1 + len(args.steps),
                             figsize=(1.3 * (1 + len(args.steps)), 1.35 * rows * len(args.windows)), squeeze=False)
    for w_index, window in enumerate(args.windows):
        frames = windows[window]["frames"]
        rolled = [rollout(wm, windows[window], args.context, horizon) for _, wm in models]
        for r, (label, images) in enumerate([("real", frames[args.context:])] +
                                            [(Path(spec).name or spec, out) for (spec, _), out in zip(models, rolled)]):
            row = w_index * rows + r
            axes[row, 0].imshow(frames[args.context - 1])
            axes[row, 0].set_ylabel(label, fontsize=6)
            for c, step in enumerate(args.steps, start=1):
                axes[row, c].imshow(images[step - 1])
                if row == 0:
                    axes[row, c].set_title(f"step {step}", fontsize=7)
        axes[w_index * rows, 0].set_title(f"window {window}: context", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout(pad=0.2)
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(out)  # atomic: no half-written picture
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
