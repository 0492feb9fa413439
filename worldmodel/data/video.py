"""Video decoding and encoding through PyAV, centre crop (or letterbox) + resize, and frame-rate resampling."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import av
import numpy as np
from PIL import Image

VIDEO_EXTS = (".mp4", ".webm", ".avi", ".mkv")
CROPS = ("center", "full")  # centre-crop to the target aspect ratio, or letterbox the whole frame
# a decode may fall this short of the declared duration (seconds, plus 10% of it) before the file counts as
# truncated: declared durations round up, include the last frame and, in a container without a per-stream duration,
# cover an audio track that may run a little longer than the video
DURATION_SLACK_S = 0.5
DURATION_SLACK_FRACTION = 0.1


def check_fps(fps: float | None) -> float | None:
    """None stays None; a frame rate must be a finite positive number (ValueError otherwise)."""
    if fps is None:
        return None
    value = float(fps)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return value


def check_crop(crop: str) -> str:
    """'center' or 'full' (ValueError otherwise)."""
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {list(CROPS)}, got {crop!r}")
    return crop


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


def crop_resize(frame: np.ndarray, size: tuple[int, int] | None, crop: str = "center") -> np.ndarray:
    """Fit (H,W,3) into size=(width, height), resizing with antialiased bilinear filtering.

    crop='center' centre-crops to the target aspect ratio first (a 640x360 frame keeps its middle 360x360 for a
    square target); crop='full' keeps the whole frame, scaled to fit and padded with black bars (letterbox).
    """
    if size is None:
        return frame
    width, height = size
    h, w = frame.shape[:2]
    if (w, h) == (width, height):
        return frame
    if crop == "full":
        scale = min(width / w, height / h)
        fit_w, fit_h = max(1, round(w * scale)), max(1, round(h * scale))
        image = Image.fromarray(np.ascontiguousarray(frame)).resize((fit_w, fit_h), Image.Resampling.BILINEAR)
        out = np.zeros((height, width, 3), np.uint8)
        y0, x0 = (height - fit_h) // 2, (width - fit_w) // 2
        out[y0:y0 + fit_h, x0:x0 + fit_w] = np.asarray(image)
        return out
    check_crop(crop)
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


def iter_frames(path: str | os.PathLike, size: tuple[int, int] | None = None,
                crop: str = "center") -> Iterator[tuple[float, np.ndarray]]:
    """Decode every frame: (time in seconds, (H,W,3) uint8 rgb, cropped (see `crop_resize`) and resized to size).

    A corrupt or truncated file raises ValueError naming the file: a decode error, fewer frames than the stream
    declares, or (for containers such as mkv/webm that declare no frame count) decoded frames that stop well
    before the container's declared duration, as in a half-written recording.
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
            if stream.duration and stream.time_base:  # seconds the video stream declares
                declared = float(stream.duration * stream.time_base)
            else:
                declared = float(container.duration) / 1e6 if container.duration else 0.0
            first = last = None
            for frame in container.decode(stream):
                time = float(frame.time) if frame.time is not None else count / rate
                first = time if first is None else first
                last = time
                yield time, crop_resize(frame.to_ndarray(format="rgb24"), size, crop)
                count += 1
            if expected and count < expected:
                raise ValueError(f"{path}: truncated video: decoded {count} of the {expected} frames it declares")
            if not expected and declared and count:
                span = (last or 0.0) - (first or 0.0) + 1.0 / rate  # seconds the decoded frames cover
                if span < declared * (1 - DURATION_SLACK_FRACTION) - DURATION_SLACK_S:
                    raise ValueError(f"{path}: truncated video: decoded {count} frames ({span:.2f} s) but the "
                                     f"container declares {declared:.2f} s (about {round(declared * rate)} "
                                     f"frames at {rate:g} fps); a half-written recording?")
    except (av.FFmpegError, OSError) as error:
        raise ValueError(f"{path}: corrupt or truncated video after {count} frames ({error})") from error


def read_frames(path: str | os.PathLike, size: tuple[int, int] | None = None, crop: str = "center") -> np.ndarray:
    """All frames of a video as (T,H,W,3) uint8."""
    frames = [frame for _, frame in iter_frames(path, size, crop)]
    if not frames:
        raise ValueError(f"{path}: the video holds no frames")
    return np.stack(frames)


def resample(frames: Iterable[tuple[float, np.ndarray]], fps: float) -> Iterator[np.ndarray]:
    """Resample timed frames to a constant `fps`: output k shows the latest source frame at time k/fps."""
    check_fps(fps)
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
