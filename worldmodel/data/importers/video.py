"""Plain footage (mp4/webm/avi/mkv) -> action-free episodes, resampled to a target fps and size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from worldmodel.data.importers.common import provenance, unique_names
from worldmodel.data.store import DEFAULT_CHUNK, EpisodeWriter
from worldmodel.data.video import VIDEO_EXTS, iter_frames, probe_video, resample


def find_videos(src: Path) -> tuple[list[tuple[str, Path]], list[tuple[str, str]]]:
    """(name, path) of every video file under src (src may be a single file)."""
    if src.is_file():
        return unique_names([src], src.parent), []
    videos = sorted(p for p in src.rglob("*") if p.suffix.lower() in VIDEO_EXTS and p.is_file())
    return unique_names(videos, src), []


def convert(video: Path, target: Path, settings: dict[str, Any] | None = None,
            size: tuple[int, int] | None = (64, 64), fps: float | None = 20.0, license_note: str | None = None,
            crop: str = "center") -> int:
    """Decode, crop (see `crop_resize`) + resize and resample one video into episode file `target` (streamed)."""
    info = probe_video(video)
    out_fps = float(fps or info["fps"] or 20.0)
    meta = {**provenance("video", video, license_note, settings), "fps": out_fps, "source_fps": info["fps"],
            "action_space": None, "crop": crop}
    count = 0
    with EpisodeWriter(target, meta) as writer:
        batch: list[np.ndarray] = []
        for frame in resample(iter_frames(video, size, crop), out_fps):
            batch.append(frame)
            if len(batch) == DEFAULT_CHUNK:
                writer.append(np.stack(batch))
                count, batch = count + len(batch), []
        if batch:
            writer.append(np.stack(batch))
            count += len(batch)
        if count == 0:
            raise ValueError(f"{video}: the video holds no frames")
        truncated = np.zeros(count - 1, bool)
        truncated[-1:] = True
        writer.close(truncated=truncated)
    return count
