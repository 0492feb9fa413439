"""Crafter Recorder episodes (npz with image (T+1,H,W,3), action, reward, done, achievement_* ...) -> episodes.

Entry 0 is the reset observation (its action/reward are fillers), so actions are action[1:]. Crafter's discrete
action ids are kept as raw actions and also written as their canonical dicts (envs.crafter_actions), so the
episodes train an action-conditioned model, as `wm collect --env Crafter-v0` recordings do.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from envs.actions import stack_actions
from envs.crafter_actions import to_canonical
from worldmodel.data.importers.common import provenance, unique_names
from worldmodel.data.store import EpisodeWriter
from worldmodel.data.video import crop_resize

FPS = 10.0  # nominal: Crafter has no real-time clock
REQUIRED = ("image", "action", "reward", "done")


def find_episodes(src: Path) -> tuple[list[tuple[str, Path]], list[tuple[str, str]]]:
    """(name, npz path) of every .npz under src (src may be a single file)."""
    files = [src] if src.is_file() else sorted(src.rglob("*.npz"))
    return unique_names(files, src.parent if src.is_file() else src), []


def convert(path: Path, target: Path, settings: dict[str, Any] | None = None, size: tuple[int, int] | None = None,
            fps: float | None = None, license_note: str | None = None, crop: str = "center") -> int:
    """Import one Crafter Recorder npz into episode file `target`; returns the number of frames written."""
    if fps is not None and abs(fps - FPS) > 1e-6:
        raise ValueError(f"{path}: Crafter episodes have no time base to resample; leave --fps unset")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in REQUIRED if key not in npz.files]
            if missing:
                raise ValueError(f"{path}: missing key '{missing[0]}'")
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"{path}: not a readable npz ({error})") from error
    images = arrays["image"]
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"{path}: key 'image' must be (T,H,W,3) uint8, got {images.shape} {images.dtype}")
    count = len(images)
    for key in REQUIRED[1:]:
        if len(arrays[key]) != count:
            raise ValueError(f"{path}: key '{key}' has {len(arrays[key])} entries, 'image' has {count}")
    frames = np.stack([crop_resize(frame, size, crop) for frame in images]) if size else images
    ids = arrays["action"][1:].astype(np.int64)
    try:
        canonical = stack_actions([to_canonical(int(i)) for i in ids]) if len(ids) else None
    except ValueError as error:
        raise ValueError(f"{path}: key 'action': {error}") from error
    done = arrays["done"][1:].astype(bool)
    terminated = arrays["discount"][1:] == 0 if "discount" in arrays else done
    observations = {k: arrays[k][1:] for k in arrays
                    if k.startswith(("achievement_", "ainventory_")) or k in ("player_pos", "discount")}
    meta = {**provenance("crafter", path, license_note, settings), "fps": FPS, "env_id": "Crafter-v0", "crop": crop,
            "action_space": "Discrete(17) crafter action ids (raw_actions.action)"}
    with EpisodeWriter(target, meta) as writer:
        writer.append(frames)
        writer.close(rewards=arrays["reward"][1:].astype(np.float32), terminated=terminated,
                     truncated=done & ~terminated, actions=canonical, raw_actions={"action": ids},
                     observations=observations)
    return count
