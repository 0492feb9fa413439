"""Reference rows that need no model under test: one absolute scale per family, the same for every model.

Every family scores each row against the truth. The rows computed here depend only on the scenario set:

- `truth`: BlockWorld itself (the true frames for the true script, a replay from the post-prompt state for
  any other script). Normalised score 1 by definition.
- `reference_tokenizer`: the truth through a FIXED tokenizer (the bundled one), encode -> decode, no fusion:
  what a model with that tokenizer and perfect dynamics would show. The same for every model under test.
- `copy_last` (the floor: normalised 0), `frozen_first`: repeat the last / first prompt frame.
- `no_memory`: the last prompt frame carried to every target view by the true depth and pose (nothing else:
  pixels it did not see take its mean colour): perfect geometry, no memory beyond the last frame.
- `perfect_memory`: every prompt frame carried the same way (latest frame wins): perfect geometry and a
  perfect memory of everything the prompt showed; never-seen pixels take the prompt's mean colour.

The model's own tokenizer ceiling (`model_tokenizer`) is a separate column, not part of the scale.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from envs.actions import Action
from envs.blockworld.hud import hud_mask
from envs.blockworld.render import camera_basis, camera_rays
from envs.blockworld.state import EYE_HEIGHT
from worldmodel.probes.scenario import EnvPool, TruthRun, simulate

Progress = Any  # Callable[[int], None] | None (kept loose: adapters defines the Predictor protocol)


def _is_truth(run: TruthRun, script: Sequence[Action]) -> bool:
    return script is run.scenario.script


class Truth:
    """BlockWorld itself: the true frames for the true script, a replay from the post-prompt state otherwise."""

    name = "truth"

    def __init__(self, pool: EnvPool | None = None) -> None:
        self.pool = pool or EnvPool()

    def predict(self, runs: Sequence[TruthRun], scripts: Sequence[Sequence[Action]],
                progress: Progress = None) -> list[np.ndarray]:
        """True frames (the truth's replay of any other script)."""
        out = []
        for run, script in zip(runs, scripts):
            if _is_truth(run, script):
                out.append(run.script_frames)
            else:
                out.append(simulate(run, self.pool.get(*run.frames.shape[1:3]), script)["frames"])
            if progress:
                progress(len(script))
        return out


class TokenizerRow:
    """The true frames through a tokenizer (encode -> decode); only defined for the true script."""

    def __init__(self, tokenizer: Any, name: str, batch: int = 64) -> None:
        self.tokenizer = tokenizer
        self.name = name
        self.batch = batch

    def reconstruct(self, frames: np.ndarray) -> np.ndarray:
        """Tokenizer round trip of uint8 frames (N, H, W, 3)."""
        out = []
        with torch.inference_mode():
            for i in range(0, len(frames), self.batch):
                tokens = self.tokenizer.encode(torch.as_tensor(frames[i : i + self.batch]))
                out.append(self.tokenizer.decode(tokens).cpu().numpy())
        return np.concatenate(out) if out else frames

    def predict(self, runs: Sequence[TruthRun], scripts: Sequence[Sequence[Action]],
                progress: Progress = None, frames: Sequence[Sequence[int]] | None = None) -> list[np.ndarray]:
        """Reconstructions of the true script frames (all runs in one batched pass). `frames`: per run, the run
        frame indices the family scores (the family's scored_frames): only those are reconstructed, the others
        are left as the truth (never read by that family's scores)."""
        for run, script in zip(runs, scripts):
            if not _is_truth(run, script):
                raise ValueError(f"the {self.name} row exists only for the true script")
        if not runs:
            return []
        picks = [sorted({i - r.prompt_len for i in f if i >= r.prompt_len}) if frames is not None
                 else list(range(len(r.script_frames))) for r, f in zip(runs, frames or [None] * len(runs))]
        recon = self.reconstruct(np.concatenate([r.script_frames[k] for r, k in zip(runs, picks)]))
        out, start = [], 0
        for run, k in zip(runs, picks):
            clip = run.script_frames.copy()
            clip[k] = recon[start : start + len(k)]
            start += len(k)
            out.append(clip)
        return out


def load_reference_tokenizer() -> Any:
    """The bundled tokenizer (the fixed reference of every probe scale), on the CPU."""
    from worldmodel.bundled import BUNDLED_DIR
    from worldmodel.tokenizer.io import load_tokenizer

    return load_tokenizer(BUNDLED_DIR, device="cpu").eval()


class CopyLast:
    """Repeats the last prompt frame (a model that does nothing): the floor of every scale."""

    name = "copy_last"

    def predict(self, runs: Sequence[TruthRun], scripts: Sequence[Sequence[Action]],
                progress: Progress = None) -> list[np.ndarray]:
        """The last prompt frame, once per action."""
        return [np.repeat(run.prompt_frames[-1:], len(script), axis=0) for run, script in zip(runs, scripts)]


class FrozenFirst:
    """Repeats the first prompt frame."""

    name = "frozen_first"

    def predict(self, runs: Sequence[TruthRun], scripts: Sequence[Sequence[Action]],
                progress: Progress = None) -> list[np.ndarray]:
        """The first prompt frame, once per action."""
        return [np.repeat(run.prompt_frames[:1], len(script), axis=0) for run, script in zip(runs, scripts)]


SKY = 1e6  # stand-in distance of sky pixels (depth inf): far enough that only rotation moves them


def _eye(pose: np.ndarray) -> np.ndarray:
    """Eye position (3,) of a pose [x, y, z, yaw, pitch] (feet position)."""
    return np.asarray(pose[:3], np.float64) + np.array([0.0, EYE_HEIGHT, 0.0])


def carry(run: TruthRun, sources: Sequence[int], target: int) -> np.ndarray:
    """Frame `target` of the run guessed from the prompt frames `sources` (later ones win), carried by the true
    depth and poses (the projection of evaluation/reprojection.py, with the target's 3D points computed once);
    pixels none of them saw take their mean colour; HUD pixels keep the last source's. uint8 (H, W, 3)."""
    h, w = run.frames.shape[1:3]
    tan_h = math.tan(math.radians(run.fov_deg) / 2.0)
    depth = np.asarray(run.depth[target], np.float64)
    sky = ~np.isfinite(depth)
    rays = camera_rays(float(run.poses[target][3]), float(run.poses[target][4]), w, h, run.fov_deg)
    points = (_eye(run.poses[target]) + np.where(sky, SKY, depth)[..., None] * rays).reshape(-1, 3)
    sky = sky.reshape(-1)
    hud = hud_mask(w, h).reshape(-1)
    out = np.broadcast_to(run.frames[list(sources)].reshape(-1, 3).mean(0), (h * w, 3)).astype(np.float32)
    for s in sources:
        forward, right, up = camera_basis(float(run.poses[s][3]), float(run.poses[s][4]))
        offset = points - _eye(run.poses[s])
        z = offset @ forward
        safe = np.maximum(z, 1e-6) * tan_h
        col = np.round(((offset @ right) / (safe * w / h) + 1.0) / 2.0 * w - 0.5).astype(np.int64)
        row = np.round((1.0 - (offset @ up) / safe) / 2.0 * h - 0.5).astype(np.int64)
        inside = (z > 0) & (row >= 0) & (row < h) & (col >= 0) & (col < w)
        row, col = np.clip(row, 0, h - 1), np.clip(col, 0, w - 1)
        seen = np.asarray(run.depth[s], np.float64)[row, col]
        finite = np.isfinite(seen)
        dist = np.linalg.norm(offset, axis=1)
        same = finite & (np.abs(np.where(finite, seen, 0.0) - dist) < 0.15 * dist + 0.1)
        visible = inside & np.where(sky, ~finite, same) & ~hud[row * w + col] & ~hud
        out[visible] = run.frames[s][row[visible], col[visible]]
    out[hud] = run.frames[sources[-1]].reshape(-1, 3)[hud]
    return np.clip(np.round(out), 0, 255).astype(np.uint8).reshape(h, w, 3)


class Reprojection:
    """`no_memory` (the last prompt frame only) or `perfect_memory` (every prompt frame), carried by true geometry."""

    def __init__(self, memory: bool) -> None:
        self.memory = memory
        self.name = "perfect_memory" if memory else "no_memory"

    def predict(self, runs: Sequence[TruthRun], scripts: Sequence[Sequence[Action]],
                progress: Progress = None, frames: Sequence[Sequence[int]] | None = None) -> list[np.ndarray]:
        """Reprojected prompt pixels for every script frame (true script only: it needs the true geometry);
        `frames`: per run, the run frame indices the family scores: only those are computed, the others are
        left as copy-last frames (never read by that family's scores)."""
        out = []
        for j, (run, script) in enumerate(zip(runs, scripts)):
            if not _is_truth(run, script):
                raise ValueError(f"the {self.name} row exists only for the true script")
            p = run.prompt_len
            sources = list(range(p)) if self.memory else [p - 1]
            todo = range(p, p + len(script)) if frames is None else [i for i in frames[j] if i >= p]
            clip = np.repeat(run.frames[p - 1 : p], len(script), axis=0)
            for i in todo:
                clip[i - p] = carry(run, sources, i)
            out.append(clip)
        return out
