"""Family E, action following per action type: attack removes the targeted block, hotbar selection changes the
HUD, yaw/pitch commands turn by the commanded angle, jump, forward/back/left/right move.

The render-and-compare inverse dynamics (renderidm.py: every candidate action simulated in the true world, the
closest render kept, the row's pose tracked) reads every consecutive pair of a row's frames; its per-step verdicts
vs the commanded actions give per-action precision / recall / F1 (macro-F1 is the headline). Steps whose command
took no effect in the true world (a move into a wall) are left out. The learned IDM's macro-F1 is a secondary
metric (full suite only). Render-and-compare pose search measures camera error (turned angle vs commanded) and
movement error (distance moved along the commanded direction vs the truth). Attack and hotbar are also checked
directly (segmenter on the broken cell, HUD reader on the hotbar).
"""

from __future__ import annotations

import math

import numpy as np

from envs.actions import HOTBAR, Action
from worldmodel.probes.auxdata import MOVE_MIN
from worldmodel.probes.config import SuiteConfig
from worldmodel.probes.edits import script_edits, undo_ids
from worldmodel.probes.famutil import Preds, Table, make_strip
from worldmodel.probes.idm import ACTION_CLASSES, action_classes
from worldmodel.probes.measure import Measure, frame_at
from worldmodel.probes.permanence import LANDMARKS
from worldmodel.probes.posesearch import yaw_difference
from worldmodel.probes.scenario import EnvPool, Scenario, TruthRun
from worldmodel.probes.scoring import FamilyResult
from worldmodel.probes.scripting import (
    ScriptBuilder,
    clear_path,
    noop,
    pan_prompt,
    pillar_sites,
    press,
    turn,
    yaw_to,
)
from worldmodel.probes.visibility import cell_region, read_selected_slot

NAME = "actions"
DIST = 3.0
CAMERA_SEGMENTS = (("turn_right", 60.0, 0.0, 10.0), ("turn_left", -16.0, 0.0, 3.2), ("look_down", 0.0, 23.2, 5.8),
                   ("look_up", 0.0, -23.2, 5.8))  # name, yaw, pitch, degrees per tick
MOVES = (("forward", 8), ("back", 8), ("left", 6), ("right", 6))


def _script(b: ScriptBuilder, rate: float) -> None:
    b.mark("attack")
    b.add(press("attack") + noop(3))
    b.mark("hotbar")
    b.add(press("hotbar.3") + noop(3))
    for name, yaw, pitch, step in CAMERA_SEGMENTS:
        b.mark(name)
        b.add(turn(yaw, step, dpitch=pitch))
        b.mark(name + "_end")
        b.add(noop(2))
    b.mark("jump")
    b.add(press("jump") + noop(11))
    for key, ticks in MOVES:
        b.mark(key)
        b.add(press(key, ticks))
        b.mark(key + "_end")
        b.add(noop(3))


def build(cfg: SuiteConfig, pool: EnvPool) -> list[Scenario]:
    """One scripted tour of every action type per world, at a site where the moves are not blocked."""
    env = pool.get(cfg.height, cfg.width)
    r, p = cfg.turn_rate, cfg.prompt_len
    out = []
    for i in cfg.worlds(out):
        found = None
        for ws, feet, _, cells in pillar_sites(env, cfg.seed, NAME, i, 4, DIST):
            ref = yaw_to(feet, (cells[1][0] + 0.5, 0.0, cells[1][2] + 0.5))
            heading = ref + 44.0
            legs = ((0, 2.5), (-90, 1.8), (90, 1.8))  # forward/back, left, right
            if not all(clear_path(env.voxels, feet, heading + off, d) for off, d in legs):
                continue
            block = LANDMARKS[(i + 2) % len(LANDMARKS)]
            start = Scenario(NAME, f"tour_world{i}", ws, (*feet, ref - r * (p - 1), 0.0), pan_prompt(p, r), [],
                             [(c, block) for c in cells], list(cells), {"block": block})
            builder = ScriptBuilder(env, start)
            _script(builder, r)
            if any(e[5] == 0 for e in builder.env.edits if e[0] >= p):  # the attack broke the block
                found = builder.finish()
                break
        if found is not None:
            out.append(found)
    return out


def commanded(script: list[Action]) -> np.ndarray:
    """Binary action classes (T, len(ACTION_CLASSES)) of a script, in the IDM's label layout."""
    keys = ("forward", "back", "left", "right", "jump", "attack")
    buttons = np.array([[a[k] for k in keys] + [int(any(a[h] for h in HOTBAR))] for a in script], np.float32)
    camera = np.array([a["camera"] for a in script], np.float32)
    return action_classes(buttons, camera)


def took_effect(run: TruthRun) -> np.ndarray:
    """(T,) bool: script steps whose commanded keys all took effect in the true world (a move key moved the body
    at least MOVE_MIN that way, jump left the ground, attack broke a block, a hotbar key changed the selection)."""
    p, poses, script = run.prompt_len, run.poses, run.scenario.script
    broke = {e[0] for e in run.edits if e[5] == 0}
    out = np.ones(len(script), bool)
    for t, action in enumerate(script):
        a, b = poses[p + t - 1], poses[p + t]
        rad = np.radians(a[3])
        fwd, right = np.array([-np.sin(rad), np.cos(rad)]), np.array([-np.cos(rad), -np.sin(rad)])
        moved = (b - a)[[0, 2]]
        along = {"forward": moved @ fwd, "back": -moved @ fwd, "left": -moved @ right, "right": moved @ right}
        ok = all(along[k] > MOVE_MIN for k in along if action[k])
        ok &= not action["jump"] or b[1] > a[1]
        ok &= not action["attack"] or p + t in broke
        if any(action[h] for h in HOTBAR):
            ok &= read_selected_slot(run.frames[p + t]) != read_selected_slot(run.frames[p + t - 1])
        out[t] = ok
    return out


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    prec = tp / (tp + fp) if tp + fp > 0 else math.nan
    rec = tp / (tp + fn) if tp + fn > 0 else math.nan
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else math.nan
    return prec, rec, f1


def score(runs: list[TruthRun], preds: Preds, measure: Measure, cfg: SuiteConfig) -> FamilyResult:
    """Macro-F1 of the IDM vs the commands (headline), camera and movement errors, attack and hotbar checks."""
    table = Table()
    table.declare("macro_f1", True, "render-and-compare IDM on consecutive frames vs the commanded actions (steps "
                  "where they took effect in truth): F1 averaged over action types")
    table.declare("macro_f1_learned_idm", True, "the learned IDM instead (full suite only)")
    table.declare("camera_error_deg", False, "|turned angle (pose search) - commanded angle| per camera segment",
                  span=60.0)
    table.declare("move_error_blocks", False, "|distance moved along the move (pose search) - true distance|",
                  span=2.5)
    table.declare("attack_removed", True, "block-id agreement on the attacked cell's pixels right after the attack")
    table.declare("hotbar_correct", True, "HUD reader: highlighted slot after the hotbar key matches the truth")
    counts = {row: np.zeros((len(ACTION_CLASSES), 3)) for row in preds}  # tp, fp, fn
    skipped = 0
    for j, run in enumerate(runs):
        p, tags = run.prompt_len, run.scenario.tags
        keep = took_effect(run)
        skipped += int((~keep).sum())
        want = commanded(run.scenario.script)[keep]
        for row, clips in preds.items():
            got = measure.render_idm.classes(run, clips[j])[keep]
            tp, fp, fn = (got & want).sum(0), (got & ~want).sum(0), (~got & want).sum(0)
            counts[row] += np.stack([tp, fp, fn], axis=1)
            table.add("macro_f1", row, _macro(tp, fp, fn))
            slow = not cfg.quick  # pose search and the learned IDM are the slow part: skipped in quick mode
            learned = math.nan
            if slow:
                probs, cams = measure.actions(np.concatenate([run.prompt_frames[-1:], clips[j]]))
                got = action_classes(probs, cams)[keep]
                learned = _macro((got & want).sum(0), (got & ~want).sum(0), (~got & want).sum(0))
            table.add("macro_f1_learned_idm", row, learned)
            table.add("camera_error_deg", row, _camera_error(run, clips[j], measure) if slow else math.nan)
            table.add("move_error_blocks", row, _move_error(run, clips[j], measure) if slow else math.nan)
            table.add("attack_removed", row, _attack(run, clips[j], measure))
            hud = [read_selected_slot(frame_at(run, clips[j], i)) == read_selected_slot(run.frames[i])
                   for i in range(p + tags["hotbar"] + 1, p + tags["hotbar"] + 4)]
            table.add("hotbar_correct", row, float(np.mean(hud)))
    per_action = {row: {name: dict(zip(("precision", "recall", "f1"), _prf(*counts[row][k])))
                        for k, name in enumerate(ACTION_CLASSES)} for row in preds}
    strips = []
    if runs:
        run = runs[0]
        p, t = run.prompt_len, run.scenario.tags
        idx = [p - 1] + [p + t[k] for k in ("attack", "hotbar")] + [p + t[n + "_end"] - 1 for n, *_ in CAMERA_SEGMENTS]
        idx += [p + t["jump"] + 4] + [p + t[k + "_end"] - 1 for k, _ in MOVES[:2]]
        strips.append(make_strip(run.scenario.name, run, preds["model"][0], idx))
    return FamilyResult(NAME, "macro_f1", table.metrics(), [r.scenario.name for r in runs],
                        extras={"per_action": per_action, "idm": "render-and-compare",
                                "steps_without_effect_in_truth": skipped}, strips=strips)


def _macro(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> float:
    """Macro-F1 over the action classes (a class with no positives on either side counts 0)."""
    return float(np.mean([0.0 if math.isnan(v) else v for v in (_prf(*c)[2] for c in zip(tp, fp, fn))]))


def _segment_frames(run: TruthRun, name: str) -> tuple[int, int]:
    """Run frame indices just before a segment's first action and just after its last."""
    p, t = run.prompt_len, run.scenario.tags
    return p + t[name] - 1, p + t[name + "_end"] - 1


def _camera_error(run: TruthRun, row: np.ndarray, measure: Measure) -> float:
    errors = []
    for name, yaw, pitch, _ in CAMERA_SEGMENTS:
        a, b = _segment_frames(run, name)
        est = [measure.pose.angles(frame_at(run, row, i), run.voxels_at(i), run.poses[i]) for i in (a, b)]
        dyaw, dpitch = yaw_difference(est[1][3], est[0][3]), est[1][4] - est[0][4]
        errors.append(math.hypot(dyaw - yaw, dpitch - pitch))
    return float(np.mean(errors))


def _move_error(run: TruthRun, row: np.ndarray, measure: Measure) -> float:
    errors = []
    for key, _ in MOVES:
        a, b = _segment_frames(run, key)
        moved = run.poses[b, :3] - run.poses[a, :3]
        moved[1] = 0.0
        dist = float(np.linalg.norm(moved))
        if dist < 0.3:  # blocked in truth: nothing to compare
            continue
        direction = moved / dist
        start = measure.pose.along(frame_at(run, row, a), run.voxels_at(a), run.poses[a], direction)
        end = measure.pose.along(frame_at(run, row, b), run.voxels_at(b), run.poses[a], direction, -1.0, dist + 1.5)
        errors.append(abs((end - start) - dist))
    return float(np.mean(errors)) if errors else math.nan


def _attack(run: TruthRun, row: np.ndarray, measure: Measure) -> float:
    vals = []
    for tick, cell, old, _ in script_edits(run)[:1]:
        for i in range(tick, min(tick + 3, len(run.frames))):
            undo = undo_ids(run, i, cell, old, measure.pose.textures)
            diff = cell_region([cell], run.poses[i], run.depth[i], run.world_shape, run.fov_deg) & measure.world
            diff &= undo != run.block_ids[i]
            if diff.sum() >= 6:
                pred = measure.ids(frame_at(run, row, i)[None])[0]
                vals.append(float((pred[diff] == run.block_ids[i][diff]).mean()))
    return float(np.mean(vals)) if vals else math.nan
