"""Token cache: every frame of an episode store encoded once by a frozen tokenizer, read back by the clips.

A dynamics run trains on the tokens of a tokenizer that never changes, yet encoded every clip's frames at every
step: about a fifth of a bundled dynamics step on the CPU (docs/training-speed.md). `build_token_cache` encodes
each episode once (fp32, as the served model encodes) into `DIR/<episode>-<file size>.npy` (int16 (T, N), written
to a temp name and renamed); `ClipDataset(..., tokens=DIR)` then adds a `tokens` entry (L, N) to every clip, which
`DynamicsObjective` uses instead of encoding the frames. The directory is named after a hash of the tokenizer's
weights and frame size, so a changed tokenizer never reads stale tokens.

Several processes (DDP ranks) may build the same cache at once: each takes the episodes still missing, in its own
order, and waits for the rest to appear.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from worldmodel.data.store import EpisodeReader

ENCODE_BATCH = 64  # frames per encode call
WAIT_SECONDS = 3600.0  # how long a process waits for another to finish an episode before giving up


def tokenizer_key(tokenizer: torch.nn.Module) -> str:
    """A short hash of a tokenizer's weights and frame size: the cache directory's name."""
    digest = hashlib.sha256()
    for name, tensor in sorted(tokenizer.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    cfg = getattr(tokenizer, "cfg", None)
    digest.update(f"{getattr(cfg, 'height', '')}x{getattr(cfg, 'width', '')}".encode())
    return digest.hexdigest()[:16]


def cache_path(directory: Path, episode: Path) -> Path:
    """Where the tokens of one episode file go: named after the file and its size, so an episode recorded again
    under the same name (a store deleted and collected anew) is encoded again rather than read stale."""
    return directory / f"{episode.stem}-{episode.stat().st_size}.npy"


@torch.no_grad()
def encode_episode(tokenizer: torch.nn.Module, episode: Path) -> np.ndarray:
    """int16 tokens (T, N) of every frame of one episode file (fp32, no autocast: the tokens the model serves)."""
    reader = EpisodeReader(episode)
    try:
        length = reader.length
        out = []
        for start in range(0, length, ENCODE_BATCH):
            stop = min(length, start + ENCODE_BATCH)
            frames = torch.from_numpy(np.ascontiguousarray(reader.read("frames", start, stop)))  # (b, H, W, 3)
            with torch.autocast("cpu", enabled=False):
                grids = tokenizer.encode(frames)  # (b, h, w)
            out.append(grids.reshape(grids.shape[0], -1).cpu().numpy().astype(np.int16))  # (b, N)
    finally:
        reader.close()
    return np.concatenate(out)


def _write(path: Path, tokens: np.ndarray) -> None:
    """Atomic write: a temp name in the same directory, then rename."""
    temp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")
    np.save(temp, tokens)
    os.replace(temp, path)


def build_token_cache(tokenizer: torch.nn.Module, episodes: list[Path], root: Path, rank: int = 0,
                      progress: bool = True) -> Path:
    """Encode every episode not yet cached under root/<tokenizer key>/ and return that directory. Ranks > 0 walk
    the episodes in another order, so parallel processes share the work; each returns once all are there."""
    vocab = int(getattr(tokenizer, "vocab_size", 0))
    if vocab > np.iinfo(np.int16).max + 1:
        raise ValueError(f"token cache: a vocabulary of {vocab} tokens does not fit int16")
    directory = root / tokenizer_key(tokenizer)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = tokenizer.eval()
    order = episodes if rank % 2 == 0 else list(reversed(episodes))
    todo = [e for e in order if not cache_path(directory, e).exists()]
    for episode in tqdm(todo, desc=f"token cache ({directory.name})", unit="episode", disable=not progress or not todo):
        target = cache_path(directory, episode)
        if target.exists():  # another process got there first
            continue
        _write(target, encode_episode(tokenizer, episode))
    deadline = time.monotonic() + WAIT_SECONDS
    while not all(cache_path(directory, e).exists() for e in episodes):
        if time.monotonic() > deadline:
            missing = [e.name for e in episodes if not cache_path(directory, e).exists()]
            raise TimeoutError(f"token cache {directory}: still missing {missing[:3]} after {WAIT_SECONDS:.0f} s")
        time.sleep(0.5)
    return directory
