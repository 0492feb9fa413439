"""What every importer shares: resumable folder imports with progress, a skip list, and step downsampling."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
from tqdm import tqdm

from envs.actions import BINARY_KEYS
from worldmodel.data.index import (episode_path, episodes_dir, remove_stale_tmp, safe_name, scan_index,
                                   update_index_report)
from worldmodel.data.store import EpisodeReader

# convert(source, destination episode path, import settings for the metadata) -> frames written (atomically)
Converter = Callable[[Path, Path, dict[str, Any]], int]
NAME_CHARS = 80  # longest readable part of an episode name (the hash keeps longer ones distinct)
HASH_CHARS = 8


@dataclass
class ImportReport:
    """Outcome of a folder import."""

    written: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    damaged: list[tuple[str, str]] = field(default_factory=list)  # (episode file, reason), left out of the index
    aligned: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (episode, lag metadata) of --align
    frames: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        """Human-readable lines: counts, throughput and every skipped source with its reason."""
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        lines = [f"imported {len(self.written)} episode(s), {self.frames} frames in {self.seconds:.1f} s "
                 f"({rate:.0f} frames/s); {len(self.existing)} already present (resumed)"]
        for name, meta in self.aligned:
            lines.append(f"  {name}: actions lag {meta['lag']:+d} frames (correlation {meta['align_correlation']:.2f}; "
                         f"{meta['align_correlation_at_zero']:.2f} at 0), trimmed to match")
        if self.failed:
            lines.append(f"skipped {len(self.failed)} source(s):")
            lines += [f"  {source}: {reason}" for source, reason in self.failed]
        if self.damaged:
            lines.append(f"damaged episode file(s) in the store, left out of its index ({len(self.damaged)}):")
            lines += [f"  {file}: {reason}" for file, reason in self.damaged]
        return "\n".join(lines)


def episode_name(source: Path, root: Path) -> str:
    """The episode name of `source`: a stable function of its path relative to `root` (nothing else).

    A readable part (the relative path without its extension, folders joined by '__', other characters than
    A-Z a-z 0-9 _ . - replaced by '_', at most 80 characters) plus '-' and 8 hex digits of the SHA-1 of the
    relative path, so 'a__b.mp4' and 'a/b.mp4', 'x.mp4' and 'x.mkv', or two non-ASCII names never collide and
    adding a file never renames another.
    """
    relative = source.relative_to(root) if source != root and root in source.parents else Path(source.name)
    readable = safe_name("__".join(relative.with_suffix("").parts))[:NAME_CHARS]
    digest = hashlib.sha1(relative.as_posix().encode("utf-8", "surrogateescape")).hexdigest()[:HASH_CHARS]
    return f"{readable}-{digest}"


def unique_names(sources: list[Path], root: Path) -> list[tuple[str, Path]]:
    """(episode_name(source, root), source) for each source (so a re-run finds the same names)."""
    return [(episode_name(source, root), source) for source in sources]


def jsonable_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings as they read back from an episode's metadata (tuples become lists)."""
    return json.loads(json.dumps(settings))


def describe_settings(settings: dict[str, Any] | None) -> str:
    """'size=[64, 64] fps=20.0 ...' for messages."""
    if not settings:
        return "unknown settings"
    return " ".join(f"{k}={v}" for k, v in sorted(settings.items()) if k != "kind")


def _stored_settings(target: Path, entries: dict[str, dict[str, Any]]) -> dict[str, Any] | str | None:
    """The `import` settings of an existing episode file (None when it has none; 'damaged' when unreadable)."""
    entry = entries.get(target.name)
    if entry is None:
        try:
            reader = EpisodeReader(target)
        except ValueError:
            return "damaged"
        entry = reader.meta
        reader.close()
    return entry.get("import")


def run_import(items: list[tuple[str, Path]], out: Path, convert: Converter, desc: str,
               failed: list[tuple[str, str]] | None = None, progress: bool = True,
               settings: dict[str, Any] | None = None, reimport: bool = False) -> ImportReport:
    """Convert each (name, source) into out/episodes/<name>.npz, skipping finished ones; errors are collected.

    `settings` (the import options: kind, size, fps, crop, ...) go into each episode's metadata as `import`. On
    resume, an existing episode counts as finished only if it was imported with the same settings; otherwise the
    whole run is refused (ValueError, nothing written) unless `reimport`, which converts it again. Existing episode
    files that cannot be read are converted again. Unreadable files elsewhere in the store are reported as damaged.
    """
    settings = jsonable_settings(settings or {})
    episodes_dir(out).mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(out)
    entries = {e["file"]: e for e in scan_index(out)[0]}
    kind = settings.get("kind")
    legacy = sorted(f for f, e in entries.items() if kind and "import" not in e and e.get("source") == kind)
    if legacy:
        raise ValueError(f"{out}: holds {len(legacy)} {kind} episode(s) imported by an older version without "
                         f"import settings (e.g. {legacy[0]}); their names differ, so resuming would duplicate "
                         "them: import into a new --out")
    todo: list[tuple[str, Path, bool]] = []  # (name, source, finished already)
    mismatched: list[str] = []
    for name, source in items:
        target = episode_path(out, name)
        stored = _stored_settings(target, entries) if target.exists() else "absent"
        if stored in ("absent", "damaged"):  # new, or an unreadable file to replace
            todo.append((name, source, False))
        elif stored is not None and stored != settings:
            mismatched.append(name)
            todo.append((name, source, False))
        else:
            todo.append((name, source, True))
    if mismatched and not reimport:
        stored = _stored_settings(episode_path(out, mismatched[0]), entries)
        raise ValueError(f"{out}: {len(mismatched)} episode(s) (e.g. {mismatched[0]}) were imported with "
                         f"{describe_settings(stored)}, this run asks for {describe_settings(settings)}; "
                         "use another --out, the same options, or --reimport to convert them again")
    report = ImportReport(failed=list(failed or []))
    start = time.perf_counter()
    bar = tqdm(todo, desc=desc, unit="ep", disable=not progress, file=sys.stderr)
    for name, source, finished in bar:
        if finished:
            report.existing.append(name)
            continue
        try:
            report.frames += convert(source, episode_path(out, name), settings)
            report.written.append(name)
            reader = EpisodeReader(episode_path(out, name))
            meta = reader.meta
            reader.close()
            if meta.get("align") == "auto" and meta.get("align_correlation") is not None:
                report.aligned.append((name, meta))
        except (ValueError, OSError) as error:
            report.failed.append((str(source), str(error)))
        except (TypeError, KeyError, IndexError, AttributeError) as error:  # malformed input the checks missed
            report.failed.append((str(source), f"malformed input ({type(error).__name__}: {error})"))
        bar.set_postfix(frames=report.frames, failed=len(report.failed))
    report.seconds = time.perf_counter() - start
    report.damaged = update_index_report(out)[1]
    return report


def downsample(steps: int, factor: int, actions: Mapping[str, np.ndarray] | None,
               per_step: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray] | None,
                                                            dict[str, np.ndarray]]:
    """Keep every `factor`-th frame of a (steps+1)-frame episode and merge the actions between kept frames.

    Returns (kept frame indices, merged canonical actions, merged per-step arrays): buttons are OR-ed, camera
    deltas summed, rewards summed, boolean flags OR-ed; a trailing partial group is dropped.
    """
    groups = steps // factor
    frame_index = np.arange(groups + 1) * factor

    def merge(key: str, array: np.ndarray) -> np.ndarray:
        grouped = np.asarray(array)[:groups * factor].reshape(groups, factor, *np.shape(array)[1:])
        if array.dtype == bool or key in BINARY_KEYS:
            return grouped.max(axis=1)
        if key in ("camera", "rewards"):
            return grouped.sum(axis=1).astype(array.dtype)
        return grouped[:, 0]

    merged_actions = None if actions is None else {k: merge(k, np.asarray(v)) for k, v in actions.items()}
    return frame_index, merged_actions, {k: merge(k, np.asarray(v)) for k, v in per_step.items()}


def fps_factor(source_fps: float, fps: float | None, source: Path) -> int:
    """The integer frame stride that turns source_fps into fps (ValueError when it is not a whole number)."""
    if fps is None or abs(fps - source_fps) < 1e-6:
        return 1
    factor = source_fps / fps
    if fps > source_fps or abs(factor - round(factor)) > 1e-6:
        raise ValueError(f"{source}: cannot resample {source_fps:g} fps actions to {fps:g} fps "
                         f"(needs a whole-number divisor of {source_fps:g})")
    return int(round(factor))


def provenance(kind: str, source: Path, note: str | None, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Standard provenance metadata for an imported episode (with the import settings under 'import')."""
    meta = {"source": kind, "source_path": str(source),
            "license": note or f"imported from {kind} data; see the original dataset's license"}
    if settings is not None:
        meta["import"] = settings
    return meta
