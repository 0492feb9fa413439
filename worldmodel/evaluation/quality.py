"""`wm bench quality`: rollouts of a world model over held-out windows, against the recorded frames.

Per window of context + horizon frames: the tokenizer's reconstruction, a teacher-forced pass (each step sees the
real previous frame) and an open loop driven by the recorded actions (it never sees a real frame after the
context), each beside the copy-last-frame baseline. Errors are returned per window (and per step for the open
loop); quality_table.py turns them into PSNR.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from worldmodel.evaluation.regions import pixel_counts, region_errors
from worldmodel.evaluation.scores import frame_mse, frame_ssim
from worldmodel.model import WorldModel

ActionAt = Callable[[int], dict[str, np.ndarray] | None]  # recorded action of step t (None: no actions)


def open_loop_frames(wm: WorldModel, action_at: ActionAt, first: int, horizon: int) -> np.ndarray:
    """Frames (B, horizon, H, W, 3) of an open loop from the model's current state: step t of
    first .. first + horizon - 1 takes `action_at(t)` and no real frame."""
    frames, _, _ = wm.unroll([action_at(t) for t in range(first, first + horizon)])
    return frames


def bench_quality(wm: WorldModel, windows: list[dict[str, Any]], context: int, horizon: int,
                  batch: int, visible: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-window MSE arrays: tokenizer (B,), teacher-forced next frame (B,), open loop per step (B, H), and the
    copy-last-frame baselines; SSIM of the tokenizer (B,) and of the open loop and copy-last per step (B, H).
    With visibility masks (B, H, h, w) of the open-loop targets (worldmodel.evaluation.regions), also the open
    loop's and the tokenizer's squared error summed by region."""
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
            out["tokenizer"].append(frame_mse(recon, frames).mean(1))
            out["tokenizer_ssim"].append(frame_ssim(recon, frames).mean(1))
            ctx_actions = None if acts is None else {k: v[:, : context - 1] for k, v in acts.items()}
            wm.seed(0)
            wm.reset(frames[:, :context], ctx_actions)
            teacher = []
            for t in range(context - 1, context - 1 + horizon):
                teacher.append(frame_mse(wm.step(step_action(t))[0], frames[:, t + 1]))
                wm.observe(frames[:, t + 1])
            out["teacher"].append(np.stack(teacher, 1).mean(1))
            out["teacher_copy"].append(frame_mse(frames[:, context - 1:-1], frames[:, context:]).mean(1))
            wm.reset(frames[:, :context], ctx_actions)
            rollout = open_loop_frames(wm, step_action, context - 1, horizon)  # (B, H, h, w, 3)
            target = frames[:, context:]
            out["open"].append(frame_mse(rollout, target))  # (B, H)
            out["open_ssim"].append(frame_ssim(rollout, target))  # (B, H)
            last = np.repeat(frames[:, context - 1:context], horizon, axis=1)
            out["open_copy"].append(frame_mse(last, target))
            out["open_copy_ssim"].append(frame_ssim(last, target))
            if visible is not None:
                _add_regions(out, rollout, recon[:, context:], target, visible[ids])
    return {k: np.concatenate(v) for k, v in out.items() if v}


def _add_regions(out: dict[str, list[np.ndarray]], rollout: np.ndarray, recon: np.ndarray, target: np.ndarray,
                 visible: np.ndarray) -> None:
    """Append the open loop's and the tokenizer's region errors and the pixel counts (B, H) to `out`."""
    for name, pred in (("open", rollout), ("tokenizer", recon)):
        for region, sums in region_errors(pred, target, visible).items():
            out.setdefault(f"{name}_{region}", []).append(sums)
    for region, count in pixel_counts(visible).items():
        out.setdefault(f"pixels_{region}", []).append(count)
