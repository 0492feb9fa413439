"""Inverse dynamics model (IDM): two consecutive frames -> which actions took effect between them.

Trained in-project on `Babbler` transitions in BlockWorld (effective labels: jump only from the ground, attack
only when a block broke, hotbar only when the selection changed). It reads model-generated frames for the
action-following probe (family E): if a world model obeys "forward", the IDM sees forward motion in its frames.
Outputs: one logit per IDM_LABELS entry and the camera delta [pitch, yaw] in degrees. ~0.2 M parameters.
Trained by the one Trainer through `compute_loss` (worldmodel/probes/auxtrain.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

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
    """(B, 2, H, W, 3) uint8 frame pairs -> logits (B, len(IDM_LABELS)), camera (B, 2) degrees.

    `pos_weight` (a training-only buffer, not saved: weight files hold the network alone) scales the positive
    term of each label's BCE; training sets it from the label frequencies (`label_weights`)."""

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
        self.register_buffer("pos_weight", torch.ones(len(IDM_LABELS)), persistent=False)

    def forward(self, pairs: Tensor) -> tuple[Tensor, Tensor]:
        """Logits of the binary labels and the camera delta in degrees."""
        x = rearrange(pairs, "b t h w c -> b t c h w").float() / 127.5 - 1.0
        x = torch.cat([x[:, 0], x[:, 1], x[:, 1] - x[:, 0]], dim=1)  # (B, 9, H, W)
        out = self.head(F.adaptive_avg_pool2d(self.trunk(x), self.side))
        return out[:, : len(IDM_LABELS)], out[:, len(IDM_LABELS) :] * CAMERA_SCALE

    def compute_loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """Batch {"frames": (B, 2, H, W, 3) uint8, "buttons": (B, len(IDM_LABELS)) in {0, 1}, "camera": (B, 2)
        degrees} -> BCE of the labels (weighted by pos_weight) + smooth L1 of the camera in CAMERA_SCALE units."""
        logits, cam = self(batch["frames"])
        bce = F.binary_cross_entropy_with_logits(logits.float(), batch["buttons"].float(), pos_weight=self.pos_weight)
        cam_loss = F.smooth_l1_loss(cam.float() / CAMERA_SCALE, batch["camera"].float() / CAMERA_SCALE)
        return bce + cam_loss, {"bce": bce.item(), "camera_loss": cam_loss.item()}


def label_weights(buttons: np.ndarray) -> Tensor:
    """pos_weight from labels (N, len(IDM_LABELS)): sqrt of the negative/positive ratio, clipped to [1, 8] first,
    so rare actions (jump, hotbar) are not drowned by the idle majority."""
    rates = np.mean(buttons, axis=0)
    return torch.as_tensor(np.clip((1 - rates) / np.maximum(rates, 1e-3), 1.0, 8.0) ** 0.5, dtype=torch.float32)


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


def config_dict(cfg: IDMConfig) -> dict[str, object]:
    """JSON-able config (stored in the weights' metadata)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}
