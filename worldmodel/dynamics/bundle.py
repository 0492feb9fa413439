"""The WorldModel directory: config.json + tokenizer.safetensors + dynamics.safetensors.

    config.json = {"format": "worldmodel/1", "tokenizer": {TokenizerConfig}, "dynamics": {DynamicsConfig},
                   "vocab_size": V, "grid": [h, w], "frame_size": [H, W], "card": {...}}

Written into a temporary directory beside the target and renamed into place, so readers never see half a model.
Read with safetensors and json only (never unpickled); any unreadable, corrupt or mismatched file -> ValueError
naming that file.
"""

from __future__ import annotations

import datetime
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from torch import nn

from worldmodel.checkpoint import (load_safetensors, load_state_into, module_state, read_json, save_safetensors,
                                   write_json)
from worldmodel.dynamics.actions import camera_bin_centers
from worldmodel.dynamics.config import DynamicsConfig
from worldmodel.dynamics.model import DynamicsModel

FORMAT = "worldmodel/1"
CONFIG_FILE, TOKENIZER_FILE, DYNAMICS_FILE = "config.json", "tokenizer.safetensors", "dynamics.safetensors"

TokenizerFactory = Callable[[dict[str, Any], str], nn.Module]


def default_tokenizer_factory(section: dict[str, Any], source: str) -> nn.Module:
    """Build the project's Tokenizer from the config.json 'tokenizer' section."""
    from worldmodel.tokenizer import Tokenizer, TokenizerConfig

    return Tokenizer(TokenizerConfig.from_dict(section, source=source))


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def save_world_model(directory: str | Path, tokenizer: nn.Module, dynamics: DynamicsModel,
                     card: dict[str, Any] | None = None) -> Path:
    """Write a WorldModel directory atomically (tmp dir + rename, replacing an existing one); returns its path."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.parent / f".{directory.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        meta = {"format": FORMAT}
        save_safetensors(module_state(tokenizer), tmp / TOKENIZER_FILE, metadata=meta)
        save_safetensors(module_state(dynamics), tmp / DYNAMICS_FILE, metadata=meta)
        tok_cfg = tokenizer.cfg
        cfg = dynamics.cfg
        write_json(tmp / CONFIG_FILE, {
            "format": FORMAT,
            "tokenizer": tok_cfg.to_dict(),
            "dynamics": cfg.to_dict(),
            "vocab_size": dynamics.vocab_size,
            "grid": list(dynamics.grid),
            "frame_size": [int(tok_cfg.height), int(tok_cfg.width)],
            "card": {
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "action_convention": "envs.actions (MineRL/VPT dict: 18 binary keys + camera [dpitch, dyaw] deg)",
                "camera_bin_centers_deg": [round(float(v), 3) for v in
                                           camera_bin_centers(cfg.camera_bins, cfg.camera_max_deg, cfg.camera_mu)],
                "latent_actions": int(dynamics.lam.fsq.num_codes),
                "tokenizer_params": _n_params(tokenizer),
                "dynamics_params": _n_params(dynamics),
                **(card or {}),
            },
        })
        if directory.exists():  # swap the old model out, the new one in, then delete the old one
            old = directory.parent / f".{directory.name}.old-{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
            os.replace(tmp, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def read_config(directory: Path) -> dict[str, Any]:
    """Parse and check config.json of a WorldModel directory (ValueError naming the file)."""
    path = directory / CONFIG_FILE
    config = read_json(path)
    found = config.get("format") if isinstance(config, dict) else None
    if found != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} world model config (format={found!r})")
    for key in ("tokenizer", "dynamics"):
        if not isinstance(config.get(key), dict):
            raise ValueError(f"{path}: missing or malformed '{key}' section")
    return config


def load_world_model(directory: str | Path, tokenizer_factory: TokenizerFactory | None = None
                     ) -> tuple[nn.Module, DynamicsModel, dict[str, Any]]:
    """Read a WorldModel directory -> (tokenizer, dynamics model, config dict), both modules in eval mode on CPU."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"{directory}: world model directory not found")
    config = read_config(directory)
    source = str(directory / CONFIG_FILE)
    tokenizer = (tokenizer_factory or default_tokenizer_factory)(config["tokenizer"], source)
    load_state_into(tokenizer, load_safetensors(directory / TOKENIZER_FILE), directory / TOKENIZER_FILE)
    try:
        cfg = DynamicsConfig.from_dict(config["dynamics"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{source}: bad 'dynamics' section ({error})") from error
    vocab, grid = int(tokenizer.vocab_size), tuple(tokenizer.grid)
    if config.get("vocab_size", vocab) != vocab or tuple(config.get("grid", grid)) != grid:
        raise ValueError(f"{source}: vocab_size/grid {config.get('vocab_size')}/{config.get('grid')} do not match "
                         f"the tokenizer's {vocab}/{list(grid)}")
    dynamics = DynamicsModel(cfg, vocab, grid)
    load_state_into(dynamics, load_safetensors(directory / DYNAMICS_FILE), directory / DYNAMICS_FILE)
    return tokenizer.eval(), dynamics.eval(), config
