"""Training objective of the dynamics: frozen tokenizer + DynamicsModel, `compute_loss(batch)` for the Trainer.

Per transition t (frame t -> t+1) the conditioning is chosen at random:
  labelled clip:     real action (1 - p_unknown - p_latent_known), unknown (p_unknown), latent (p_latent_known)
  action-free clip:  latent action (1 - p_unknown), unknown (p_unknown)
The latent path is computed for every transition (selected with torch.where), so every parameter takes part in
every step (DDP needs no find_unused_parameters) and action-free clips train the latent action model through
the straight-through FSQ gradient of the prediction loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from envs.actions import BINARY_KEYS
from worldmodel.dynamics.actions import LATENT, REAL, UNKNOWN, action_tensors
from worldmodel.dynamics.bundle import save_world_model
from worldmodel.dynamics.config import DynamicsConfig
from worldmodel.dynamics.model import DynamicsModel, Hint
from worldmodel.dynamics.sampling import random_mask
from worldmodel.dynamics.self_forcing import mix_context, mix_hints, rollout_context
from worldmodel.dynamics.warp import CameraHint
from worldmodel.rollout.engine import Engine, Sampling, sequence_actions

EDIT_BUTTONS = [BINARY_KEYS.index("attack"), BINARY_KEYS.index("use")]
"""Where attack and use sit among the button columns: the presses that break or place a block."""


class DynamicsObjective(nn.Module):
    """Trains a DynamicsModel on clips through a frozen tokenizer; exports WorldModel directories."""

    def __init__(self, cfg: DynamicsConfig | Mapping[str, Any], tokenizer: nn.Module) -> None:
        super().__init__()
        self.cfg = cfg if isinstance(cfg, DynamicsConfig) else DynamicsConfig.from_dict(dict(cfg))
        self.tokenizer = tokenizer.eval()
        self.tokenizer.requires_grad_(False)
        self.model = DynamicsModel(self.cfg, tokenizer.vocab_size, tokenizer.grid)
        self.hint = (CameraHint(tokenizer, self.cfg.camera_hint_fov, self.model.grid)
                     if self.model.uses_hint else None)

    def camera_hint(self, tokens: torch.Tensor, camera: torch.Tensor, known: torch.Tensor,
                    frames: torch.Tensor | None = None) -> Hint | None:
        """Camera hints of frames tokens (..., N) (or their decoded `frames`) turned by camera (..., 2) where
        known (...); None without."""
        return None if self.hint is None else self.hint(tokens, camera, known, frames)

    def train(self, mode: bool = True) -> "DynamicsObjective":
        """Switch the dynamics to train/eval; the tokenizer always stays in eval mode (frozen)."""
        super().train(mode)
        self.tokenizer.eval()
        return self

    @property
    def device(self) -> torch.device:
        """Device of the dynamics parameters (batches are moved there)."""
        return self.model.pos.device

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 frames (B, L, H, W, 3) -> token grids (B, L, N), a normal (non-inference) tensor."""
        b = frames.shape[0]
        with torch.no_grad(), torch.autocast(frames.device.type, enabled=False):  # fp32: the tokens served
            grids = self.tokenizer.encode(rearrange(frames, "b l h w c -> (b l) h w c"))  # (B*L, h, w)
        # clone outside inference mode: embeddings save their indices for backward
        return rearrange(grids.clone(), "(b l) h w -> b l (h w)", b=b).to(self.device)

    def _tokens(self, batch: Mapping[str, Any], frames: torch.Tensor) -> torch.Tensor:
        """The clip's token grids (B, L, N): the batch's cached `tokens` (worldmodel/data/token_cache.py, encoded
        once by this frozen tokenizer) when it has them, else the frames encoded now."""
        if "tokens" not in batch:
            return self.encode(frames)
        tokens = torch.as_tensor(batch["tokens"])
        n = self.model.grid[0] * self.model.grid[1]
        if tokens.shape != (*frames.shape[:2], n) or tokens.dtype not in (torch.int64, torch.int32, torch.int16):
            raise ValueError(f"batch 'tokens' must be integer (B, L, N) = {(*frames.shape[:2], n)}, "
                             f"got {tokens.dtype} {tuple(tokens.shape)}")
        return tokens.long().to(self.device)

    def _batch(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, ...]:
        """Check a batch and move it to the model: tokens, buttons, camera, known, rewards, terminated."""
        for key in ("frames", "actions", "action_known", "rewards", "terminated"):
            if key not in batch:
                raise ValueError(f"dynamics batch is missing key '{key}'")
        frames = batch["frames"]
        if frames.ndim != 5 or frames.shape[1] < 2 or frames.dtype != torch.uint8:
            raise ValueError(f"batch 'frames' must be uint8 (B, L>=2, H, W, 3), "
                             f"got {frames.dtype} {tuple(frames.shape)}")
        b, length = frames.shape[:2]
        tokens = self._tokens(batch, frames)
        buttons, camera = action_tensors(batch["actions"], self.device)
        if buttons.shape[:2] != (b, length - 1):
            raise ValueError(f"batch 'actions' must be (B, L-1, ...) = {(b, length - 1)}, "
                             f"got {tuple(buttons.shape[:2])}")
        known = torch.as_tensor(batch["action_known"], device=self.device).bool().reshape(b)
        rewards = torch.as_tensor(batch["rewards"], device=self.device).float().reshape(b, length - 1)
        terminated = torch.as_tensor(batch["terminated"], device=self.device).float().reshape(b, length - 1)
        return tokens, buttons, camera, known, rewards, terminated

    def _valid(self, batch: Mapping[str, Any], shape: tuple[int, ...]) -> torch.Tensor:
        """The batch's `valid` mask (B, T) (all True when it has none: no clip padded past an episode's end)."""
        if "valid" not in batch:
            return torch.ones(shape, dtype=torch.bool, device=self.device)
        return torch.as_tensor(batch["valid"], device=self.device).bool().reshape(shape)

    def _kinds(self, known: torch.Tensor, steps: int) -> torch.Tensor:
        """Random conditioning kind per transition (B, T) from the clip's action_known (B,)."""
        cfg = self.cfg
        u = torch.rand(known.shape[0], steps, device=known.device)
        labelled = torch.where(u < cfg.p_unknown, UNKNOWN,
                               torch.where(u < cfg.p_unknown + cfg.p_latent_known, LATENT, REAL))
        unlabelled = torch.where(u < cfg.p_unknown, UNKNOWN, LATENT)
        return torch.where(known[:, None], labelled, unlabelled)

    def _corrupt(self, tokens: torch.Tensor) -> torch.Tensor:
        """Training only: replace a random fraction (per clip, uniform in [0, context_noise]) of tokens (B, T, N)
        by uniformly random tokens; identity in eval mode or when context_noise is 0."""
        if not self.training or self.cfg.context_noise <= 0:
            return tokens
        rate = torch.rand(tokens.shape[0], 1, 1, device=tokens.device) * self.cfg.context_noise  # (B, 1, 1)
        replace = torch.rand(tokens.shape, device=tokens.device) < rate  # (B, T, N)
        noise = torch.randint_like(tokens, self.model.vocab_size)
        return torch.where(replace, noise, tokens)

    def compute_loss(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        """Masked next-frame token cross-entropy + weighted reward MSE and termination BCE, and metrics."""
        cfg, model = self.cfg, self.model
        tokens, buttons, camera, known, rewards, terminated = self._batch(batch)
        prev, target = tokens[:, :-1], tokens[:, 1:]  # (B, T, N) each, T = L - 1
        kind = self._kinds(known, prev.shape[1])
        latent, codes = model.lam(prev, target)  # (B, T, d_latent), (B, T)
        cond = model.actions(buttons, camera, kind, latent)  # (B, T, D)
        context = self._corrupt(prev)  # the hint sees the same (corrupted) frames, as a rollout's own errors
        hint = self.camera_hint(context, camera, kind == REAL)
        soft, forced = self._self_forced(context, cond, camera, kind == REAL, hint)
        hidden = model.hidden(context, cond, hint=forced, soft=soft)  # (B, T, N, D)
        mask = random_mask(tuple(target.shape), target.device)  # (B, T, N)
        logits = model.logits(hidden, torch.where(mask, model.mask_id, target))  # (B, T, N, V)
        valid = self._valid(batch, prev.shape[:2])  # (B, T): False on transitions padded past an episode's end
        mask = mask & valid[..., None]
        ce = self._token_loss(logits, target, prev, buttons, mask)
        reward, term_logit = model.reward_term(hidden)  # (B, T) each
        weight = valid.float() / valid.float().sum().clamp_min(1.0)
        reward_loss = (weight * (reward.float() - rewards) ** 2).sum()
        term_loss = (weight * F.binary_cross_entropy_with_logits(term_logit.float(), terminated,
                                                                 reduction="none")).sum()
        loss = ce + cfg.reward_weight * reward_loss + cfg.term_weight * term_loss
        with torch.no_grad():
            metrics = {
                "loss": loss.item(), "ce": ce.item(), "reward_loss": reward_loss.item(), "term_loss": term_loss.item(),
                "token_acc": (logits[mask].argmax(-1) == target[mask]).float().mean().item(),
                # one fully parallel pass (what decode_steps=1 does), on a few clips to keep it cheap
                "acc_parallel": self._parallel_accuracy(hidden[:4], target[:4]),
                "frac_latent": (kind == LATENT).float().mean().item(),
                "latent_codes_used": float(codes[kind == LATENT].unique().numel()),
                "term_acc": ((term_logit > 0).float() == terminated)[valid].float().mean().item(),
            }
            if soft is not None:  # accuracy where the trunk saw its own rollout (how well it recovers)
                rolled = torch.zeros_like(mask)
                rolled[: self._rollout_rows(prev.shape[0]), -self._rollout_depth(prev.shape[1]):] = True
                rolled &= mask
                metrics["token_acc_rollout"] = (logits[rolled].argmax(-1) == target[rolled]).float().mean().item()
        return loss, metrics

    def _token_loss(self, logits: torch.Tensor, target: torch.Tensor, prev: torch.Tensor, buttons: torch.Tensor,
                    mask: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the masked tokens (B, T, N); with cfg.edit_weight != 1 a weighted mean in which the
        tokens that change on a transition with attack or use pressed (buttons (B, T, K)) count edit_weight."""
        ce = F.cross_entropy(logits[mask].float(), target[mask], reduction="none")  # (M,)
        if self.cfg.edit_weight == 1.0:
            return ce.mean()
        pressed = buttons[..., EDIT_BUTTONS].amax(-1) > 0  # (B, T)
        edited = (target != prev) & pressed[..., None]  # (B, T, N)
        weight = torch.where(edited[mask], self.cfg.edit_weight, 1.0)  # (M,)
        return (weight * ce).sum() / weight.sum()

    def _rollout_rows(self, batch: int) -> int:
        """How many clips of a batch are self-forced (the first ones; batches are shuffled)."""
        if self.cfg.rollout_frames <= 0 or self.cfg.rollout_fraction <= 0:
            return 0
        return max(1, round(self.cfg.rollout_fraction * batch))

    def _rollout_depth(self, steps: int) -> int:
        """How many of a clip's last context frames a self-forced clip replaces by its own rollout."""
        return min(self.cfg.rollout_frames, steps - 1)

    def _self_forced(self, context: torch.Tensor, cond: torch.Tensor, camera: torch.Tensor, real: torch.Tensor,
                     hint: Hint | None) -> tuple[torch.Tensor | None, Hint | None]:
        """Training with cfg.rollout_frames > 0: the context as distributions (B, T, N, V) whose self-forced clips
        end with the model's own open-loop predictions, and the hints to match; else (None, hint)."""
        rows, depth = self._rollout_rows(context.shape[0]), self._rollout_depth(context.shape[1])
        if not self.training or rows == 0 or depth < 1:
            return None, hint
        predicted, predicted_hint = rollout_context(
            self.model, self.tokenizer, context[:rows], cond[:rows].detach(), camera[:rows], real[:rows], depth)
        return mix_context(context, self.model.vocab_size, predicted), mix_hints(hint, predicted_hint)

    def _parallel_accuracy(self, hidden: torch.Tensor, target: torch.Tensor) -> float:
        """Token accuracy of greedy prediction from a fully masked frame: hidden (b, T, N, D), target (b, T, N)."""
        logits = self.model.logits(hidden, torch.full_like(target, self.model.mask_id))
        return (logits.argmax(-1) == target).float().mean().item()

    def export(self, path: str | Path, card: dict[str, Any] | None = None) -> Path:
        """Write a WorldModel directory (config.json + tokenizer.safetensors + dynamics.safetensors) atomically."""
        return save_world_model(path, self.tokenizer, self.model, card)

    @torch.no_grad()
    def log_media(self, writer: Any, batch: Mapping[str, Any], step: int) -> None:
        """Log one clip to TensorBoard: ground truth (top row) over a greedy open-loop rollout (bottom row) that
        starts from the first half of the clip (at most context_frames frames) with the clip's actions."""
        was_training = self.training
        self.eval()
        try:
            keys = ("frames", "actions", "action_known", "rewards", "terminated")
            one = {key: (batch[key][:1] if key != "actions" else {k: v[:1] for k, v in batch[key].items()})
                   for key in keys}
            tokens, buttons, camera, known, _, _ = self._batch(one)
            length = tokens.shape[1]
            context = max(1, min(length // 2, self.cfg.context_frames))
            real = torch.full_like(buttons[..., 0], bool(known[0]), dtype=torch.bool)  # (1, L-1)
            if bool(known[0]):
                cond = self.model.condition(buttons, camera, real)
            else:
                cond = self.model.condition_latent(tokens[:, :-1], tokens[:, 1:])  # (1, L-1, D)
            engine = Engine(self.tokenizer, self.model, 1, self.device)
            hints = self.camera_hint(tokens[:, : context - 1], camera[:, : context - 1], real[:, : context - 1])
            engine.prime(tokens[:, :context], cond[:, : context - 1], hints, render_view=False)
            steps = engine.unroll(sequence_actions(cond, camera, real, context - 1), length - context,
                                  Sampling("sample", self.cfg.decode_steps, 0.0, 0))
            grids = rearrange(tokens[0, :context], "l (h w) -> l h w", h=self.model.grid[0])
            frames = torch.cat([self.tokenizer.decode(grids)] + [step.rendered.frames for step in steps])
            frames = frames.to(one["frames"].device)  # (L, H, W, 3)
            image = rearrange(torch.stack([one["frames"][0], frames]), "r l h w c -> c (r h) (l w)")
            writer.add_image("dynamics/rollout", image, step)
        finally:
            self.train(was_training)
