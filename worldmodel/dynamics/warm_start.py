"""Start a dynamics model from the weights of an exported world model (`wm train dynamics init_from=SOURCE`).

SOURCE is a WorldModel directory or "bundled" (the shipped model). The new model takes the source's architecture
(ARCHITECTURE_KEYS, read from its config.json) unless the caller names a key to keep, then the source's weights.
A hint-free source can start a model with the camera hint: the hint embedding starts as its token embedding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from pathlib import Path
from typing import Any

from worldmodel.checkpoint import load_safetensors, load_state_into, read_json_section
from worldmodel.dynamics.bundle import CONFIG_FILE, DYNAMICS_FILE
from worldmodel.dynamics.config import DynamicsConfig
from worldmodel.dynamics.model import DynamicsModel

ARCHITECTURE_KEYS = ("d_model", "n_layers", "n_heads", "mlp_ratio", "context_frames", "rope_base", "head_layers",
                     "camera_bins", "camera_max_deg", "camera_mu", "camera_hint_fov", "lam_levels", "lam_dim",
                     "lam_layers", "lam_heads")
"""DynamicsConfig keys that shape the weights or fix what they mean (the action coding, the attention window):
a fine-tuned model takes them from its source. The training knobs (loss weights, dropout, noise, self-forcing)
and the decoding defaults stay the new run's own."""


def source_dir(source: str) -> Path:
    """The WorldModel directory named by `source` ("bundled" = the shipped model); ValueError if it has no
    dynamics weights."""
    # BUNDLED_DIR looked up at call time: tests point it elsewhere
    from worldmodel import bundled

    directory = bundled.BUNDLED_DIR if source == "bundled" else Path(source)
    if not (directory / DYNAMICS_FILE).is_file():
        raise ValueError(f"init_from={source}: {directory / DYNAMICS_FILE} not found (expected a WorldModel directory)")
    return directory


def source_config(source: str) -> DynamicsConfig:
    """The DynamicsConfig in the config.json of the WorldModel directory `source` (ValueError naming the file)."""
    path = source_dir(source) / CONFIG_FILE
    section = read_json_section(path, "dynamics", f"init_from={source}: ")
    try:
        return DynamicsConfig.from_dict(section)
    except (TypeError, ValueError) as error:
        raise ValueError(f"init_from={source}: {path}: {error}") from error


def inherit_architecture(cfg: DynamicsConfig, source: DynamicsConfig, keep: Collection[str] = ()) -> DynamicsConfig:
    """`cfg` with every ARCHITECTURE_KEYS value taken from `source`, except the keys in `keep` (those the user set)."""
    return dataclasses.replace(cfg, **{key: getattr(source, key) for key in ARCHITECTURE_KEYS if key not in keep})


def add_camera_hint(state: dict[str, Any], model: DynamicsModel) -> None:
    """Complete the weights of a hint-free dynamics model for a model with the camera hint: the hint embedding
    starts as the trained token embedding (the trunk already knows what each token looks like, and the hint
    says which token should be where next); the 'no hint' vector starts at zero."""
    state["hint_emb.weight"] = state["tok_emb.weight"].clone()
    state["hint_unseen"] = model.hint_unseen.detach().new_zeros(model.hint_unseen.shape)


def warm_start(model: DynamicsModel, source: str) -> str | None:
    """Copy the dynamics weights of the WorldModel directory `source` ("bundled" = the shipped model) into `model`;
    a resumed run then overwrites them with its own checkpoint. Returns a note when the weights had to be
    completed (camera hint added), else None. ValueError naming the file on any other mismatch."""
    path = source_dir(source) / DYNAMICS_FILE
    state = load_safetensors(path)
    note = None
    if model.uses_hint and "hint_emb.weight" not in state and "tok_emb.weight" in state:
        add_camera_hint(state, model)
        note = (f"init_from={source}: the source has no camera hint; its hint embedding starts as a copy of the "
                "token embedding")
    load_state_into(model, state, path)
    return note
