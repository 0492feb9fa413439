"""Frame tokenizer: FSQ conv autoencoder, uint8 frames (B, H, W, 3) <-> int64 token grids (B, h, w).

The names below are imported on first use (PEP 562), so that importing a leaf module such as
`worldmodel.tokenizer.nets` (the frame-fusion net builds on its blocks) does not pull in the whole package and
close an import cycle with `worldmodel.fusion`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"TokenizerConfig": "config", "FSQ": "fsq", "load_tokenizer": "io", "save_tokenizer": "io",
            "Tokenizer": "model", "float_to_frames": "model", "frames_to_float": "model"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'worldmodel.tokenizer' has no attribute {name!r}")
    return getattr(importlib.import_module(f"worldmodel.tokenizer.{_EXPORTS[name]}"), name)
