"""MineRL v0.4 trajectory folders (recording.mp4, rendered.npz, metadata.json) -> episodes.

rendered.npz holds $-joined keys: `action$forward` ... `action$attack` (0/1), `action$camera` (N,2) [delta pitch,
delta yaw] degrees, string enums `action$place`/`equip`/`craft`/`nearbyCraft`/`nearbySmelt`, `reward` (N,) and
`observation$...` keys. `place != 'none'` becomes `use`; `equip` names items, not hotbar slots, so hotbar.N stay 0
and the raw `equip` is kept. Frame alignment: the video may hold extra leading frames, so the episode is frames
[skip, skip+N+1) with skip = true_video_frame_count - (N+1); --offset K / --align auto then pair frame t with step
t + K (see worldmodel/data/align.py). Bad values (a NaN camera, a 0-d or string array, a null frame count) are
errors naming the file, the key and, for per-step values, the step.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from envs.actions import BINARY_KEYS
from worldmodel.data.align import choose_lag, lag_slices
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


def numeric(arrays: dict[str, np.ndarray], key: str, path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """arrays[key] as finite float64 of `shape`; a string/object array, wrong shape or NaN/inf -> ValueError
    naming file, key and (for a bad value) the step."""
    array = np.asarray(arrays[key])
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{path}: key '{key}' must be numeric, got dtype {array.dtype}")
    if array.shape != shape:
        raise ValueError(f"{path}: key '{key}' has shape {array.shape}, expected {shape}")
    values = array.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1)) if values.ndim else []
    if len(bad):
        raise ValueError(f"{path}: key '{key}' holds a non-finite value at step {int(bad[0])} "
                         f"({values[int(bad[0])].tolist()}); {len(bad)} step(s) in all")
    return values


def step_count(arrays: dict[str, np.ndarray], path: Path) -> int:
    """Number of steps: the length of the 1-d 'reward' array (ValueError naming file and key otherwise)."""
    reward = np.asarray(arrays["reward"])
    if reward.ndim != 1:
        raise ValueError(f"{path}: key 'reward' must be a 1-d array of per-step rewards, got shape {reward.shape}")
    return len(reward)


def canonical_actions(arrays: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    """MineRL action arrays -> canonical dict: buttons (N,) uint8, camera (N,2) float32 [pitch, yaw] degrees."""
    steps = step_count(arrays, path)
    actions: dict[str, np.ndarray] = {}
    for key in BINARY_KEYS:
        source = f"action${key}"
        if source in arrays:
            actions[key] = (numeric(arrays, source, path, (steps,)) > 0).astype(np.uint8)
        else:
            actions[key] = np.zeros(steps, np.uint8)
    if "action$use" not in arrays and "action$place" in arrays:
        place = np.asarray(arrays["action$place"])
        if place.shape != (steps,):
            raise ValueError(f"{path}: key 'action$place' has shape {place.shape}, expected ({steps},)")
        used = place != "none" if place.dtype.kind in "US" else numeric(arrays, "action$place", path, (steps,)) != 0
        actions["use"] = used.astype(np.uint8)
    camera = numeric(arrays, "action$camera", path, (steps, 2))
    if np.abs(camera).max(initial=0.0) > 180.0:
        step = int(np.flatnonzero(np.abs(camera).max(axis=1) > 180.0)[0])
        raise ValueError(f"{path}: key 'action$camera' moves {camera[step].tolist()} degrees at step {step} "
                         "(at most 180 a step)")
    actions["camera"] = camera.astype(np.float32)
    return actions


def frame_count(meta: dict[str, Any], path: Path, decoded: int) -> int:
    """metadata.json's true_video_frame_count (the decoded count when absent); not a whole number -> ValueError."""
    value = meta.get("true_video_frame_count", decoded)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 0:
        raise ValueError(f"{path}: key 'true_video_frame_count' must be a whole number of frames, got {value!r}")
    return int(value)


def convert(folder: Path, target: Path, settings: dict[str, Any] | None = None, size: tuple[int, int] | None = None,
            fps: float | None = None, license_note: str | None = None, allow_pickle: bool = False,
            crop: str = "center", offset: int = 0, align: str | None = None) -> int:
    """Import one trajectory folder into episode file `target`; returns the number of frames written."""
    npz_path, video_path = folder / "rendered.npz", folder / "recording.mp4"
    meta = read_metadata(folder / "metadata.json")
    arrays = read_npz(npz_path, allow_pickle)
    for key in REQUIRED:
        if key not in arrays:
            raise ValueError(f"{npz_path}: missing key '{key}'")
    steps = step_count(arrays, npz_path)
    actions = canonical_actions(arrays, npz_path)
    rewards = numeric(arrays, "reward", npz_path, (steps,)).astype(np.float32)
    frames = read_frames(video_path, size, crop)
    true_count = frame_count(meta, folder / "metadata.json", len(frames))
    if len(frames) != true_count:
        raise ValueError(f"{video_path}: decoded {len(frames)} frames but metadata.json says "
                         f"true_video_frame_count = {true_count}")
    skip = true_count - (steps + 1)
    if skip < 0:
        raise ValueError(f"{video_path}: {true_count} frames, fewer than the {steps + 1} that {npz_path.name}'s "
                         f"{steps} steps need")
    frames = frames[skip:skip + steps + 1]  # (N+1, H, W, 3)
    lag, lag_meta = choose_lag(frames, actions["camera"], offset, align)
    frame_part, step_part = lag_slices(len(frames), steps, lag)
    frames = frames[frame_part]
    actions = {key: value[step_part] for key, value in actions.items()}
    raw = {key.split("$", 1)[1]: _steps(v, step_part, steps) for key, v in arrays.items()
           if key.startswith("action$")}
    observations = {obs_name(k): _steps(v, step_part, steps) for k, v in arrays.items()
                    if k.startswith("observation$")}
    steps = len(actions["camera"])
    per_step = {"rewards": rewards[step_part]}
    factor = fps_factor(FPS, fps, folder)
    keep, actions, per_step = downsample(steps, factor, actions, per_step)
    truncated = np.zeros(len(keep) - 1, bool)
    truncated[-1:] = True  # the recording ends; MineRL does not say why
    info = {**provenance("minerl-v0.4", folder, license_note, settings), "fps": FPS / factor,
            "env_id": folder.parent.name, "crop": crop, **lag_meta,
            "action_space": "canonical (from MineRL v0.4 actions; raw MineRL actions kept at 20 Hz)",
            "video_skip": skip, "minerl_metadata": meta}
    with EpisodeWriter(target, info) as writer:
        writer.append(frames[keep])
        writer.close(actions=actions, rewards=per_step["rewards"], truncated=truncated, raw_actions=raw,
                     observations=observations)
    return len(keep)


def _steps(value: np.ndarray, part: slice, steps: int) -> np.ndarray:
    """A per-step array (length `steps`) cut to the aligned steps; other arrays stay whole."""
    array = np.asarray(value)
    return array[part] if array.ndim and len(array) == steps else array
