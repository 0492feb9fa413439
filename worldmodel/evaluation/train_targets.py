"""What `wm bench train` times: each trainable module built as `wm train` builds it, with batches of the shapes
its training uses.

Sizes: "bundled" is the shipped model's architecture (worldmodel/bundled/config.json) with the batches of the `cpu`
recipe (scripts/train_blockworld_model.sh); "gpu" is the recipe's `gpu` profile (d_model 256, 6 layers, window 12,
bigger batches); "tiny" is a seconds-long check for the tests. Batches come from a tiny BlockWorld store recorded
for the run (2 random-play episodes). The agent's target lives with the agent (agents/bench_train.py): worldmodel
may not import agents, so the `wm` dispatcher hands its builder to `wm bench` (worldmodel/cli.py).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from worldmodel import bundled
from worldmodel.train.config import TrainConfig

TARGETS = ("tokenizer", "dynamics", "fusion")
"""The targets of worldmodel's own modules (`wm bench train --target`; the `wm` dispatcher adds the agent's)."""

SIZES = ("bundled", "gpu", "tiny")
"""What `wm bench train --size` accepts."""

STORE_DATA = "BlockWorld store (2 random-play episodes), loaded in the bench process"
"""Where the batches of every target here come from."""


@dataclass
class Size:
    """Batch shapes and architecture overrides of one --size."""

    tokenizer_batch: int
    """Clips per tokenizer step (4 frames each, as TokenizerRun)."""
    dynamics_batch: int
    """Clips per dynamics step."""
    dynamics_clip: int
    """Frames per dynamics clip."""
    fusion_batch: int
    """Clips per fusion step (context 4 + 16 open-loop frames each, as FusionRun)."""
    frame: int = 64
    """Frame height and width."""
    tokenizer: dict[str, Any] = field(default_factory=dict)
    """Tokenizer config keys replacing the bundled ones."""
    dynamics: dict[str, Any] = field(default_factory=dict)
    """Dynamics config keys replacing the bundled ones."""
    fusion_clip: int = 20
    """Frames per fusion clip."""


SIZE: dict[str, Size] = {
    "bundled": Size(tokenizer_batch=8, dynamics_batch=8, dynamics_clip=8, fusion_batch=4),
    "gpu": Size(tokenizer_batch=64, dynamics_batch=64, dynamics_clip=12, fusion_batch=32,
                dynamics={"d_model": 256, "n_layers": 6, "n_heads": 8, "context_frames": 12}),
    "tiny": Size(tokenizer_batch=2, dynamics_batch=2, dynamics_clip=3, fusion_batch=2, frame=16, fusion_clip=4,
                 tokenizer={"channels": 8, "channel_mult": [1, 2, 2], "res_blocks": [0, 0, 1], "mid_blocks": 0},
                 dynamics={"d_model": 32, "n_layers": 1, "n_heads": 2, "context_frames": 3, "lam_dim": 16,
                           "lam_layers": 1, "lam_heads": 2, "lam_levels": [3, 3]}),
}


@dataclass
class TrainTarget:
    """One module to time: built as its `wm train` run builds it, with its batches and its run's TrainConfig."""

    name: str
    """tokenizer, dynamics, fusion (or agent: agents/bench_train.py)."""
    module: nn.Module
    """The module; `loss, metrics = module.compute_loss(batch)`."""
    batches: Iterator[dict[str, Any]]
    """Endless training batches."""
    data: str
    """Where the batches come from (a store, or 'synthetic')."""
    unit: str
    """What a step processes: 'frames' or 'tokens' (predicted tokens)."""
    per_step: int
    """Units per step."""
    shape: str
    """The batch and architecture in words."""
    train: TrainConfig
    """The optimisation settings of the target's run (lr, betas, weight decay, clipping)."""
    sections: dict[str, tuple[object, str]] = field(default_factory=dict)
    """Parts of compute_loss timed on their own: name -> (object, method name)."""


def bundled_config() -> dict[str, Any]:
    """The shipped model's config.json."""
    return json.loads((bundled.BUNDLED_DIR / "config.json").read_text())


def record_store(directory: Path, episodes: int, steps: int, frame: int) -> Path:
    """A tiny BlockWorld store of `episodes` random-play episodes of `steps` steps at frame x frame pixels."""
    from worldmodel.data.collect import CollectConfig, collect

    config = CollectConfig(env_id="BlockWorld-v0", out=str(directory), policy="random", episodes=episodes,
                           steps=steps, env_kwargs={"width": frame, "height": frame})
    collect(config, progress=False)
    return directory


def clip_batches(store: Path, clip_len: int, batch: int, tokens: Path | None = None) -> Iterator[dict[str, Any]]:
    """Endless shuffled batches of clips from a store, loaded in this process (so their cost can be timed); with
    a token cache directory the clips carry its tokens."""
    from worldmodel.data import open_dataset

    dataset = open_dataset(store).clips(clip_len, seed=0)
    if tokens is not None:
        dataset.use_tokens(tokens)
    if len(dataset) < batch:
        raise ValueError(f"{store}: {len(dataset)} clips of {clip_len} frames, fewer than a batch of {batch}")
    generator = torch.Generator().manual_seed(0)
    while True:
        yield from DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=True, generator=generator)


def _tokenizer_config(size: Size) -> Any:
    """The bundled tokenizer architecture (without its fusion net, as `wm train tokenizer` trains it) at `size`."""
    from worldmodel.tokenizer import TokenizerConfig

    values = {**bundled_config()["tokenizer"], "fusion_channels": 0, **size.tokenizer,
              "height": size.frame, "width": size.frame}
    return TokenizerConfig.from_dict(values)


def _dynamics_config(size: Size) -> Any:
    """The bundled dynamics architecture at `size`."""
    from worldmodel.dynamics import DynamicsConfig

    return DynamicsConfig.from_dict({**bundled_config()["dynamics"], **size.dynamics})


def _run_train(target: str) -> TrainConfig:
    """The TrainConfig defaults of `wm train TARGET`."""
    from worldmodel.train.runs import RUNS

    return RUNS[target]().train


def build_target(name: str, size_name: str, store: Callable[[int, int], Path], rollout_frames: int = 0,
                 token_cache: bool = False) -> TrainTarget:
    """The module `name` at size `size_name` (seeded); `store(clip_len, batch)` gives a store with enough clips.
    rollout_frames > 0 trains the dynamics with self-forcing (model.rollout_frames; its clips grow to fit);
    token_cache: the dynamics reads tokens encoded once (as `wm train dynamics` does by default), not the frames
    encoded every step."""
    if name not in TARGETS or size_name not in SIZES:
        raise ValueError(f"unknown target {name!r} or size {size_name!r} (targets {TARGETS}, sizes {SIZES})")
    size = SIZE[size_name]
    torch.manual_seed(0)
    if name == "tokenizer":
        return _tokenizer_target(size, store)
    if name == "dynamics":
        return _dynamics_target(size, store, rollout_frames, token_cache)
    return _fusion_target(size, size_name, store)


def _tokenizer_target(size: Size, store: Callable[[int, int], Path]) -> TrainTarget:
    """The FSQ tokenizer on clips of 4 frames."""
    from worldmodel.tokenizer import Tokenizer

    cfg = _tokenizer_config(size)
    frames = size.tokenizer_batch * 4
    return TrainTarget("tokenizer", Tokenizer(cfg), clip_batches(store(4, size.tokenizer_batch), 4,
                                                                 size.tokenizer_batch),
                       STORE_DATA, "frames", frames, f"{size.tokenizer_batch} clips x 4 frames of {cfg.height}x{cfg.width}, "
                       f"channels {cfg.channels} x {list(cfg.channel_mult)}", _run_train("tokenizer"))


def _dynamics_target(size: Size, store: Callable[[int, int], Path], rollout_frames: int, token_cache: bool
                     ) -> TrainTarget:
    """The dynamics on a frozen (freshly initialised) tokenizer: its encode is part of every step, unless the
    tokens come from a token cache built first (outside the timed steps)."""
    from worldmodel.data import open_dataset
    from worldmodel.data.token_cache import build_token_cache
    from worldmodel.dynamics import DynamicsObjective
    from worldmodel.tokenizer import Tokenizer

    cfg = dataclasses.replace(_dynamics_config(size), rollout_frames=rollout_frames)
    clip = max(size.dynamics_clip, rollout_frames + 2)
    module = DynamicsObjective(cfg, Tokenizer(_tokenizer_config(size)))
    b, tokens = size.dynamics_batch, module.model.tokens
    sections: dict[str, tuple[object, str]] = {"encode": (module, "encode")}
    if rollout_frames:
        sections["rollout"] = (module, "_self_forced")
    shape = (f"{b} clips x {clip} frames, {tokens} tokens/frame, d_model {cfg.d_model}, {cfg.n_layers} layers, "
             f"window {cfg.context_frames}" + (f", self-forcing {rollout_frames} frames" if rollout_frames else ""))
    clips = store(clip, b)
    cache = None
    if token_cache:
        store_episodes = open_dataset(clips)
        episodes = [store_episodes.path(i) for i in range(len(store_episodes))]
        cache = build_token_cache(module.tokenizer, episodes, clips / "tokens", progress=False)
        shape += ", token cache"
    return TrainTarget("dynamics", module, clip_batches(clips, clip, b, cache), STORE_DATA, "tokens",
                       b * (clip - 1) * tokens, shape, _run_train("dynamics"), sections)


def _fusion_target(size: Size, size_name: str, store: Callable[[int, int], Path]) -> TrainTarget:
    """The frame fusion on the bundled world model's rollouts (tiny: a fresh tiny world model)."""
    from worldmodel.dynamics import DynamicsModel
    from worldmodel.dynamics.bundle import load_world_model
    from worldmodel.fusion.attach import with_fresh_fusion
    from worldmodel.fusion.objective import FusionObjective, FusionTrainConfig
    from worldmodel.tokenizer import Tokenizer

    cfg = FusionTrainConfig(**({"channels": 4, "context": 2, "teacher_steps": 1} if size_name == "tiny" else {}))
    if size_name == "tiny":
        tokenizer = Tokenizer(_tokenizer_config(size))
        dynamics = DynamicsModel(_dynamics_config(size), tokenizer.vocab_size, tokenizer.grid)
    else:
        tokenizer, dynamics, _ = load_world_model(bundled.BUNDLED_DIR)
    module = FusionObjective(with_fresh_fusion(tokenizer, cfg.channels, cfg.fov_deg), dynamics, cfg)
    b, clip = size.fusion_batch, size.fusion_clip
    horizon = clip - cfg.context
    shape = (f"{b} clips: {cfg.context} context + {horizon} open-loop frames, {cfg.teacher_steps} teacher-forced "
             f"steps each; fusion channels {cfg.channels}")
    sections = {"rollout": (module, "_rollout"), "teacher": (module, "_teacher_loss")}
    return TrainTarget("fusion", module, clip_batches(store(clip, b), clip, b), STORE_DATA, "frames",
                       b * (horizon + cfg.teacher_steps), shape, _run_train("fusion"), sections)

