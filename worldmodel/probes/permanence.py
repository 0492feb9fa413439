"""Family A, permanence under occlusion: a landmark leaves view (by looking away) for g frames, g swept from
0.25x to 8x the model's context window; scored on return for presence, identity and position; g50 = the gap
at which recall halves.

Scenario: a 2-block landmark pillar (gold, diamond or wool) 5 blocks from the spawn. The prompt pans right
across it and ends 50 degrees past it (landmark out of view, so copy-last is a floor); the script holds there
for h ticks, turns back to centre the landmark and holds. The gap g is measured in truth: frames between the
last prompt frame showing the landmark and the first frame showing it again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from worldmodel.probes.config import SuiteConfig
from worldmodel.probes.famutil import Preds, Table, add_regions, centroid, declare_regions, dilate, make_strip, spread
from worldmodel.probes.measure import Measure
from worldmodel.probes.scenario import EnvPool, Scenario, TruthRun, run_truth
from worldmodel.probes.scoring import FamilyResult, half_life
from worldmodel.probes.scripting import LANDMARKS, noop, pan_prompt, pillar_sites, turn, yaw_to
from worldmodel.probes.visibility import cells_mask

NAME = "permanence"
END_OFFSET = 50.0  # degrees past the landmark where the prompt ends (landmark out of the 70 degree view)
DIST = 5.0
HOLD = 2  # frames held after the return; the return frame and these are scored
MIN_PIXELS = 12
FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
QUICK_FACTORS = (0.25, 1.0, 4.0)


def landmark_pixels(run: TruthRun, index: int) -> np.ndarray:
    """Mask of the landmark's pixels in truth frame `index`."""
    return cells_mask(run.keys(index), run.scenario.salient, run.world_shape)


def measured_gap(run: TruthRun) -> int | None:
    """Frames the landmark is out of view between its last prompt sighting and its return (None if invalid)."""
    vis = np.array([landmark_pixels(run, i).sum() for i in range(len(run.frames))])
    p = run.prompt_len
    seen = np.flatnonzero(vis[:p] > 0)
    back = np.flatnonzero(vis[p:] > 0)
    if seen.size == 0 or back.size == 0 or vis[p - 1] > 0 or vis[-1] < MIN_PIXELS or vis[:p].max() < MIN_PIXELS:
        return None
    return int(p + back[0] - seen[-1] - 1)


def _scenario(cfg: SuiteConfig, ws: int, index: int, feet: np.ndarray, ref: float, cells: list, block: int,
              hold: int, target: int, factor: float) -> Scenario:
    r = cfg.turn_rate
    start_yaw = ref + END_OFFSET - r * (cfg.prompt_len - 1)
    script = noop(hold) + turn(-END_OFFSET, r) + noop(HOLD)
    return Scenario(NAME, f"gap{factor:g}w_world{index}", ws, (*feet, start_yaw, 0.0), pan_prompt(cfg.prompt_len, r),
                    script, [(c, block) for c in cells], list(cells),
                    {"factor": factor, "target_gap": target, "hold": hold, "block": block})


def build(cfg: SuiteConfig, pool: EnvPool) -> list[Scenario]:
    """Gap sweep x worlds; each world's pillar is placed where the prompt sees it and the return shows it."""
    env = pool.get(cfg.height, cfg.width)
    factors = QUICK_FACTORS if cfg.quick else FACTORS
    out: list[Scenario] = []
    for i in cfg.worlds(out):
        block = LANDMARKS[i % len(LANDMARKS)]
        found = None
        for ws, feet, _, cells in pillar_sites(env, cfg.seed, NAME, i, 6, DIST):
            ref = yaw_to(feet, (cells[0][0] + 0.5, 0.0, cells[0][2] + 0.5))
            probe = _scenario(cfg, ws, i, feet, ref, cells, block, 0, 0, 0.0)
            g0 = measured_gap(run_truth(probe, env))  # a dry run (it edits the world; the next site resets)
            if g0 is not None:
                found = (ws, feet, ref, cells, g0)
                break
        if found is None:
            continue
        ws, feet, ref, cells, g0 = found
        for f in factors:
            target = max(1, int(round(f * cfg.context)))
            out.append(_scenario(cfg, ws, i, feet, ref, cells, block, max(0, target - g0), target, f))
    return out


def scored_frames(run: TruthRun) -> list[int]:
    """The run frame indices score() reads (the frames after the return)."""
    return list(range(len(run.frames) - HOLD - 1, len(run.frames)))


def score(runs: list[TruthRun], preds: Preds, measure: Measure, cfg: SuiteConfig) -> FamilyResult:
    """Recall (headline), presence, identity, position error on return; region scores; g50 per row."""
    table = Table()
    table.declare("recall", True, "fraction of the landmark's true pixels that the segmenter reads as the landmark "
                                  "block in the frames after the return")
    table.declare("presence", True, "landmark block present anywhere in the view (>= 30% of its true area)")
    table.declare("identity", True, "of landmark-like blocks drawn near the true spot, the fraction of the right type")
    table.declare("position_error_px", False, "pixel distance of the drawn landmark's centroid from the truth",
                  span=float(cfg.width))
    declare_regions(table)
    gaps = []
    for j, run in enumerate(runs):
        gaps.append(measured_gap(run) or run.scenario.tags["target_gap"])
        block = int(run.scenario.tags["block"])
        idx = list(range(len(run.frames) - HOLD - 1, len(run.frames)))
        masks = [landmark_pixels(run, i) & measure.world for i in idx]
        for row, clips in preds.items():
            ids = measure.ids(np.stack([clips[j][i - run.prompt_len] for i in idx]))
            vals: dict[str, list[float]] = {k: [] for k in ("recall", "presence", "identity", "position_error_px")}
            for m, frame_ids in zip(masks, ids):
                is_l = (frame_ids == block) & measure.world
                vals["recall"].append(float(is_l[m].mean()) if m.any() else np.nan)
                vals["presence"].append(float(is_l.sum() >= 0.3 * m.sum()))
                near = dilate(m, 2)
                landmarkish = np.isin(frame_ids, LANDMARKS) & near
                vals["identity"].append(float(is_l[landmarkish].mean()) if landmarkish.sum() >= 3 else np.nan)
                c_true, c_pred = centroid(m), centroid(is_l & dilate(m, 12))
                vals["position_error_px"].append(np.nan if c_true is None or c_pred is None
                                                 else float(np.linalg.norm(c_true - c_pred)))
            for k, v in vals.items():
                finite = [x for x in v if np.isfinite(x)]
                table.add(k, row, float(np.mean(finite)) if finite else np.nan)
        add_regions(table, measure, run, preds, j, idx)
    metrics = table.metrics()
    factors = np.array([run.scenario.tags["factor"] for run in runs])
    gaps_arr = np.asarray(gaps, np.float64)
    curves: dict[str, Any] = {}
    g50: dict[str, Any] = {}
    for row in preds:
        points = []
        for f in sorted(set(factors.tolist())):
            sel = factors == f
            rec = metrics["recall"].values[row][sel]
            rec = rec[np.isfinite(rec)]
            points.append((float(gaps_arr[sel].mean()), float(rec.mean()) if rec.size else np.nan))
        curves[row] = points
        hl = half_life(np.array([p[0] for p in points]), np.array([p[1] for p in points]))
        hl["g50_over_window"] = hl["g50"] / cfg.context if hl["g50"] is not None else None
        g50[row] = hl
    strips = []
    if runs:
        j = int(np.argmax(gaps_arr))
        run = runs[j]
        p = run.prompt_len
        idx = [p // 2, p - 1] + spread(p, len(run.frames) - 1, 6)
        strips.append(make_strip(f"{run.scenario.name}: gap {gaps[j]} frames", run, preds["model"][j], idx))
    extras = {"g50": g50, "recall_curve": curves, "context_frames": cfg.context,
              "gaps": [int(g) for g in gaps]}
    return FamilyResult(NAME, "recall", metrics, [r.scenario.name for r in runs], extras=extras, strips=strips)
