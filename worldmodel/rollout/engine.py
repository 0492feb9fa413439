"""The rollout engine: the one open-loop loop of the project, shared by serving and training.

    dynamics step (KV-cached, `worldmodel/dynamics/rollout.py`) -> render (decode + frame fusion, `render.py`)
    -> the frame and its tokens become the next step's input (and, for models with one, its camera hint)

`WorldModel` (serving, `wm play`, the dream envs, probes, bench), self-forcing and the logged rollouts of the
dynamics training, and the frame-fusion training all step through `Engine.step` and `Engine.unroll`; anything
added to a rollout (fusion, spatial memory) is added here once. Tensors only: actions arrive as conditioning
vectors (`DynamicsModel.condition`) with their camera turn and whether they are known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from worldmodel.dynamics.model import DynamicsModel, Hint
from worldmodel.dynamics.rollout import Rollout, RolloutSnapshot
from worldmodel.dynamics.warp import CameraHint
from worldmodel.fusion.state import FusionState
from worldmodel.memory.world_memory import MemorySnapshot, WorldMemory
from worldmodel.precision import nets_autocast
from worldmodel.rollout.render import Rendered, render

MODES = ("sample", "mean")


@dataclass
class Sampling:
    """How a step turns the next frame's token distribution into the frame's input to the following step."""

    mode: str = "sample"
    """'sample': commit to tokens (MaskGIT passes; greedy at temperature 0). 'mean': mean-field, keep the
    distribution (expected embeddings in, expected code out), deterministic."""
    decode_steps: int = 2
    temperature: float = 1.0
    top_k: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"decoding must be 'sample' or 'mean', got {self.mode!r}")


@dataclass
class Step:
    """What one engine step produced for B worlds."""

    tokens: Tensor  # (B, N) the next frame's tokens (its most likely ones after a mean-field step)
    soft: Tensor | None  # (B, N, V) its token distribution after a mean-field step
    reward: Tensor  # (B,)
    term_prob: Tensor  # (B,) termination probability
    hint: Hint | None  # the camera hint this step was given (models with one)
    rendered: Rendered | None  # the shown frame (None when the step was not rendered)


@dataclass
class EngineSnapshot:
    """Everything an engine's future depends on: token state, the newest shown frame, the carried pixels, the
    spatial memory."""

    tokens: RolloutSnapshot
    view: Tensor | None
    carried: FusionState | None
    memory: MemorySnapshot | None = None

    @property
    def batch(self) -> int:
        """Number of worlds."""
        return int(self.tokens.last.shape[0])


# (t, previous step or None) -> conditioning (B, D), camera turn (B, 2) degrees, known (B,) bool[, buttons (B, 18)]
ActionFn = Callable[[int, "Step | None"], tuple[Tensor, ...]]


@dataclass
class Prompt:
    """The real context frames and actions a spatial memory starts from."""

    frames: Tensor  # (B, T, H, W, 3) uint8
    buttons: Tensor | None  # (B, T-1, 18); None = unknown actions
    camera: Tensor | None  # (B, T-1, 2) degrees


class Engine:
    """Steps B worlds of a tokenizer + dynamics pair, rendering each predicted frame."""

    def __init__(self, tokenizer: nn.Module, dynamics: DynamicsModel, batch: int, device: torch.device,
                 generators: list[torch.Generator] | None = None, fusion: bool = False,
                 camera_hint: bool = True, memory: WorldMemory | None = None,
                 dtype: torch.dtype | None = None) -> None:
        if fusion and getattr(tokenizer, "fusion", None) is None:
            raise ValueError("fusion=True but this model's tokenizer has no fusion net (train one: wm train fusion)")
        self.tokenizer, self.dynamics, self.fusion = tokenizer, dynamics, fusion
        self.tokens = Rollout(dynamics, batch, device, generators=generators)
        self.hinter = (CameraHint(tokenizer, dynamics.cfg.camera_hint_fov, dynamics.grid)
                       if dynamics.uses_hint and camera_hint else None)
        self.view: Tensor | None = None  # (B, H, W, 3) uint8 newest shown frame, for the camera hint
        self.carried: FusionState | None = None  # pixels the fusion carries into the next frame
        self.memory = memory  # what the worlds have shown, placed in 3D (worldmodel/memory/world_memory.py)
        self.dtype = dtype  # autocast of the convolutional nets (decoder, fusion, encoder, geometry heads); None = fp32
        if memory is not None:
            memory.dtype = dtype

    @property
    def batch(self) -> int:
        """Number of worlds."""
        return self.tokens.batch

    def _render_newest(self) -> Tensor:
        """Decode the newest frame without fusion (after priming or observing) -> uint8 (B, H, W, 3)."""
        return render(self.tokenizer, self.tokens.last, self.tokens.soft, self.dynamics.grid[0],
                      dtype=self.dtype).frames

    def prime(self, tokens: Tensor, cond: Tensor, hints: Hint | None, newest: Tensor | None = None,
              render_view: bool = True, prompt: Prompt | None = None) -> Tensor | None:
        """Start from context tokens (B, T, N), the conditioning of the T-1 actions between them (B, T-1, D),
        their camera hints, and the real newest context frame uint8 (B, H, W, 3) (carried by a fusing engine);
        an engine with a memory also takes the whole prompt (every frame goes into the memory, however long).
        Returns the newest frame as the tokenizer reconstructs it, uint8 (B, H, W, 3) (None when render_view is
        False and no camera hint needs it)."""
        if self.fusion and newest is None:
            raise ValueError("a fusing engine starts from the real newest context frame (newest=)")
        if self.memory is not None:
            if prompt is None:
                raise ValueError("an engine with a spatial memory starts from the real prompt (prompt=)")
            self.memory.start(prompt.frames, prompt.buttons, prompt.camera)
        self.tokens.prime(tokens, cond, hints)
        view = self._render_newest() if render_view or self.hinter is not None else None
        self.view = view if self.hinter is not None else None
        self.carried = FusionState.start(newest) if self.fusion else None
        return view

    def prime_worlds(self, worlds: Tensor, tokens: Tensor, cond: Tensor, hints: Hint | None,
                     newest: Tensor, prompt: Prompt | None = None) -> Tensor:
        """Restart only worlds (K,) from new context (as `prime`, K rows); the others run on undisturbed."""
        if self.memory is not None:
            if prompt is None:
                raise ValueError("an engine with a spatial memory starts from the real prompt (prompt=)")
            self.memory.start(prompt.frames, prompt.buttons, prompt.camera, worlds)
        self.tokens.prime_worlds(worlds, tokens, cond, hints)
        view = render(self.tokenizer, tokens[:, -1], None, self.dynamics.grid[0], dtype=self.dtype).frames
        if self.carried is not None:
            self.carried = self.carried.restart(worlds, newest)
        if self.view is not None:
            self.view = self.view.clone()
            self.view[worlds.cpu()] = view.cpu()
        return view

    def hint(self, camera: Tensor, known: Tensor) -> Hint | None:
        """The camera hint of the next transition: the newest shown frame turned by camera (B, 2) where known."""
        if self.hinter is None:
            return None
        return self.hinter(self.tokens.last, camera, known, self.view)

    def step(self, cond: Tensor, camera: Tensor, known: Tensor, sampling: Sampling, render_frame: bool = True,
             buttons: Tensor | None = None) -> Step:
        """Advance every world by one frame with the action conditioning cond (B, D), its camera turn (B, 2) and
        whether it is known (B,) (and its buttons (B, 18), which an engine with a memory needs). render_frame=False
        skips decoding when nothing needs the picture (a model without the camera hint or memory stepped for its
        tokens only, e.g. self-forcing).

        With a spatial memory the rendered frame shows what the memory recalls at the new pose, and that frame,
        re-encoded, is the next step's context: the dynamics continues from what is shown."""
        hint = self.hint(camera, known)
        with torch.no_grad():
            tokens, reward, term_prob = self.tokens.step(cond, sampling.decode_steps, sampling.temperature,
                                                         sampling.top_k, hint, soft=sampling.mode == "mean")
        rendered = None
        if render_frame or self.hinter is not None or self.memory is not None:
            turn = camera * known[:, None]  # unknown actions: no turn
            rendered = render(self.tokenizer, tokens, self.tokens.soft, self.dynamics.grid[0], self.carried, turn,
                              self.dtype)
            if self.memory is not None:
                tokens = self._recall(rendered, buttons, camera, known)
            if self.carried is not None:
                self.carried.advance(rendered.frames, turn)
            self.view = rendered.frames if self.hinter is not None else None
        elif self.carried is not None:
            raise ValueError("a fusing engine must render every step (its carried pixels would go stale)")
        return Step(tokens, self.tokens.soft, reward, term_prob, hint, rendered)

    def _recall(self, rendered: Rendered, buttons: Tensor | None, camera: Tensor, known: Tensor) -> Tensor:
        """Show the memory's recall in `rendered` (in place) and make the shown frame the next step's context;
        returns its tokens (B, N)."""
        if buttons is None:
            raise ValueError("an engine with a spatial memory steps with the action's buttons (buttons=)")
        assert self.memory is not None
        decoded = rendered.decoded if rendered.weight is not None else None  # fused frames: edits show unfused
        rendered.frames = self.memory.step(rendered.frames, buttons, camera, known, decoded)
        device = next(self.tokenizer.parameters()).device
        with nets_autocast(device, self.dtype):
            grid = self.tokenizer.encode(rendered.frames.to(device))  # (B, h, w)
        tokens = grid.flatten(1)  # (B, N)
        self.tokens.observe(tokens)
        return tokens

    def unroll(self, actions: ActionFn, steps: int, sampling: Sampling, render_frames: bool = True
               ) -> list[Step]:
        """The open-loop loop: `steps` steps, the action of step t from actions(t, previous step) (a fixed
        sequence, or a policy looking at the last frame). Returns the steps in order."""
        out: list[Step] = []
        for t in range(steps):
            cond, camera, known, *buttons = actions(t, out[-1] if out else None)
            out.append(self.step(cond, camera, known, sampling, render_frames, buttons[0] if buttons else None))
        return out

    def observe(self, tokens: Tensor, frames: Tensor) -> None:
        """Replace the newest frame by real frames uint8 (B, H, W, 3) with their tokens (B, N) (teacher forcing)."""
        self.tokens.observe(tokens)
        if self.hinter is not None:
            self.view = self._render_newest()
        if self.carried is not None:
            self.carried = FusionState.start(frames)
        if self.memory is not None:
            self.memory.observe(frames)

    def snapshot(self) -> EngineSnapshot:
        """A copy of the state; `restore` it any number of times to branch rollouts."""
        return EngineSnapshot(self.tokens.snapshot(), None if self.view is None else self.view.clone(),
                              None if self.carried is None else self.carried.copy(),
                              None if self.memory is None else self.memory.snapshot())

    def restore(self, snap: EngineSnapshot) -> None:
        """Return to a snapshot (which stays intact)."""
        self.tokens.restore(snap.tokens)
        self.view = None if snap.view is None or self.hinter is None else snap.view.clone()
        if self.hinter is not None and self.view is None:
            self.view = self._render_newest()
        self.carried = None if snap.carried is None or not self.fusion else snap.carried.copy()
        if self.memory is not None:
            if snap.memory is None:
                raise ValueError("this snapshot was taken without a spatial memory; the engine has one")
            self.memory.restore(snap.memory)


def sequence_actions(cond: Tensor, camera: Tensor, known: Tensor, start: int = 0,
                     buttons: Tensor | None = None) -> ActionFn:
    """An ActionFn reading a fixed sequence: step t takes cond[:, start + t] (B, K, D), camera (B, K, 2), known
    (B, K) (and buttons (B, K, 18), for an engine with a memory)."""
    if buttons is None:
        return lambda t, _: (cond[:, start + t], camera[:, start + t], known[:, start + t])
    return lambda t, _: (cond[:, start + t], camera[:, start + t], known[:, start + t], buttons[:, start + t])
