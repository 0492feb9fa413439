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

import torch
from torch import nn

from worldmodel.dynamics.model import DynamicsModel, Hint
from worldmodel.rollout.engine import Engine, Sampling, sequence_actions


@torch.no_grad()
def rollout_context(model: DynamicsModel, tokenizer: nn.Module, context: torch.Tensor, cond: torch.Tensor,
                    camera: torch.Tensor, real: torch.Tensor, depth: int) -> tuple[torch.Tensor, Hint | None]:
    """Roll clips out open loop from their first T - depth context frames, through the rollout engine.

    context (b, T, N) tokens, cond (b, T, D) conditioning of the action after each frame, camera (b, T, 2) and
    real (b, T) (whether that action is a known one, for the hint) -> token distributions (b, depth, N, V) of the
    last `depth` context frames as the rollout predicts them, and the camera hints of those frames (b, depth, N)
    each (None for a model without the hint). The engine renders frames only for the hint, without fusion: the
    dynamics are trained on tokens, before any fusion net exists."""
    b, length = context.shape[:2]
    if not 1 <= depth < length:
        raise ValueError(f"rollout depth must be in [1, {length - 1}] for {length} context frames, got {depth}")
    start = length - depth  # real frames 0 .. start-1, predicted frames start .. T-1
    engine = Engine(tokenizer, model, b, context.device)
    prompt = None if engine.hinter is None else engine.hinter(context[:, : start - 1], camera[:, : start - 1],
                                                               real[:, : start - 1])
    engine.prime(context[:, :start], cond[:, : start - 1], prompt, render_view=False)
    steps = engine.unroll(sequence_actions(cond, camera, real, start - 1), depth, Sampling("mean", 1, 0.0, 0),
                          render_frames=False)
    soft = torch.stack([step.soft for step in steps], 1)  # (b, depth, N, V)
    if engine.hinter is None:
        return soft, None
    hints = [step.hint for step in steps[1:]] + [engine.hint(camera[:, length - 1], real[:, length - 1])]
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
