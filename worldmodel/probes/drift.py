"""Family F, drift horizon: long idle and long exploration; frames until quality crosses a threshold, as a curve.

Quality of an exploration frame = block-id agreement (segmenter vs truth) on the pixels whose true block id
differs from the last prompt frame's (what copying cannot get), smoothed over 3 frames; of an idle frame, over
all world pixels. The horizon of a rollout is the first frame where quality falls below THRESHOLD x the truth
row's quality at that frame (the whole length if it never does; frames with nothing changed do not count).
Exploration (walks and turns) is the headline; in the idle scene the truth never changes, so copy-last and
frozen-first equal the truth there and are no floors (reported, not normalised). Curves of mean quality per
row are kept for the report.
"""

from __future__ import annotations

import numpy as np

from worldmodel.probes.config import SuiteConfig
from worldmodel.probes.famutil import Preds, Table, make_strip, spread
from worldmodel.probes.lookback import open_view
from worldmodel.probes.measure import Measure, nanmean
from worldmodel.probes.scenario import EnvPool, Scenario, TruthRun
from worldmodel.probes.scoring import FamilyResult
from worldmodel.probes.scripting import ScriptBuilder, noop, pan_prompt, spawn_feet, turn, world_seed

NAME = "drift"
THRESHOLD = 0.8
SMOOTH = 3


def horizon_length(cfg: SuiteConfig) -> int:
    """Frames of each drift rollout: 8x the context window (3x in quick mode), within [24, 160]."""
    return int(np.clip((3 if cfg.quick else 8) * cfg.context, 24, 160))


def _explore(builder: ScriptBuilder, length: int, rng: np.random.Generator, rate: float) -> None:
    """Seeded walks, turns, glances and pauses until `length` actions."""
    while len(builder.actions) < length:
        kind = rng.choice(["walk", "turn", "glance", "pause"], p=[0.45, 0.3, 0.15, 0.1])
        if kind == "walk":
            builder.walk(int(rng.integers(8, 25)))
        elif kind == "turn":
            builder.add(turn(float(rng.choice([-1, 1]) * rng.choice([30, 60, 90])), rate))
        elif kind == "glance":
            pitch = float(rng.choice([-20, 20]))
            builder.add(turn(0.0, rate, dpitch=pitch) + noop(2) + turn(0.0, rate, dpitch=-pitch))
        else:
            builder.add(noop(int(rng.integers(2, 6))))
    builder.actions = builder.actions[:length]


def build(cfg: SuiteConfig, pool: EnvPool) -> list[Scenario]:
    """An idle and an exploration rollout per world."""
    env = pool.get(cfg.height, cfg.width)
    r, p, n = cfg.turn_rate, cfg.prompt_len, horizon_length(cfg)
    out = []
    for i in cfg.worlds(out):
        ws = world_seed(cfg.seed, NAME, i)
        feet = spawn_feet(env, ws)
        rng = np.random.default_rng(ws)
        base = float(rng.uniform(0, 360))
        ref = next((base + 30 * k for k in range(12) if open_view(env, feet, base + 30 * k)), base)
        pose = (*feet, ref - r * (p - 1), 0.0)
        stride = curve_stride(cfg)
        out.append(Scenario(NAME, f"idle_world{i}", ws, pose, pan_prompt(p, r), noop(n),
                            tags={"kind": "idle", "stride": stride}))
        builder = ScriptBuilder(env, Scenario(NAME, f"explore_world{i}", ws, pose, pan_prompt(p, r), [],
                                              tags={"kind": "explore", "stride": stride}))
        _explore(builder, n, rng, r)
        out.append(builder.finish())
    return out


def curve_stride(cfg: SuiteConfig) -> int:
    """Frames between scored frames: every other one is plenty for a curve (every one in quick mode)."""
    return 1 if cfg.quick else 2


def scored_frames(run: TruthRun) -> list[int]:
    """The run frame indices score() reads (every stride-th frame after the prompt)."""
    return list(range(run.prompt_len, len(run.frames), int(run.scenario.tags["stride"])))


def _smooth(q: np.ndarray) -> np.ndarray:
    kernel = np.ones(SMOOTH) / SMOOTH
    padded = np.pad(q, (SMOOTH // 2, SMOOTH - 1 - SMOOTH // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def horizon(quality: np.ndarray, truth: np.ndarray) -> int:
    """First frame whose smoothed quality is below THRESHOLD x the truth row's smoothed quality (len if never;
    frames where either is NaN, nothing to score, never count as below)."""
    ok = np.isfinite(quality) & np.isfinite(truth)
    q = np.where(ok, quality, np.where(np.isfinite(truth), truth, 1.0))
    t = np.where(np.isfinite(truth), truth, 1.0)
    below = np.flatnonzero(_smooth(q) < THRESHOLD * _smooth(t))
    return int(below[0]) if below.size else len(quality)


def score(runs: list[TruthRun], preds: Preds, measure: Measure, cfg: SuiteConfig) -> FamilyResult:
    """Exploration horizon (headline), idle horizon, mean quality, and the quality curves."""
    table = Table()
    n = horizon_length(cfg)
    table.declare("explore_horizon", True, f"exploration: frames until block-id quality on changed pixels < "
                                           f"{THRESHOLD} x the truth's", span=n)
    table.declare("idle_horizon", True, f"idle: frames until block-id quality < {THRESHOLD} x the truth's", span=n)
    table.declare("explore_quality", True, "exploration: mean block-id agreement on the pixels whose true block id "
                                           "differs from the last prompt frame's")
    table.declare("idle_quality", True, "idle: mean block-id agreement over the rollout")
    table.declare("explore_psnr", True, "exploration: mean PSNR (dB) over the rollout", span=50.0)
    table.declare("idle_psnr", True, "idle: mean PSNR (dB) over the rollout", span=50.0)
    stride = curve_stride(cfg)
    curves: dict[str, dict[str, list[list[float]]]] = {"idle": {}, "explore": {}}
    for j, run in enumerate(runs):
        kind = run.scenario.tags["kind"]
        idx = scored_frames(run)
        scores = {row: measure.frame_scores(run, clips[j], idx) for row, clips in preds.items()}
        key = "changed_ids" if kind == "explore" else "ids"
        truth = scores["truth"][key]
        for row, s in scores.items():
            table.add(f"{kind}_horizon", row, float(horizon(s[key], truth) * stride))
            table.add(f"{kind}_quality", row, nanmean(s[key]))
            table.add(f"{kind}_psnr", row, nanmean(s["psnr"]))
            curves[kind].setdefault(row, []).append(s[key].tolist())
    mean_curves = {kind: {row: [nanmean(col) for col in np.array(v, np.float64).T] for row, v in rows.items()}
                   for kind, rows in curves.items()}
    strips = []
    for kind in ("explore", "idle"):
        j = next((k for k, r in enumerate(runs) if r.scenario.tags["kind"] == kind), None)
        if j is not None:
            run = runs[j]
            strips.append(make_strip(run.scenario.name, run, preds["model"][j],
                                     [run.prompt_len - 1] + spread(run.prompt_len, len(run.frames) - 1, 7)))
    extras = {"quality_curves": mean_curves, "curve_stride": stride, "threshold": THRESHOLD,
              "rollout_frames": horizon_length(cfg)}
    return FamilyResult(NAME, "explore_horizon", table.metrics(), [r.scenario.name for r in runs],
                        floor_valid={"idle_horizon": False, "idle_quality": False, "idle_psnr": False},
                        extras=extras, strips=strips)

