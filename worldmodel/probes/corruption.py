"""The corruption harness: damage the truth on purpose and check that every family's score notices.

Each corruption changes a scenario's true rollout: `delete` removes the probe's objects (salient cells) and a
share of the solid cells seen in the prompt, `swap` turns them into other block types, `move` shifts them
MOVE_CELLS cells across the line of sight from the first prompt frame (all three right after the prompt, replayed
in BlockWorld); `blur` box-blurs every frame; `freeze`
repeats the first script frame (the world stops after one step); `wrong_turn` replays the script with every camera turn mirrored
(moves and buttons as commanded). Each is applied to the truth and, given a reference tokenizer, to the truth
through it. A corruption passes when it lowers the family's normalised headline (1 = truth, 0 = copy-last) by at
least its stated share (EXPECT) of the uncorrupted row's own distance above the floor (for the truth: the whole
truth-to-floor gap); a
required corruption that is not caught fails the harness. Blur is reported but required of no headline: block
identity survives a 5-pixel blur (PSNR/SSIM metrics move, block-id agreement barely does).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from envs.actions import Action
from envs.blockworld import blocks as B
from envs.blockworld.env import BlockWorldEnv
from worldmodel.probes.adapters import CopyLast
from worldmodel.probes.auxstore import AuxModels
from worldmodel.probes.config import SuiteConfig
from worldmodel.probes.measure import Measure
from worldmodel.probes.references import TokenizerRow
from worldmodel.probes.scenario import EnvPool, TruthRun, WorldEdit, run_truth, simulate
from worldmodel.probes.scoring import FLOOR, TOP, json_safe, normalised
from worldmodel.probes.suite import FAMILIES, scored_frames

KINDS = ("delete", "swap", "move", "blur", "freeze", "wrong_turn")
SWAP = {B.GRASS: B.SAND, B.DIRT: B.STONE, B.STONE: B.PLANKS, B.SAND: B.GRASS, B.LOG: B.WOOL_BLUE,
        B.LEAVES: B.WOOL_RED, B.GOLD: B.DIAMOND, B.DIAMOND: B.GOLD, B.WOOL_RED: B.WOOL_GREEN,
        B.WOOL_BLUE: B.WOOL_YELLOW, B.WOOL_YELLOW: B.WOOL_RED, B.WOOL_GREEN: B.WOOL_BLUE, B.COAL_ORE: B.GOLD,
        B.IRON_ORE: B.DIAMOND, B.PLANKS: B.LOG}
KEEP = (B.AIR, B.WATER, B.WALL, B.BEDROCK)
FRACTION = 0.6  # share of the seen cells a world corruption touches (the salient cells always)
OBJECTS = ("delete", "swap", "move")
CAUGHT = 0.25  # default share of the truth-to-floor gap a caught corruption must take off the normalised score
EXPECT: dict[str, dict[str, float]] = {  # family -> corruption -> the drop it must cause (stated shares)
    "permanence": {k: CAUGHT for k in (*OBJECTS, "freeze", "wrong_turn")},
    "lookback": {k: CAUGHT for k in (*OBJECTS, "freeze", "wrong_turn")},
    "loop": {k: CAUGHT for k in (*OBJECTS, "freeze", "wrong_turn")},
    "edits": {k: CAUGHT for k in (*OBJECTS, "freeze", "wrong_turn")},
    # macro-F1 over 11 action classes: mirroring the 4 camera classes moves
    # only the classes it touches (and the IDM is weak), so a smaller share is required
    "actions": {"freeze": CAUGHT, "wrong_turn": 0.1},
    "drift": {"freeze": CAUGHT, "wrong_turn": CAUGHT},
}
BLUR = 5  # box size (pixels) of the blur corruption
MOVE_CELLS = 2  # how far `move` shifts the objects, across the line of sight (one cell along x could be a step
# straight away from the eye: the object barely moved on screen and the reference-tokenizer row missed it)


def _cells(run: TruthRun, seed: int) -> list[tuple[int, int, int]]:
    """The probe's objects (salient cells); a scenario without any: a seeded FRACTION of the solid cells seen in
    the prompt."""
    if run.scenario.salient:
        return [tuple(int(v) for v in c) for c in run.scenario.salient]  # type: ignore[misc]
    shape = run.world_shape
    ids = run.seen.cells()
    cells = np.stack([ids // (shape[1] * shape[2]), (ids // shape[2]) % shape[1], ids % shape[2]], axis=1)
    rng = np.random.default_rng(seed)
    chosen = cells[rng.random(len(cells)) < FRACTION]
    return [tuple(int(v) for v in c) for c in chosen if run.voxels0[tuple(c)] not in KEEP]  # type: ignore[misc]


def _sideways(run: TruthRun, cells: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    """The cell offset of `move`: MOVE_CELLS along the horizontal axis more across the line of sight from the first
    prompt frame's feet to the cells' centre."""
    if not cells:
        return (MOVE_CELLS, 0, 0)
    centre = np.mean(np.asarray(cells, np.float64), axis=0) + 0.5
    dx, dz = centre[0] - run.scenario.pose[0], centre[2] - run.scenario.pose[2]
    return (0, 0, MOVE_CELLS) if abs(dx) >= abs(dz) else (MOVE_CELLS, 0, 0)


def world_edit(kind: str, run: TruthRun, seed: int) -> WorldEdit | None:
    """The env mutation of a world corruption (None for action-level kinds)."""
    if kind not in OBJECTS:
        return None
    cells = _cells(run, seed)
    shift = _sideways(run, cells)

    def apply(env: BlockWorldEnv) -> None:
        old = {c: env.get_block(c) for c in cells}
        if kind == "move":
            for c in cells:
                env.set_block(c, B.AIR)
        for c, block in old.items():
            if block in KEEP:
                continue
            if kind == "delete":
                env.set_block(c, B.AIR)
            elif kind == "swap":
                env.set_block(c, SWAP.get(block, B.PLANKS))
            else:
                target = (c[0] + shift[0], c[1], c[2] + shift[2])
                if target[0] < env.voxels.shape[0] - 1 and target[2] < env.voxels.shape[2] - 1:
                    env.set_block(target, block)

    return apply


def blur(frames: np.ndarray, size: int = BLUR) -> np.ndarray:
    """Box blur (size x size, edges clamped) of uint8 frames (N, H, W, 3)."""
    pad = size // 2
    padded = np.pad(frames.astype(np.float32), ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    h, w = frames.shape[1:3]
    out = np.zeros(frames.shape, np.float32)
    for dy in range(size):
        for dx in range(size):
            out += padded[:, dy : dy + h, dx : dx + w]
    return np.round(out / size**2).astype(np.uint8)


def corrupted_frames(kind: str, run: TruthRun, env: BlockWorldEnv, seed: int) -> np.ndarray:
    """The script's frames with one corruption applied."""
    script: Sequence[Action] = run.scenario.script
    truth = run.script_frames
    if kind == "blur":
        return blur(truth)
    if kind == "freeze":  # the world stops after the first step
        return np.repeat(truth[:1], len(truth), axis=0)
    if kind == "wrong_turn":
        wrong = []
        for action in script:
            new = dict(action)
            new["camera"] = -np.asarray(action["camera"], np.float32)
            wrong.append(new)
        return simulate(run, env, wrong)["frames"]
    return simulate(run, env, script, world_edit(kind, run, seed))["frames"]


def _through(tok: TokenizerRow, clip: np.ndarray, keep: list[int]) -> np.ndarray:
    """The clip with the frames at `keep` (the scored ones) through the tokenizer."""
    out = clip.copy()
    if keep:
        out[keep] = tok.reconstruct(clip[keep])
    return out


def run_harness(suites: Sequence[str], cfg: SuiteConfig, aux: AuxModels, reference_tokenizer: Any | None = None,
                log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Score the clean and corrupted truth (and, given a tokenizer, the same through it) per family; a table of
    the normalised headline's drops as shares of the truth-to-floor gap, with verdicts and failures."""
    pool = EnvPool(cfg.fov_deg)
    env = pool.get(cfg.height, cfg.width)
    measure = Measure(aux.segmenter, aux.idm, cfg.height, cfg.width, cfg.fov_deg)
    tok = TokenizerRow(reference_tokenizer, "reference_tokenizer") if reference_tokenizer is not None else None
    table: list[dict[str, Any]] = []
    for name in suites:
        family = FAMILIES[name]
        runs = [run_truth(s, env) for s in family.build(cfg, pool)]
        scripts = [r.scenario.script for r in runs]
        clean = [r.script_frames for r in runs]
        preds: dict[str, list[np.ndarray]] = {"model": clean, TOP: clean, FLOOR: CopyLast().predict(runs, scripts)}
        for kind in KINDS:
            preds[kind] = [corrupted_frames(kind, r, env, cfg.seed + j) for j, r in enumerate(runs)]
        bases = ["truth"]
        if tok is not None:
            bases.append("reference_tokenizer")
            picks = scored_frames(family, runs) or [list(range(len(r.frames))) for r in runs]
            for key in [TOP, *KINDS]:
                preds[f"{key}@tok"] = [_through(tok, clip, [i - r.prompt_len for i in pick if i >= r.prompt_len])
                                       for r, clip, pick in zip(runs, preds[key], picks)]
        result = family.score(runs, preds, measure, cfg)
        head = result.metrics[result.headline]
        top, floor = head.mean(TOP), head.mean(FLOOR)
        for base in bases:
            suffix = "" if base == "truth" else "@tok"
            clean = normalised(head.mean(TOP + suffix), top, floor, head.higher_is_better)
            cells = []
            for kind in KINDS:
                # the drop as a share of what this row scores above the floor (the truth's: the whole gap)
                drop = (clean - normalised(head.mean(kind + suffix), top, floor, head.higher_is_better)) / clean
                need = EXPECT.get(name, {}).get(kind)
                ok = bool(need is not None and np.isfinite(drop) and drop >= need)
                verdict = ("✓" if ok else "✗") if need is not None else ("·" if np.isfinite(drop) else "?")
                cells.append({"kind": kind, "drop": drop, "required": need, "expected": need is not None,
                              "verdict": verdict})
            table.append({"family": name, "base": base, "headline": result.headline, "clean": clean,
                          "corrupted": cells})
        if log is not None:
            log(f"corruption harness: {name} scored")
    failures = [f"{r['family']}:{c['kind']}@{r['base']}" for r in table for c in r["corrupted"]
                if c["expected"] and c["verdict"] != "✓"]
    rule = (f"Each required corruption of the truth (and of the truth through the reference tokenizer) must lower "
            f"the family's normalised headline by its stated share of that row's own distance above copy-last (for "
            f"the truth: the whole truth-to-copy-last gap; {CAUGHT} unless stated otherwise; cells show the share): ✓ caught, ✗ not caught (fails the harness), · not required.")
    return json_safe({"kinds": list(KINDS), "required": EXPECT, "rule": rule, "table": table,
                      "failures": failures, "ok": not failures})
