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
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from envs.actions import BINARY_KEYS

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
