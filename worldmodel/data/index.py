"""DIR/index.json: the episode list (metadata and length of each) that dataloader workers share without scanning."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from worldmodel.data.store import TMP_MARK, EpisodeReader

INDEX_FORMAT = "worldmodel.episodes/1"
EPISODE_EXT = ".npz"


def episodes_dir(root: str | os.PathLike) -> Path:
    """The folder that holds the episode files of a store."""
    return Path(root) / "episodes"


def episode_path(root: str | os.PathLike, name: str) -> Path:
    """Path of episode `name` in the store at `root`."""
    return episodes_dir(root) / f"{name}{EPISODE_EXT}"


def safe_name(text: str) -> str:
    """A file-name-safe episode name derived from a source path or id."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")
    return name or "episode"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file next to `path` and rename it into place."""
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def remove_stale_tmp(root: str | os.PathLike) -> list[Path]:
    """Delete temporary files left by killed writers (a crash never leaves a half-written episode visible)."""
    removed = []
    for folder in (Path(root), episodes_dir(root)):
        if folder.is_dir():
            for path in folder.iterdir():
                if path.name.startswith(".") and TMP_MARK in path.name:
                    path.unlink(missing_ok=True)
                    removed.append(path)
    return removed


def read_index(root: str | os.PathLike) -> list[dict[str, Any]]:
    """Episode entries of a store, reading index.json and adding files it does not list yet (dropping gone ones)."""
    root = Path(root)
    folder = episodes_dir(root)
    if not folder.is_dir():
        raise ValueError(f"{root}: not an episode store (no episodes/ folder)")
    entries: dict[str, dict[str, Any]] = {}
    index_file = root / "index.json"
    if index_file.exists():
        try:
            data = json.loads(index_file.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{index_file}: invalid JSON at line {error.lineno}: {error.msg}") from error
        if data.get("format") != INDEX_FORMAT:
            raise ValueError(f"{index_file}: format is {data.get('format')!r}, expected {INDEX_FORMAT!r}")
        entries = {e["file"]: e for e in data.get("episodes", [])}
    present = sorted(p.name for p in folder.iterdir() if p.suffix == EPISODE_EXT and not p.name.startswith("."))
    result = []
    for file in present:
        entry = entries.get(file)
        if entry is None:
            reader = EpisodeReader(folder / file)
            entry = {**reader.meta, "file": file}
            reader.close()
        result.append(entry)
    return result


def update_index(root: str | os.PathLike) -> list[dict[str, Any]]:
    """Bring DIR/index.json up to date with the episode files present; returns the entries."""
    entries = read_index(root)
    write_json_atomic(Path(root) / "index.json", {"format": INDEX_FORMAT, "episodes": entries})
    return entries
