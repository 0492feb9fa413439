"""Write frames to .mp4 (PyAV: libx264, else mpeg4; yuv420p; odd sizes padded to even) or .gif (Pillow).

Files are written atomically: to a hidden temporary file in the same folder, renamed on close.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

FORMATS = (".mp4", ".gif")


def upscale(frame: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscale of (H, W, 3) by an integer factor -> (H*scale, W*scale, 3)."""
    if scale == 1:
        return frame
    return frame.repeat(scale, axis=0).repeat(scale, axis=1)


def pad_even(frame: np.ndarray) -> np.ndarray:
    """Pad (H, W, 3) by repeating the last row / column so that H and W are even (yuv420p needs it)."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


class VideoWriter:
    """`with VideoWriter("out.mp4", fps=20) as video: video.write(frame)`; frames uint8 (H, W, 3), same size."""

    def __init__(self, path: str | os.PathLike, fps: float = 20.0) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in FORMATS:
            raise ValueError(f"record path '{self.path}' must end with one of {list(FORMATS)}")
        if not 0 < fps <= 240:
            raise ValueError(f"record fps must be in (0, 240], got {fps}")
        if not self.path.parent.exists():
            raise ValueError(f"record path '{self.path}': folder '{self.path.parent}' does not exist")
        self.fps = fps
        self.frames = 0
        self.shape: tuple[int, ...] | None = None
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp{os.getpid()}{self.path.suffix}")
        self._container: Any = None
        self._stream: Any = None
        self._gif: list[Any] = []
        self.codec: str | None = None

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 (H, W, 3) frame."""
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"record: frames must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
        if self.shape is None:
            self.shape = frame.shape
        elif frame.shape != self.shape:
            raise ValueError(f"record: frame size changed from {self.shape} to {frame.shape}")
        if self.path.suffix.lower() == ".gif":
            from PIL import Image

            self._gif.append(Image.fromarray(frame))
        else:
            self._write_mp4(pad_even(frame))
        self.frames += 1

    def _write_mp4(self, frame: np.ndarray) -> None:
        import av

        if self._container is None:
            self._container = av.open(str(self.tmp), mode="w", format="mp4")
            for codec in ("libx264", "mpeg4"):
                try:
                    self._stream = self._container.add_stream(codec, rate=round(self.fps))
                    self.codec = codec
                    break
                except Exception:  # codec missing from this FFmpeg build: try the next one
                    continue
            if self._stream is None:
                raise RuntimeError("record: neither libx264 nor mpeg4 is available in PyAV's FFmpeg")
            self._stream.height, self._stream.width = frame.shape[:2]
            self._stream.pix_fmt = "yuv420p"
            if self.codec == "libx264":
                self._stream.options = {"crf": "18", "preset": "veryfast"}
            else:
                self._stream.bit_rate = 8_000_000
        video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)

    def close(self) -> int:
        """Finish the file (nothing is written when no frame came) and return the number of frames."""
        if self._container is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._container = None
            os.replace(self.tmp, self.path)
        elif self._gif:
            duration = max(20, round(1000.0 / self.fps))
            self._gif[0].save(self.tmp, format="GIF", save_all=True, append_images=self._gif[1:], duration=duration, loop=0)
            self._gif = []
            os.replace(self.tmp, self.path)
        return self.frames

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if error is None:
            self.close()
        else:
            self.abort()

    def abort(self) -> None:
        """Drop the partial file."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # the file is being thrown away anyway
                pass
            self._container = None
        self._gif = []
        self.tmp.unlink(missing_ok=True)
