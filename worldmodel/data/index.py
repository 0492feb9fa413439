"""DIR/index.json: the episode list (metadata and length of each) that dataloader workers share without scanning.

Episode files that cannot be read are left out of the index and listed as damaged (name and reason) instead of
stopping every later import or `wm data info`. Index rewrites hold an exclusive lock on DIR/.index.lock, so two
imports into one store at once cannot lose each other's entries.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

from worldmodel.data.store import TMP_MARK, EpisodeReader, tmp_name

try:
    import fcntl
except ImportError:  # not POSIX: no inter-process lock (temporary names stay unique)
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".index.lock"

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
    """Write JSON to a temporary file next to `path` (unique to this process) and rename it into place."""
    tmp = path.with_name(tmp_name(path.name))
    try:
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def tmp_owner(name: str) -> int | None:
    """The process id in a temporary file name `.<name>.tmp-<pid>[-<token>]` (None when there is none)."""
    tail = name.rsplit(TMP_MARK, 1)[-1]
    head = tail.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def remove_stale_tmp(root: str | os.PathLike) -> list[Path]:
    """Delete temporary files left by killed writers; files of writers still running (another import into the
    same store) are kept. A crash never leaves a half-written episode visible."""
    removed = []
    for folder in (Path(root), episodes_dir(root)):
        if folder.is_dir():
            for path in folder.iterdir():
                if path.name.startswith(".") and TMP_MARK in path.name:
                    owner = tmp_owner(path.name)
                    if owner is not None and owner != os.getpid() and _pid_alive(owner):
                        continue
                    if owner == os.getpid():
                        continue  # a writer of this very process may be open
                    path.unlink(missing_ok=True)
                    removed.append(path)
    return removed


@contextlib.contextmanager
def index_lock(root: str | os.PathLike) -> Iterator[None]:
    """Hold the store's exclusive index lock (DIR/.index.lock) while the block runs."""
    if fcntl is None:
        yield
        return
    Path(root).mkdir(parents=True, exist_ok=True)
    with open(Path(root) / LOCK_NAME, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_index(root: str | os.PathLike) -> list[dict[str, Any]]:
    """Episode entries of a store, reading index.json and adding files it does not list yet (dropping gone ones);
    damaged episode files are left out (see `scan_index`)."""
    return scan_index(root)[0]


def scan_index(root: str | os.PathLike) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """(entries, damaged): the store's episode entries as `read_index` gives them, and (file, reason) of every
    episode file that cannot be read."""
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
    result, damaged = [], []
    for file in present:
        entry = entries.get(file)
        try:
            stamp = _stamp(folder / file)
        except FileNotFoundError:  # removed meanwhile
            continue
        if entry is None or entry.get("file_stamp") != stamp:  # new, or replaced since (e.g. --reimport)
            try:
                reader = EpisodeReader(folder / file)
            except ValueError as error:
                damaged.append((file, str(error)))
                continue
            entry = {**reader.meta, "file": file, "file_stamp": stamp}
            reader.close()
        result.append(entry)
    return result, damaged


def _stamp(path: Path) -> list[int]:
    """[size, mtime in ns] of a file: an index entry whose stamp differs is re-read from the file."""
    stat = path.stat()
    return [int(stat.st_size), int(stat.st_mtime_ns)]


def update_index(root: str | os.PathLike) -> list[dict[str, Any]]:
    """Bring DIR/index.json up to date with the episode files present (under the store's lock); returns the
    entries. Damaged files are listed under "damaged" in index.json, not as episodes."""
    return update_index_report(root)[0]


def update_index_report(root: str | os.PathLike) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """`update_index` that also returns the damaged files as (file, reason)."""
    with index_lock(root):
        entries, damaged = scan_index(root)
        data = {"format": INDEX_FORMAT, "episodes": entries,
                "damaged": [{"file": file, "reason": reason} for file, reason in damaged]}
        write_json_atomic(Path(root) / "index.json", data)
    return entries, damaged
