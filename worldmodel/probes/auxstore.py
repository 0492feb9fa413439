"""Weights of the probes' auxiliary models (segmenter, inverse dynamics): find, load, or train and cache them.

Lookup order for each model: `aux_dir` (if given) -> the weights shipped in worldmodel/probes/weights/ ->
the user cache (~/.cache/worldmodel/probes, or $WM_CACHE/probes) -> train now (a few minutes on a CPU) and save
into `aux_dir` or the cache (worldmodel/probes/auxtrain.py, with the one Trainer). Files are float16 safetensors
with JSON metadata (format, config, held-out metrics) and hold the network alone (no training-only buffers);
loading never unpickles, and a corrupt or mismatched file -> ValueError naming it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import safe_open
from torch import nn

from worldmodel.checkpoint import load_safetensors, load_state_into, save_safetensors
from worldmodel.probes import idm as idm_mod
from worldmodel.probes import segmenter as seg_mod
from worldmodel.probes.auxtrain import train_aux

FORMAT = "worldmodel.probes.aux/1"
SHIPPED_DIR = Path(__file__).resolve().parent / "weights"
FILES = {"segmenter": "segmenter.safetensors", "idm": "idm.safetensors"}
AUTO_STEPS = {"segmenter": 1500, "idm": 1500}  # used when nothing is found: minutes, not hours, on a CPU


def cache_dir() -> Path:
    """The user cache of trained aux weights."""
    root = os.environ.get("WM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "worldmodel")
    return Path(root) / "probes"


@dataclass
class AuxModels:
    """The loaded aux models and where they came from (reported in results.json)."""

    segmenter: seg_mod.Segmenter
    idm: idm_mod.InverseDynamics
    info: dict[str, dict[str, Any]] = field(default_factory=dict)


def _build(kind: str, config: dict[str, Any]) -> nn.Module:
    if kind == "segmenter":
        return seg_mod.Segmenter(seg_mod.SegmenterConfig(**{k: tuple(v) if isinstance(v, list) else v
                                                            for k, v in config.items()}))
    return idm_mod.InverseDynamics(idm_mod.IDMConfig(**{k: tuple(v) if isinstance(v, list) else v
                                                        for k, v in config.items()}))


def save_aux(kind: str, model: nn.Module, metrics: dict[str, float], directory: str | Path) -> Path:
    """Write `directory/<kind>.safetensors` (float16 weights + metadata) atomically; returns the path."""
    if kind not in FILES:
        raise ValueError(f"unknown aux model kind {kind!r}; expected one of {sorted(FILES)}")
    config = seg_mod.config_dict(model.cfg) if kind == "segmenter" else idm_mod.config_dict(model.cfg)
    state = {k: v.detach().to(torch.float16 if v.is_floating_point() else v.dtype).contiguous().clone()
             for k, v in model.state_dict().items()}
    path = Path(directory) / FILES[kind]
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "kind": kind, "config": json.dumps(config), "metrics": json.dumps(metrics)}
    save_safetensors(state, path, metadata=meta)
    return path


def read_aux(kind: str, path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Load one aux weights file -> (model in eval mode, info with metrics and path); ValueError naming the file."""
    path = Path(path)
    tensors = load_safetensors(path)
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata() or {}
    if meta.get("format") != FORMAT or meta.get("kind") != kind:
        raise ValueError(f"{path}: not a {FORMAT} {kind} file (metadata {meta})")
    try:
        config, metrics = json.loads(meta["config"]), json.loads(meta.get("metrics", "{}"))
        model = _build(kind, config)
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: bad metadata ({error})") from error
    state = model.state_dict()
    load_state_into(model, {k: v.to(state[k].dtype) if k in state else v for k, v in tensors.items()}, path)
    return model.eval(), {"path": str(path), "metrics": metrics}


def find_aux(kind: str, aux_dir: str | Path | None = None) -> Path | None:
    """First existing weights file of `kind` in the lookup order, or None."""
    for root in ([Path(aux_dir)] if aux_dir else []) + [SHIPPED_DIR, cache_dir()]:
        if (root / FILES[kind]).is_file():
            return root / FILES[kind]
    return None


def load_aux(kind: str, aux_dir: str | Path | None = None, allow_train: bool = True,
             log: Callable[[str], None] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Load `kind` from the lookup order, or (allow_train) train it with AUTO_STEPS and cache it."""
    path = find_aux(kind, aux_dir)
    if path is not None:
        model, info = read_aux(kind, path)
        info["source"] = "shipped" if path.parent == SHIPPED_DIR else "file"
        return model, info
    if not allow_train:
        raise FileNotFoundError(f"no {kind} weights found (looked in {aux_dir or '-'}, {SHIPPED_DIR}, {cache_dir()}); "
                                "run `wm probe train-aux`")
    if log is not None:
        log(f"no {kind} weights found: training one now ({AUTO_STEPS[kind]} steps, a few minutes)")
    model, metrics = train_aux(kind, AUTO_STEPS[kind], log=log)
    target = Path(aux_dir) if aux_dir else cache_dir()
    path = save_aux(kind, model, metrics, target)
    model, info = read_aux(kind, path)  # round trip through float16, as later runs will see it
    info["source"] = "trained"
    return model, info


def load_all(aux_dir: str | Path | None = None, allow_train: bool = True,
             log: Callable[[str], None] | None = None) -> AuxModels:
    """Both aux models (see load_aux)."""
    seg, seg_info = load_aux("segmenter", aux_dir, allow_train, log)
    idm, idm_info = load_aux("idm", aux_dir, allow_train, log)
    return AuxModels(seg, idm, {"segmenter": seg_info, "idm": idm_info})  # type: ignore[arg-type]
