"""Video-token world models: data, tokenizer, dynamics, the WorldModel API, training, dream env, probes, viewer."""

from typing import Any

__all__ = ["WorldModel"]


def __getattr__(name: str) -> Any:
    # Lazy so that `import worldmodel` (and the `wm` CLI) stays fast and torch loads only when needed.
    if name == "WorldModel":
        from worldmodel.model import WorldModel

        return WorldModel
    raise AttributeError(f"module 'worldmodel' has no attribute {name!r}")
