"""Does the world stay where you left it? The spatial-memory scenarios of issue 19 on held-out BlockWorld seeds.

    python scripts/bench_world_memory.py [--model DIR] [--seeds 2000 2001 ...] [--out results.json]

Each scenario runs the real BlockWorld and the world model side by side from the same 8 prompt frames (idle
ticks) and scores the model's frames against the truth (PSNR, dB):

  revisit      the prompt, then a 360-degree turn at 10 degrees a tick fed as real frames (`step` + `observe`),
               then 18 more turning ticks open loop, through views last seen 18-35 ticks earlier; beside copy-last.
  consistency  open loop: turn 180 degrees (10 a tick), back, and 180 again: how well the two generated back
               views agree, and how far both are from the front view.
  walk_loop    open loop: walk forward 15 ticks, turn 180, walk back 15, turn 180: the last frame against the
               truth. The scenario is one where the true final frame equals the last prompt frame (nothing
               blocked the walk); seeds where it does not are reported and left out of the walk-loop means.

--rss-steps N also rolls N steps open loop and reports resident memory at 10% and at the end (it must stay flat).

Rows: the model with its memory (when it has geometry heads) and without. Seeds you did not tune on, please.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envs.actions import noop_action  # noqa: E402
from envs.blockworld.env import BlockWorldEnv  # noqa: E402
from worldmodel.model import WorldModel  # noqa: E402
from worldmodel.precision import PRECISIONS  # noqa: E402

SIZE = 64


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of two uint8 images."""
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return 10.0 * np.log10(255.0**2 / max(mse, 1e-6))


def action(yaw: float = 0.0, **buttons: int) -> dict[str, Any]:
    """A canonical action turning by yaw degrees and pressing buttons."""
    out = noop_action()
    out["camera"] = np.array([0.0, yaw], np.float32)
    out.update(buttons)
    return out


def start(model: WorldModel, seed: int) -> tuple[BlockWorldEnv, np.ndarray]:
    """A real world and the model both started from 8 idle frames of seed; returns the env and the last frame."""
    env = BlockWorldEnv(width=SIZE, height=SIZE, max_episode_steps=0)
    frame, _ = env.reset(seed=seed)
    frames, actions = [frame], []
    for _ in range(7):
        actions.append(action())
        frame, *_ = env.step(actions[-1])
        frames.append(frame)
    model.seed(seed)
    model.reset(np.stack(frames), {key: np.array([a[key] for a in actions]) for key in actions[0]})
    return env, frame


def revisit(model: WorldModel, seed: int) -> dict[str, float]:
    """Turn 360 fed real, then 18 ticks open loop through views seen 18-35 ticks before."""
    env, frame = start(model, seed)
    for _ in range(36):
        frame, *_ = env.step(action(10.0))
        model.step(action(10.0))
        model.observe(frame)
    last, scores, floors = frame, [], []
    for _ in range(18):
        truth, *_ = env.step(action(10.0))
        shown, *_ = model.step(action(10.0))
        scores.append(psnr(shown, truth))
        floors.append(psnr(last, truth))
    return {"psnr": float(np.mean(scores)), "copy_last": float(np.mean(floors))}


def consistency(model: WorldModel, seed: int) -> dict[str, float]:
    """Open loop: 180 away, 180 back, 180 away again; the two back views against each other and the front."""
    _, front = start(model, seed)
    script = [action(10.0)] * 18 + [action(-10.0)] * 18 + [action(10.0)] * 18
    frames, _, _ = model.unroll(script)
    first, second = frames[17], frames[53]
    return {"back_agree": psnr(first, second), "back_vs_front": (psnr(first, front) + psnr(second, front)) / 2}


def walk_loop(model: WorldModel, seed: int) -> dict[str, float] | None:
    """Open loop: walk 15, turn 180, walk 15, turn 180; the final frame against the truth and the last prompt."""
    env, prompt_last = start(model, seed)
    script = ([action(forward=1)] * 15 + [action(10.0)] * 18 + [action(forward=1)] * 15 + [action(10.0)] * 18)
    truth = prompt_last
    for a in script:
        truth, *_ = env.step(a)
    if not np.array_equal(truth, prompt_last):
        return None  # the true walk did not come back: not an instance of this scenario
    frames, _, _ = model.unroll(script)
    return {"psnr": psnr(frames[-1], truth)}


SCENARIOS = {"revisit": revisit, "consistency": consistency, "walk_loop": walk_loop}


def rss_mb() -> float:
    """Resident memory of this process, MB (Linux /proc)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def long_rollout(model: WorldModel, steps: int, seed: int = 0) -> dict[str, float]:
    """Resident memory over a long open-loop roll (walk, turn, jump, break at random): it must stay flat."""
    start(model, seed)
    rng = np.random.default_rng(seed)
    marks: dict[str, float] = {}
    for t in range(steps):
        buttons = {name: int(rng.random() < p) for name, p in (("forward", 0.6), ("jump", 0.1), ("attack", 0.1))}
        model.step(action(float(rng.normal(0.0, 8.0)), **buttons))
        if t + 1 in (steps // 10, steps):
            marks["rss_mb_at_10pct" if t + 1 < steps else "rss_mb_at_end"] = rss_mb()
    return marks | {"steps": steps}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="bundled", help="world model directory (default: the bundled model)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(2000, 2008)),
                        help="BlockWorld seeds (default 2000-2007; the memory was tuned on 1001-1003)")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rss-steps", type=int, default=0,
                        help="also roll this many steps open loop and report resident memory (flat = bounded)")
    parser.add_argument("--out", type=Path, help="write the per-seed results here as JSON")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="the step's nets in fp32, bf16 or auto (default: the model's own setting)")
    parser.add_argument("--memory-only", action="store_true", help="skip the row without the memory")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = WorldModel.load(None if args.model == "bundled" else args.model)
    if args.precision:
        model.precision = args.precision
    rows = ([True] if args.memory_only else [True, False]) if model.geometry is not None else [False]
    results: dict[str, Any] = {}
    for memory in rows:
        model.memory = memory
        name = "memory" if memory else "no memory"
        for scenario in args.scenarios:
            per_seed = [SCENARIOS[scenario](model, seed) for seed in args.seeds]
            valid = [r for r in per_seed if r is not None]
            skipped = [seed for seed, r in zip(args.seeds, per_seed) if r is None]
            if not valid:
                print(f"{name:10s} {scenario:12s} no valid seed (skipped {skipped})", flush=True)
                continue
            mean = {key: float(np.mean([r[key] for r in valid])) for key in valid[0]}
            low = {key: float(np.min([r[key] for r in valid])) for key in valid[0]}
            results.setdefault(name, {})[scenario] = {"mean": mean, "min": low, "seeds": per_seed,
                                                      "skipped": skipped}
            note = f"  ({len(valid)} seeds; skipped {skipped}: the true walk did not return)" if skipped else ""
            print(f"{name:10s} {scenario:12s} " + "  ".join(f"{k} {v:6.2f} (min {low[k]:.2f})"
                                                          for k, v in mean.items()) + note, flush=True)
    if args.rss_steps:
        model.memory = model.geometry is not None
        results["long_rollout"] = long_rollout(model, args.rss_steps)
        print("long rollout", json.dumps(results["long_rollout"]), flush=True)
    if args.out:
        args.out.write_text(json.dumps({"seeds": args.seeds, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
