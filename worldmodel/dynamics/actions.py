"""Action embedding of the canonical action dict (envs/actions.py) for the dynamics model.

Buttons: each of the 18 binary keys (9 buttons + hotbar.1..9) has its own learned vector; a transition's button
embedding is the sum of the vectors of the pressed keys.

Camera: each axis (delta pitch, delta yaw, degrees per tick) is clipped to +/- camera_max_deg (10 deg), companded
with a mu-law (mu = 10), x -> sign(x) log(1 + mu |x| / max) / log(1 + mu), and cut into camera_bins (11) uniform bins
over [-1, 1], as VPT does. Bin centres are then 0, +/-0.6, 1.6, 3.2, 5.8, 10 deg: fine near zero where most
motion is, coarse at large turns; anything beyond 10 deg per tick falls in the outermost bin. Each axis has its
own bin embedding table.

Three kinds of conditioning share one output MLP: the real action (above), a learned 'unknown action' vector
(action-free footage, action dropout), and a latent action (a code of the latent action model, linearly embedded).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from envs.actions import BINARY_KEYS, CAMERA_LIMIT_DEG, complete_action

from worldmodel.dynamics.config import DynamicsConfig

REAL, UNKNOWN, LATENT = 0, 1, 2  # values of the per-transition `kind` tensor


def quantize_camera(camera: torch.Tensor, bins: int, max_deg: float, mu: float) -> torch.Tensor:
    """Camera deltas (..., 2) in degrees -> bin indices (..., 2) int64 in [0, bins), mu-law companded."""
    x = (camera.float() / max_deg).clamp(-1.0, 1.0)
    v = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)  # in [-1, 1]
    return torch.round((v + 1.0) * 0.5 * (bins - 1)).long()


def camera_bin_centers(bins: int, max_deg: float, mu: float) -> np.ndarray:
    """Degrees represented by each bin (inverse of quantize_camera at the bin centres), shape (bins,)."""
    v = np.linspace(-1.0, 1.0, bins)
    return np.sign(v) * max_deg * ((1.0 + mu) ** np.abs(v) - 1.0) / mu


def action_tensors(actions: Mapping[str, Any], device: torch.device | str = "cpu"
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Dict of arrays/tensors (buttons (...,), camera (..., 2)) -> buttons (..., 18) float, camera (..., 2) float.

    Raises ValueError naming a missing key or a camera entry of the wrong shape.
    """
    missing = [key for key in (*BINARY_KEYS, "camera") if key not in actions]
    if missing:
        raise ValueError(f"actions are missing key(s) {missing}")
    buttons = torch.stack([torch.as_tensor(np.asarray(actions[key]) if not torch.is_tensor(actions[key])
                                           else actions[key]).to(device).float() for key in BINARY_KEYS], dim=-1)
    camera = actions["camera"]
    camera = (camera if torch.is_tensor(camera) else torch.as_tensor(np.asarray(camera))).to(device).float()
    if camera.shape != (*buttons.shape[:-1], 2):
        raise ValueError(f"actions key 'camera' must have shape {(*buttons.shape[:-1], 2)}, got {tuple(camera.shape)}")
    return buttons, camera


def step_action_tensors(action: Any, batch: int, batched: bool, device: torch.device | str = "cpu"
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The action of one tick for `batch` worlds, in any form `WorldModel.step` takes, validated once ->
    buttons (B, 18) float, camera (B, 2) float degrees (clipped to CAMERA_LIMIT_DEG), known (B,) bool.

    Forms: None (unknown action: no conditioning, no turn); unbatched, one action dict (missing keys = not
    pressed); batched, a list of `batch` action dicts or a dict of arrays (buttons (B,), camera (B, 2)).
    Raises ValueError naming the offending key or count."""
    if action is None:
        zeros = torch.zeros(batch, len(BINARY_KEYS), device=device)
        return zeros, torch.zeros(batch, 2, device=device), torch.zeros(batch, dtype=torch.bool, device=device)
    if not batched:
        actions = [complete_action(action)]
    elif isinstance(action, Sequence) and not isinstance(action, Mapping):
        if len(action) != batch:
            raise ValueError(f"expected a list of {batch} action dicts, got {len(action)}")
        actions = [complete_action(a) for a in action]
    else:
        arrays = _batched_arrays(action, batch)
        buttons = torch.as_tensor(np.stack([arrays[key] for key in BINARY_KEYS], -1), device=device).float()
        return buttons, torch.as_tensor(arrays["camera"], device=device), torch.ones(batch, dtype=torch.bool,
                                                                                      device=device)
    buttons = torch.tensor([[a[key] for key in BINARY_KEYS] for a in actions], device=device).float()
    camera = torch.as_tensor(np.stack([a["camera"] for a in actions]), device=device).float()
    return buttons, camera, torch.ones(batch, dtype=torch.bool, device=device)


def _batched_arrays(action: Mapping[str, Any], batch: int) -> dict[str, np.ndarray]:
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


class ActionEncoder(nn.Module):
    """Real / unknown / latent action -> one conditioning vector (..., d_model) per transition."""

    def __init__(self, cfg: DynamicsConfig, latent_dim: int) -> None:
        super().__init__()
        dim = cfg.d_model
        self.cfg = cfg
        self.buttons = nn.Parameter(torch.randn(len(BINARY_KEYS), dim) * 0.02)
        self.known = nn.Parameter(torch.zeros(dim))
        self.pitch = nn.Embedding(cfg.camera_bins, dim)
        self.yaw = nn.Embedding(cfg.camera_bins, dim)
        self.unknown = nn.Parameter(torch.randn(dim) * 0.02)
        self.latent = nn.Linear(latent_dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def real(self, buttons: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
        """buttons (..., 18) float 0/1, camera (..., 2) degrees -> (..., D) pre-MLP embedding."""
        bins = quantize_camera(camera, self.cfg.camera_bins, self.cfg.camera_max_deg, self.cfg.camera_mu)
        return buttons @ self.buttons + self.known + self.pitch(bins[..., 0]) + self.yaw(bins[..., 1])

    def forward(self, buttons: torch.Tensor, camera: torch.Tensor, kind: torch.Tensor,
                latent: torch.Tensor | None = None) -> torch.Tensor:
        """Conditioning (..., D) from buttons (..., 18), camera (..., 2), kind (...) in {REAL, UNKNOWN, LATENT}
        and latent codes (..., latent_dim) (needed only where kind == LATENT)."""
        emb = self.real(buttons, camera)
        emb = torch.where((kind == UNKNOWN)[..., None], self.unknown.expand_as(emb), emb)
        if latent is not None:
            emb = torch.where((kind == LATENT)[..., None], self.latent(latent), emb)
        elif bool((kind == LATENT).any()):
            raise ValueError("latent action codes are required where kind == LATENT")
        return self.mlp(emb)
