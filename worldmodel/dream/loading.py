"""Turn the `model` kwarg ("bundled" | path | WorldModel) into a WorldModel with a rollout state of its own.

Loaded weights are cached per (directory, modification time, device), so `env.spec.make()` (check_env makes
fresh envs for every render mode) and vector envs next to single ones do not load a model twice. The weights
(tokenizer and dynamics modules, eval mode, used under inference_mode only) are shared; the rollout state
(KV cache, newest frame, generators) never is, so two envs never step each other's world.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from worldmodel import bundled
from worldmodel.model import WorldModel, resolve_device

_CACHE: OrderedDict[tuple[str, int, str], WorldModel] = OrderedDict()
CACHE_SIZE = 4


def fork(model: WorldModel) -> WorldModel:
    """A new WorldModel sharing `model`'s weights and sampling settings but none of its rollout state."""
    other = WorldModel(model.tokenizer, model.dynamics, model.config, model.device, model.geometry)
    other.temperature, other.top_k, other.decode_steps = model.temperature, model.top_k, model.decode_steps
    other.decoding, other.fusion, other.memory = model.decoding, model.fusion, model.memory
    other.memory_config = model.memory_config
    return other


def resolve_model(model: Any, device: str | torch.device | None = "auto") -> WorldModel:
    """'bundled' / None, a WorldModel directory, or a WorldModel -> a fresh WorldModel (weights shared)."""
    if isinstance(model, WorldModel):
        return fork(model)
    if model is None or str(model) == "bundled":
        path = bundled.BUNDLED_DIR  # looked up at call time (tests point it elsewhere)
        if not (path / "config.json").is_file():
            WorldModel.load(None)  # raises the FileNotFoundError that explains how to get a model
    else:
        path = Path(model)
    config = path / "config.json"
    if not config.is_file():
        raise ValueError(f"model: '{path}' is not a WorldModel directory ({config} not found)")
    key = (str(path.resolve()), config.stat().st_mtime_ns, str(resolve_device(device)))
    base = _CACHE.pop(key, None)
    if base is None:
        base = WorldModel.load(path, device=resolve_device(device))
    _CACHE[key] = base
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return fork(base)


def seed_worlds(model: WorldModel, worlds: list[int], seeds: list[int]) -> None:
    """Reseed the sampling of some worlds of a batched rollout, so world i of a vector env equals a single env
    reset with the same seed, also after an autoreset."""
    model.seed_worlds(worlds, seeds)
