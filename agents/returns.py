"""Lambda-returns over imagined trajectories (TD(lambda) targets with value bootstrap at the horizon)."""

from __future__ import annotations

import torch
from torch import Tensor


def lambda_returns(rewards: Tensor, values: Tensor, continues: Tensor, gamma: float, lam: float) -> Tensor:
    """G_t = r_t + gamma c_t ((1 - lam) V_{t+1} + lam G_{t+1}), with G_H = V_H.

    rewards, continues: (B, H) (continues c_t = 0 where the episode terminated at step t); values: (B, H + 1),
    the value of every observation including the last, which bootstraps the truncated horizon.
    Returns (B, H). Why lambda: it trades the bias of the learned value against the variance of long sums."""
    if values.shape[1] != rewards.shape[1] + 1 or continues.shape != rewards.shape:
        raise ValueError(f"lambda_returns: rewards/continues (B, H) and values (B, H+1) expected, got "
                         f"{tuple(rewards.shape)}, {tuple(continues.shape)}, {tuple(values.shape)}")
    horizon = rewards.shape[1]
    out = torch.empty_like(rewards)
    next_return = values[:, -1]
    for t in reversed(range(horizon)):
        mixed = (1.0 - lam) * values[:, t + 1] + lam * next_return
        next_return = rewards[:, t] + gamma * continues[:, t] * mixed
        out[:, t] = next_return
    return out
