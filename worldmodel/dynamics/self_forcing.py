"""Self-forcing: train the dynamics on contexts produced by its own open-loop rollouts.

Teacher forcing only ever shows the trunk real frames, but an open-loop rollout feeds it its own predictions,
whose errors then compound (exposure bias). Here the last `rollout_frames` context frames of a fraction of the
training clips are replaced by the model's own mean-field open-loop predictions from the real frames before them,
while the targets stay the real next frames: the model learns to pull a drifting rollout back toward the truth.
The rollout runs without gradient (as in scheduled sampling), so a training step costs one cached rollout more,
not a backward pass through time. Mean-field (token distributions embedded as expected embeddings, decoded as
the expected code for the camera hint) because it is the rollout mode that scores best open loop
(`WorldModel.decoding = "mean"`), so training sees the same inputs as that use.
"""

from __future__ import annotations

from typing import Callable

import torch
from einops import rearrange
from torch import nn

from worldmodel.dynamics.model import DynamicsModel, Hint
from worldmodel.dynamics.rollout import Rollout

# (tokens (..., N), camera (..., 2), known (...), frames (M, H, W, 3) | None) -> hint or None (no hint in the model)
HintFn = Callable[..., Hint | None]


@torch.no_grad()
def rollout_context(model: DynamicsModel, tokenizer: nn.Module, hint_fn: HintFn, context: torch.Tensor,
                    cond: torch.Tensor, camera: torch.Tensor, real: torch.Tensor, depth: int
                    ) -> tuple[torch.Tensor, Hint | None]:
    """Roll clips out open loop from their first T - depth context frames.

    context (b, T, N) tokens, cond (b, T, D) conditioning of the action after each frame, camera (b, T, 2) and
    real (b, T) (whether that action is a known one, for the hint) -> token distributions (b, depth, N, V) of the
    last `depth` context frames as the rollout predicts them, and the camera hints of those frames (b, depth, N)
    each (None for a model without the hint)."""
    b, length = context.shape[:2]
    if not 1 <= depth < length:
        raise ValueError(f"rollout depth must be in [1, {length - 1}] for {length} context frames, got {depth}")
    start = length - depth  # real frames 0 .. start-1, predicted frames start .. T-1
    rollout = Rollout(model, b, context.device)
    rollout.prime(context[:, :start], cond[:, : start - 1],
                  hint_fn(context[:, : start - 1], camera[:, : start - 1], real[:, : start - 1]))
    hint = hint_fn(context[:, start - 1], camera[:, start - 1], real[:, start - 1])
    probs, hints = [], []
    for t in range(start - 1, length - 1):  # the action after frame t predicts frame t + 1
        rollout.step(cond[:, t], 1, 0.0, 0, hint, soft=True)
        probs.append(rollout.soft)  # (b, N, V)
        grid = rearrange(rollout.soft, "b (h w) v -> b h w v", h=model.grid[0])
        frames = tokenizer.decode_expected(grid)  # (b, H, W, 3) uint8, what a mean-field rollout shows
        hint = hint_fn(rollout.last, camera[:, t + 1], real[:, t + 1], frames=frames)
        hints.append(hint)
    soft = torch.stack(probs, 1)  # (b, depth, N, V)
    if hints[0] is None:
        return soft, None
    return soft, (torch.stack([h[0] for h in hints], 1), torch.stack([h[1] for h in hints], 1))


def mix_context(context: torch.Tensor, vocab_size: int, predicted: torch.Tensor) -> torch.Tensor:
    """Context tokens (B, T, N) as one-hot distributions (B, T, N, V) whose first b clips end with the
    predicted distributions (b, depth, N, V) in place of their last `depth` frames."""
    b, depth = predicted.shape[:2]
    soft = torch.nn.functional.one_hot(context, vocab_size).to(predicted.dtype)  # (B, T, N, V)
    soft[:b, -depth:] = predicted
    return soft


def mix_hints(hint: Hint | None, predicted: Hint | None) -> Hint | None:
    """Teacher-forced hints (B, T, N) each with the first b clips' last frames replaced by the rollout's."""
    if hint is None or predicted is None:
        return hint
    b, depth = predicted[0].shape[:2]
    tokens, weight = hint[0].clone(), hint[1].clone()
    tokens[:b, -depth:] = predicted[0]
    weight[:b, -depth:] = predicted[1]
    return tokens, weight
