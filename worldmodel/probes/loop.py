"""Family C, walk loop closure: A->B->A walks and square loops (path lengths of 6 to 40 blocks) that come back to
the start; scored on two landmark pillars beside the start direction, seen in the prompt and again at the end of the loop
(headline), on the return leg (seen surfaces) and by the end-of-loop error (view and pose-search error).

The prompt pans across the walking direction (ending 50 degrees past it); the script faces the direction, walks
the loop (jumping when blocked, baked in by simulation), and ends at the start facing the same way as when it
left, a view the prompt showed in its middle. The start direction is chosen per world so that the truth loop
closes (end within a fraction of a block of the start).
"""

from __future__ import annotations

import numpy as np

from envs.blockworld.physics import DT, WALK_SPEED
from worldmodel.probes.config import SuiteConfig
from worldmodel.probes.famutil import (Preds, Table, add_landmarks, add_regions, declare_regions, make_strip,
                                       place_landmarks, spread)
from worldmodel.probes.measure import Measure, frame_at
from worldmodel.probes.posesearch import yaw_difference
from worldmodel.probes.scenario import EnvPool, Scenario, TruthRun
from worldmodel.probes.scoring import FamilyResult
from envs.blockworld.worldgen import surface_y
from worldmodel.probes.scripting import (GROUND, ScriptBuilder, clear_path, noop, pan_prompt, spawn_feet, turn,
                                         world_seed)

NAME = "loop"
LOOPS = (("ab", 3), ("ab", 8), ("square", 2), ("square", 5), ("square", 10))
QUICK_LOOPS = (("ab", 3), ("square", 2))
END_OFFSET = 50.0
HOLD = 2
LANDMARK_SPOTS = ((-25.0, 5.0), (25.0, 5.0))  # pillars beside the walking direction (the end view shows them)
RETURN_SAMPLES = 6  # frames of the return leg that are scored
MAX_TRIES = 6  # simulated start candidates per loop (the best-closing one is kept)


def path_length(kind: str, size: int) -> int:
    """Blocks walked by a loop."""
    return 2 * size if kind == "ab" else 4 * size


def loop_clear(voxels: np.ndarray, feet: np.ndarray, yaw: float, kind: str, size: int, sign: float) -> bool:
    """True when every leg of the loop runs over clear, walkable ground (checked before simulating it)."""
    if kind == "ab":
        return clear_path(voxels, feet, yaw, size)
    corner = np.asarray(feet, np.float64).copy()
    for leg in range(4):
        heading = yaw + 90.0 * sign * leg
        if not clear_path(voxels, corner, heading, size):
            return False
        rad = np.radians(heading)
        corner = corner + size * np.array([-np.sin(rad), 0.0, np.cos(rad)])
    return True


def _script(builder: ScriptBuilder, kind: str, size: int, rate: float, sign: float) -> None:
    ticks = int(round(size / (WALK_SPEED * DT)))
    builder.add(turn(-END_OFFSET, rate))
    legs = 2 if kind == "ab" else 4
    for leg in range(legs):
        if leg == legs - 1:
            builder.mark("return_start")
        builder.walk(ticks)
        if leg == legs - 1:
            builder.mark("return_end")
        builder.add(turn(180.0 * sign if kind == "ab" else 90.0 * sign, rate))
    builder.add(noop(HOLD))


def start_spots(voxels: np.ndarray, feet: np.ndarray, count: int = 5) -> list[np.ndarray]:
    """The spawn, then dry standing spots a few blocks around it (other places a loop may fit)."""
    spots = [np.asarray(feet, np.float64)]
    for dx, dz in ((4, 0), (-4, 0), (0, 4), (0, -4), (4, 4), (-4, -4))[: count - 1]:
        x, z = int(feet[0]) + dx, int(feet[2]) + dz
        g = surface_y(voxels, x, z)
        if voxels[x, g, z] in GROUND:
            spots.append(np.array([x + 0.5, g + 1.0, z + 0.5]))
    return spots


def build(cfg: SuiteConfig, pool: EnvPool) -> list[Scenario]:
    """Loop kinds x worlds; per loop the start spot and direction whose truth loop closes best (legs over clear
    ground are simulated first, then others, MAX_TRIES in all)."""
    env = pool.get(cfg.height, cfg.width)
    r, p = cfg.turn_rate, cfg.prompt_len
    out = []
    for i in cfg.worlds(out):
        ws = world_seed(cfg.seed, NAME, i)
        spawn = spawn_feet(env, ws)
        base = float(np.random.default_rng(ws).uniform(0, 360))
        spots = start_spots(env.voxels, spawn)
        for kind, size in (QUICK_LOOPS if cfg.quick else LOOPS):
            cands = [(feet, base + 45.0 * k, 1.0 if k % 2 == 0 else -1.0) for feet in spots for k in range(8)]
            ok = [loop_clear(env.voxels, c[0], c[1], kind, size, c[2]) for c in cands]
            order = ([c for c, good in zip(cands, ok) if good] + [c for c, good in zip(cands, ok) if not good])
            order = order[:MAX_TRIES]
            best = None
            for feet, yaw, sign in order:
                env.reset(seed=ws)  # landmarks of an earlier candidate must not stand in the way
                setup, salient = place_landmarks(env.voxels, feet, yaw, LANDMARK_SPOTS, first=i)
                start = Scenario(NAME, f"{kind}{size}_world{i}", ws, (*feet, yaw + END_OFFSET - r * (p - 1), 0.0),
                                 pan_prompt(p, r), [], setup, salient,
                                 tags={"kind": kind, "size": size, "path_blocks": path_length(kind, size)})
                builder = ScriptBuilder(env, start)
                _script(builder, kind, size, r, sign)
                closure = float(np.hypot(*(builder.pose[[0, 2]] - feet[[0, 2]])))
                if best is None or closure < best[0]:
                    best = (closure, builder.finish(truth_closure_blocks=closure))
                if closure < 0.3:
                    break
            env.reset(seed=ws)  # builders stepped the env; the next loop checks the clean world
            if best is not None:
                out.append(best[1])
    return out


def scored_frames(run: TruthRun) -> list[int]:
    """The run frame indices score() reads (return-leg samples and the end of the loop)."""
    p, tags = run.prompt_len, run.scenario.tags
    leg = spread(p + tags["return_start"] + 1, p + tags["return_end"], RETURN_SAMPLES)
    return leg + list(range(len(run.frames) - HOLD - 1, len(run.frames)))


def score(runs: list[TruthRun], preds: Preds, measure: Measure, cfg: SuiteConfig) -> FamilyResult:
    """Landmark block-id agreement at the end of the loop (headline), return-leg and end-of-loop region scores,
    end pose errors (pose search: skipped in quick mode)."""
    table = Table()
    table.declare("landmarks.ids", True, "block-id agreement on the landmark pillars' pixels in the end-of-loop view "
                                         "(where the last prompt frame shows something else)")
    declare_regions(table, "return.")
    declare_regions(table, "end.")
    table.declare("end.position_error", False, "end-of-loop camera position error (blocks), pose search on the "
                                               "predicted last frame vs the true end pose")
    table.declare("end.yaw_error", False, "end-of-loop camera yaw error (degrees), pose search")
    for j, run in enumerate(runs):
        p, tags = run.prompt_len, run.scenario.tags
        leg = spread(p + tags["return_start"] + 1, p + tags["return_end"], RETURN_SAMPLES)
        end = list(range(len(run.frames) - HOLD - 1, len(run.frames)))
        add_regions(table, measure, run, preds, j, leg, "return.")
        add_regions(table, measure, run, preds, j, end, "end.")
        add_landmarks(table, measure, run, preds, j, end)
        truth_pose = run.poses[-1]
        voxels = run.voxels_at(len(run.frames) - 1)
        for row, clips in preds.items():
            if cfg.quick:
                table.add("end.position_error", row, np.nan)
                table.add("end.yaw_error", row, np.nan)
                continue
            est = measure.pose.planar(frame_at(run, clips[j], len(run.frames) - 1), voxels, truth_pose)
            table.add("end.position_error", row, float(np.hypot(*(est[[0, 2]] - truth_pose[[0, 2]]))))
            table.add("end.yaw_error", row, abs(yaw_difference(est[3], truth_pose[3])))
    metrics = table.metrics()
    strips = []
    if runs:
        j = int(np.argmax([r.scenario.tags["path_blocks"] for r in runs]))
        run = runs[j]
        p = run.prompt_len
        strips.append(make_strip(run.scenario.name, run, preds["model"][j],
                                 [p // 2, p - 1] + spread(p, len(run.frames) - 1, 7)))
    closure = {r.scenario.name: r.scenario.tags.get("truth_closure_blocks") for r in runs}
    return FamilyResult(NAME, "landmarks.ids", metrics, [r.scenario.name for r in runs],
                        extras={"truth_closure_blocks": closure}, strips=strips)
