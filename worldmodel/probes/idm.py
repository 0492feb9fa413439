"""Inverse dynamics model (IDM): two consecutive frames -> which actions took effect between them.

Trained in-project on `Babbler` transitions in BlockWorld (effective labels: jump only from the ground, attack
only when a block broke, hotbar only when the selection changed). It reads model-generated frames for the
action-following probe (family E): if a world model obeys "forward", the IDM sees forward motion in its frames.
Outputs: one logit per IDM_LABELS entry and the camera delta [pitch, yaw] in degrees. ~0.2 M parameters.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from worldmodel.probes.auxdata import IDM_LABELS, Babbler

CAMERA_SCALE = 10.0  # degrees per unit of the camera output
CAMERA_CLASS_DEG = 2.0  # |delta| above this counts as a turn (the probes command 3.2-10 degree steps)
CAMERA_CLASSES = ("yaw_right", "yaw_left", "pitch_down", "pitch_up")
ACTION_CLASSES = IDM_LABELS + CAMERA_CLASSES  # what family E reports precision / recall / F1 for


@dataclass
class IDMConfig:
    """Widths of the strided conv stack and the head."""

    widths: tuple[int, ...] = (24, 32, 48, 64, 64)
    """Channels of the conv layers (the first keeps full resolution, the others halve it)."""
    hidden: int = 96
    """Width of the hidden layer of the head."""


class InverseDynamics(nn.Module):
    """(B, 2, H, W, 3) uint8 frame pairs -> logits (B, len(IDM_LABELS)), camera (B, 2) degrees."""

    def __init__(self, cfg: IDMConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or IDMConfig()
        layers: list[nn.Module] = []
        cin = 9  # frame t, frame t+1 and their difference
        for i, w in enumerate(cfg.widths):
            layers += [nn.Conv2d(cin, w, 3, 1 if i == 0 else 2, 1), nn.GroupNorm(4, w), nn.SiLU()]
            cin = w
        self.trunk = nn.Sequential(*layers)
        self.side = 4  # the trunk output is pooled to 4 x 4, so the head fits any frame size
        side = self.side
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(cin * side * side, cfg.hidden), nn.SiLU(),
                                  nn.Linear(cfg.hidden, len(IDM_LABELS) + 2))

    def forward(self, pairs: Tensor) -> tuple[Tensor, Tensor]:
        """Logits of the binary labels and the camera delta in degrees."""
        x = rearrange(pairs, "b t h w c -> b t c h w").float() / 127.5 - 1.0
        x = torch.cat([x[:, 0], x[:, 1], x[:, 1] - x[:, 0]], dim=1)  # (B, 9, H, W)
        out = self.head(F.adaptive_avg_pool2d(self.trunk(x), self.side))
        return out[:, : len(IDM_LABELS)], out[:, len(IDM_LABELS) :] * CAMERA_SCALE


@torch.inference_mode()
def infer_actions(model: InverseDynamics, frames: np.ndarray, batch: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """For a clip uint8 (T, H, W, 3): action probabilities (T-1, len(IDM_LABELS)) and camera (T-1, 2) degrees."""
    model.eval()
    pairs = np.stack([frames[:-1], frames[1:]], axis=1)  # (T-1, 2, H, W, 3)
    probs, cams = [], []
    for i in range(0, len(pairs), batch):
        logits, cam = model(torch.as_tensor(pairs[i : i + batch]))
        probs.append(torch.sigmoid(logits).numpy())
        cams.append(cam.numpy())
    if not probs:
        return np.zeros((0, len(IDM_LABELS)), np.float32), np.zeros((0, 2), np.float32)
    return np.concatenate(probs), np.concatenate(cams)


def action_classes(buttons: np.ndarray, camera: np.ndarray) -> np.ndarray:
    """Binary labels (T, len(ACTION_CLASSES)) from buttons (T, len(IDM_LABELS)) in {0,1} (or probabilities,
    thresholded at 0.5) and camera (T, 2) degrees [pitch, yaw]."""
    yaw, pitch = camera[:, 1], camera[:, 0]
    cam = np.stack([yaw > CAMERA_CLASS_DEG, yaw < -CAMERA_CLASS_DEG, pitch > CAMERA_CLASS_DEG,
                    pitch < -CAMERA_CLASS_DEG], axis=1)
    return np.concatenate([buttons > 0.5, cam], axis=1)


def _loss(model: InverseDynamics, pairs: Tensor, labels: Tensor, camera: Tensor, pos_weight: Tensor
          ) -> tuple[Tensor, Tensor]:
    logits, cam = model(pairs)
    bce = F.binary_cross_entropy_with_logits(logits, labels, pos_weight=pos_weight)
    cam_loss = F.smooth_l1_loss(cam / CAMERA_SCALE, camera / CAMERA_SCALE)
    return bce + cam_loss, logits


def evaluate_idm(model: InverseDynamics, seed: int, n: int = 1024, size: int = 64) -> dict[str, float]:
    """Held-out per-class F1 on fresh babbling and the camera mean absolute error (degrees)."""
    data = Babbler(seed, size).sample(n)
    probs, cams = [], []
    with torch.inference_mode():
        for i in range(0, n, 128):
            logits, cam = model(torch.as_tensor(data.frames[i : i + 128]))
            probs.append(torch.sigmoid(logits).numpy())
            cams.append(cam.numpy())
    pred = action_classes(np.concatenate(probs), np.concatenate(cams))
    true = action_classes(data.buttons, data.camera)
    metrics = {f"f1_{name}": f1_score(true[:, i], pred[:, i]) for i, name in enumerate(ACTION_CLASSES)}
    metrics["camera_mae_deg"] = float(np.abs(np.concatenate(cams) - data.camera).mean())
    return metrics


def f1_score(true: np.ndarray, pred: np.ndarray) -> float:
    """F1 of binary vectors (NaN when there are no positives on either side)."""
    tp = float(np.sum(true & pred))
    denom = float(np.sum(true) + np.sum(pred))
    return 2 * tp / denom if denom > 0 else math.nan


def train_idm(steps: int = 3000, batch: int = 64, lr: float = 2e-3, seed: int = 0, size: int = 64,
              cfg: IDMConfig | None = None, log: Callable[[str], None] | None = None
              ) -> tuple[InverseDynamics, dict[str, float]]:
    """Train on fresh babbling transitions (8 independent players per batch); returns the model and metrics."""
    torch.manual_seed(seed)
    players = [Babbler(seed * 1000 + i, size) for i in range(8)]
    model = InverseDynamics(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    small = steps < 100  # smoke runs (tests): smaller samples for the label rates and the held-out check
    rates = np.mean(np.concatenate([p.sample(8 if small else 64).buttons for p in players]), axis=0)
    pos_weight = torch.as_tensor(np.clip((1 - rates) / np.maximum(rates, 1e-3), 1.0, 8.0) ** 0.5,
                                 dtype=torch.float32)
    start = time.time()
    model.train()
    for step in range(steps):
        parts = [p.sample(batch // len(players)) for p in players]
        pairs = torch.as_tensor(np.concatenate([p.frames for p in parts]))
        labels = torch.as_tensor(np.concatenate([p.buttons for p in parts]))
        camera = torch.as_tensor(np.concatenate([p.camera for p in parts]))
        loss, _ = _loss(model, pairs, labels, camera, pos_weight)
        for group in opt.param_groups:
            group["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / max(steps, 1))))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if log is not None and (step % 200 == 0 or step == steps - 1):
            log(f"idm step {step}/{steps} loss {loss.item():.3f} ({time.time() - start:.0f}s)")
    model.eval()
    metrics = evaluate_idm(model, seed + 20_011, 64 if small else 512, size)
    metrics["steps"] = float(steps)
    return model, metrics


def config_dict(cfg: IDMConfig) -> dict[str, object]:
    """JSON-able config (stored in the weights' metadata)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}
