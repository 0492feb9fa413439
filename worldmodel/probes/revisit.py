"""`wm probe --data STORE`: revisit scoring on recorded footage (WorldMem-style), for any episode store.

A *revisit* in a recorded episode: the view at frame `a` (the anchor) turns or walks away, then returns to within
a few degrees (and, where poses are recorded, a fraction of a block) at a later frame `b`. Poses come from the
store's ground truth (BlockWorld recordings); without them (imported MineRL / VPT / video stores) the camera
deltas of the recorded actions are summed (pitch clamped to +-90 like the games), and the player must barely
move in between (movement keys on at most `max_move_steps` steps).

The model is prompted with the P recorded frames ending at `s`, the first frame at which the view has left
(`away_deg` from the anchor's view, or `away_blocks` from its position), so the anchor view is in the prompt
but not in its last frame; it then rolls open loop with the recorded actions from `s` to `b`. Its frame at `b`
is scored against the recorded frame `b`: PSNR (whole frame, capped at 40 dB), and block-id agreement (the
probes' segmenter vs the recorded block ids, HUD excluded) where the store has ground truth: on all world pixels
(`ids`) and on those whose recorded id differs from frame `s`'s (`changed_ids`, the headline: copying cannot get
them). Reference rows: `copy_last` (frame `s`
repeated: the floor, normalised 0) and `earlier_view` (the recorded frame `a` itself: what a perfect memory of
the earlier visit returns, normalised 1); `recorded` (frame `b` itself: the segmenter's ceiling) for block ids.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from envs.actions import Action, stack_actions, unstack_actions
from worldmodel.metrics import psnr
from worldmodel.probes.visibility import hud_mask

ROWS = ("model", "copy_last", "earlier_view", "recorded")
MOVE_KEYS = ("forward", "back", "left", "right", "jump")
FORMAT = "worldmodel.probes.revisit/1"
PSNR_CAP = 40.0  # dB: frames this close count as identical (BlockWorld returns can be pixel-exact)
MIN_CHANGED = 20  # pixels: fewer changed pixels at a revisit leave its changed_ids unmeasured


@dataclass
class RevisitConfig:
    """What counts as a revisit and how many are scored."""

    prompt_len: int = 12
    """Prompt frames P (ending at the frame where the view has left)."""
    return_deg: float = 5.0
    """The view at the revisit is within this many degrees of the anchor's (yaw and pitch together)."""
    return_blocks: float = 0.5
    """With recorded poses: the position is within this many blocks of the anchor's."""
    away_deg: float = 60.0
    """The view has left once it is this many degrees from the anchor's."""
    away_blocks: float = 3.0
    """With recorded poses, walking this far away also counts as leaving."""
    max_roll: int = 48
    """At most this many open-loop steps from the prompt's end to the revisit."""
    max_move_steps: int = 2
    """Without poses: movement keys held on at most this many steps between anchor and revisit."""
    limit: int = 40
    """At most this many revisits (spread over the episodes in store order)."""
    use_pose: bool = True
    """Use recorded poses where the store has them (False: the summed camera, as for imported footage)."""


@dataclass
class Revisit:
    """One revisit: anchor a, prompt end s (the prompt is frames s-P+1..s), revisit b."""

    episode: int
    anchor: int
    prompt_end: int
    target: int
    angle_deg: float
    source: str  # "pose" or "camera"


@dataclass
class FootageRun:
    """A revisit as the probe adapters see a run: prompt frames and actions, and the script to roll."""

    frames: np.ndarray  # (P, H, W, 3): the prompt
    prompt_actions: list[Action]
    script: list[Action]
    scenario: Any = field(init=False)

    def __post_init__(self) -> None:
        self.scenario = SimpleNamespace(prompt_actions=self.prompt_actions, script=self.script, name="revisit")

    @property
    def prompt_len(self) -> int:
        """P."""
        return len(self.frames)

    @property
    def prompt_frames(self) -> np.ndarray:
        """(P, H, W, 3)."""
        return self.frames

    def prompt_action_arrays(self) -> dict[str, np.ndarray]:
        """The P-1 prompt actions as arrays (the WorldModel.reset format)."""
        return stack_actions(self.prompt_actions)


def _views(episode: dict[str, Any], use_pose: bool) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Per frame [yaw, pitch] (T, 2) degrees and positions (T, 3) or None, and their source."""
    pose = episode.get("pose")
    if use_pose and pose is not None:
        pose = np.asarray(pose, np.float64)
        return pose[:, [3, 4]], pose[:, :3], "pose"
    cam = np.asarray(episode["actions"]["camera"], np.float64)  # (T-1, 2) [pitch, yaw]
    yaw = np.concatenate([[0.0], np.cumsum(cam[:, 1])])
    pitch = np.zeros(len(yaw))
    for t, d in enumerate(cam[:, 0]):
        pitch[t + 1] = min(max(pitch[t] + d, -90.0), 90.0)
    return np.stack([yaw, pitch], axis=1), None, "camera"


def view_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (degrees) between [yaw, pitch] views: circular yaw difference and pitch difference combined."""
    dyaw = (b[..., 0] - a[..., 0] + 180.0) % 360.0 - 180.0
    return np.hypot(dyaw, b[..., 1] - a[..., 1])


def find_revisits(episode: dict[str, Any], cfg: RevisitConfig, index: int = 0) -> list[Revisit]:
    """Non-overlapping revisits of one episode (earliest anchors first)."""
    if episode.get("actions") is None:
        return []
    views, pos, source = _views(episode, cfg.use_pose)
    moving = np.zeros(len(views), bool)
    moving[1:] = np.any([np.asarray(episode["actions"][k]) > 0 for k in MOVE_KEYS], axis=0)
    out: list[Revisit] = []
    a, p = 0, cfg.prompt_len
    while a < len(views) - 2:
        end = min(len(views), a + p + cfg.max_roll)  # frames a..end-1 can take part
        angle = view_angle(views[a], views[a:end])
        dist = np.linalg.norm(pos[a:end] - pos[a], axis=1) if pos is not None else np.zeros(end - a)
        left = np.flatnonzero((angle >= cfg.away_deg) | (dist >= cfg.away_blocks))
        s = a + int(left[0]) if left.size else -1
        found = None
        if s > 0 and s - a <= p - 1 and s - p + 1 >= 0:
            back = (angle <= cfg.return_deg) & (dist <= cfg.return_blocks)
            for b in range(s + 1, min(end, s + cfg.max_roll + 1)):
                if pos is None and moving[a + 1 : b + 1].sum() > cfg.max_move_steps:
                    break
                if back[b - a]:
                    found = Revisit(index, a, s, b, float(angle[b - a]), source)
                    break
        if found is not None:
            out.append(found)
            a = found.target
        else:
            a += 1
    return out


def footage_run(episode: dict[str, Any], r: Revisit, prompt_len: int) -> FootageRun:
    """The prompt (frames s-P+1..s with their P-1 actions) and the recorded actions from s to the revisit."""
    acts, start = episode["actions"], r.prompt_end - prompt_len + 1
    return FootageRun(np.asarray(episode["frames"][start : r.prompt_end + 1]),
                      [unstack_actions(acts, t) for t in range(start, r.prompt_end)],
                      [unstack_actions(acts, t) for t in range(r.prompt_end, r.target)])


def _psnr(pred: np.ndarray, truth: np.ndarray) -> float:
    """PSNR (dB) capped at PSNR_CAP (identical frames: an exact return in a static world)."""
    return min(PSNR_CAP, float(psnr(torch.as_tensor(pred[None]), torch.as_tensor(truth[None]))[0]))


def score_revisits(store: str | Path, predictor: Any, cfg: RevisitConfig, segmenter: Any | None = None,
                   seed: int = 0, bootstrap: int = 1000) -> dict[str, Any]:
    """Find revisits in a store, roll the predictor to each and score the revisit frame; results.json dict."""
    from worldmodel.data import open_dataset
    from worldmodel.probes.segmenter import segment

    data = open_dataset(store)
    found: list[tuple[Revisit, dict[str, Any]]] = []
    for i in range(len(data)):
        if len(found) >= cfg.limit:
            break
        episode = data.load(i)
        found += [(r, episode) for r in find_revisits(episode, cfg, i)][: cfg.limit - len(found)]
    if not found:
        raise ValueError(f"--data {store}: no revisits found in {len(data)} episode(s) (the view must leave by "
                         f"{cfg.away_deg:g} degrees and return within {cfg.return_deg:g} within {cfg.max_roll} steps)")
    runs = [footage_run(ep, r, cfg.prompt_len) for r, ep in found]
    preds = predictor.predict(runs, [run.script for run in runs])
    values: dict[str, dict[str, list[float]]] = {"psnr": {r: [] for r in ROWS[:3]}, "ids": {r: [] for r in ROWS},
                                                 "changed_ids": {r: [] for r in ROWS}}
    for (r, ep), pred in zip(found, preds):
        truth = np.asarray(ep["frames"][r.target])
        rows = {"model": pred[-1], "copy_last": ep["frames"][r.prompt_end], "earlier_view": ep["frames"][r.anchor]}
        if pred[-1].shape != truth.shape:
            raise ValueError(f"--data {store}: the model draws {pred[-1].shape[:2]} frames, the store holds "
                             f"{truth.shape[:2]} (crop or resize on import: wm import --crop)")
        for row, frame in rows.items():
            values["psnr"][row].append(_psnr(np.asarray(frame), truth))
        ids = ep.get("block_ids")
        if segmenter is not None and ids is not None:
            world = ~hud_mask(*truth.shape[:2])
            frames = np.stack([np.asarray(f) for f in (*rows.values(), truth)])
            got = segment(segmenter, frames)
            changed = world & (ids[r.target] != ids[r.prompt_end])  # what copying the prompt's end cannot get
            for row, pred_ids in zip(ROWS, got):
                values["ids"][row].append(float((pred_ids == ids[r.target])[world].mean()))
                hit = (pred_ids == ids[r.target])[changed]
                values["changed_ids"][row].append(float(hit.mean()) if hit.size >= MIN_CHANGED else math.nan)
    return summarise(values, found, cfg, str(store), seed, bootstrap)


def _normalised(trio: np.ndarray) -> float:
    """(model - copy_last) / (earlier_view - copy_last) of the means of a (3, n) array (NaN without a gap)."""
    model, floor, top = trio.mean(axis=1)
    return float((model - floor) / (top - floor)) if abs(top - floor) > 1e-9 else math.nan


def summarise(values: dict[str, dict[str, list[float]]], found: list[tuple[Revisit, Any]], cfg: RevisitConfig,
              store: str, seed: int, bootstrap: int) -> dict[str, Any]:
    """Means per metric and row, the normalised score (copy_last 0, earlier_view 1) with a bootstrap CI."""
    metrics: dict[str, Any] = {}
    rng = np.random.default_rng(seed)
    for name, rows in values.items():
        arrays = {row: np.asarray(v, np.float64) for row, v in rows.items() if v}
        if not arrays:
            continue
        means = {row: float(np.nanmean(v)) if np.isfinite(v).any() else None for row, v in arrays.items()}
        trio = np.stack([arrays["model"], arrays["copy_last"], arrays["earlier_view"]])
        trio = trio[:, np.isfinite(trio).all(axis=0)]
        n = trio.shape[1]
        samples = [_normalised(trio[:, rng.integers(0, n, n)]) for _ in range(bootstrap)] if n >= 5 else []
        samples = [s for s in samples if math.isfinite(s)]
        ci = [float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))] if samples else [None, None]
        score = _normalised(trio)
        metrics[name] = {"raw": means, "normalised": score if math.isfinite(score) else None, "ci": ci}
    return {"format": FORMAT, "schema_version": 2, "store": store, "config": asdict(cfg), "n_revisits": len(found),
            "sources": sorted({r.source for r, _ in found}), "metrics": metrics,
            "revisits": [asdict(r) for r, _ in found],
            "meaning": "normalised = (model - copy_last) / (earlier_view - copy_last): 1 = as good as the "
                       "recorded earlier view of the same place, 0 = as good as repeating the prompt's last frame"}


def markdown(results: dict[str, Any], model: str) -> str:
    """A short report: one table of metrics by row."""
    lines = [f"# Revisit probe: {model} on {results['store']}", "",
             f"{results['n_revisits']} revisits (from {', '.join(results['sources'])}); {results['meaning']}.", "",
             "| metric | " + " | ".join(ROWS) + " | normalised [95% CI] |", "|---|" + "---|" * (len(ROWS) + 1)]
    for name, m in results["metrics"].items():
        cells = [f"{m['raw'][r]:.3f}" if m["raw"].get(r) is not None else "–" for r in ROWS]
        norm = "n/a" if m["normalised"] is None else f"{m['normalised']:.2f}"
        ci = f" [{m['ci'][0]:.2f}, {m['ci'][1]:.2f}]" if m["ci"][0] is not None else " (n < 5)"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {norm}{ci} |")
    return "\n".join(lines) + "\n"
