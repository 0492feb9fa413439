"""Start a tokenizer from the weights of an exported one (`wm train tokenizer init_from=SOURCE`), to fine-tune it.

SOURCE is a tokenizer export, a tokenizer run dir, a WorldModel directory or "bundled". The new tokenizer takes
the source's architecture (ARCHITECTURE_KEYS) unless the caller names a key to keep. The frame-fusion net is not
part of it: `wm train tokenizer` does not train one, so the source's fusion weights are dropped unless the new
config asks for a fusion net (fusion_channels > 0), and then they are kept as they are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from pathlib import Path

from worldmodel.checkpoint import load_safetensors, load_state_into, read_json_section
from worldmodel.tokenizer.config import TokenizerConfig
from worldmodel.tokenizer.io import CONFIG_FILE, WEIGHTS_FILE, resolve_tokenizer_dir
from worldmodel.tokenizer.model import Tokenizer

ARCHITECTURE_KEYS = ("levels", "channels", "channel_mult", "res_blocks", "mid_blocks")
"""TokenizerConfig keys that shape the encoder, the codes and the decoder: a fine-tuned tokenizer takes them from
its source. The frame size (the convolutions fit any multiple of the downsampling), the loss weights and the
fusion keys stay the new run's own."""

FUSION_PREFIX = "fusion."
"""State-dict prefix of the frame-fusion net's weights (`Tokenizer.fusion`)."""


def source_dir(source: str) -> Path:
    """The directory holding the tokenizer named by `source` ("bundled" = the shipped model's); ValueError if none."""
    # BUNDLED_DIR looked up at call time: tests point it elsewhere
    from worldmodel import bundled

    try:
        return resolve_tokenizer_dir(bundled.BUNDLED_DIR if source == "bundled" else source)
    except (ValueError, FileNotFoundError) as error:
        raise ValueError(f"init_from={source}: {error}") from error


def source_config(source: str) -> TokenizerConfig:
    """The TokenizerConfig in the config.json beside the source's weights (ValueError naming the file)."""
    path = source_dir(source) / CONFIG_FILE
    section = read_json_section(path, "tokenizer", f"init_from={source}: ")
    return TokenizerConfig.from_dict(section, source=str(path))


def inherit_architecture(cfg: TokenizerConfig, source: TokenizerConfig, keep: Collection[str] = ()) -> TokenizerConfig:
    """`cfg` with every ARCHITECTURE_KEYS value taken from `source`, except the keys in `keep` (those the user set)."""
    return dataclasses.replace(cfg, **{key: getattr(source, key) for key in ARCHITECTURE_KEYS if key not in keep})


def warm_start(tokenizer: Tokenizer, source: str) -> str | None:
    """Copy the weights of the tokenizer `source` into `tokenizer`; a resumed run then overwrites them with its own
    checkpoint. The source's fusion weights are dropped when `tokenizer` has no fusion net, kept when it has one
    (then the source must have one of the same shape). Returns a note when fusion weights were dropped, else None.
    ValueError naming the file on any mismatch."""
    path = source_dir(source) / WEIGHTS_FILE
    state = load_safetensors(path)
    fusion_keys = [key for key in state if key.startswith(FUSION_PREFIX)]
    if tokenizer.fusion is not None and not fusion_keys:
        raise ValueError(f"init_from={source}: model.fusion_channels={tokenizer.cfg.fusion_channels} keeps the "
                         f"source's frame-fusion net, but {path} has none (set model.fusion_channels=0; "
                         "`wm train fusion` adds one)")
    if tokenizer.fusion is not None or not fusion_keys:
        load_state_into(tokenizer, state, path)
        return None
    load_state_into(tokenizer, {k: v for k, v in state.items() if not k.startswith(FUSION_PREFIX)}, path)
    return (f"init_from={source}: the source's frame-fusion net is left out (model.fusion_channels=0; "
            "`wm train fusion` trains one for the fine-tuned tokenizer)")
