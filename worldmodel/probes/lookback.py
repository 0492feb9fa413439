"""Family B, look away and back: turn 45/90/180/360 degrees and return to a view seen in the prompt; masked
PSNR / SSIM and block-id agreement on the surfaces seen before (never-seen surfaces reported apart). The headline
scores three landmark pillars placed in the reference view (on their pixels that the last prompt frame shows
differently), so terrain that matches anyway does not fill the gap; `seen_changed` scores all seen pixels whose
block id differs from the last prompt frame's.

The prompt pans right across the reference view and ends 50 degrees past it; the script turns on by the angle
(a full turn for 360), comes back to the reference view and holds. The first and last prompt frames differ
from the reference view, so neither copy-last nor frozen-first can score by standing still.
"""

from __future__ import annotations

import numpy as np

from worldmodel.probes.config import SuiteConfig
from worldmodel.probes.famutil import (Preds, Table, add_landmarks, add_regions, declare_regions, make_strip,
                                       place_landmarks, spread)
from worldmodel.probes.measure import Measure
from worldmodel.probes.scenario import EnvPool, Scenario, TruthRun
from worldmodel.probes.scoring import FamilyResult
from worldmodel.probes.scripting import noop, pan_prompt, spawn_feet, turn, world_seed

NAME = "lookback"
ANGLES = (45, 90, 180, 360)
QUICK_ANGLES = (90, 180)
END_OFFSET = 50.0
HOLD = 2
HEADLINE = "landmarks.ids"
LANDMARK_SPOTS = ((-20.0, 5.0), (0.0, 7.0), (20.0, 5.0))  # (yaw offset from the reference view, distance)


def open_view(env, feet: np.ndarray, yaw: float) -> bool:
    """True when the view at yaw is neither blocked by something close nor mostly sky."""
    env.set_pose(feet, yaw, 0.0)
    gt = env.ground_truth()
    depth = gt["depth"]
    ground = np.isfinite(depth)
    return bool(ground.mean() > 0.3 and np.median(depth[ground]) > 3.0)


def build(cfg: SuiteConfig, pool: EnvPool) -> list[Scenario]:
    """Angles x worlds; one reference view per world, shared by all its angles."""
    env = pool.get(cfg.height, cfg.width)
    r, p = cfg.turn_rate, cfg.prompt_len
    out = []
    for i in cfg.worlds(out):
        ws = world_seed(cfg.seed, NAME, i)
        feet = spawn_feet(env, ws)
        base = float(np.random.default_rng(ws).uniform(0, 360))
        ref = next((base + 30 * k for k in range(12) if open_view(env, feet, base + 30 * k)), base)
        start_yaw = ref + END_OFFSET - r * (p - 1)
        setup, salient = place_landmarks(env.voxels, feet, ref, LANDMARK_SPOTS, first=i)
        for angle in (QUICK_ANGLES if cfg.quick else ANGLES):
            back = END_OFFSET if angle == 360 else angle + END_OFFSET
            script = turn(float(angle), r) + turn(-back, r) + noop(HOLD)
            out.append(Scenario(NAME, f"turn{angle}_world{i}", ws, (*feet, start_yaw, 0.0), pan_prompt(p, r), script,
                                setup, salient, tags={"angle": angle}))
    return out


def scored_frames(run: TruthRun) -> list[int]:
    """The run frame indices score() reads (the frames after the return)."""
    return list(range(len(run.frames) - HOLD - 1, len(run.frames)))


def score(runs: list[TruthRun], preds: Preds, measure: Measure, cfg: SuiteConfig) -> FamilyResult:
    """Seen, changed-pixel block-id agreement after the return (headline), PSNR/SSIM, never-seen apart; per angle."""
    table = Table()
    table.declare(HEADLINE, True, "block-id agreement on the pixels of the landmark pillars in the reference view "
                                  "after the return (where the last prompt frame shows something else)")
    declare_regions(table)
    for j, run in enumerate(runs):
        idx = list(range(len(run.frames) - HOLD - 1, len(run.frames)))
        add_landmarks(table, measure, run, preds, j, idx)
        add_regions(table, measure, run, preds, j, idx)
    metrics = table.metrics()
    angles = np.array([run.scenario.tags["angle"] for run in runs])
    per_angle = {row: {int(a): float(np.nanmean(metrics[HEADLINE].values[row][angles == a]))
                       for a in sorted(set(angles.tolist()))} for row in preds}
    strips = []
    if runs:
        j = int(np.argmax(angles))
        run = runs[j]
        p = run.prompt_len
        strips.append(make_strip(f"{run.scenario.name}", run, preds["model"][j],
                                 [p // 2, p - 1] + spread(p, len(run.frames) - 1, 6)))
    return FamilyResult(NAME, HEADLINE, metrics, [r.scenario.name for r in runs],
                        extras={"per_angle": per_angle}, strips=strips)
