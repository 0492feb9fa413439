"""Export and load a trained tokenizer: DIR/config.json {"tokenizer": {...}} + DIR/tokenizer.safetensors.

The layout matches the tokenizer half of a WorldModel directory, so `load_tokenizer` also reads a world model.
"""

from __future__ import annotations

from pathlib import Path

from worldmodel.checkpoint import load_module, module_state, read_json, save_safetensors, write_json
from worldmodel.tokenizer.config import TokenizerConfig
from worldmodel.tokenizer.model import Tokenizer

TOKENIZER_FORMAT = "worldmodel-tokenizer/1"
WEIGHTS_FILE, CONFIG_FILE = "tokenizer.safetensors", "config.json"


def save_tokenizer(tokenizer: Tokenizer, directory: str | Path) -> Path:
    """Write DIR/tokenizer.safetensors and DIR/config.json (each atomically); returns DIR."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_safetensors(module_state(tokenizer), directory / WEIGHTS_FILE, metadata={"format": TOKENIZER_FORMAT})
    write_json(directory / CONFIG_FILE, {"format": TOKENIZER_FORMAT, "tokenizer": tokenizer.cfg.to_dict()})
    return directory


def resolve_tokenizer_dir(path: str | Path) -> Path:
    """Accept a tokenizer export dir, a WorldModel dir, or a tokenizer run dir (which holds RUN/tokenizer/)."""
    path = Path(path)
    for candidate in (path, path / "tokenizer"):
        if (candidate / WEIGHTS_FILE).is_file() and (candidate / CONFIG_FILE).is_file():
            return candidate
    raise ValueError(
        f"{path}: no tokenizer found (expected {WEIGHTS_FILE} and {CONFIG_FILE} in it or in {path / 'tokenizer'}; "
        "is this the run_dir of `wm train tokenizer`?)"
    )


def load_tokenizer(path: str | Path, device: str = "cpu") -> Tokenizer:
    """Load a tokenizer from a directory (see `resolve_tokenizer_dir`), in eval mode."""
    directory = resolve_tokenizer_dir(path)
    config = read_json(directory / CONFIG_FILE)
    if not isinstance(config, dict) or "tokenizer" not in config:
        raise ValueError(f"{directory / CONFIG_FILE}: missing 'tokenizer' section")
    cfg = TokenizerConfig.from_dict(config["tokenizer"], source=str(directory / CONFIG_FILE))
    tokenizer = Tokenizer(cfg)
    load_module(tokenizer, directory / WEIGHTS_FILE)
    return tokenizer.to(device).eval()
