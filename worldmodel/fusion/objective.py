"""Train a tokenizer's frame-fusion net (worldmodel/fusion/net.py) on a frozen world model's own rollouts.

Each training clip is `context + horizon` real frames with their actions. The world model, frozen, rolls the clip
out open loop from its first `context` frames, as `WorldModel.step` does (mean-field or greedy, chosen per batch),
and the fusion shows every predicted frame together with the pixels it carries (the previous shown frame and the
last real frame, turned by the camera); its loss is against the real frames. A few teacher-forced steps per clip
(real tokens, real previous frame) keep it right where `WorldModel.observe` feeds real frames. The tokenizer's
encoder and decoder and the dynamics stay as they are: the export is the same world model with the fusion added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from worldmodel.dynamics.actions import action_tensors
from worldmodel.dynamics.bundle import save_world_model
from worldmodel.dynamics.model import DynamicsModel
from worldmodel.fusion.state import FusionState
from worldmodel.metrics import psnr_from_mse
from worldmodel.rollout.engine import Engine, Sampling, Step, sequence_actions
from worldmodel.rollout.render import render
from worldmodel.tokenizer.model import frames_to_float


@dataclass
class FusionTrainConfig:
    """What `wm train fusion` trains (its model.* keys; the one source of their defaults)."""

    channels: int = 32
    """Width of the fusion net at half resolution (tokenizer config key fusion_channels; half of it at full
    resolution, twice it at quarter)."""
    fov_deg: float = 70.0
    """Horizontal field of view of the footage in degrees, for the camera warps."""
    context: int = 4
    """Real frames each training rollout starts from; the rest of the clip (data.clip_len - context) is the
    open-loop horizon."""
    teacher_steps: int = 4
    """Teacher-forced steps per clip (real tokens, real previous frame), at random positions of the horizon."""
    mean_fraction: float = 0.5
    """Fraction of batches rolled out mean-field (`WorldModel.decoding = "mean"`); the others greedy."""
    l1_weight: float = 0.1
    """Weight of the L1 loss beside the MSE (pixels in [-1, 1])."""

    def validate(self) -> None:
        """Raise ValueError naming the offending key."""
        if self.channels < 2 or not self.fov_deg > 0:
            raise ValueError(f"fusion config 'channels'/'fov_deg': need >= 2 and > 0, got {self.channels}, "
                             f"{self.fov_deg}")
        if self.context < 1 or self.teacher_steps < 0 or not 0.0 <= self.mean_fraction <= 1.0:
            raise ValueError("fusion config: need context >= 1, teacher_steps >= 0, mean_fraction in [0, 1]")


class FusionObjective(nn.Module):
    """Frozen tokenizer encoder/decoder and dynamics; trainable `tokenizer.fusion`. `compute_loss(batch)`.

    The open-loop rollouts go through the rollout engine (worldmodel/rollout/), the code `WorldModel` serves
    with: the carried frames are the quantised frames a player would see, and dynamics with the camera hint get
    their hint from the fused frames, as when served."""

    def __init__(self, tokenizer: nn.Module, dynamics: DynamicsModel, cfg: FusionTrainConfig) -> None:
        super().__init__()
        cfg.validate()
        if tokenizer.fusion is None:
            raise ValueError("the tokenizer has no fusion net (tokenizer config fusion_channels = 0)")
        self.tokenizer, self.dynamics, self.cfg = tokenizer, dynamics, cfg
        self.dynamics.requires_grad_(False)
        self.tokenizer.requires_grad_(False)
        self.tokenizer.fusion.requires_grad_(True)
        self.generator = torch.Generator().manual_seed(0)

    def _loss(self, shown: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """MSE + l1_weight * L1, and the MSE alone (detached)."""
        mse = F.mse_loss(shown, target)
        return mse + self.cfg.l1_weight * F.l1_loss(shown, target), mse.detach()

    def _rollout(self, frames: Tensor, tokens: Tensor, cond: Tensor, camera: Tensor, known: Tensor,
                 mean: bool) -> list[Step]:
        """The engine's open-loop steps from the first `context` frames over the rest of the clip, fused."""
        c, b = self.cfg.context, frames.shape[0]
        engine = Engine(self.tokenizer, self.dynamics, b, frames.device, fusion=True)
        hints = None if engine.hinter is None else engine.hinter(tokens[:, : c - 1], camera[:, : c - 1],
                                                                  known[:, : c - 1])
        engine.prime(tokens[:, :c], cond[:, : c - 1], hints, newest=frames[:, c - 1], render_view=False)
        sampling = Sampling("mean" if mean else "sample", self.dynamics.cfg.decode_steps, 0.0, 0)
        return engine.unroll(sequence_actions(cond, camera, known, c - 1), frames.shape[1] - c, sampling)

    def compute_loss(self, batch: Mapping[str, Any]) -> tuple[Tensor, dict[str, float]]:
        """Fusion loss over the open-loop rollout of every clip (and teacher_steps teacher-forced steps)."""
        frames, c = batch["frames"], self.cfg.context
        b, length = frames.shape[:2]
        if length <= c:
            raise ValueError(f"clips of {length} frames leave no horizon after context {c}: raise data.clip_len")
        x = rearrange(frames_to_float(rearrange(frames, "b l h w c -> (b l) h w c")), "(b l) c h w -> b l c h w", b=b)
        with torch.no_grad():
            tokens = rearrange(self.tokenizer.encode(rearrange(frames, "b l h w c -> (b l) h w c")),
                               "(b l) h w -> b l (h w)", b=b)
            buttons, camera = action_tensors(batch["actions"], frames.device)  # (B, L-1, 18), (B, L-1, 2)
            known = batch["action_known"].to(torch.bool).reshape(b, 1).expand(b, length - 1)
            cond = self.dynamics.condition(buttons, camera, known)
            mean = bool(torch.rand(1, generator=self.generator) < self.cfg.mean_fraction)
        steps = self._rollout(frames, tokens, cond, camera, known, mean)
        losses, mses, plain, weights = [], [], [], []
        for k, step in enumerate(steps):
            target = x[:, c + k]
            loss, mse = self._loss(step.rendered.image, target)
            losses.append(loss)
            mses.append(mse)
            plain.append(F.mse_loss(step.rendered.decoded.clamp(-1, 1), target).detach())
            weights.append(step.rendered.weight.mean((0, 2, 3)).detach())
        loss = torch.stack(losses).mean()
        metrics = {"open_psnr": psnr_from_mse(torch.stack(mses).mean(), 2.0).item(),
                   "open_psnr_decoded": psnr_from_mse(torch.stack(plain).mean(), 2.0).item(),
                   "mean_field": float(mean)}
        for name, value in zip(("decoded", "previous", "anchor"), torch.stack(weights).mean(0).tolist()):
            metrics[f"weight_{name}"] = value
        if self.cfg.teacher_steps:
            teacher_loss, teacher_mse = self._teacher_loss(frames, x, tokens, camera * known[..., None])
            loss = loss + teacher_loss
            metrics["teacher_psnr"] = psnr_from_mse(teacher_mse, 2.0).item()
        return loss, metrics

    def _teacher_loss(self, frames: Tensor, x: Tensor, tokens: Tensor, camera: Tensor) -> tuple[Tensor, Tensor]:
        """Loss and MSE of teacher_steps teacher-forced steps per clip: the real tokens of frame t + 1 rendered
        right after the real frame t was observed (it is both the previous frame and the anchor)."""
        c = self.cfg.context
        steps = torch.randint(c - 1, x.shape[1] - 1, (self.cfg.teacher_steps,), generator=self.generator).tolist()
        losses, mses = [], []
        for t in steps:
            rendered = render(self.tokenizer, tokens[:, t + 1], None, self.dynamics.grid[0],
                              FusionState.start(frames[:, t]), camera[:, t])
            loss, mse = self._loss(rendered.image, x[:, t + 1])
            losses.append(loss)
            mses.append(mse)
        return torch.stack(losses).mean(), torch.stack(mses).mean()

    def export(self, path: Any, card: dict[str, Any] | None = None) -> Any:
        """Write the world model with this fusion net as a WorldModel directory."""
        return save_world_model(path, self.tokenizer, self.dynamics, card)
