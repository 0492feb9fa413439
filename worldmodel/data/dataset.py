"""Datasets over an episode store: the episode list and a fixed-length clip sampler usable as a torch Dataset."""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from envs.actions import ACTION_KEYS, BINARY_KEYS
from worldmodel.data.index import episodes_dir, read_index
from worldmodel.data.split import filter_split
from worldmodel.data.store import EpisodeReader, load_episode
from worldmodel.data.token_cache import cache_path

MAX_OPEN_FILES = 64


class EpisodeDataset:
    """The episodes of a store: `.episodes` (metadata dicts incl. 'length' and 'file'), `.load(i)`, `.clips(L)`;
    with split='train' or 'held_out' only that part of the store's split.json (see `wm data split`)."""

    def __init__(self, root: str | os.PathLike, split: str | None = None) -> None:
        self.root = Path(root)
        self.split = split
        self.episodes: list[dict[str, Any]] = read_index(self.root)
        if split is not None:
            self.episodes = filter_split(self.root, self.episodes, split)

    def __len__(self) -> int:
        return len(self.episodes)

    def path(self, index: int) -> Path:
        """File of episode `index`."""
        return episodes_dir(self.root) / self.episodes[index]["file"]

    def load(self, index: int) -> dict[str, Any]:
        """The whole episode `index` (see `load_episode`)."""
        return load_episode(self.path(index))

    @property
    def num_frames(self) -> int:
        """Total frames over all episodes."""
        return sum(int(e["length"]) for e in self.episodes)

    def clips(self, clip_len: int, seed: int = 0, stride: int = 1, ground_truth: bool = False,
              event_repeat: int = 0, pad_end: int = 0) -> "ClipDataset":
        """A torch Dataset of fixed-length clips (every `stride`-th start of every long-enough episode);
        event_repeat > 0 adds each window holding a reward or an episode end that many extra times; pad_end > 0
        adds windows that run that many transitions past an episode's end (padded, marked invalid)."""
        return ClipDataset(self, clip_len, seed=seed, stride=stride, ground_truth=ground_truth,
                           event_repeat=event_repeat, pad_end=pad_end)


def open_dataset(path: str | os.PathLike, split: str | None = None) -> EpisodeDataset:
    """Open the episode store at `path` (a folder with index.json and episodes/); split='train' or 'held_out'
    keeps that part of the store's split.json (written by `wm data split`), None keeps every episode."""
    return EpisodeDataset(path, split)


class ClipDataset(Dataset):
    """Clips of `clip_len` frames: item i is a seeded pseudo-random window, so a plain DataLoader already mixes.

    Items are dicts of tensors: frames (L,H,W,3) uint8, actions {key: (L-1,...)} (zeros when unknown),
    action_known bool, rewards (L-1,) float32, terminated (L-1,) bool, valid (L-1,) bool; with ground_truth=True
    also depth (L,H,W) float16->float32, block_ids (L,H,W) uint8 and pose (L,5) float32. Files are opened lazily
    in each worker.

    pad_end: windows may run up to that many transitions past an episode's end; the missing frames repeat the
    last one, their actions/rewards/terminations are zero and `valid` is False there (losses skip them). Every
    window keeps at least one real transition, so pad_end <= clip_len - 2.

    event_repeat: windows holding a nonzero reward or a termination are listed that many extra times. Sparse
    tasks need it: an episode's last transition (where mine_gold pays) lies in exactly one window of ~50, so
    without it a reward head sees a positive about once every six batches and learns to predict 0.
    """

    def __init__(self, episodes: EpisodeDataset, clip_len: int, seed: int = 0, stride: int = 1,
                 ground_truth: bool = False, event_repeat: int = 0, pad_end: int = 0) -> None:
        if clip_len < 2:
            raise ValueError(f"clip_len must be >= 2 (a clip holds at least one transition), got {clip_len}")
        if not 0 <= pad_end <= clip_len - 2:
            raise ValueError(f"pad_end must be in [0, clip_len - 2] = [0, {clip_len - 2}], got {pad_end}")
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        if event_repeat < 0:
            raise ValueError(f"event_repeat must be >= 0, got {event_repeat}")
        self.clip_len, self.stride, self.ground_truth, self.pad_end = clip_len, stride, ground_truth, pad_end
        self.files: list[Path] = []
        counts: list[int] = []
        size: tuple[int, int] | None = None
        for i, entry in enumerate(episodes.episodes):
            windows = (int(entry["length"]) - clip_len + pad_end) // stride + 1
            if int(entry["length"]) < 2 or windows <= 0:
                continue
            if ground_truth and not {"depth", "block_ids", "pose"} <= set(entry.get("ground_truth", [])):
                raise ValueError(f"{entry['file']}: has no ground truth (depth, block_ids, pose)")
            shape = (int(entry["height"]), int(entry["width"]))
            if size is not None and shape != size:
                raise ValueError(f"{entry['file']}: frame size {shape} differs from {size} of the other episodes")
            size = shape
            self.files.append(episodes.path(i))
            counts.append(windows)
        if not counts:
            raise ValueError(f"{episodes.root}: no episode has {clip_len} frames")
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.events = self._event_windows(counts) * event_repeat  # (episode, window) pairs listed again
        self.size = int(self.offsets[-1]) + len(self.events)
        # A seeded affine bijection i -> (a*i + b) mod n: a shuffled order in O(1) memory for any dataset size.
        rng = np.random.default_rng(seed)
        self._b = int(rng.integers(self.size))
        self._a = int(rng.integers(1, max(2, self.size)))
        while math.gcd(self._a, self.size) != 1:
            self._a += 1
        self._readers: OrderedDict[Path, EpisodeReader] = OrderedDict()
        self._pid = os.getpid()
        self.tokens: Path | None = None  # a token cache directory (`use_tokens`)

    def use_tokens(self, directory: str | os.PathLike) -> None:
        """Add `tokens` (L, N) int64 to every clip from a token cache (worldmodel/data/token_cache.py) that holds
        every episode of this dataset."""
        directory = Path(directory)
        missing = [f.name for f in self.files if not cache_path(directory, f).exists()]
        if missing:
            raise FileNotFoundError(f"token cache {directory}: no tokens for {missing[:3]} ({len(missing)} episodes)")
        self.tokens = directory

    def __len__(self) -> int:
        return self.size

    def _event_windows(self, counts: list[int]) -> list[tuple[int, int]]:
        """(episode, window) of every window whose transitions hold a nonzero reward or a termination."""
        found = []
        for episode, (path, windows) in enumerate(zip(self.files, counts)):
            reader = EpisodeReader(path)
            try:
                events = (reader.array("rewards") != 0) | reader.array("terminated").astype(bool)  # (T-1,)
            finally:
                reader.close()
            for t in np.flatnonzero(events):  # window w covers transitions w*stride .. w*stride + clip_len - 2
                first = max(0, -(-(int(t) - self.clip_len + 2) // self.stride))
                last = min(windows - 1, int(t) // self.stride)
                found += [(episode, w) for w in range(first, last + 1)]
        return sorted(set(found))

    def window(self, index: int) -> tuple[Path, int]:
        """(episode file, start frame) of item `index`."""
        if not 0 <= index < self.size:
            raise IndexError(f"clip index {index} out of range 0..{self.size - 1}")
        flat = (self._a * index + self._b) % self.size
        base = int(self.offsets[-1])
        if flat >= base:
            episode, window = self.events[flat - base]
            return self.files[episode], window * self.stride
        episode = int(np.searchsorted(self.offsets, flat, side="right")) - 1
        return self.files[episode], int(flat - self.offsets[episode]) * self.stride

    def _reader(self, path: Path) -> EpisodeReader:
        if os.getpid() != self._pid:  # a forked worker must not share file offsets with its parent
            self._readers, self._pid = OrderedDict(), os.getpid()
        reader = self._readers.pop(path, None) or EpisodeReader(path)
        self._readers[path] = reader
        while len(self._readers) > MAX_OPEN_FILES:
            self._readers.popitem(last=False)[1].close()
        return reader

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_readers"] = OrderedDict()
        return state

    def __getitem__(self, index: int) -> dict[str, Any]:
        path, start = self.window(index)
        reader = self._reader(path)
        rewards = reader.array("rewards", cache=True)
        stop = min(start + self.clip_len, len(rewards) + 1)  # past the episode's end when padding
        steps, pad = slice(start, stop - 1), start + self.clip_len - stop
        known = bool(reader.meta.get("action_known"))
        actions: dict[str, torch.Tensor] = {}
        for key in ACTION_KEYS:
            if known:
                actions[key] = _padded(reader.array(f"actions.{key}", cache=True)[steps], pad)
            elif key in BINARY_KEYS:
                actions[key] = torch.zeros(self.clip_len - 1, dtype=torch.uint8)
            else:
                actions[key] = torch.zeros(self.clip_len - 1, 2, dtype=torch.float32)
        item: dict[str, Any] = {
            "frames": _padded(reader.read("frames", start, stop), pad, repeat=True),
            "actions": actions,
            "action_known": torch.tensor(known),
            "rewards": _padded(rewards[steps], pad),
            "terminated": _padded(reader.array("terminated", cache=True)[steps], pad),
            "valid": torch.arange(self.clip_len - 1) < self.clip_len - 1 - pad,
        }
        if self.tokens is not None:
            tokens = np.load(cache_path(self.tokens, path), mmap_mode="r")[start:stop]  # (l, N) int16
            item["tokens"] = _padded(tokens.astype(np.int64), pad, repeat=True)
        if self.ground_truth:
            item["depth"] = _padded(reader.read("depth", start, stop).astype(np.float32), pad, repeat=True)
            item["block_ids"] = _padded(reader.read("block_ids", start, stop), pad, repeat=True)
            item["pose"] = _padded(reader.array("pose", cache=True)[start:stop], pad, repeat=True)
        return item


def _padded(values: np.ndarray, pad: int, repeat: bool = False) -> torch.Tensor:
    """values (T, ...) -> tensor (T + pad, ...): zeros appended, or the last entry repeated (frames)."""
    values = np.ascontiguousarray(values)
    if pad:
        tail = np.repeat(values[-1:], pad, axis=0) if repeat else np.zeros((pad, *values.shape[1:]), values.dtype)
        values = np.concatenate([values, tail])
    return torch.from_numpy(values.copy())
