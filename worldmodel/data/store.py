"""The on-disk episode format: one zip file per episode, npz-compatible, frames stored in compressed chunks.

Layout of `DIR/episodes/<name>.npz` (a zip; `np.load` can open it too):

    meta.json                     episode metadata (source, fps, width, height, length, chunk_size, ...)
    frames.00000.npy ...          (C,H,W,3) uint8 chunks of `chunk_size` frames, each deflated on its own
    depth.00000.npy ...           optional (C,H,W) float16 ground-truth chunks (BlockWorld)
    block_ids.00000.npy ...       optional (C,H,W) uint8 ground-truth chunks
    pose.npy                      optional (T,5) float32 [x, y, z, yaw, pitch]
    actions.<key>.npy             canonical actions, (T-1,) uint8 buttons and (T-1,2) float32 camera
    raw_actions.<key>.npy         native/source actions as arrays, or raw_actions.jsonl (one JSON object a step)
    observations.<key>.npy        optional extra per-step observations (e.g. MineRL compass, equipped item)
    rewards.npy terminated.npy truncated.npy   (T-1,) float32 / bool / bool

A clip read decompresses only the chunks it overlaps. Writes go to a temporary file in the same folder that is
renamed into place at the end, so a reader never sees a half-written episode. Temporary names carry the writer's
process id and a random token (`.<name>.npz.tmp-<pid>-<token>`), so concurrent writers never share one.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import time
import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from envs.actions import ACTION_KEYS, BINARY_KEYS

FORMAT = "worldmodel.episode/1"
DEFAULT_CHUNK = 32
CHUNKED_KEYS: dict[str, np.dtype] = {"frames": np.dtype(np.uint8), "depth": np.dtype(np.float16),
                                     "block_ids": np.dtype(np.uint8)}
# deflate level per chunked key (None = the writer's level): noisy float16 depth barely compresses, so it gets
# the fast level; block ids compress well even at level 3 (measured on BlockWorld footage)
CHUNK_LEVEL: dict[str, int | None] = {"frames": None, "depth": 1, "block_ids": 3}
TMP_MARK = ".tmp-"


def tmp_name(name: str) -> str:
    """A temporary file name for `name` unique to this process and call: `.<name>.tmp-<pid>-<token>`."""
    return f".{name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"


def _array_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    return value


class EpisodeWriter:
    """Stream one episode to `path` atomically: append frames (and ground truth) in pieces, then `close(...)`.

    Use as a context manager: an exception inside the block (or leaving it without `close`) deletes the
    temporary file and leaves nothing behind.
    """

    def __init__(self, path: str | os.PathLike, meta: Mapping[str, Any] | None = None,
                 chunk_size: int = DEFAULT_CHUNK, compresslevel: int = 6) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_path = self.path.with_name(tmp_name(self.path.name))
        self.meta: dict[str, Any] = dict(meta or {})
        self.chunk_size = chunk_size
        self.compresslevel = compresslevel
        self._zip: zipfile.ZipFile | None = zipfile.ZipFile(self.tmp_path, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        self._pending: dict[str, list[np.ndarray]] = {key: [] for key in CHUNKED_KEYS}
        self._counts: dict[str, int] = {key: 0 for key in CHUNKED_KEYS}
        self._chunks: dict[str, int] = {key: 0 for key in CHUNKED_KEYS}
        self._shape: tuple[int, int] | None = None

    def __enter__(self) -> "EpisodeWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None or self._zip is not None:
            self.abort()

    def _put(self, name: str, array: np.ndarray, level: int | None = None) -> None:
        assert self._zip is not None, "writer already closed"
        self._zip.writestr(name, _array_bytes(array), compress_type=zipfile.ZIP_DEFLATED,
                           compresslevel=self.compresslevel if level is None else level)

    def append(self, frames: np.ndarray | None = None, **ground_truth: np.ndarray) -> None:
        """Append frames (n,H,W,3) uint8 and/or ground truth (depth (n,H,W), block_ids (n,H,W)) to the episode."""
        items = dict(ground_truth)
        if frames is not None:
            items["frames"] = frames
        for key, value in items.items():
            if key not in CHUNKED_KEYS:
                raise ValueError(f"unknown per-frame key '{key}'; expected some of {list(CHUNKED_KEYS)}")
            array = np.asarray(value)
            want = 4 if key == "frames" else 3
            if array.ndim != want or (key == "frames" and array.shape[-1] != 3):
                raise ValueError(f"'{key}' must have shape (n,H,W{',3' if key == 'frames' else ''}), got {array.shape}")
            if self._shape is None:
                self._shape = (int(array.shape[1]), int(array.shape[2]))
            elif tuple(array.shape[1:3]) != self._shape:
                raise ValueError(f"'{key}' has frame size {array.shape[1:3]}, episode has {self._shape}")
            self._pending[key].append(array.astype(CHUNKED_KEYS[key], copy=False))
            self._counts[key] += len(array)
            self._flush(key, final=False)

    def _flush(self, key: str, final: bool) -> None:
        pending = self._pending[key]
        total = sum(len(a) for a in pending)
        if total < self.chunk_size and not (final and total):
            return
        data = np.concatenate(pending) if len(pending) > 1 else pending[0]
        start = 0
        while len(data) - start >= self.chunk_size or (final and start < len(data)):
            piece = data[start:start + self.chunk_size]
            self._put(f"{key}.{self._chunks[key]:05d}.npy", piece, CHUNK_LEVEL[key])
            self._chunks[key] += 1
            start += len(piece)
        self._pending[key] = [data[start:]] if start < len(data) else []

    def close(self, actions: Mapping[str, np.ndarray] | None = None, rewards: np.ndarray | None = None,
              terminated: np.ndarray | None = None, truncated: np.ndarray | None = None,
              raw_actions: Mapping[str, np.ndarray] | Sequence[Mapping[str, Any]] | None = None,
              pose: np.ndarray | None = None, observations: Mapping[str, np.ndarray] | None = None) -> Path:
        """Write per-step arrays and metadata, then atomically rename the file into place. Returns the path."""
        length = self._counts["frames"]
        if length < 1:
            raise ValueError(f"{self.path.name}: an episode needs at least one frame")
        steps = length - 1
        for key in ("depth", "block_ids"):
            if self._counts[key] not in (0, length):
                raise ValueError(f"{self.path.name}: '{key}' has {self._counts[key]} frames, episode has {length}")
        for key in CHUNKED_KEYS:
            self._flush(key, final=True)
        if actions is not None:
            missing = [key for key in ACTION_KEYS if key not in actions]
            if missing:
                raise ValueError(f"{self.path.name}: actions are missing key(s) {missing}")
            for key in BINARY_KEYS:
                self._put_steps(f"actions.{key}", np.asarray(actions[key]).astype(np.uint8), steps)
            camera = np.asarray(actions["camera"], dtype=np.float32).reshape(-1, 2)
            bad = np.flatnonzero(~np.isfinite(camera).all(axis=1))
            if len(bad):  # a NaN camera would break every later consumer (e.g. camera binning in training)
                raise ValueError(f"{self.path.name}: actions key 'camera' is not finite at step {int(bad[0])} "
                                 f"({camera[int(bad[0])].tolist()})")
            self._put_steps("actions.camera", camera, steps)
        zeros = np.zeros(steps, dtype=bool)
        self._put_steps("rewards", np.zeros(steps, np.float32) if rewards is None else np.asarray(rewards, np.float32),
                        steps)
        self._put_steps("terminated", zeros if terminated is None else np.asarray(terminated, bool), steps)
        self._put_steps("truncated", zeros if truncated is None else np.asarray(truncated, bool), steps)
        has = [key for key in ("depth", "block_ids") if self._counts[key]]
        if pose is not None:
            self._put_steps("pose", np.asarray(pose, np.float32), length)
            has.append("pose")
        raw_format = None
        if isinstance(raw_actions, Mapping):
            for key, value in raw_actions.items():
                self._put(f"raw_actions.{key}.npy", np.asarray(value))
            raw_format = "arrays"
        elif raw_actions is not None:
            lines = "\n".join(json.dumps(_to_jsonable(step), separators=(",", ":")) for step in raw_actions)
            assert self._zip is not None
            self._zip.writestr("raw_actions.jsonl", lines, compresslevel=self.compresslevel)
            raw_format = "jsonl"
        for key, value in (observations or {}).items():
            self._put(f"observations.{key}.npy", np.asarray(value))
        height, width = self._shape or (0, 0)
        meta = {"format": FORMAT, "name": self.path.stem, "length": length, "width": width, "height": height,
                "chunk_size": self.chunk_size, "action_known": actions is not None, "raw_actions": raw_format,
                "ground_truth": has, "observations": sorted(observations or {}), "created": time.time()}
        meta = {**_to_jsonable(self.meta), **meta}
        assert self._zip is not None
        self._zip.writestr("meta.json", json.dumps(meta, indent=1))
        self._zip.close()
        self._zip = None
        os.replace(self.tmp_path, self.path)
        return self.path

    def _put_steps(self, name: str, array: np.ndarray, expected: int) -> None:
        if len(array) != expected:
            raise ValueError(f"{self.path.name}: '{name}' has length {len(array)}, expected {expected}")
        self._put(f"{name}.npy", array)

    def abort(self) -> None:
        """Drop the temporary file (called automatically on errors)."""
        if self._zip is not None:
            self._zip.close()
            self._zip = None
        self.tmp_path.unlink(missing_ok=True)


def write_episode(path: str | os.PathLike, frames: np.ndarray, meta: Mapping[str, Any] | None = None,
                  chunk_size: int = DEFAULT_CHUNK, depth: np.ndarray | None = None,
                  block_ids: np.ndarray | None = None, **steps: Any) -> Path:
    """Write a whole episode at once (frames (T,H,W,3) uint8; keyword arrays as in `EpisodeWriter.close`)."""
    with EpisodeWriter(path, meta, chunk_size) as writer:
        ground_truth = {k: v for k, v in (("depth", depth), ("block_ids", block_ids)) if v is not None}
        writer.append(frames, **ground_truth)
        return writer.close(**steps)


class EpisodeReader:
    """Lazy random access to one episode file: metadata up front, chunks decompressed on demand."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        try:
            self._zip = zipfile.ZipFile(self.path, "r")
            self.names = set(self._zip.namelist())
            self.meta: dict[str, Any] = json.loads(self._zip.read("meta.json"))
        except (OSError, zipfile.BadZipFile, KeyError, json.JSONDecodeError) as error:
            raise ValueError(f"{self.path}: not a readable episode file ({error})") from error
        if self.meta.get("format") != FORMAT:
            raise ValueError(f"{self.path}: meta.json format is {self.meta.get('format')!r}, expected {FORMAT!r}")
        self.length: int = int(self.meta["length"])
        self.chunk_size: int = int(self.meta["chunk_size"])
        self._cache: tuple[str, int, np.ndarray] | None = None
        self._arrays: dict[str, np.ndarray] = {}

    def close(self) -> None:
        """Close the underlying file."""
        self._zip.close()

    def array(self, name: str, cache: bool = False) -> np.ndarray:
        """Read one whole member array, e.g. 'rewards' or 'actions.camera' (kept in memory if `cache`)."""
        if name in self._arrays:
            return self._arrays[name]
        member = f"{name}.npy"
        if member not in self.names:
            raise ValueError(f"{self.path}: missing key '{name}'")
        with self._zip.open(member) as handle:
            array = np.lib.format.read_array(handle, allow_pickle=False)
        if cache:
            self._arrays[name] = array
        return array

    def _chunk(self, key: str, index: int) -> np.ndarray:
        if self._cache is not None and self._cache[0] == key and self._cache[1] == index:
            return self._cache[2]
        data = self.array(f"{key}.{index:05d}")
        self._cache = (key, index, data)
        return data

    def read(self, key: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames (or 'depth' / 'block_ids') [start, stop) decoded from the chunks they overlap."""
        stop = self.length if stop is None else stop
        if not 0 <= start <= stop <= self.length:
            raise ValueError(f"{self.path}: range [{start}, {stop}) outside 0..{self.length}")
        first, last = start // self.chunk_size, max(start, stop - 1) // self.chunk_size
        parts = [self._chunk(key, i) for i in range(first, last + 1)]
        data = parts[0] if len(parts) == 1 else np.concatenate(parts)
        offset = first * self.chunk_size
        return data[start - offset:stop - offset]

    def actions(self) -> dict[str, np.ndarray] | None:
        """Canonical action arrays (T-1,...) or None for action-free footage."""
        if not self.meta.get("action_known"):
            return None
        return {key: self.array(f"actions.{key}") for key in ACTION_KEYS}

    def raw_actions(self) -> dict[str, np.ndarray] | list[dict[str, Any]] | None:
        """Source actions as recorded: a dict of arrays, a list of JSON objects, or None."""
        if self.meta.get("raw_actions") == "jsonl":
            text = self._zip.read("raw_actions.jsonl").decode()
            return [json.loads(line) for line in text.splitlines() if line]
        if self.meta.get("raw_actions") == "arrays":
            prefix = "raw_actions."
            keys = sorted(n[len(prefix):-4] for n in self.names if n.startswith(prefix) and n.endswith(".npy"))
            return {key: self.array(prefix + key) for key in keys}
        return None


def load_episode(path: str | os.PathLike) -> dict[str, Any]:
    """Load a whole episode into memory: frames, actions (or None), raw_actions, rewards, terminated, truncated,
    optional depth / block_ids / pose / observations, and meta (see the episode-store section of INTERFACES.md)."""
    reader = EpisodeReader(path)
    try:
        episode: dict[str, Any] = {"frames": reader.read("frames"), "actions": reader.actions(),
                                   "raw_actions": reader.raw_actions(), "meta": reader.meta}
        for key in ("rewards", "terminated", "truncated"):
            episode[key] = reader.array(key)
        for key in reader.meta.get("ground_truth", []):
            episode[key] = reader.array("pose") if key == "pose" else reader.read(key)
        if reader.meta.get("observations"):
            episode["observations"] = {k: reader.array(f"observations.{k}") for k in reader.meta["observations"]}
        return episode
    finally:
        reader.close()
