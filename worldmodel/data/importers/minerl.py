"""MineRL v0.4 trajectory folders (recording.mp4, rendered.npz, metadata.json) -> episodes.

rendered.npz holds $-joined keys: `action$forward` ... `action$attack` (0/1), `action$camera` (N,2) [delta pitch,
delta yaw] degrees, string enums `action$place`/`equip`/`craft`/`nearbyCraft`/`nearbySmelt`, `reward` (N,) and
`observation$...` keys. `place != 'none'` becomes `use`; `equip` names items, not hotbar slots, so hotbar.N stay 0
and the raw `equip` is kept. Frame alignment: the video may hold extra leading frames, so the episode is frames
[skip, skip+N+1) with skip = true_video_frame_count - (N+1).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from envs.actions import BINARY_KEYS
from worldmodel.data.importers.common import downsample, fps_factor, provenance, unique_names
from worldmodel.data.store import EpisodeWriter
from worldmodel.data.video import read_frames

FPS = 20.0
REQUIRED = ("reward", "action$forward", "action$back", "action$left", "action$right", "action$jump",
            "action$sneak", "action$sprint", "action$attack", "action$camera")
# both spellings seen in released data -> one name
OBS_ALIASES = {"equipped_items.mainhand.type": "equipped_items.mainhand.type",
               "compassAngle": "compass.angle", "compass.angle": "compass.angle"}
FILES = ("recording.mp4", "rendered.npz", "metadata.json")


def find_trajectories(src: Path) -> tuple[list[tuple[str, Path]], list[tuple[str, str]]]:
    """Trajectory folders under src (src itself may be one) as (name, folder), plus incomplete ones with reasons."""
    folders = sorted({p.parent for name in ("rendered.npz", "recording.mp4") for p in src.rglob(name)})
    good, bad = [], []
    for folder in folders:
        missing = [f for f in FILES[:2] if not (folder / f).is_file()]
        if missing:
            bad.append((str(folder), f"missing {', '.join(missing)}"))
        else:
            good.append(folder)
    return unique_names(good, src if src.is_dir() else src.parent), bad


def obs_name(key: str) -> str:
    """'observation$equipped_items$mainhand$type' and 'observation$equipped_items.mainhand.type' -> one name."""
    name = key.split("$", 1)[1].replace("$", ".")
    return OBS_ALIASES.get(name, name)


def read_metadata(path: Path) -> dict[str, Any]:
    """metadata.json as a dict ({} when absent); invalid JSON -> ValueError naming file and line."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: invalid JSON ({error.msg})") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def read_npz(path: Path, allow_pickle: bool = False) -> dict[str, np.ndarray]:
    """All arrays of rendered.npz; unreadable file / object arrays -> ValueError naming file and key."""
    try:
        npz = np.load(path, allow_pickle=allow_pickle)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not a readable npz ({error})") from error
    arrays = {}
    with npz:
        for key in npz.files:
            try:
                arrays[key] = npz[key]
            except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
                raise ValueError(f"{path}: key '{key}' unreadable ({error}); object arrays need --allow-pickle "
                                 "(only for trusted files)") from error
    return arrays


def canonical_actions(arrays: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    """MineRL action arrays -> canonical dict: buttons (N,) uint8, camera (N,2) float32 [pitch, yaw] degrees."""
    steps = len(arrays["reward"])
    actions: dict[str, np.ndarray] = {}
    for key in BINARY_KEYS:
        source = f"action${key}"
        if source in arrays:
            actions[key] = (np.asarray(arrays[source]).astype(np.float64) > 0).astype(np.uint8)
        else:
            actions[key] = np.zeros(steps, np.uint8)
    if "action$use" not in arrays and "action$place" in arrays:
        place = np.asarray(arrays["action$place"])
        used = place != "none" if place.dtype.kind in "US" else place.astype(np.int64) != 0
        actions["use"] = used.astype(np.uint8)
    camera = np.asarray(arrays["action$camera"], dtype=np.float32)
    if camera.shape != (steps, 2):
        raise ValueError(f"{path}: key 'action$camera' has shape {camera.shape}, expected ({steps}, 2)")
    actions["camera"] = camera
    for key, value in actions.items():
        if len(value) != steps:
            raise ValueError(f"{path}: key 'action${key}' has {len(value)} steps, 'reward' has {steps}")
    return actions


def convert(folder: Path, target: Path, size: tuple[int, int] | None = None, fps: float | None = None,
            license_note: str | None = None, allow_pickle: bool = False) -> int:
    """Import one trajectory folder into episode file `target`; returns the number of frames written."""
    npz_path, video_path = folder / "rendered.npz", folder / "recording.mp4"
    meta = read_metadata(folder / "metadata.json")
    arrays = read_npz(npz_path, allow_pickle)
    for key in REQUIRED:
        if key not in arrays:
            raise ValueError(f"{npz_path}: missing key '{key}'")
    steps = len(arrays["reward"])
    actions = canonical_actions(arrays, npz_path)
    frames = read_frames(video_path, size)
    true_count = int(meta.get("true_video_frame_count", len(frames)))
    if len(frames) != true_count:
        raise ValueError(f"{video_path}: decoded {len(frames)} frames but metadata.json says "
                         f"true_video_frame_count = {true_count}")
    skip = true_count - (steps + 1)
    if skip < 0:
        raise ValueError(f"{video_path}: {true_count} frames, fewer than the {steps + 1} that {npz_path.name}'s "
                         f"{steps} steps need")
    frames = frames[skip:skip + steps + 1]  # (N+1, H, W, 3)
    raw = {key.split("$", 1)[1]: np.asarray(v) for key, v in arrays.items() if key.startswith("action$")}
    observations = {obs_name(k): np.asarray(v) for k, v in arrays.items() if k.startswith("observation$")}
    per_step = {"rewards": np.asarray(arrays["reward"], np.float32)}
    factor = fps_factor(FPS, fps, folder)
    keep, actions, per_step = downsample(steps, factor, actions, per_step)
    truncated = np.zeros(len(keep) - 1, bool)
    truncated[-1:] = True  # the recording ends; MineRL does not say why
    info = {**provenance("minerl-v0.4", folder, license_note), "fps": FPS / factor, "env_id": folder.parent.name,
            "action_space": "canonical (from MineRL v0.4 actions; raw MineRL actions kept at 20 Hz)",
            "video_skip": skip, "minerl_metadata": meta}
    with EpisodeWriter(target, info) as writer:
        writer.append(frames[keep])
        writer.close(actions=actions, rewards=per_step["rewards"], truncated=truncated, raw_actions=raw,
                     observations=observations)
    return len(keep)

