"""What every importer shares: resumable folder imports with progress, a skip list, and step downsampling."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
from tqdm import tqdm

from envs.actions import BINARY_KEYS
from worldmodel.data.index import episode_path, episodes_dir, remove_stale_tmp, safe_name, update_index

# convert(source, destination episode path) -> number of frames written (must write atomically)
Converter = Callable[[Path, Path], int]


@dataclass
class ImportReport:
    """Outcome of a folder import."""

    written: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    frames: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        """Human-readable lines: counts, throughput and every skipped source with its reason."""
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        lines = [f"imported {len(self.written)} episode(s), {self.frames} frames in {self.seconds:.1f} s "
                 f"({rate:.0f} frames/s); {len(self.existing)} already present (resumed)"]
        if self.failed:
            lines.append(f"skipped {len(self.failed)} source(s):")
            lines += [f"  {source}: {reason}" for source, reason in self.failed]
        return "\n".join(lines)


def unique_names(sources: list[Path], root: Path) -> list[tuple[str, Path]]:
    """Deterministic episode names from source paths relative to `root` (so a re-run finds the same names)."""
    named = []
    for source in sources:
        relative = source.relative_to(root) if source != root and root in source.parents else Path(source.name)
        named.append((safe_name("__".join(relative.with_suffix("").parts)), source))
    seen: dict[str, int] = {}
    result = []
    for name, source in named:
        seen[name] = seen.get(name, 0) + 1
        result.append((name if seen[name] == 1 else f"{name}_{seen[name]}", source))
    return result


def run_import(items: list[tuple[str, Path]], out: Path, convert: Converter, desc: str,
               failed: list[tuple[str, str]] | None = None, progress: bool = True) -> ImportReport:
    """Convert each (name, source) into out/episodes/<name>.npz, skipping finished ones; errors are collected."""
    episodes_dir(out).mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(out)
    report = ImportReport(failed=list(failed or []))
    start = time.perf_counter()
    bar = tqdm(items, desc=desc, unit="ep", disable=not progress, file=sys.stderr)
    for name, source in bar:
        target = episode_path(out, name)
        if target.exists():
            report.existing.append(name)
            continue
        try:
            report.frames += convert(source, target)
            report.written.append(name)
        except (ValueError, OSError) as error:
            report.failed.append((str(source), str(error)))
        bar.set_postfix(frames=report.frames, failed=len(report.failed))
    report.seconds = time.perf_counter() - start
    update_index(out)
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


def provenance(kind: str, source: Path, note: str | None) -> dict[str, Any]:
    """Standard provenance metadata for an imported episode."""
    return {"source": kind, "source_path": str(source),
            "license": note or f"imported from {kind} data; see the original dataset's license"}
