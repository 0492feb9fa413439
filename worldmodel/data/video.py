"""Video decoding and encoding through PyAV, centre crop + resize, and frame-rate resampling."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import av
import numpy as np
from PIL import Image

VIDEO_EXTS = (".mp4", ".webm", ".avi", ".mkv")


def parse_size(text: str | int | Sequence[int] | None) -> tuple[int, int] | None:
    """'64' -> (64, 64); '96x64' -> (width 96, height 64); None stays None (keep the source size)."""
    if text is None:
        return None
    if isinstance(text, int):
        return (text, text)
    if isinstance(text, (tuple, list)):
        return (int(text[0]), int(text[1]))
    parts = str(text).lower().split("x")
    try:
        width, height = (int(parts[0]), int(parts[0])) if len(parts) == 1 else (int(parts[0]), int(parts[1]))
    except ValueError:
        raise ValueError(f"size must be N or WxH (e.g. 64 or 96x64), got {text!r}") from None
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive, got {text!r}")
    return (width, height)


def crop_resize(frame: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Centre-crop (H,W,3) to the aspect ratio of size=(width, height), then resize (antialiased bilinear)."""
    if size is None:
        return frame
    width, height = size
    h, w = frame.shape[:2]
    if (w, h) == (width, height):
        return frame
    if w * height > h * width:  # too wide: crop columns
        crop_w = max(1, round(h * width / height))
        x0 = (w - crop_w) // 2
        frame = frame[:, x0:x0 + crop_w]
    elif w * height < h * width:  # too tall: crop rows
        crop_h = max(1, round(w * height / width))
        y0 = (h - crop_h) // 2
        frame = frame[y0:y0 + crop_h]
    image = Image.fromarray(np.ascontiguousarray(frame)).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image)


def probe_video(path: str | os.PathLike) -> dict[str, float | int]:
    """fps, width, height and the container's frame count (0 when unknown) of a video file."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0.0)
            return {"fps": fps, "width": stream.codec_context.width, "height": stream.codec_context.height,
                    "frames": int(stream.frames or 0)}
    except (av.FFmpegError, IndexError, OSError) as error:
        raise ValueError(f"{path}: cannot read video ({error})") from error


def iter_frames(path: str | os.PathLike, size: tuple[int, int] | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """Decode every frame: (time in seconds, (H,W,3) uint8 rgb, centre-cropped and resized to size if given).

    A corrupt or truncated file raises ValueError naming the file and the frame where decoding failed.
    """
    count = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = float(stream.average_rate or stream.guessed_rate or 20.0)
            expected = int(stream.frames or 0)
            for frame in container.decode(stream):
                time = float(frame.time) if frame.time is not None else count / rate
                yield time, crop_resize(frame.to_ndarray(format="rgb24"), size)
                count += 1
            if expected and count < expected:
                raise ValueError(f"{path}: truncated video: decoded {count} of the {expected} frames it declares")
    except (av.FFmpegError, OSError) as error:
        raise ValueError(f"{path}: corrupt or truncated video after {count} frames ({error})") from error


def read_frames(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """All frames of a video as (T,H,W,3) uint8."""
    frames = [frame for _, frame in iter_frames(path, size)]
    if not frames:
        raise ValueError(f"{path}: the video holds no frames")
    return np.stack(frames)


def resample(frames: Iterable[tuple[float, np.ndarray]], fps: float) -> Iterator[np.ndarray]:
    """Resample timed frames to a constant `fps`: output k shows the latest source frame at time k/fps."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    k, last, start, last_time = 0, None, None, 0.0
    eps = 1e-6
    for time, frame in frames:
        start = time if start is None else start
        time -= start
        while last is not None and k / fps < time - eps:
            yield last
            k += 1
        last, last_time = frame, time
    while last is not None and k / fps <= last_time + eps:
        yield last
        k += 1


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 20.0,
                codec: str | None = None, crf: int = 18) -> Path:
    """Encode (H,W,3) uint8 frames to a video file (codec by extension: mp4/mkv h264, webm vp9, avi mpeg4)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = codec or {".webm": "libvpx-vp9", ".avi": "mpeg4"}.get(path.suffix.lower(), "libx264")
    with av.open(str(path), "w") as container:
        stream = None
        for frame in frames:
            if stream is None:
                stream = container.add_stream(codec, rate=int(round(fps)))
                stream.width, stream.height = frame.shape[1], frame.shape[0]
                stream.pix_fmt = "yuv420p"
                if codec == "libx264":
                    stream.options = {"crf": str(crf), "preset": "ultrafast"}
                elif codec == "mpeg4":
                    stream.options = {"qscale": "2"}
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        if stream is None:
            raise ValueError(f"{path}: no frames to write")
        for packet in stream.encode():
            container.mux(packet)
    return path
