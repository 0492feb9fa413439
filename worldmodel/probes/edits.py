"""Family D, place/break persistence: break a block and place one, look or walk away, come back.

Scores per edit on return, on the edited cell's pixels whose true block id differs both from the world with
the edit undone and from the last prompt frame (so copying cannot score): recall (the edited cell shows what
the truth shows), revert rate (the original block
reappears: compared with a render of the world with that edit undone), changes to cells nobody edited (on
surfaces seen in the prompt), and whether each edit shows right after its action.

Scenario: a 2-block landmark pillar 3 blocks ahead; the prompt pans onto it (crosshair on its top block).
Script: attack (top block breaks, goes to the hotbar), look down-left, use (it is placed on the ground), look to
a view showing both edits (the reference), then turn 180 and back ("look") or walk away and back ("walk").
"""

from __future__ import annotations

import numpy as np

from envs.blockworld.render import render
from worldmodel.probes.config import SuiteConfig
from worldmodel.probes.famutil import Preds, Table, add_regions, declare_regions, make_strip, spread
from worldmodel.probes.measure import Measure, frame_at
from worldmodel.probes.permanence import LANDMARKS
from worldmodel.probes.scenario import EnvPool, Scenario, TruthRun
from worldmodel.probes.scoring import FamilyResult
from worldmodel.probes.scripting import ScriptBuilder, clear_path, noop, pan_prompt, pillar_sites, press, turn, yaw_to
from worldmodel.probes.visibility import cell_region, eye_of

NAME = "edits"
VARIANTS = ("look", "walk")
QUICK_VARIANTS = ("look",)
DIST = 3.0
HOLD = 2
SHOW_AFTER = 2  # frames after an edit's action at which "shows right after" is scored
MIN_PIXELS = 6


def _script(builder: ScriptBuilder, variant: str, rate: float, away: int) -> None:
    builder.mark("break")
    builder.add(press("attack") + noop(SHOW_AFTER))
    builder.add(turn(-30.0, rate, dpitch=30.0))
    builder.mark("place")
    builder.add(press("use") + noop(SHOW_AFTER))
    builder.add(turn(15.0, rate, dpitch=-20.0) + noop(1))
    builder.mark("reference")
    if variant == "look":
        builder.add(turn(180.0, rate) + noop(away) + turn(-180.0, rate))
    else:
        builder.add(turn(180.0, rate)).walk(10).add(turn(180.0, rate)).walk(10)
    builder.add(noop(HOLD))


def build(cfg: SuiteConfig, pool: EnvPool) -> list[Scenario]:
    """Variants x worlds; a site is kept only if both edits happen and show at the reference view."""
    env = pool.get(cfg.height, cfg.width)
    r, p = cfg.turn_rate, cfg.prompt_len
    out = []
    for i in cfg.worlds(out):
        block = LANDMARKS[(i + 1) % len(LANDMARKS)]
        for variant in (QUICK_VARIANTS if cfg.quick else VARIANTS):
            found = None
            for ws, feet, yaw, cells in pillar_sites(env, cfg.seed, NAME, i, 4, DIST):
                if not clear_path(env.voxels, feet, yaw + 180, 3.0):
                    continue
                ref = yaw_to(feet, (cells[1][0] + 0.5, 0.0, cells[1][2] + 0.5))
                start = Scenario(NAME, f"{variant}_world{i}", ws, (*feet, ref - r * (p - 1), 0.0),
                                 pan_prompt(p, r), [], [(c, block) for c in cells], list(cells),
                                 {"variant": variant, "block": block})
                builder = ScriptBuilder(env, start)
                _script(builder, variant, r, max(cfg.context, 12))
                scenario = builder.finish()
                if _valid(builder, scenario, p):
                    found = scenario
                    break
            if found is not None:
                out.append(found)
    return out


def _valid(builder: ScriptBuilder, scenario: Scenario, prompt_len: int) -> bool:
    """Both edits happened (one break, one place) during the script."""
    edits = [e for e in builder.env.edits if e[0] >= prompt_len]
    return sum(e[5] == 0 for e in edits) == 1 and sum(e[5] != 0 for e in edits) == 1


def script_edits(run: TruthRun) -> list[tuple[int, tuple[int, int, int], int, int]]:
    """(frame index, cell, old id, new id) of the edits made by the script."""
    return [(e[0], (e[1], e[2], e[3]), e[4], e[5]) for e in run.edits if e[0] >= run.prompt_len]


def undo_ids(run: TruthRun, index: int, cell: tuple[int, int, int], old: int, textures: np.ndarray) -> np.ndarray:
    """Block ids at frame `index` of the world with one edit undone (what a revert would show)."""
    vox = run.voxels_at(index)
    vox[cell] = old
    pose = run.poses[index]
    _, _, ids = render(vox, textures, eye_of(pose, vox.shape), float(pose[3]), float(pose[4]),
                       run.frames.shape[2], run.frames.shape[1], run.fov_deg, True)
    return ids


def scored_frames(run: TruthRun) -> list[int]:
    """The run frame indices score() reads (the frames after the return and right after each edit)."""
    out = set(range(len(run.frames) - HOLD - 1, len(run.frames)))
    for tick, *_ in script_edits(run):
        out |= set(range(tick, min(tick + SHOW_AFTER + 1, len(run.frames))))
    return sorted(out)


def score(runs: list[TruthRun], preds: Preds, measure: Measure, cfg: SuiteConfig) -> FamilyResult:
    """Per-edit recall on return (headline), revert rate, unedited changes, shows-right-after."""
    table = Table()
    table.declare("edit_recall", True, "edited cells on return: block-id agreement where the edit shows")
    table.declare("revert_rate", False, "edited cells on return: fraction of pixels showing the original block again")
    table.declare("unedited_change", False, "surfaces seen in the prompt, outside the edits: fraction of pixels whose "
                                            "block id differs from the truth on return")
    table.declare("shows_after_action", True, "edited cells right after the attack / use: block-id agreement")
    declare_regions(table, "return.")
    textures = measure.pose.textures
    per_edit: dict[str, dict[str, list[float]]] = {"break": {}, "place": {}}
    for j, run in enumerate(runs):
        end = list(range(len(run.frames) - HOLD - 1, len(run.frames)))
        edits = script_edits(run)
        truth_ids = run.block_ids
        last = truth_ids[run.prompt_len - 1]  # pixels showing what the last prompt frame showed are not scored
        for row, clips in preds.items():
            rec, rev, after = [], [], []
            changed_union = np.zeros(run.frames.shape[1:3], bool)
            for tick, cell, old, new in edits:
                kind = "break" if new == 0 else "place"
                vals_r, vals_v = [], []
                for i in end:
                    region = cell_region([cell], run.poses[i], run.depth[i], run.world_shape, run.fov_deg)
                    region &= measure.world
                    changed_union |= region
                    undo = undo_ids(run, i, cell, old, textures)
                    diff = region & (undo != truth_ids[i]) & (truth_ids[i] != last)
                    if diff.sum() < MIN_PIXELS:
                        continue
                    pred_ids = measure.ids(frame_at(run, clips[j], i)[None])[0]
                    vals_r.append(float((pred_ids[diff] == truth_ids[i][diff]).mean()))
                    vals_v.append(float((pred_ids[diff] == undo[diff]).mean()))
                show = []
                for i in range(tick, min(tick + SHOW_AFTER + 1, len(run.frames))):
                    undo = undo_ids(run, i, cell, old, textures)
                    region = cell_region([cell], run.poses[i], run.depth[i], run.world_shape, run.fov_deg)
                    diff = region & measure.world & (undo != truth_ids[i]) & (truth_ids[i] != last)
                    if diff.sum() >= MIN_PIXELS:
                        pred_ids = measure.ids(frame_at(run, clips[j], i)[None])[0]
                        show.append(float((pred_ids[diff] == truth_ids[i][diff]).mean()))
                rec += vals_r
                rev += vals_v
                after += show
                per_edit[kind].setdefault(row, []).append(float(np.mean(vals_r)) if vals_r else np.nan)
            table.add("edit_recall", row, float(np.mean(rec)) if rec else np.nan)
            table.add("revert_rate", row, float(np.mean(rev)) if rev else np.nan)
            table.add("shows_after_action", row, float(np.mean(after)) if after else np.nan)
            unedited = []
            for i in end:
                keep = run.seen.mask(run.keys(i)) & ~changed_union
                pred_ids = measure.ids(frame_at(run, clips[j], i)[None])
                unedited.append(1.0 - float(measure.id_agreement(pred_ids, truth_ids[i][None], keep[None])[0]))
            table.add("unedited_change", row, float(np.nanmean(unedited)))
        add_regions(table, measure, run, preds, j, end, "return.")
    metrics = table.metrics()
    strips = []
    if runs:
        run = runs[0]
        p, tags = run.prompt_len, run.scenario.tags
        idx = [p - 1, p + tags["break"], p + tags["place"], p + tags["reference"] - 1]
        idx += spread(p + tags["reference"] + 1, len(run.frames) - 1, 4)
        strips.append(make_strip(run.scenario.name, run, preds["model"][0], idx))
    per_edit_recall = {kind: {row: float(np.nanmean(v)) if np.isfinite(np.asarray(v)).any() else None
                              for row, v in rows.items()} for kind, rows in per_edit.items()}
    return FamilyResult(NAME, "edit_recall", metrics, [r.scenario.name for r in runs],
                        extras={"per_edit_recall": per_edit_recall}, strips=strips)
