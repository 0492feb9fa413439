"""The corruption harness: damage ground-truth rollouts on purpose and check that every metric notices.

Each corruption replays a scenario's true script in BlockWorld from the state after the prompt, with the world
or the actions changed: `delete` removes the probe's salient cells and most solid cells seen in the prompt,
`swap` turns them into other block types, `shift` moves them one cell sideways, `revert` undoes the script's
own edits halfway through (an edit that does not persist), `drop` ignores every other commanded action. The
corrupted rollouts are scored like a model; EXPECT lists the metrics each corruption must make worse (the
others are reported: "=" unchanged, "~" moved either way within the noise, "✓" worse, "✗" better).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from envs.actions import Action, noop_action
from envs.blockworld import blocks as B
from envs.blockworld.env import BlockWorldEnv
from worldmodel.probes.auxstore import AuxModels
from worldmodel.probes.config import SuiteConfig
from worldmodel.probes.measure import Measure
from worldmodel.probes.scenario import EnvPool, TruthRun, WorldEdit, run_truth, simulate
from worldmodel.probes.scoring import json_safe
from worldmodel.probes.suite import FAMILIES

KINDS = ("delete", "swap", "shift", "revert", "drop")
SWAP = {B.GRASS: B.SAND, B.DIRT: B.STONE, B.STONE: B.PLANKS, B.SAND: B.GRASS, B.LOG: B.WOOL_BLUE,
        B.LEAVES: B.WOOL_RED, B.GOLD: B.DIAMOND, B.DIAMOND: B.GOLD, B.WOOL_RED: B.WOOL_GREEN,
        B.WOOL_BLUE: B.WOOL_YELLOW, B.WOOL_YELLOW: B.WOOL_RED, B.WOOL_GREEN: B.WOOL_BLUE, B.COAL_ORE: B.GOLD,
        B.IRON_ORE: B.DIAMOND, B.PLANKS: B.LOG}
KEEP = (B.AIR, B.WATER, B.WALL, B.BEDROCK)
FRACTION = 0.6  # share of the seen cells a world corruption touches (the salient cells always)
EXPECT: dict[str, dict[str, tuple[str, ...]]] = {
    "permanence": {"delete": ("recall",), "swap": ("recall",), "shift": ("recall",), "drop": ("recall",)},
    "lookback": {k: ("seen.ids", "seen.psnr") for k in ("delete", "swap", "shift", "drop")},
    "loop": {k: ("return.seen.ids",) for k in ("delete", "swap", "shift", "drop")},
    "edits": {"delete": ("edit_recall",), "swap": ("edit_recall",), "shift": ("edit_recall",),
              "revert": ("edit_recall", "revert_rate"), "drop": ("edit_recall",)},
    "actions": {"drop": ("macro_f1",)},
    "drift": {k: ("explore_quality",) for k in ("delete", "swap", "shift", "drop")},
}
TOLERANCE = 1e-6


def _cells(run: TruthRun, seed: int) -> list[tuple[int, int, int]]:
    """Salient cells plus a seeded FRACTION of the solid cells seen in the prompt."""
    shape = run.world_shape
    ids = run.seen.cells()
    cells = np.stack([ids // (shape[1] * shape[2]), (ids // shape[2]) % shape[1], ids % shape[2]], axis=1)
    rng = np.random.default_rng(seed)
    chosen = cells[rng.random(len(cells)) < FRACTION]
    out = [tuple(int(v) for v in c) for c in chosen if run.voxels0[tuple(c)] not in KEEP]
    return list(dict.fromkeys([tuple(c) for c in run.scenario.salient] + out))  # type: ignore[misc]


def world_edit(kind: str, run: TruthRun, seed: int) -> WorldEdit | None:
    """The env mutation of a world corruption (None for action-level kinds)."""
    if kind not in ("delete", "swap", "shift"):
        return None
    cells = _cells(run, seed)

    def apply(env: BlockWorldEnv) -> None:
        old = {c: env.get_block(c) for c in cells}
        if kind == "shift":
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
                target = (c[0] + 1, c[1], c[2])
                if target[0] < env.voxels.shape[0] - 1:
                    env.set_block(target, block)

    return apply


def corrupted_frames(kind: str, run: TruthRun, env: BlockWorldEnv, seed: int) -> np.ndarray:
    """The script's frames with one corruption applied."""
    script: Sequence[Action] = run.scenario.script
    if kind == "drop":
        script = [a if t % 2 == 0 else noop_action() for t, a in enumerate(script)]
        return simulate(run, env, script)["frames"]
    if kind == "revert":
        edits = [e for e in run.edits if e[0] >= run.prompt_len]
        if not edits:
            return run.script_frames
        step = (max(e[0] for e in edits) - run.prompt_len + 1 + len(script)) // 2

        def undo(env: BlockWorldEnv) -> None:
            for _, x, y, z, old, _ in reversed(edits):
                env.set_block((x, y, z), old)

        return simulate(run, env, script, undo, edit_step=min(step, len(script) - 1))["frames"]
    return simulate(run, env, script, world_edit(kind, run, seed))["frames"]


def _verdict(clean: float, value: float, higher_is_better: bool, expected: bool) -> str:
    if not (np.isfinite(clean) and np.isfinite(value)):
        return "?"
    delta = (value - clean) if higher_is_better else (clean - value)  # > 0: better than clean
    if abs(delta) <= TOLERANCE:
        return "✗" if expected else "="
    if delta < 0:
        return "✓"
    return "✗" if expected else "~"


def run_harness(suites: Sequence[str], cfg: SuiteConfig, aux: AuxModels,
                log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Score clean and corrupted truth for each family; a table of metric moves with verdicts."""
    pool = EnvPool(cfg.fov_deg)
    env = pool.get(cfg.height, cfg.width)
    measure = Measure(aux.segmenter, aux.idm, cfg.height, cfg.width, cfg.fov_deg)
    table: list[dict[str, Any]] = []
    for name in suites:
        family = FAMILIES[name]
        runs = [run_truth(s, env) for s in family.build(cfg, pool)]
        preds: dict[str, list[np.ndarray]] = {"model": [r.script_frames for r in runs],
                                               "ceiling": [r.script_frames for r in runs]}
        for kind in KINDS:
            preds[kind] = [corrupted_frames(kind, r, env, cfg.seed + j) for j, r in enumerate(runs)]
        result = family.score(runs, preds, measure, cfg)
        if log is not None:
            log(f"corruption harness: {name} scored")
        expect = EXPECT.get(name, {})
        for metric_name, metric in result.metrics.items():
            if metric_name.startswith("never_seen") or ".never_seen." in metric_name:
                continue
            clean = metric.mean("model")
            cells = []
            for kind in KINDS:
                value = metric.mean(kind)
                expected = metric_name in expect.get(kind, ())
                cells.append({"kind": kind, "value": value, "expected_worse": expected,
                              "verdict": _verdict(clean, value, metric.higher_is_better, expected)})
            table.append({"family": name, "metric": metric_name, "higher_is_better": metric.higher_is_better,
                          "clean": clean, "corrupted": cells})
    failures = [f"{r['family']}.{r['metric']}:{c['kind']}" for r in table for c in r["corrupted"]
                if c["expected_worse"] and c["verdict"] != "✓"]
    return json_safe({"kinds": list(KINDS), "table": table, "failures": failures, "ok": not failures})
