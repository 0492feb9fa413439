"""Held-out accuracy of the spatial memory's depth and odometry heads (`wm train geometry`).

    python scripts/bench_geometry.py --heads runs/geometry/geometry --data data/bw_heldout [--clips 64]

Depth on surface pixels: mean absolute relative error, the share within 10% and within 25% of the truth, and the
sky accuracy; odometry: the mean error of the predicted per-tick move against the true move (blocks) (from both frames, and
the open-loop motion net from the frame before only), beside the true move's mean size and the error of predicting no move at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worldmodel.data import open_dataset  # noqa: E402
from worldmodel.dynamics.actions import action_tensors  # noqa: E402
from worldmodel.memory.geometry_heads import action_features, load_geometry, yaw_frame_translation  # noqa: E402


@torch.no_grad()
def evaluate(heads_dir: Path, data: Path, clips: int, clip_len: int) -> dict[str, float]:
    """Accuracy of the heads over `clips` evenly spread held-out clips."""
    heads = load_geometry(heads_dir)
    dataset = open_dataset(data).clips(clip_len, ground_truth=True)
    step = max(1, len(dataset) // clips)
    sums: dict[str, float] = {}
    count = 0
    for index in range(0, len(dataset), step)[:clips]:
        item = dataset[index]
        frames, depth_true = torch.as_tensor(item["frames"]), torch.as_tensor(item["depth"]).float()
        depth, sky_logit = heads.depth(frames)
        sky = ~torch.isfinite(depth_true) | (depth_true > heads.cfg.max_depth)
        surface = ~sky
        rel = ((depth - depth_true).abs() / depth_true.clamp_min(1e-3))[surface]
        buttons, camera = action_tensors({k: torch.as_tensor(v) for k, v in item["actions"].items()})
        action = action_features(buttons, camera)
        moved = heads.odometry(frames[:-1], frames[1:], action)
        expected = heads.motion(frames[:-1], action)
        true_move = yaw_frame_translation(torch.as_tensor(item["pose"]).float())
        values = {"depth_abs_rel": rel.sum().item(), "depth_within_10pct": (rel < 0.1).sum().item(),
                  "depth_within_25pct": (rel < 0.25).sum().item(), "surface_pixels": float(rel.numel()),
                  "sky_accuracy": ((sky_logit > 0) == sky).float().mean().item(),
                  "move_error": (moved - true_move).norm(dim=-1).mean().item(),
                  "motion_error": (expected - true_move).norm(dim=-1).mean().item(),
                  "move_true": true_move.norm(dim=-1).mean().item()}
        for key, value in values.items():
            sums[key] = sums.get(key, 0.0) + value
        count += 1
    pixels = max(sums.pop("surface_pixels"), 1.0)  # depth metrics pool surface pixels over all clips
    out = {key: value / (pixels if key.startswith("depth") else count) for key, value in sums.items()}
    return out | {"clips": count}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--heads", type=Path, required=True, help="RUN_DIR/geometry of `wm train geometry`")
    parser.add_argument("--data", type=Path, required=True, help="held-out episode store with ground truth")
    parser.add_argument("--clips", type=int, default=64, help="clips to score (default 64)")
    parser.add_argument("--clip-len", type=int, default=4, help="frames per clip (default 4)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(json.dumps(evaluate(args.heads, args.data, args.clips, args.clip_len), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
