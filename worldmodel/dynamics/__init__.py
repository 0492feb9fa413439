"""Action-conditioned dynamics over token grids: config, network, training objective, cached rollouts, export.

    from worldmodel.dynamics import DynamicsConfig, DynamicsObjective
    objective = DynamicsObjective(DynamicsConfig(), tokenizer)   # tokenizer frozen inside
    loss, metrics = objective.compute_loss(batch)                 # batch from open_dataset(dir).clips(L)
    objective.export("runs/wm")                                   # a WorldModel directory
"""

from worldmodel.dynamics.bundle import load_world_model, save_world_model
from worldmodel.dynamics.config import DynamicsConfig
from worldmodel.dynamics.model import DynamicsModel
from worldmodel.dynamics.objective import DynamicsObjective
from worldmodel.dynamics.rollout import Rollout, RolloutSnapshot

__all__ = ["DynamicsConfig", "DynamicsModel", "DynamicsObjective", "Rollout", "RolloutSnapshot",
           "load_world_model", "save_world_model"]
