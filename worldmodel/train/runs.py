"""The typed configs of `wm train tokenizer|dynamics|fusion|geometry`: the one place their defaults are written.

Each run config holds the groups data (DataConfig), model (the module's own config) and train (TrainConfig), set
to the defaults of that target, plus the target's root keys. `register()` stores them in Hydra's ConfigStore as
the primary configs train_tokenizer, train_dynamics and train_fusion; YAML files under configs/<group>/ are only
named presets (`data=crafter`, `train=smoke`) that set the keys they name on top of these defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from worldmodel.dynamics.config import DynamicsConfig
from worldmodel.fusion.objective import FusionTrainConfig
from worldmodel.memory.geometry_heads import GeometryConfig
from worldmodel.tokenizer.config import TokenizerConfig
from worldmodel.train.config import DataConfig, TrainConfig

GROUPS = ("data", "model", "train")
"""Hydra config groups of every run; each may be switched to a preset with GROUP=OPTION."""


def _presets() -> list[Any]:
    """Hydra defaults list of a run: its own values first, then an optional preset per group (none by default),
    so a preset changes only the keys it names."""
    return ["_self_", *({group: None} for group in GROUPS)]


@dataclass
class TokenizerRun:
    """`wm train tokenizer`: train the FSQ frame tokenizer (worldmodel/tokenizer).
    Output: RUN_DIR/{config.yaml,config.json,tb/,checkpoints/,tokenizer/}."""

    defaults: list[Any] = field(default_factory=_presets)
    """Hydra defaults list (not a setting)."""
    run_dir: str = "runs/tokenizer"
    """Output dir: checkpoints/, tb/, config.yaml and the tokenizer/ export."""
    seed: int = 0
    """Seed of the model initialisation."""
    init_from: str = ""
    """Tokenizer export dir, tokenizer run dir, WorldModel dir or "bundled" whose weights start a fresh run
    (fine-tuning, e.g. on a new game); model.levels, channels, channel_mult, res_blocks and mid_blocks come from
    it unless set on the command line. Its frame-fusion net is dropped unless model.fusion_channels > 0."""
    freeze_encoder: bool = False
    """With init_from: train the decoder only, so the tokens (and every dynamics model trained on them) stay
    valid."""
    data: DataConfig = field(default_factory=lambda: DataConfig(clip_len=4))
    """Where clips come from; every frame is seen independently, so short clips mix more episodes per batch."""
    model: TokenizerConfig = field(default_factory=TokenizerConfig)
    """The tokenizer's architecture and losses."""
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=3000, lr=2e-3, min_lr_ratio=0.05, media_every=250, num_workers=1))
    """Optimisation: 8 clips x 4 frames = 32 frames a step."""


@dataclass
class DynamicsRun:
    """`wm train dynamics`: train the dynamics (and latent action model) on the tokens of a frozen tokenizer.
    Output: RUN_DIR/{config.yaml,config.json,tb/,checkpoints/,world_model/} (world_model/ is a WorldModel dir)."""

    defaults: list[Any] = field(default_factory=_presets)
    """Hydra defaults list (not a setting)."""
    run_dir: str = "runs/dynamics"
    """Output dir: checkpoints/, tb/, config.yaml and the world_model/ export."""
    seed: int = 0
    """Seed of the model initialisation."""
    tokenizer_checkpoint: str = MISSING
    """Run dir of `wm train tokenizer` (or a tokenizer export dir, or a WorldModel dir); required."""
    init_from: str = ""
    """WorldModel dir (or "bundled") whose dynamics weights start a fresh run (fine-tuning); the architecture
    keys (worldmodel.dynamics.warm_start.ARCHITECTURE_KEYS: model.d_model, n_layers, ...) come from its config.json
    unless set on the command line."""
    token_cache: bool = True
    """Encode every frame of the store once, before training, into RUN_DIR/tokens/<tokenizer hash>/
    (worldmodel/data/token_cache.py) instead of encoding every clip at every step (a fifth of a CPU step);
    false: encode on the fly."""
    data: DataConfig = field(default_factory=lambda: DataConfig(clip_len=16))
    """Where clips come from."""
    model: DynamicsConfig = field(default_factory=DynamicsConfig)
    """The dynamics transformer, its heads and the latent action model."""
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=5000, lr=3e-4, warmup_steps=200, weight_decay=0.05, betas=[0.9, 0.95], num_workers=1,
        find_unused_parameters=True))
    """Optimisation (a transformer: lower lr, longer warmup; the latent action model gets no gradient in batches
    without action-free clips, hence find_unused_parameters)."""


@dataclass
class FusionRun:
    """`wm train fusion`: train a frame-fusion net (worldmodel/fusion/net.py) on the frozen world model's own
    open-loop rollouts. Output: RUN_DIR/{config.yaml,tb/,checkpoints/,world_model/}: world_model/ is the same
    world model with the fusion net added to its tokenizer."""

    defaults: list[Any] = field(default_factory=_presets)
    """Hydra defaults list (not a setting)."""
    run_dir: str = "runs/fusion"
    """Output dir: checkpoints/, tb/, config.yaml and the world_model/ export."""
    seed: int = 0
    """Seed of the fusion net's initialisation."""
    world: str = "bundled"
    """WorldModel dir (or "bundled") whose rollouts the fusion learns to show; kept frozen. A fusion net it
    already has is replaced by a fresh one."""
    data: DataConfig = field(default_factory=lambda: DataConfig(clip_len=20))
    """Where clips come from: model.context real frames + a 16-step open-loop horizon."""
    model: FusionTrainConfig = field(default_factory=FusionTrainConfig)
    """The fusion net and how it is trained."""
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=2400, batch_size=4, warmup_steps=50, media_every=0, ckpt_every=100, num_workers=1))
    """Optimisation: 4 clips of 20 frames a step (16 open-loop steps each)."""


@dataclass
class GeometryRun:
    """`wm train geometry`: train the spatial memory's depth and odometry heads (worldmodel/memory/
    geometry_heads.py) on clips with ground truth (BlockWorld stores record depth and pose).
    Output: RUN_DIR/{config.yaml,tb/,checkpoints/,geometry/}."""

    defaults: list[Any] = field(default_factory=_presets)
    """Hydra defaults list (not a setting)."""
    run_dir: str = "runs/geometry"
    """Output dir: checkpoints/, tb/, config.yaml and the geometry/ export."""
    seed: int = 0
    """Seed of the heads' initialisation."""
    data: DataConfig = field(default_factory=lambda: DataConfig(clip_len=4))
    """Where clips come from (they must have depth and pose)."""
    model: GeometryConfig = field(default_factory=GeometryConfig)
    """The depth and odometry heads."""
    init_from: str = ""
    """Start from the heads exported in this directory (RUN_DIR/geometry of an earlier run; same sizes)."""
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=2000, lr=1e-3, warmup_steps=50, media_every=0, num_workers=1))
    """Optimisation: 8 clips x 4 frames a step."""


RUNS: dict[str, type] = {"tokenizer": TokenizerRun, "dynamics": DynamicsRun, "fusion": FusionRun,
                         "geometry": GeometryRun}
"""`wm train` target -> its run config class."""


def config_name(target: str) -> str:
    """Name of a target's primary config in the ConfigStore (train_tokenizer, ...)."""
    return f"train_{target}"


def register() -> None:
    """Store every run config in Hydra's ConfigStore (idempotent)."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for target, cls in RUNS.items():
        store.store(name=config_name(target), node=cls)
