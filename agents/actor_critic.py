"""ActorCritic: a small CNN over one RGB frame with a policy head (logits over an ActionSet) and a value head.

`compute_loss(batch)` is the project's one loss interface: a policy gradient on lambda-returns with the value as
baseline (as IRIS and DIAMOND train in imagination), an entropy bonus, and a squared-error value loss. With
`old_log_probs` in the batch the policy term is PPO's clipped ratio, so several gradient passes can reuse one
costly imagined batch; without it, it is plain REINFORCE.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


@dataclass
class ActorCriticConfig:
    """Sizes of the network and weights of the loss terms."""

    num_actions: int = 10
    """Size of the discrete action set (agents/action_set.py)."""
    channels: tuple[int, ...] = (32, 64, 64, 128)
    """Channels of the strided 4x4 conv layers (each halves the frame: 64x64 -> 4x4)."""
    hidden: int = 256
    """Width of the shared layer feeding both heads."""
    entropy_coef: float = 1e-2
    """Weight of the entropy bonus (keeps exploring; too high and the policy stays random)."""
    value_coef: float = 0.5
    """Weight of the value loss."""
    clip: float = 0.2
    """PPO ratio clip (used when the batch carries old_log_probs)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return {**asdict(self), "channels": list(self.channels)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ActorCriticConfig":
        """Inverse of to_dict (unknown keys -> ValueError naming them)."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"actor-critic config: unknown key(s) {unknown}")
        data = dict(data)
        if "channels" in data:
            data["channels"] = tuple(int(c) for c in data["channels"])
        return cls(**data)


class ActorCritic(nn.Module):
    """uint8 frames (B, H, W, 3) -> action logits (B, A) and values (B,)."""

    def __init__(self, cfg: ActorCriticConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        cin = 3
        for width in cfg.channels:
            layers += [nn.Conv2d(cin, width, 4, stride=2, padding=1), nn.SiLU()]
            cin = width
        self.encoder = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.trunk = nn.Sequential(nn.Linear(cin * 16, cfg.hidden), nn.SiLU())
        self.policy = nn.Linear(cfg.hidden, cfg.num_actions)
        self.value = nn.Linear(cfg.hidden, 1)
        nn.init.zeros_(self.policy.weight)  # start uniform over actions
        nn.init.zeros_(self.policy.bias)

    def forward(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """Logits (B, A) and values (B,) of uint8 frames (B, H, W, 3)."""
        x = rearrange(frames, "b h w c -> b c h w").float() / 127.5 - 1.0
        features = self.trunk(self.encoder(x))  # (B, hidden)
        return self.policy(features), self.value(features).squeeze(-1)

    @torch.no_grad()
    def act(self, frames: Tensor, generator: torch.Generator | None = None, greedy: bool = False) -> Tensor:
        """Sample (or argmax) action indices (B,) for uint8 frames (B, H, W, 3)."""
        logits, _ = self(frames)
        if greedy:
            return logits.argmax(-1)
        return torch.multinomial(F.softmax(logits, -1), 1, generator=generator).squeeze(-1)

    def compute_loss(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """Actor-critic loss of an imagined batch.

        batch: frames uint8 (B, H, h, w, 3) (the observations actions were taken in), actions long (B, H),
        returns (B, H) lambda-returns (no gradient), alive (B, H) 1 where the step lies before the episode's
        end; optional advantages (B, H) (default G_t - V(o_t) without gradient) and old_log_probs (B, H) of
        the acting policy (switches to the clipped PPO objective). The value regresses on G_t."""
        frames, actions, returns, alive = batch["frames"], batch["actions"], batch["returns"], batch["alive"]
        b, h = actions.shape
        logits, values = self(rearrange(frames, "b t h w c -> (b t) h w c"))
        logits = rearrange(logits, "(b t) a -> b t a", b=b)  # (B, H, A)
        values = rearrange(values, "(b t) -> b t", b=b)  # (B, H)
        log_probs = F.log_softmax(logits, -1)
        chosen = log_probs.gather(-1, actions[..., None]).squeeze(-1)  # (B, H)
        entropy = -(log_probs.exp() * log_probs).sum(-1)  # (B, H)
        advantage = batch["advantages"] if "advantages" in batch else (returns - values).detach()
        weight = alive / alive.sum().clamp_min(1.0)
        if "old_log_probs" in batch:
            ratio = (chosen - batch["old_log_probs"]).exp()
            clipped = ratio.clamp(1.0 - self.cfg.clip, 1.0 + self.cfg.clip)
            policy_loss = -(weight * torch.minimum(ratio * advantage, clipped * advantage)).sum()
        else:
            policy_loss = -(weight * chosen * advantage).sum()
        entropy_mean = (weight * entropy).sum()
        value_loss = (weight * (values - returns) ** 2).sum()
        cfg = self.cfg
        loss = policy_loss - cfg.entropy_coef * entropy_mean + cfg.value_coef * value_loss
        metrics = {"loss": loss.item(), "policy_loss": policy_loss.item(), "value_loss": value_loss.item(),
                   "entropy": entropy_mean.item(), "value_mean": (weight * values).sum().item(),
                   "return_mean": (weight * returns).sum().item()}
        return loss, metrics
