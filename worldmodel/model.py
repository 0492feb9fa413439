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
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from einops import rearrange

from envs.actions import BINARY_KEYS, CAMERA_LIMIT_DEG, action_space, complete_action, stack_actions
from worldmodel.dynamics.actions import action_tensors
from worldmodel.dynamics.bundle import TokenizerFactory, load_world_model
from worldmodel.dynamics.model import DynamicsModel, Hint
from worldmodel.dynamics.rollout import Rollout, RolloutSnapshot, seeded_generators
from worldmodel.dynamics.warp import CameraHint
from worldmodel.fusion.state import FusionState

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"


@dataclass
class WorldSnapshot:
    """Opaque copy of a WorldModel's state (KV cache, newest frame, random states)."""

    rollout: RolloutSnapshot
    batched: bool
    fusion: FusionState | None = None  # pixels carried by a tokenizer with frame fusion


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
                 device: str | torch.device | None = "cpu") -> None:
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
        self._rollout: Rollout | None = None
        self._batched = False
        self._hint = (CameraHint(self.tokenizer, dynamics.cfg.camera_hint_fov, dynamics.grid)
                      if dynamics.uses_hint else None)
        self._view: torch.Tensor | None = None  # (B, H, W, 3) decoded newest frame, reused by the camera hint
        self.fusion: bool = getattr(self.tokenizer, "fusion", None) is not None
        """Show frames through the tokenizer's frame-fusion net (worldmodel/fusion/net.py), when it has one.
        Read at reset: False decodes the tokens alone (about twice as fast on a CPU, blurrier)."""
        self._carried: FusionState | None = None  # pixels the fusion carries into the next frame

    @classmethod
    def load(cls, path: str | Path | None = None, device: str | torch.device | None = "cpu",
             tokenizer_factory: TokenizerFactory | None = None) -> "WorldModel":
        """Load a WorldModel directory (None = the bundled model). Never unpickles; bad files -> ValueError."""
        if path is None or str(path) == "bundled":
            if not (BUNDLED_DIR / "config.json").is_file():
                raise FileNotFoundError(
                    f"the bundled world model is missing ({BUNDLED_DIR}/config.json not found): train one "
                    "(`wm train tokenizer`, then `wm train dynamics`) and pass its exported directory, "
                    "or install a release that ships worldmodel/bundled/")
            path = BUNDLED_DIR
        tokenizer, dynamics, config = load_world_model(path, tokenizer_factory)
        return cls(tokenizer, dynamics, config, device)

    # --- state ---
    @property
    def batch_size(self) -> int:
        """Number of worlds of the current rollout (1 for unbatched use)."""
        return self._rollout.batch if self._rollout is not None else 1

    def seed(self, seed: int) -> None:
        """Seed sampling: world b draws from a generator seeded with seed + b. Takes effect now (if reset) and
        for the next reset; a reset without a new seed continues the random streams."""
        self._seed = int(seed)
        self._generators = seeded_generators(len(self._generators), self.device, self._seed)
        if self._rollout is not None:
            self._rollout.generators = self._generators

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

    def _decode(self, tokens: torch.Tensor) -> np.ndarray:
        """tokens (B, N) -> uint8 frames (B, H, W, 3) as numpy."""
        grids = rearrange(tokens, "b (h w) -> b h w", h=self.dynamics.grid[0])
        return self.tokenizer.decode(grids).cpu().numpy()

    def _refresh_view(self) -> None:
        """After the newest frame changed outside step/reset (observe, restore, re-priming some worlds), decode
        it again for the camera hint, exactly as a step would have left it."""
        if self._hint is not None and self._rollout is not None and self._rollout.last is not None:
            self._decode_newest(self._rollout.last)

    def _decode_newest(self, tokens: torch.Tensor, camera: torch.Tensor | None = None) -> np.ndarray:
        """Decode the rollout's newest frame (its token distribution after a mean-field step, else its tokens
        (B, N)) and keep the frames for the next step's camera hint. After a step (camera (B, 2) given) a
        tokenizer with frame fusion fuses them with the previous shown frames turned by the camera."""
        fuse = camera is not None and self._carried is not None
        inputs = self._carried.inputs(camera, self.device) if fuse else None
        soft = self._rollout.soft if self._rollout is not None else None
        if soft is None:
            grids = rearrange(tokens, "b (h w) -> b h w", h=self.dynamics.grid[0])
            frames = self.tokenizer.decode(grids, inputs).cpu().numpy()
        else:
            grid = rearrange(soft, "b (h w) v -> b h w v", h=self.dynamics.grid[0])
            frames = self.tokenizer.decode_expected(grid, inputs).cpu().numpy()
        self._view = torch.from_numpy(frames) if self._hint is not None else None
        if fuse:
            self._carried.advance(torch.from_numpy(frames), camera)
        return frames

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
                 ) -> tuple[torch.Tensor, torch.Tensor, Hint | None]:
        """Context frames (B, T, H, W, 3) and actions -> tokens (B, T, N), conditioning (B, T-1, D) and the
        camera hints of the T-1 transitions (None for a model without them or unknown actions)."""
        b, t = frames.shape[:2]
        tokens = self._encode(frames)  # (B, T, N)
        if t == 1 and actions is None:  # a single frame: no transition to condition on
            return tokens, torch.zeros(b, 0, self.dynamics.cfg.d_model, device=self.device), None
        if actions is None:
            return tokens, self.dynamics.condition_latent(tokens[:, :-1], tokens[:, 1:]), None  # (B, T-1, D)
        buttons, camera = action_tensors(actions, self.device)
        if not batched:
            buttons, camera = buttons[None], camera[None]
        if buttons.shape[:2] != (b, t - 1):
            raise ValueError(f"reset actions must have leading shape {(b, t - 1) if batched else (t - 1,)} "
                             f"(T-1 actions between T frames), got {tuple(buttons.shape[:-1])}")
        known = torch.ones(b, t - 1, dtype=torch.bool, device=self.device)
        hints = self._camera_hint(tokens[:, :-1], camera, known) if t > 1 else None
        return tokens, self.dynamics.condition(buttons, camera, known), hints

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
        tokens, cond, hints = self._context(frames, actions, batched)
        if worlds is not None:
            if self._rollout is None or not self._batched or not batched:
                raise ValueError("reset(..., worlds=...) needs a running batched rollout and batched frames")
            index = torch.as_tensor(list(worlds), dtype=torch.long, device=self.device)
            if index.numel() != frames.shape[0] or index.unique().numel() != index.numel() or \
                    bool(((index < 0) | (index >= self.batch_size)).any()):
                raise ValueError(f"worlds must be {frames.shape[0]} distinct indices in [0, {self.batch_size}), "
                                 f"got {list(worlds)}")
            self._rollout.prime_worlds(index, tokens, cond, hints)
            view = self._decode(tokens[:, -1])
            if self._carried is not None:  # the next step fuses with the real newest context frame
                self._carried = self._carried.restart(index, frames[:, -1])
            if self._view is not None:  # the other worlds' newest frames are unchanged: update only these rows
                self._view = self._view.clone()
                self._view[index.cpu()] = torch.from_numpy(view)
            return view
        b = frames.shape[0]
        if len(self._generators) != b:
            self._generators = seeded_generators(b, self.device, self._seed)
        self._rollout = Rollout(self.dynamics, b, self.device, generators=self._generators)
        self._rollout.prime(tokens, cond, hints)
        self._batched = batched
        view = self._decode_newest(tokens[:, -1])
        self._carried = FusionState.start(frames[:, -1]) if self._fusing() else None  # real pixels carry on
        return view if batched else view[0]

    def _actions(self, action: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One action dict (unbatched) or a dict of arrays / list of dicts (batched) -> buttons, camera, known."""
        b = self.batch_size
        if action is None:
            zeros = torch.zeros(b, len(BINARY_KEYS), device=self.device)
            return zeros, torch.zeros(b, 2, device=self.device), torch.zeros(b, dtype=torch.bool, device=self.device)
        if not self._batched:
            action = stack_actions([complete_action(action)])
        elif isinstance(action, Sequence) and not isinstance(action, Mapping):
            if len(action) != b:
                raise ValueError(f"expected a list of {b} action dicts, got {len(action)}")
            action = stack_actions([complete_action(a) for a in action])
        else:
            action = _check_batched_action(action, b)
        buttons, camera = action_tensors(action, self.device)
        return buttons, camera, torch.ones(b, dtype=torch.bool, device=self.device)

    @torch.inference_mode()
    def step(self, action: Any) -> tuple[Any, Any, Any]:
        """Advance by one tick. Unbatched: action dict (missing keys = not pressed; None = unknown) ->
        (frame uint8 (H, W, 3), reward float, terminated bool). Batched: dict of arrays or list of dicts ->
        (frames (B, H, W, 3) uint8, rewards (B,) float32, terminated (B,) bool)."""
        if self._rollout is None:
            raise RuntimeError("call reset(frames) before step()")
        buttons, camera, known = self._actions(action)
        cond = self.dynamics.condition(buttons, camera, known)  # (B, D)
        hint = None if self._hint is None else self._hint(self._rollout.last, camera, known, self._view)
        if self.decoding not in ("sample", "mean"):
            raise ValueError(f"decoding must be 'sample' or 'mean', got {self.decoding!r}")
        tokens, reward, term_prob = self._rollout.step(cond, self.decode_steps, self.temperature, self.top_k, hint,
                                                       soft=self.decoding == "mean")
        frames = self._decode_newest(tokens, camera * known[:, None])
        rewards = reward.float().cpu().numpy()
        terminated = (term_prob > 0.5).cpu().numpy()
        if self._batched:
            return frames, rewards, terminated
        return frames[0], float(rewards[0]), bool(terminated[0])

    @torch.inference_mode()
    def observe(self, frames: Any) -> None:
        """Replace the newest frame by real frames uint8 (H, W, 3) or (B, H, W, 3) (teacher forcing)."""
        if self._rollout is None:
            raise RuntimeError("call reset(frames) before observe()")
        frames = torch.as_tensor(frames if torch.is_tensor(frames) else np.asarray(frames))
        expected = (self.batch_size, *self.frame_shape) if self._batched else self.frame_shape
        if frames.dtype != torch.uint8 or tuple(frames.shape) != expected:
            raise ValueError(f"observed frames must be uint8 {expected}, got {frames.dtype} {tuple(frames.shape)}")
        self._rollout.observe(self._encode(frames.reshape(-1, *self.frame_shape)))  # (B, N)
        self._refresh_view()
        if self._carried is not None:
            self._carried = FusionState.start(frames.reshape(-1, *self.frame_shape))

    def snapshot(self) -> WorldSnapshot:
        """Copy of the state (KV cache, newest frame, random states) to branch rollouts with restore()."""
        if self._rollout is None:
            raise RuntimeError("call reset(frames) before snapshot()")
        carried = None if self._carried is None else self._carried.copy()
        return WorldSnapshot(self._rollout.snapshot(), self._batched, carried)

    def restore(self, snap: WorldSnapshot) -> None:
        """Return to a snapshot taken from this model (it can be restored again later)."""
        if not isinstance(snap, WorldSnapshot):
            raise ValueError(f"expected a WorldSnapshot, got {type(snap).__name__}")
        if self._rollout is None or self._rollout.batch != snap.rollout.last.shape[0]:
            self._generators = seeded_generators(snap.rollout.last.shape[0], self.device, self._seed)
            self._rollout = Rollout(self.dynamics, len(self._generators), self.device, generators=self._generators)
        self._rollout.restore(snap.rollout)
        self._batched = snap.batched
        self._refresh_view()
        self._carried = None if snap.fusion is None or not self._fusing() else snap.fusion.copy()


def _check_batched_action(action: Mapping[str, Any], batch: int) -> dict[str, np.ndarray]:
    """Validate a dict of arrays for `batch` worlds (missing buttons = not pressed); ValueError naming the key."""
    unknown = sorted(set(action) - set(BINARY_KEYS) - {"camera"})
    if unknown:
        raise ValueError(f"unknown action key(s) {unknown}")
    out: dict[str, np.ndarray] = {}
    for key in BINARY_KEYS:
        value = np.asarray(action.get(key, np.zeros(batch)))
        if value.shape != (batch,) or not np.isin(value, (0, 1)).all():
            raise ValueError(f"action key '{key}' must be an array of {batch} values in {{0, 1}}, got {value!r}")
        out[key] = value.astype(np.uint8)
    camera = np.asarray(action.get("camera", np.zeros((batch, 2))), dtype=np.float32)
    if camera.shape != (batch, 2) or not np.isfinite(camera).all():
        raise ValueError(f"action key 'camera' must be finite with shape ({batch}, 2), got shape {camera.shape}")
    out["camera"] = np.clip(camera, -CAMERA_LIMIT_DEG, CAMERA_LIMIT_DEG)
    return out
