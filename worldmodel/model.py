"""`WorldModel`: a learned world you reset from real frames and step with canonical actions, one or B at a time.

    wm = WorldModel.load()                      # bundled model (worldmodel/bundled/), or WorldModel.load("DIR")
    wm.seed(0)
    wm.reset(frames)                            # uint8 (T, H, W, 3) context (+ T-1 actions, or None = unknown)
    frame, reward, terminated = wm.step(envs.actions.noop_action())
    snap = wm.snapshot(); ...; wm.restore(snap) # branch rollouts

Batched: reset with (B, T, H, W, 3) frames, step with a dict of arrays (buttons (B,), camera (B, 2)) or a list of B
action dicts -> frames (B, H, W, 3), rewards (B,), terminated (B,), all B worlds in one forward pass;
`reset(frames, worlds=[i, ...])` restarts some worlds while the others run on (vector envs).
Unknown context actions are replaced by latent actions inferred from consecutive frames; `step(None)` uses the
'unknown action' embedding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from einops import rearrange

from envs.actions import action_space
from worldmodel import bundled
from worldmodel.dynamics.actions import action_tensors, step_action_tensors
from worldmodel.dynamics.bundle import TokenizerFactory, load_world_model
from worldmodel.dynamics.model import DynamicsModel, Hint
from worldmodel.dynamics.rollout import seeded_generators
from worldmodel.dynamics.warp import CameraHint
from worldmodel.memory.geometry_heads import GeometryObjective, load_geometry
from worldmodel.memory.world_memory import MemoryConfig, WorldMemory
from worldmodel.precision import inference_dtype
from worldmodel.rollout import Engine, EngineSnapshot, Prompt, Sampling, Step


@dataclass
class WorldSnapshot:
    """Opaque copy of a WorldModel's state (KV cache, newest frame, carried pixels, random states)."""

    engine: EngineSnapshot
    batched: bool


def resolve_device(device: str | torch.device | None) -> torch.device:
    """'cpu', 'cuda', 'cuda:N', or None/'auto' (CUDA when available)."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available")
    return device


class WorldModel:
    """Tokenizer + dynamics with a KV-cached rollout state; sampling set by temperature, top_k, decode_steps."""

    def __init__(self, tokenizer: torch.nn.Module, dynamics: DynamicsModel, config: dict[str, Any] | None = None,
                 device: str | torch.device | None = "cpu", geometry: GeometryObjective | None = None) -> None:
        self.device = resolve_device(device)
        self.tokenizer = tokenizer.to(self.device).eval()
        self.dynamics = dynamics.to(self.device).eval()
        self.config = config or {}
        self.temperature: float = dynamics.cfg.temperature
        self.top_k: int = dynamics.cfg.top_k
        self.decode_steps: int = dynamics.cfg.decode_steps
        self.decoding: str = "sample"
        """'sample': each step commits to tokens (MaskGIT, temperature, top_k; greedy at temperature 0).
        'mean': mean-field, deterministic: each step keeps the next frame's token distribution, shows the frame
        of its expected code (blurred where the model is unsure) and feeds the expected embedding on."""
        cfg = tokenizer.cfg
        self.frame_shape: tuple[int, int, int] = (int(cfg.height), int(cfg.width), 3)
        self.action_space = action_space()
        self._seed = 0
        self._generators: list[torch.Generator] = []
        self._engine: Engine | None = None
        self._batched = False
        self._hint = (CameraHint(self.tokenizer, dynamics.cfg.camera_hint_fov, dynamics.grid)
                      if dynamics.uses_hint else None)  # hints of the prompt's transitions (the engine has its own)
        self.fusion: bool = getattr(self.tokenizer, "fusion", None) is not None
        """Show frames through the tokenizer's frame-fusion net (worldmodel/fusion/net.py), when it has one.
        Read at reset: False decodes the tokens alone (about twice as fast on a CPU, blurrier)."""
        self.geometry = geometry
        self.memory_config = MemoryConfig(**self.config.get("memory", {}))
        self.memory: bool = geometry is not None
        """Keep a spatial memory (worldmodel/memory/): every frame shown or observed is placed in 3D with the
        geometry heads' depth and pose and shown again when the view returns. Needs the model's geometry heads
        (GEOMETRY_DIR = the model directory's geometry/). Read at reset."""
        self.precision: str = "auto"
        """"fp32", "bf16" or "auto" (bf16 where this machine runs it fast): the dtype the step's convolutional nets
        (decoder, fusion, re-encoding, geometry heads) autocast to; token sampling and the memory's geometry stay
        fp32. Read at reset."""

    @classmethod
    def load(cls, path: str | Path | None = None, device: str | torch.device | None = "cpu",
             tokenizer_factory: TokenizerFactory | None = None) -> "WorldModel":
        """Load a WorldModel directory (None = the bundled model). Never unpickles; bad files -> ValueError."""
        if path is None or str(path) == "bundled":
            if not (bundled.BUNDLED_DIR / "config.json").is_file():
                raise FileNotFoundError(
                    f"the bundled world model is missing ({bundled.BUNDLED_DIR}/config.json not found): train one "
                    "(`wm train tokenizer`, then `wm train dynamics`) and pass its exported directory, "
                    "or install a release that ships worldmodel/bundled/")
            path = bundled.BUNDLED_DIR
        tokenizer, dynamics, config = load_world_model(path, tokenizer_factory)
        heads = Path(path) / "geometry"
        geometry = load_geometry(heads) if (heads / "config.json").is_file() else None
        return cls(tokenizer, dynamics, config, device, geometry)

    # --- state ---
    @property
    def batch_size(self) -> int:
        """Number of worlds of the current rollout (1 for unbatched use)."""
        return self._engine.batch if self._engine is not None else 1

    def seed(self, seed: int) -> None:
        """Seed sampling: world b draws from a generator seeded with seed + b. Takes effect now (if reset) and
        for the next reset; a reset without a new seed continues the random streams."""
        self._seed = int(seed)
        self._generators = seeded_generators(len(self._generators), self.device, self._seed)
        if self._engine is not None:
            self._engine.tokens.generators = self._generators

    def seed_worlds(self, worlds: Sequence[int], seeds: Sequence[int]) -> None:
        """Reseed the sampling of some worlds of a batched rollout (world w then draws from a generator seeded s),
        so a vector env's autoreset world replays exactly like a single env reset with that seed."""
        for world, seed in zip(worlds, seeds):
            self._generators[int(world)].manual_seed(int(seed))

    def _encode(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 frames (..., H, W, 3) -> tokens (..., N)."""
        lead = frames.shape[:-3]
        grids = self.tokenizer.encode(frames.reshape(-1, *frames.shape[-3:]).to(self.device))
        return rearrange(grids, "m h w -> m (h w)").reshape(*lead, -1)

    def _new_engine(self, batch: int) -> Engine:
        """A fresh engine for `batch` worlds drawing from this model's generators."""
        if len(self._generators) != batch:
            self._generators = seeded_generators(batch, self.device, self._seed)
        memory = None
        if self._remembering():
            assert self.geometry is not None
            h, w = self.frame_shape[:2]
            memory = WorldMemory(self.geometry, h, w, batch, self.device, self.memory_config, ignore=self._hud())
        return Engine(self.tokenizer, self.dynamics, batch, self.device, self._generators,
                      fusion=self._fusing(), camera_hint=self._hint is not None, memory=memory,
                      dtype=inference_dtype(self.precision, self.device))

    def _remembering(self) -> bool:
        """Whether rollouts keep a spatial memory: the model has geometry heads and `memory` is on."""
        if self.memory and self.geometry is None:
            raise ValueError("memory=True but this model has no geometry heads (train them: wm train geometry, "
                             "then put the export in the model directory as geometry/)")
        return bool(self.memory)

    def _hud(self) -> torch.Tensor | None:
        """The HUD pixels the memory must not store (BlockWorld's overlay when the config names it)."""
        if not self.config.get("memory", {}).get("blockworld_hud", True):
            return None
        from worldmodel.memory.camera import blockworld_hud

        return blockworld_hud(self.frame_shape[1], self.frame_shape[0])

    def _sampling(self) -> Sampling:
        """The sampling settings as they are now (they may be changed between steps)."""
        return Sampling(self.decoding, self.decode_steps, self.temperature, self.top_k)

    def _fusing(self) -> bool:
        """Whether frames go through a fusion net: the tokenizer has one and `fusion` is on."""
        if self.fusion and getattr(self.tokenizer, "fusion", None) is None:
            raise ValueError("fusion=True but this model's tokenizer has no fusion net (train one: wm train fusion)")
        return bool(self.fusion)

    def _frames(self, frames: Any, name: str) -> tuple[torch.Tensor, bool]:
        """Accept (T, H, W, 3) or (B, T, H, W, 3) uint8 -> (B, T, H, W, 3) tensor and whether it was batched."""
        frames = torch.as_tensor(np.asarray(frames) if not torch.is_tensor(frames) else frames)
        if frames.dtype != torch.uint8 or frames.ndim not in (4, 5) or tuple(frames.shape[-3:]) != self.frame_shape:
            raise ValueError(f"{name} must be uint8 (T, {self.frame_shape[0]}, {self.frame_shape[1]}, 3) or "
                             f"(B, T, ...), got {frames.dtype} {tuple(frames.shape)}")
        return (frames, True) if frames.ndim == 5 else (frames[None], False)

    def _camera_hint(self, tokens: torch.Tensor, camera: torch.Tensor, known: torch.Tensor) -> Hint | None:
        """Camera hint of frames tokens (..., N) turned by camera (..., 2) where known (...) (None: no hint)."""
        return None if self._hint is None else self._hint(tokens, camera, known)

    def _context(self, frames: torch.Tensor, actions: Mapping[str, Any] | None, batched: bool
                 ) -> tuple[torch.Tensor, torch.Tensor, Hint | None, Prompt]:
        """Context frames (B, T, H, W, 3) and actions -> tokens (B, T, N), conditioning (B, T-1, D), the
        camera hints of the T-1 transitions (None for a model without them or unknown actions) and the prompt
        a spatial memory starts from."""
        b, t = frames.shape[:2]
        tokens = self._encode(frames)  # (B, T, N)
        unknown = Prompt(frames, None, None)
        if t == 1 and actions is None:  # a single frame: no transition to condition on
            return tokens, torch.zeros(b, 0, self.dynamics.cfg.d_model, device=self.device), None, unknown
        if actions is None:  # (B, T-1, D) latent actions
            return tokens, self.dynamics.condition_latent(tokens[:, :-1], tokens[:, 1:]), None, unknown
        buttons, camera = action_tensors(actions, self.device)
        if not batched:
            buttons, camera = buttons[None], camera[None]
        if buttons.shape[:2] != (b, t - 1):
            raise ValueError(f"reset actions must have leading shape {(b, t - 1) if batched else (t - 1,)} "
                             f"(T-1 actions between T frames), got {tuple(buttons.shape[:-1])}")
        known = torch.ones(b, t - 1, dtype=torch.bool, device=self.device)
        hints = self._camera_hint(tokens[:, :-1], camera, known) if t > 1 else None
        return tokens, self.dynamics.condition(buttons, camera, known), hints, Prompt(frames, buttons, camera)

    @torch.inference_mode()
    def reset(self, frames: Any, actions: Mapping[str, Any] | None = None,
              worlds: Sequence[int] | None = None) -> np.ndarray:
        """Start from context frames uint8 (T, H, W, 3) or (B, T, H, W, 3) and the T-1 actions between them
        (dict of arrays (T-1, ...) or (B, T-1, ...); None = unknown -> latent actions inferred from the frames).

        worlds: in a batched rollout, reset only these world indices (frames (len(worlds), T, H, W, 3)); the
        other worlds continue undisturbed (for vector envs whose episodes end at different times).
        Returns the model's view of the newest context frame (tokenizer reconstruction), (H, W, 3) or (B, H, W, 3).
        """
        frames, batched = self._frames(frames, "frames")
        tokens, cond, hints, prompt = self._context(frames, actions, batched)
        if worlds is not None:
            if self._engine is None or not self._batched or not batched:
                raise ValueError("reset(..., worlds=...) needs a running batched rollout and batched frames")
            index = torch.as_tensor(list(worlds), dtype=torch.long, device=self.device)
            if index.numel() != frames.shape[0] or index.unique().numel() != index.numel() or \
                    bool(((index < 0) | (index >= self.batch_size)).any()):
                raise ValueError(f"worlds must be {frames.shape[0]} distinct indices in [0, {self.batch_size}), "
                                 f"got {list(worlds)}")
            return self._engine.prime_worlds(index, tokens, cond, hints, frames[:, -1], prompt).cpu().numpy()
        self._engine = self._new_engine(frames.shape[0])
        self._batched = batched
        view = self._engine.prime(tokens, cond, hints, frames[:, -1], prompt=prompt).cpu().numpy()
        return view if batched else view[0]

    def _actions(self, action: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One action dict (unbatched) or a dict of arrays / list of dicts (batched) -> buttons, camera, known,
        validated once (`worldmodel.dynamics.actions.step_action_tensors`)."""
        return step_action_tensors(action, self.batch_size, self._batched, self.device)

    @torch.inference_mode()
    def step(self, action: Any) -> tuple[Any, Any, Any]:
        """Advance by one tick. Unbatched: action dict (missing keys = not pressed; None = unknown) ->
        (frame uint8 (H, W, 3), reward float, terminated bool). Batched: dict of arrays or list of dicts ->
        (frames (B, H, W, 3) uint8, rewards (B,) float32, terminated (B,) bool)."""
        if self._engine is None:
            raise RuntimeError("call reset(frames) before step()")
        buttons, camera, known = self._actions(action)
        cond = self.dynamics.condition(buttons, camera, known)  # (B, D)
        return self._outputs(self._engine.step(cond, camera, known, self._sampling(), buttons=buttons))

    @torch.inference_mode()
    def unroll(self, actions: Sequence[Any] | Callable[[int, Any], Any], steps: int | None = None
               ) -> tuple[Any, Any, Any]:
        """Roll out open loop through the engine's one loop: `actions` is a sequence of actions (each as `step`
        takes it) or a policy `actions(t, frames)` -> action, called with the last shown frames (None at t=0)
        for `steps` ticks. Returns frames (K, H, W, 3) or (B, K, H, W, 3), rewards and terminated per tick;
        the world is left after the last tick, as after as many `step` calls."""
        if self._engine is None:
            raise RuntimeError("call reset(frames) before unroll()")
        if callable(actions):
            if steps is None:
                raise ValueError("unroll(policy) needs steps=")
            policy = actions
        else:
            script = list(actions)
            steps = len(script) if steps is None else steps
            if steps > len(script):
                raise ValueError(f"unroll: {steps} steps asked but {len(script)} actions given")
            policy = lambda t, _: script[t]  # noqa: E731

        def conditioning(t: int, last: Step | None) -> tuple[torch.Tensor, ...]:
            shown = None if last is None else last.rendered.frames.cpu().numpy()
            buttons, camera, known = self._actions(policy(t, shown if shown is None or self._batched else shown[0]))
            return self.dynamics.condition(buttons, camera, known), camera, known, buttons

        outputs = [self._outputs(step) for step in self._engine.unroll(conditioning, steps, self._sampling())]
        stack = (lambda xs: np.stack(xs, 1)) if self._batched else np.stack
        return tuple(stack([out[i] for out in outputs]) for i in range(3))  # type: ignore[return-value]

    def _outputs(self, step: Step) -> tuple[Any, Any, Any]:
        """An engine step -> (frames, rewards, terminated) as numpy, batched or not like the rollout."""
        frames = step.rendered.frames.cpu().numpy()
        rewards = step.reward.float().cpu().numpy()
        terminated = (step.term_prob > 0.5).cpu().numpy()
        if self._batched:
            return frames, rewards, terminated
        return frames[0], float(rewards[0]), bool(terminated[0])

    @torch.inference_mode()
    def observe(self, frames: Any) -> None:
        """Replace the newest frame by real frames uint8 (H, W, 3) or (B, H, W, 3) (teacher forcing)."""
        if self._engine is None:
            raise RuntimeError("call reset(frames) before observe()")
        frames = torch.as_tensor(frames if torch.is_tensor(frames) else np.asarray(frames))
        expected = (self.batch_size, *self.frame_shape) if self._batched else self.frame_shape
        if frames.dtype != torch.uint8 or tuple(frames.shape) != expected:
            raise ValueError(f"observed frames must be uint8 {expected}, got {frames.dtype} {tuple(frames.shape)}")
        frames = frames.reshape(-1, *self.frame_shape)
        self._engine.observe(self._encode(frames), frames)  # tokens (B, N)

    def memory_map(self, world: int = 0) -> np.ndarray | None:
        """What world `world` remembers, seen from above around the player, uint8 (96, 96, 3) (None: no memory
        in this rollout). Real cells in their colour, made-up ones tinted violet, the player a white arrow."""
        if self._engine is None or self._engine.memory is None:
            return None
        return self._engine.memory.map(world).cpu().numpy()

    def snapshot(self) -> WorldSnapshot:
        """Copy of the state (KV cache, newest frame, carried pixels, random states) to branch with restore()."""
        if self._engine is None:
            raise RuntimeError("call reset(frames) before snapshot()")
        return WorldSnapshot(self._engine.snapshot(), self._batched)

    @torch.inference_mode()
    def restore(self, snap: WorldSnapshot) -> None:
        """Return to a snapshot taken from this model (it can be restored again later)."""
        if not isinstance(snap, WorldSnapshot):
            raise ValueError(f"expected a WorldSnapshot, got {type(snap).__name__}")
        if self._engine is None or self._engine.batch != snap.engine.batch:
            self._generators = seeded_generators(snap.engine.batch, self.device, self._seed)
            self._engine = self._new_engine(snap.engine.batch)
        self._engine.restore(snap.engine)
        self._batched = snap.batched
