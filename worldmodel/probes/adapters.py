"""Model adapters: anything that, given truth runs (for their prompts) and action scripts, predicts frames.

Rows of every probe: the model under test, the ceiling (ground truth through the model's tokenizer; the truth
itself when the model has none), and the floors copy-last-frame, frozen-first-frame and shuffled-actions (the
model under test fed a seeded time permutation of each script). "Models" that need no weights: `oracle`
(BlockWorld itself, replaying the script from the state after the prompt), `copy-last`, `frozen-first`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import torch

from envs.actions import Action, noop_action, stack_actions
from worldmodel.probes.scenario import EnvPool, TruthRun, simulate

Progress = Callable[[int], None]  # called with the number of frames just produced


class Predictor(Protocol):
    """Predicts the frames after each action of `scripts[i]`, prompted with `runs[i]`'s prompt."""

    name: str

    def predict(self, runs: Sequence[TruthRun], scripts: Sequence[Sequence[Action]],
                progress: Progress | None = None) -> list[np.ndarray]:
        """One uint8 (len(script), H, W, 3) array per run."""
        ...


def _is_truth(run: TruthRun, script: Sequence[Action]) -> bool:
    return script is run.scenario.script


class Oracle:
    """BlockWorld itself: the true frames for the true script, a replay from the post-prompt state otherwise."""

    name = "oracle"

    def __init__(self, pool: EnvPool | None = None) -> None:
        self.pool = pool or EnvPool()

    def predict(self, runs: Sequence[TruthRun], scripts: Sequence[Sequence[Action]],
                progress: Progress | None = None) -> list[np.ndarray]:
        out = []
        for run, script in zip(runs, scripts):
            if _is_truth(run, script):
                out.append(run.script_frames)
            else:
                env = self.pool.get(*run.frames.shape[1:3])
                out.append(simulate(run, env, script)["frames"])
            if progress:
                progress(len(script))
        return out


class CopyLast:
    """Repeats the last prompt frame (a model that does nothing)."""

    name = "copy_last"

    def predict(self, runs: Sequence[TruthRun], scripts: Sequence[Sequence[Action]],
                progress: Progress | None = None) -> list[np.ndarray]:
        return [np.repeat(run.prompt_frames[-1:], len(script), axis=0) for run, script in zip(runs, scripts)]


class FrozenFirst:
    """Repeats the first prompt frame."""

    name = "frozen_first"

    def predict(self, runs: Sequence[TruthRun], scripts: Sequence[Sequence[Action]],
                progress: Progress | None = None) -> list[np.ndarray]:
        return [np.repeat(run.prompt_frames[:1], len(script), axis=0) for run, script in zip(runs, scripts)]


def shuffle_script(script: Sequence[Action], seed: int) -> list[Action]:
    """A seeded time permutation of an action script."""
    order = np.random.default_rng(seed).permutation(len(script))
    return [script[i] for i in order]


class ShuffledActions:
    """The wrapped predictor fed a time-permuted script (seeded per scenario): does the model use its actions?"""

    name = "shuffled_actions"

    def __init__(self, base: Predictor, seed: int = 0) -> None:
        self.base = base
        self.seed = seed

    def predict(self, runs: Sequence[TruthRun], scripts: Sequence[Sequence[Action]],
                progress: Progress | None = None) -> list[np.ndarray]:
        shuffled = [shuffle_script(s, self.seed * 100_003 + i) for i, s in enumerate(scripts)]
        return self.base.predict(runs, shuffled, progress)


class TokenizerCeiling:
    """Ground truth passed through a tokenizer (encode -> decode); the truth itself without a tokenizer."""

    name = "ceiling"

    def __init__(self, tokenizer: Any | None = None, batch: int = 64) -> None:
        self.tokenizer = tokenizer
        self.batch = batch

    def reconstruct(self, frames: np.ndarray) -> np.ndarray:
        """Tokenizer round trip of uint8 frames (N, H, W, 3)."""
        if self.tokenizer is None:
            return frames
        out = []
        with torch.inference_mode():
            for i in range(0, len(frames), self.batch):
                tokens = self.tokenizer.encode(torch.as_tensor(frames[i : i + self.batch]))
                out.append(self.tokenizer.decode(tokens).cpu().numpy())
        return np.concatenate(out) if out else frames

    def predict(self, runs: Sequence[TruthRun], scripts: Sequence[Sequence[Action]],
                progress: Progress | None = None) -> list[np.ndarray]:
        for run, script in zip(runs, scripts):
            if not _is_truth(run, script):
                raise ValueError("the tokenizer ceiling exists only for the true script")
        return [self.reconstruct(run.script_frames) for run in runs]


class WorldModelAdapter:
    """A WorldModel rolled out in batches of scenarios (sorted by script length, padded with no-ops)."""

    name = "model"

    def __init__(self, wm: Any, batch: int = 16, seed: int = 0) -> None:
        self.wm = wm
        self.batch = max(1, int(batch))
        self.seed = seed

    @property
    def context_frames(self) -> int:
        """The model's attention window in frames."""
        return int(self.wm.dynamics.cfg.context_frames)

    def predict(self, runs: Sequence[TruthRun], scripts: Sequence[Sequence[Action]],
                progress: Progress | None = None) -> list[np.ndarray]:
        out: list[np.ndarray | None] = [None] * len(runs)
        order = sorted(range(len(runs)), key=lambda i: (runs[i].prompt_len, len(scripts[i])))
        chunks: list[list[int]] = []
        for i in order:  # group equal prompt lengths, at most `batch` worlds per rollout
            if chunks and len(chunks[-1]) < self.batch and runs[chunks[-1][0]].prompt_len == runs[i].prompt_len:
                chunks[-1].append(i)
            else:
                chunks.append([i])
        for chunk in chunks:
            for i, frames in zip(chunk, self._rollout([runs[i] for i in chunk], [scripts[i] for i in chunk],
                                                      progress)):
                out[i] = frames
        return out  # type: ignore[return-value]

    def _rollout(self, runs: Sequence[TruthRun], scripts: Sequence[Sequence[Action]],
                 progress: Progress | None) -> list[np.ndarray]:
        prompt = np.stack([r.prompt_frames for r in runs])  # (B, P, H, W, 3)
        acts = [r.prompt_action_arrays() for r in runs]
        prompt_actions = {k: np.stack([a[k] for a in acts]) for k in acts[0]}  # (B, P-1, ...)
        self.wm.seed(self.seed)
        self.wm.reset(prompt, prompt_actions)
        steps = max(len(s) for s in scripts)
        pad = noop_action()

        def action_at(t: int, _: Any) -> dict[str, np.ndarray]:
            if progress and t:  # the step before this one is done
                progress(sum(1 for s in scripts if t - 1 < len(s)))
            return stack_actions([s[t] if t < len(s) else pad for s in scripts])

        frames, _, _ = self.wm.unroll(action_at, steps)  # (B, steps, H, W, 3)
        if progress:
            progress(sum(1 for s in scripts if steps - 1 < len(s)))
        return [frames[i, : len(s)] for i, s in enumerate(scripts)]


ROW_ORDER = ("model", "ceiling", "copy_last", "frozen_first", "shuffled_actions")
BUILTIN = {"oracle": Oracle, "copy-last": CopyLast, "frozen-first": FrozenFirst}


def load_model(spec: str, device: str = "cpu", batch: int = 16, seed: int = 0, pool: EnvPool | None = None,
               fusion: bool = True) -> tuple[Predictor, Any | None, int | None, tuple[int, int] | None]:
    """`spec` -> (predictor, tokenizer or None, context window in frames or None, frame (H, W) or None).

    spec: "oracle", "copy-last", "frozen-first", "bundled", "random" (an untrained default-size model, to time
    the suite), or a WorldModel directory. A bad spec -> ValueError; a missing bundled model -> FileNotFoundError.
    fusion=False shows a world model's frames without its frame-fusion net (tokens alone).
    """
    if spec in BUILTIN:
        cls = BUILTIN[spec]
        return (cls(pool) if cls is Oracle else cls()), None, None, None
    if spec not in ("bundled", "random") and not Path(spec).is_dir():
        raise ValueError(f"--model: {spec!r} is neither a built-in ({', '.join(BUILTIN)}, bundled, random) nor a "
                         "WorldModel directory")
    from worldmodel.evaluation.loading import build_model  # 'random' = untrained default configuration (runtime checks only)

    wm = build_model(spec, device)
    wm.fusion = wm.fusion and fusion
    adapter = WorldModelAdapter(wm, batch, seed)
    return adapter, wm.tokenizer, adapter.context_frames, (int(wm.frame_shape[0]), int(wm.frame_shape[1]))


def make_rows(model: Predictor, tokenizer: Any | None, seed: int = 0) -> dict[str, Predictor]:
    """The five rows of every probe, in ROW_ORDER."""
    return {"model": model, "ceiling": TokenizerCeiling(tokenizer), "copy_last": CopyLast(),
            "frozen_first": FrozenFirst(), "shuffled_actions": ShuffledActions(model, seed)}
