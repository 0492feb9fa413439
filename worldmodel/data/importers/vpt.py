"""VPT contractor recordings (X.mp4 + X.jsonl, one JSON object per 20 Hz tick) -> episodes.

Tick fields used: keyboard.keys (key.keyboard.w -> forward, ...; a single string counts as one key),
mouse.buttons (0 -> attack, 1 -> use; a single int counts as one button), mouse.dx / mouse.dy (pixels; * the
mouse scale, 360/2400 degrees per pixel unless --mouse-scale says otherwise, kept as floats: camera = [dy, dx]
scaled, positive pitch = down; NaN, infinite or over 180 degrees a tick is an error naming file and line), hotbar
(0-based slot; a change to slot s presses hotbar.{s+1}), isGuiOpen (kept; camera is 0 while a GUI is open because
the mouse moves the cursor, not the view). Frame t is the view when tick t's action is taken, unless --offset K or
--align auto says the log runs K ticks late (see worldmodel/data/align.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from envs.actions import BINARY_KEYS, CAMERA_LIMIT_DEG
from worldmodel.data.align import check_counts, choose_lag, lag_slices
from worldmodel.data.importers.common import downsample, fps_factor, provenance, unique_names
from worldmodel.data.store import EpisodeWriter
from worldmodel.data.video import read_frames

FPS = 20.0
CAMERA_SCALE = 360.0 / 2400.0  # degrees per mouse pixel in the contractor recordings
KEYS = {"key.keyboard.w": "forward", "key.keyboard.s": "back", "key.keyboard.a": "left", "key.keyboard.d": "right",
        "key.keyboard.space": "jump", "key.keyboard.left.shift": "sneak", "key.keyboard.left.control": "sprint",
        **{f"key.keyboard.{i}": f"hotbar.{i}" for i in range(1, 10)}}
MOUSE_BUTTONS = {0: "attack", 1: "use"}


def find_recordings(src: Path) -> tuple[list[tuple[str, Path]], list[tuple[str, str]]]:
    """(name, mp4 path) of every recording under src with its .jsonl, plus unpaired files with reasons."""
    videos = sorted(src.rglob("*.mp4")) if src.is_dir() else [src]
    jsonls = sorted(src.rglob("*.jsonl")) if src.is_dir() else []
    good = [v for v in videos if v.with_suffix(".jsonl").is_file()]
    bad = [(str(v), f"missing {v.with_suffix('.jsonl').name}") for v in videos if v not in good]
    bad += [(str(j), f"missing {j.with_suffix('.mp4').name}") for j in jsonls if not j.with_suffix(".mp4").is_file()]
    return unique_names(good, src if src.is_dir() else src.parent), bad


def read_ticks(path: Path) -> list[dict[str, Any]]:
    """Parse a .jsonl file; a line that is not a JSON object -> ValueError naming file and line."""
    ticks = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                tick = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not JSON ({error.msg})") from error
            if not isinstance(tick, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object, got {type(tick).__name__}")
            tick["_line"] = number
            ticks.append(tick)
    if not ticks:
        raise ValueError(f"{path}: no ticks")
    return ticks


def _as_list(value: Any, single: type, key: str, where: str) -> list[Any]:
    """A JSON list as is, null as [], one `single` value as a one-element list; anything else -> ValueError."""
    if value is None:
        return []
    if isinstance(value, single) and not isinstance(value, bool):
        return [value]
    if not isinstance(value, list):
        raise ValueError(f"{where}: key '{key}' must be a list, got {type(value).__name__} {value!r}")
    return value


def _mouse_delta(mouse: dict[str, Any], key: str, scale: float, where: str) -> float:
    """mouse.dx or mouse.dy in degrees; not a finite number, or over CAMERA_LIMIT_DEG in one tick -> ValueError."""
    value = mouse.get(key, 0.0)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: key 'mouse.{key}' must be a number, got {value!r}")
    try:
        degrees = float(value) * scale
    except OverflowError:  # a JSON integer too large for a float
        degrees = math.inf
    if not math.isfinite(degrees) or abs(degrees) > CAMERA_LIMIT_DEG:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise ValueError(f"{where}: key 'mouse.{key}' = {shown} pixels is not a plausible mouse move "
                         f"({degrees:g} degrees in one tick; at most {CAMERA_LIMIT_DEG:g})")
    return degrees


def tick_action(tick: dict[str, Any], last_hotbar: int, path: Path, mouse_scale: float = CAMERA_SCALE) -> dict[str, Any]:
    """One tick -> canonical action dict (buttons int, camera float32 (2,) degrees)."""
    where = f"{path}:{tick['_line']}"
    keyboard, mouse = tick.get("keyboard") or {}, tick.get("mouse") or {}
    if not isinstance(keyboard, dict) or not isinstance(mouse, dict):
        raise ValueError(f"{where}: keys 'keyboard' and 'mouse' must be JSON objects")
    keys = _as_list(keyboard.get("keys"), str, "keyboard.keys", where)
    buttons = _as_list(mouse.get("buttons"), int, "mouse.buttons", where)
    dx, dy = _mouse_delta(mouse, "dx", mouse_scale, where), _mouse_delta(mouse, "dy", mouse_scale, where)
    action: dict[str, Any] = {key: 0 for key in BINARY_KEYS}
    for key in keys:
        if not isinstance(key, str):
            raise ValueError(f"{where}: key 'keyboard.keys' must hold key names, got {key!r}")
        if key in KEYS:
            action[KEYS[key]] = 1
    for button in buttons:
        if isinstance(button, bool) or not isinstance(button, int):
            raise ValueError(f"{where}: key 'mouse.buttons' must hold button numbers, got {button!r}")
        if button in MOUSE_BUTTONS:
            action[MOUSE_BUTTONS[button]] = 1
    hotbar = tick.get("hotbar", last_hotbar)
    if not isinstance(hotbar, int) or not 0 <= hotbar <= 8:
        raise ValueError(f"{where}: key 'hotbar' must be a slot 0..8, got {hotbar!r}")
    if hotbar != last_hotbar:
        action[f"hotbar.{hotbar + 1}"] = 1
    gui = tick.get("isGuiOpen", False)
    if gui is not None and not isinstance(gui, bool):
        raise ValueError(f"{where}: key 'isGuiOpen' must be true or false, got {gui!r}")
    action["camera"] = np.zeros(2, np.float32) if gui else np.array([dy, dx], np.float32)
    return action


def is_null(action: dict[str, Any]) -> bool:
    """No button, no hotbar change and no camera motion."""
    return not any(action[key] for key in BINARY_KEYS) and not np.any(action["camera"])


def convert(video: Path, target: Path, settings: dict[str, Any] | None = None, size: tuple[int, int] | None = None,
            fps: float | None = None, license_note: str | None = None, drop_null: bool = False,
            mouse_scale: float = CAMERA_SCALE, crop: str = "center", offset: int = 0,
            align: str | None = None) -> int:
    """Import one recording into episode file `target`; returns the number of frames written.

    The video must have as many frames as ticks (the last tick's action then has no following frame and is
    dropped) or one more, give or take the lag. offset / align='auto' pair frame t with tick t + lag (see
    worldmodel/data/align.py); the lag is stored as meta 'lag'. With drop_null, null-action ticks are dropped with
    their frame, as in the VPT loader.
    """
    jsonl = video.with_suffix(".jsonl")
    ticks = read_ticks(jsonl)
    actions, hotbar = [], 0
    for tick in ticks:
        actions.append(tick_action(tick, hotbar, jsonl, mouse_scale))
        hotbar = tick.get("hotbar", hotbar)
    frames = read_frames(video, size, crop)
    camera = np.array([a["camera"] for a in actions], np.float32).reshape(len(actions), 2)
    lag, lag_meta = choose_lag(frames, camera, offset, align)
    check_counts(len(frames), len(ticks), lag, str(video), jsonl.name)
    frame_part, step_part = lag_slices(len(frames), len(ticks), lag)
    frames, ticks, actions = frames[frame_part], ticks[step_part], actions[step_part]
    keep = [t for t in range(len(ticks)) if not (drop_null and is_null(actions[t]))]
    frame_index = keep + [len(ticks)]  # the frame after the last aligned tick closes the episode
    if not keep:
        raise ValueError(f"{jsonl}: every tick is a null action; nothing left to import")
    steps = len(frame_index) - 1
    chosen = [actions[t] for t in keep[:steps]]
    stacked = {key: np.array([a[key] for a in chosen], np.uint8) for key in BINARY_KEYS}
    stacked["camera"] = np.array([a["camera"] for a in chosen], np.float32).reshape(steps, 2)
    raw = [{k: v for k, v in ticks[t].items() if k != "_line"} for t in keep[:steps]]
    gui = np.array([bool(ticks[t].get("isGuiOpen", False)) for t in keep[:steps]], bool)
    slot = np.array([int(ticks[t].get("hotbar", 0)) for t in keep[:steps]], np.int8)
    factor = fps_factor(FPS, fps, video)
    sub, stacked, per_step = downsample(steps, factor, stacked, {"gui_open": gui, "hotbar_slot": slot})
    truncated = np.zeros(len(sub) - 1, bool)
    truncated[-1:] = True
    info = {**provenance("vpt", video, license_note, settings), "fps": FPS / factor,
            "action_space": "canonical (from VPT jsonl; raw ticks kept at 20 Hz)", "drop_null": drop_null,
            "dropped_null_ticks": len(ticks) - len(keep), "mouse_scale": mouse_scale, "crop": crop, **lag_meta}
    with EpisodeWriter(target, info) as writer:
        writer.append(frames[np.asarray(frame_index)[sub]])
        writer.close(actions=stacked, truncated=truncated, raw_actions=raw, observations=per_step)
    return len(sub)
