"""Runs probe families: build scenarios, play them in truth, predict every row, score, summarise.

    results, families = run_suite(model, tokenizer, ["permanence", "drift"], SuiteConfig(), aux)

The model row and the shuffled-actions row of a WorldModel run in one batched rollout (2B worlds).
"""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any, Callable, Sequence

import numpy as np

from worldmodel.probes import drift, edits, following, lookback, loop, permanence
from worldmodel.probes.adapters import Predictor, ShuffledActions, make_rows, shuffle_script
from worldmodel.probes.auxstore import AuxModels
from worldmodel.probes.config import SuiteConfig
from worldmodel.probes.measure import Measure
from worldmodel.probes.scenario import EnvPool, Scenario, TruthRun, run_truth
from worldmodel.probes.scoring import FamilyResult, summarise
from worldmodel.probes.segmenter import accuracy

FAMILIES: dict[str, ModuleType] = {"permanence": permanence, "lookback": lookback, "loop": loop, "edits": edits,
                                   "actions": following, "drift": drift}
LETTERS = {"permanence": "A", "lookback": "B", "loop": "C", "edits": "D", "actions": "E", "drift": "F"}
FORMAT = "worldmodel.probes/1"


def parse_suites(text: str) -> list[str]:
    """'all' or a comma-separated list of family names -> names in canonical order (ValueError naming a bad one)."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names or "all" in names:
        return list(FAMILIES)
    bad = [n for n in names if n not in FAMILIES]
    if bad:
        raise ValueError(f"--suite: unknown suite(s) {bad}; expected 'all' or some of {list(FAMILIES)}")
    return [n for n in FAMILIES if n in names]


def predict_rows(rows: dict[str, Predictor], runs: Sequence[TruthRun], tick: Callable[[int], None] | None
                 ) -> dict[str, list[np.ndarray]]:
    """Every row's predictions for the true scripts (model + shuffled batched together when possible)."""
    scripts = [r.scenario.script for r in runs]
    preds: dict[str, list[np.ndarray]] = {}
    shuffled = rows.get("shuffled_actions")
    if isinstance(shuffled, ShuffledActions) and shuffled.base is rows["model"]:
        mixed = [shuffle_script(s, shuffled.seed * 100_003 + i) for i, s in enumerate(scripts)]
        both = rows["model"].predict(list(runs) * 2, scripts + mixed, tick)
        preds["model"], preds["shuffled_actions"] = both[: len(runs)], both[len(runs) :]
    for name, predictor in rows.items():
        if name not in preds:
            preds[name] = predictor.predict(runs, scripts, tick if name == "model" else None)
    return preds


def segmenter_check(runs: Sequence[TruthRun], ceiling: Predictor, measure: Measure, limit: int = 96
                    ) -> dict[str, float]:
    """Segmenter accuracy on truth frames and on their tokenizer reconstructions (the block-id ceiling)."""
    picks = [(r, i) for r in runs for i in range(r.prompt_len, len(r.frames), 7)][:limit]
    if not picks:
        return {}
    frames = np.stack([r.frames[i] for r, i in picks])
    ids = np.stack([r.block_ids[i] for r, i in picks])
    recon = ceiling.reconstruct(frames) if hasattr(ceiling, "reconstruct") else frames
    return {"accuracy_gt": accuracy(measure.ids(frames), ids), "accuracy_ceiling": accuracy(measure.ids(recon), ids),
            "frames": float(len(picks))}


def run_suite(model: Predictor, tokenizer: Any | None, suites: Sequence[str], cfg: SuiteConfig, aux: AuxModels,
              model_name: str = "model", progress: bool = True) -> tuple[dict[str, Any], dict[str, FamilyResult]]:
    """Run the named families; returns (results.json dict, raw FamilyResult per family for the report)."""
    from tqdm import tqdm

    t0 = time.time()
    pool = EnvPool(cfg.fov_deg)
    env = pool.get(cfg.height, cfg.width)
    rows = make_rows(model, tokenizer, cfg.seed)
    measure = Measure(aux.segmenter, aux.idm, cfg.height, cfg.width, cfg.fov_deg)
    scenarios: dict[str, list[Scenario]] = {}
    for name in suites:
        scenarios[name] = FAMILIES[name].build(cfg, pool)
    frames = {name: sum(len(s.script) for s in sc) for name, sc in scenarios.items()}
    bar = tqdm(total=2 * sum(frames.values()), unit="frame", disable=not progress, desc="probes", dynamic_ncols=True)
    results: dict[str, Any] = {}
    raw: dict[str, FamilyResult] = {}
    seg_check: dict[str, float] = {}
    timings: dict[str, float] = {}
    for name in suites:
        start = time.time()
        bar.set_postfix_str(f"{LETTERS[name]} {name}: truth")
        runs = [run_truth(s, env) for s in scenarios[name]]
        bar.set_postfix_str(f"{LETTERS[name]} {name}: rollouts")
        done = [0]

        def tick(n: int, done: list[int] = done) -> None:
            done[0] += n
            bar.update(n)

        preds = predict_rows(rows, runs, tick)
        bar.update(max(0, 2 * frames[name] - done[0]))  # rows that were free (oracle, copies) still count
        bar.set_postfix_str(f"{LETTERS[name]} {name}: scoring")
        result = FAMILIES[name].score(runs, preds, measure, cfg)
        raw[name] = result
        results[name] = {"letter": LETTERS[name], **summarise(result, cfg.seed, cfg.bootstrap)}
        timings[name] = round(time.time() - start, 2)
        if not seg_check and runs:
            seg_check = segmenter_check(runs, rows["ceiling"], measure)
    bar.close()
    header = {
        "format": FORMAT,
        "model": model_name,
        "suites": list(suites),
        "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
        "rows": list(rows),
        "aux": {"segmenter": {**aux.info.get("segmenter", {}), "this_run": seg_check},
                "idm": aux.info.get("idm", {})},
        "runtime_s": round(time.time() - t0, 2),
        "family_runtime_s": timings,
        "renders_pose_search": measure.pose.renders,
    }
    return {**header, "families": results}, raw
