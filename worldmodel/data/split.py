"""Train / held-out split of an episode store by episode: DIR/split.json, written by `wm data split`.

The held-out episodes are the round(fraction * n) episodes (at least 1, at most n - 1) whose SHA-256 of
"<seed>:<file name>" is smallest, so a split depends only on the episode names and the seed (reproducible on any
machine, and adding episodes moves few of the old ones).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from worldmodel.data.index import read_index, write_json_atomic

SPLIT_FILE = "split.json"
SPLIT_FORMAT = "worldmodel.split/1"
SPLITS = ("train", "held_out")


def make_split(root: str | os.PathLike, held_out: float, seed: int = 0) -> dict[str, Any]:
    """Choose the held-out episodes of the store at `root`, write DIR/split.json and return its content."""
    if not 0.0 < held_out < 1.0:
        raise ValueError(f"held-out fraction must be between 0 and 1 (exclusive), got {held_out}")
    files = sorted(e["file"] for e in read_index(root))
    if len(files) < 2:
        raise ValueError(f"{root}: a split needs at least 2 episodes, the store has {len(files)}")
    count = min(len(files) - 1, max(1, round(held_out * len(files))))
    order = sorted(files, key=lambda f: hashlib.sha256(f"{seed}:{f}".encode()).hexdigest())
    held = set(order[:count])
    split = {"format": SPLIT_FORMAT, "seed": seed, "held_out_fraction": held_out,
             "train": [f for f in files if f not in held], "held_out": [f for f in files if f in held]}
    write_json_atomic(Path(root) / SPLIT_FILE, split)
    return split


def read_split(root: str | os.PathLike) -> dict[str, Any]:
    """DIR/split.json (ValueError naming the file when absent or malformed)."""
    path = Path(root) / SPLIT_FILE
    if not path.is_file():
        raise ValueError(f"{path}: no split; run `wm data split {root} --held-out 0.1` first")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: invalid JSON ({error.msg})") from error
    if not isinstance(data, dict) or data.get("format") != SPLIT_FORMAT:
        raise ValueError(f"{path}: format is not {SPLIT_FORMAT!r}")
    for key in SPLITS:
        if not isinstance(data.get(key), list) or not all(isinstance(f, str) for f in data[key]):
            raise ValueError(f"{path}: key '{key}' must be a list of episode file names")
    return data


def filter_split(root: str | os.PathLike, entries: list[dict[str, Any]], split: str) -> list[dict[str, Any]]:
    """The entries of `split` ('train' or 'held_out'); an episode the split does not list is an error (re-split)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    data = read_split(root)
    listed = set(data["train"]) | set(data["held_out"])
    unlisted = [e["file"] for e in entries if e["file"] not in listed]
    if unlisted:
        raise ValueError(f"{Path(root) / SPLIT_FILE}: does not list {len(unlisted)} episode(s) added since "
                         f"(e.g. {unlisted[0]}); run `wm data split` again")
    chosen = set(data[split])
    return [e for e in entries if e["file"] in chosen]
