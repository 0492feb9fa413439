"""Training: the generic Trainer, its typed configs and the `wm train` command."""

from worldmodel.train.config import DataConfig, TrainConfig
from worldmodel.train.trainer import Trainer, lr_at

__all__ = ["DataConfig", "TrainConfig", "Trainer", "lr_at"]
