"""Model adapters: anything that, given truth runs (for their prompts) and action scripts, predicts frames.

Rows of every probe: the model under test, the fixed reference rows of references.py (truth, truth through the
bundled tokenizer, copy-last, frozen-first, no-memory and perfect-memory reprojections), the model's own
tokenizer ceiling, and the shuffled-actions floor (the model under test fed mirrored turns and moves). "Models"
that need no weights: `oracle` (BlockWorld itself), `copy-last`, `frozen-first`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from envs.actions import HOTBAR, Action, noop_action, stack_actions
from worldmodel.probes.references import CopyLast, FrozenFirst, Reprojection, TokenizerRow, Truth
from worldmodel.probes.scenario import EnvPool, TruthRun

Progress = Callable[[int], None]  # called with the number of frames just produced


class Predictor(Protocol):
    """Predicts the frames after each action of `scripts[i]`, prompted with `runs[i]`'s prompt."""

    name: str

    def predict(self, runs: Sequence[TruthRun], scripts: Sequence[Sequence[Action]],
                progress: Progress | None = None) -> list[np.ndarray]:
        """One uint8 (len(script), H, W, 3) array per run."""
        ...


MIN_END_TURN = 80.0  # degrees the wrong script's final view must differ from the true one's (FOV 70)


def _circular(deg: float) -> float:
    return abs((deg + 180.0) % 360.0 - 180.0)


def mirror_script(script: Sequence[Action]) -> list[Action]:
    """The wrong-actions floor: pitch turns mirrored, yaw turns mirrored from the earliest step that leaves the
    final view at least MIN_END_TURN degrees from the true one (the same magnitudes; all of them when none
    does, then the one that leaves it farthest), forward<->back and left<->right swapped, and the one-shot
    buttons (attack, use, jump, hotbar) moved half the script later (cyclically). The camera ends somewhere
    else, so a perfect world fed this script is no better than copying."""
    n = len(script)
    yaws = np.array([float(a["camera"][1]) for a in script], np.float64)
    tails = np.cumsum(yaws[::-1])[::-1] if n else yaws  # tails[t]: yaw turned from step t on
    moved = np.array([_circular(2.0 * t) for t in tails])
    far = np.flatnonzero(moved >= MIN_END_TURN)
    flip_from = int(far[0]) if far.size else (int(np.argmax(moved)) if n else 0)
    buttons = ("attack", "use", "jump", *HOTBAR)
    out = []
    for t, action in enumerate(script):
        later = script[(t - n // 2) % n]
        pitch, yaw = (float(v) for v in action["camera"])
        new = dict(action)
        new["camera"] = np.array([-pitch, -yaw if t >= flip_from else yaw], np.float32)
        new["forward"], new["back"] = action["back"], action["forward"]
        new["left"], new["right"] = action["right"], action["left"]
        for key in buttons:
            new[key] = later[key]
        out.append(new)
    return out


def shuffle_script(script: Sequence[Any], seed: int) -> list[Any]:
    """A seeded time permutation (for envs whose actions are not the canonical dict: nothing to mirror)."""
    order = np.random.default_rng(seed).permutation(len(script))
    return [script[i] for i in order]


def wrong_script(script: Sequence[Any], seed: int) -> list[Any]:
    """The shuffled-actions floor's script: mirrored for canonical actions, time-permuted otherwise."""
    if script and all(isinstance(a, dict) and "camera" in a for a in script):
        return mirror_script(script)
    return shuffle_script(script, seed)


class ShuffledActions:
    """The wrapped predictor fed the wrong actions (wrong_script): does the model use its actions?"""

    name = "shuffled_actions"

    def __init__(self, base: Predictor, seed: int = 0) -> None:
        self.base = base
        self.seed = seed

    def predict(self, runs: Sequence[TruthRun], scripts: Sequence[Sequence[Action]],
                progress: Progress | None = None) -> list[np.ndarray]:
        """The base predictor's frames for the wrong scripts."""
        wrong = [wrong_script(s, self.seed * 100_003 + i) for i, s in enumerate(scripts)]
        return self.base.predict(runs, wrong, progress)


class Oracle(Truth):
    """`--model oracle`: BlockWorld itself as the model under test."""

    name = "oracle"


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


BUILTIN = {"oracle": Oracle, "copy-last": CopyLast, "frozen-first": FrozenFirst}


def load_model(spec: str, device: str = "cpu", batch: int = 16, seed: int = 0, pool: EnvPool | None = None,
               fusion: bool = True) -> tuple[Predictor, Any | None, int | None, tuple[int, int] | None]:
    """`spec` -> (predictor, tokenizer or None, context window in frames or None, frame (H, W) or None).

    spec: "oracle", "copy-last", "frozen-first", "bundled", "random" (an untrained default-size model, to time
    the suite), a WorldModel directory, or "pkg.module:factory" (any model speaking protocol.py's protocol). A bad spec -> ValueError; a missing bundled model -> FileNotFoundError.
    fusion=False shows a world model's frames without its frame-fusion net (tokens alone).
    """
    if spec in BUILTIN:
        cls = BUILTIN[spec]
        return (cls(pool) if cls is Oracle else cls()), None, None, None
    from worldmodel.probes.protocol import ProtocolAdapter, is_protocol_spec, load_factory

    if is_protocol_spec(spec) and not Path(spec).is_dir():
        proto = ProtocolAdapter(load_factory(spec))
        context = getattr(proto.model, "context_frames", None)
        return proto, getattr(proto.model, "tokenizer", None), context, proto.frame_size  # type: ignore[return-value]
    if spec not in ("bundled", "random") and not Path(spec).is_dir():
        raise ValueError(f"--model: {spec!r} is neither a built-in ({', '.join(BUILTIN)}, bundled, random) nor a "
                         "WorldModel directory")
    from worldmodel.evaluation.loading import build_model  # 'random' = untrained default configuration (runtime checks only)

    wm = build_model(spec, device)
    wm.fusion = wm.fusion and fusion
    adapter = WorldModelAdapter(wm, batch, seed)
    return adapter, wm.tokenizer, adapter.context_frames, (int(wm.frame_shape[0]), int(wm.frame_shape[1]))


def make_rows(model: Predictor, model_tokenizer: Any | None, seed: int = 0, truth: Predictor | None = None,
              reference_tokenizer: Any | None = None, geometry: bool = True) -> dict[str, Predictor]:
    """Every row of a probe (scoring.ROWS order): the model, the fixed reference rows (references.py), the
    model's own tokenizer ceiling when it has a tokenizer, and the model fed wrong actions."""
    rows: dict[str, Predictor] = {"model": model, "truth": truth or Truth()}
    if reference_tokenizer is not None:
        rows["reference_tokenizer"] = TokenizerRow(reference_tokenizer, "reference_tokenizer")
    if model_tokenizer is not None:
        rows["model_tokenizer"] = TokenizerRow(model_tokenizer, "model_tokenizer")
    rows["copy_last"], rows["frozen_first"] = CopyLast(), FrozenFirst()
    if geometry:
        rows["no_memory"], rows["perfect_memory"] = Reprojection(False), Reprojection(True)
    rows["shuffled_actions"] = ShuffledActions(model, seed)
    return rows
