"""The shipped world model: this directory (config.json, tokenizer.safetensors, dynamics.safetensors, card).

`BUNDLED_DIR` is read at call time by everything that resolves the name "bundled" (`WorldModel.load()`, warm
starts, the viewer, the dream envs), so tests can point it elsewhere with one monkeypatch. It sits at the bottom of
the package so that the tokenizer and dynamics code may name it without importing the WorldModel API.
"""

from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parent


def resolve(name: str | Path) -> Path:
    """"bundled" -> the shipped model's directory (as BUNDLED_DIR is now); any other name -> that path."""
    return BUNDLED_DIR if str(name) == "bundled" else Path(name)
