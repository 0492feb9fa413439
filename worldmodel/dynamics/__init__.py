"""Action-conditioned dynamics over token grids: config, network, training objective, cached rollouts, export.

    from worldmodel.dynamics import DynamicsConfig, DynamicsObjective
    objective = DynamicsObjective(DynamicsConfig(), tokenizer)   # tokenizer frozen inside
    loss, metrics = objective.compute_loss(batch)                 # batch from open_dataset(dir).clips(L)
    objective.export("runs/wm")                                   # a WorldModel directory

The names below are imported on first use (PEP 562): the training objective rolls out through the rollout engine
(worldmodel/rollout/), which is built on this package's network, so an eager import here would close a cycle.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"load_world_model": "bundle", "save_world_model": "bundle", "DynamicsConfig": "config",
            "DynamicsModel": "model", "DynamicsObjective": "objective", "Rollout": "rollout",
            "RolloutSnapshot": "rollout"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'worldmodel.dynamics' has no attribute {name!r}")
    return getattr(importlib.import_module(f"worldmodel.dynamics.{_EXPORTS[name]}"), name)
