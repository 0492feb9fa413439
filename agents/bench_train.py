"""The actor-critic's target of `wm bench train --target agent`: built as `wm agent train` builds it, with
minibatches of the shapes it trains on, timed by worldmodel/evaluation/train_speed.py like the world model's modules.

Imagined batches need a world model and an actor, so these are synthetic tensors of the right shapes (PPO form:
advantages and old log-probs given). worldmodel may not import agents: the `wm` dispatcher hands this builder to
`wm bench` (worldmodel/cli.py, through agents/cli.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch

from agents.actor_critic import ActorCritic, ActorCriticConfig
from agents.config import AgentTrainConfig
from worldmodel.evaluation.train_targets import SIZE, TrainTarget
from worldmodel.train.config import TrainConfig

AGENT_BATCH = {"bundled": 8, "gpu": 32, "tiny": 2}
"""Imagined rollouts per agent minibatch at each `--size` (the frame size is the size's own)."""


def agent_target(size_name: str) -> TrainTarget:
    """The actor-critic (seeded) on synthetic imagined minibatches at `--size` size_name, with the optimisation
    settings of AgentTrainConfig (Adam, no weight decay)."""
    if size_name not in AGENT_BATCH:
        raise ValueError(f"unknown size {size_name!r} (sizes {tuple(AGENT_BATCH)})")
    torch.manual_seed(0)
    train = AgentTrainConfig()
    module = ActorCritic(ActorCriticConfig())
    b, horizon, frame = AGENT_BATCH[size_name], train.horizon, SIZE[size_name].frame
    actions = module.cfg.num_actions

    def batches() -> Iterator[dict[str, Any]]:
        generator = torch.Generator().manual_seed(0)
        while True:
            yield {"frames": torch.randint(0, 256, (b, horizon, frame, frame, 3), dtype=torch.uint8,
                                           generator=generator),
                   "actions": torch.randint(0, actions, (b, horizon), generator=generator),
                   "returns": torch.randn(b, horizon, generator=generator),
                   "alive": torch.ones(b, horizon),
                   "advantages": torch.randn(b, horizon, generator=generator),
                   "old_log_probs": torch.full((b, horizon), -math.log(actions))}

    optimisation = TrainConfig(lr=train.lr, weight_decay=0.0, betas=[0.9, 0.999], grad_clip=train.grad_clip)
    return TrainTarget("agent", module, batches(), "synthetic", "frames", b * horizon,
                       f"{b} imagined rollouts x {horizon} steps of {frame}x{frame}, channels "
                       f"{list(module.cfg.channels)}", optimisation)
