"""`wm probe --model pkg.module:factory`: probe any model through a small documented protocol, no WorldModel needed.

`factory()` (no arguments) returns an object with:

    frame_size: tuple[int, int]        # (H, W) of the frames it takes and returns
    fov_deg: float                     # the vertical field of view it assumes (BlockWorld renders with it)
    predict(prompt_frames, prompt_actions, actions) -> frames
        prompt_frames: uint8 (P, H, W, 3); prompt_actions: P-1 action dicts (the MineRL/VPT dict of
        envs/actions.py: binary buttons, hotbar.N, camera = [delta pitch, delta yaw] degrees); actions: the T
        action dicts of the script; returns uint8 (T, H, W, 3), one frame per action.

Optional: `context_frames: int` (family A's gap sweep scales with it) and `tokenizer` (an object with
encode/decode like worldmodel.tokenizer.Tokenizer: its ceiling becomes the model_tokenizer column).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Sequence

import numpy as np

from envs.actions import Action
from worldmodel.probes.scenario import TruthRun


def is_protocol_spec(spec: str) -> bool:
    """Whether --model names a factory ("pkg.module:factory")."""
    module, _, attr = spec.partition(":")
    return bool(module and attr) and all(part.isidentifier() for part in (*module.split("."), attr))


def load_factory(spec: str) -> Any:
    """Import `pkg.module`, call its `factory()`, check the protocol; ValueError naming what is missing."""
    module, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"--model {spec}: cannot load the factory ({error})") from error
    model = factory()
    missing = [k for k in ("frame_size", "fov_deg", "predict") if not hasattr(model, k)]
    if missing:
        raise ValueError(f"--model {spec}: the factory's model lacks {missing} (see worldmodel/probes/protocol.py)")
    return model


class ProtocolAdapter:
    """A protocol model as a probe Predictor: one predict call per scenario, outputs checked."""

    name = "model"

    def __init__(self, model: Any) -> None:
        self.model = model
        self.frame_size = tuple(int(v) for v in model.frame_size)

    def predict(self, runs: Sequence[TruthRun], scripts: Sequence[Sequence[Action]],
                progress: Callable[[int], None] | None = None) -> list[np.ndarray]:
        """Frames for each run's prompt and script; ValueError when the model returns the wrong shape or type."""
        out = []
        for run, script in zip(runs, scripts):
            frames = np.asarray(self.model.predict(run.prompt_frames.copy(), list(run.scenario.prompt_actions),
                                                   list(script)))
            want = (len(script), *self.frame_size, 3)
            if frames.shape != want or frames.dtype != np.uint8:
                raise ValueError(f"protocol model returned {frames.dtype} {frames.shape}, expected uint8 {want}")
            out.append(frames)
            if progress:
                progress(len(script))
        return out
