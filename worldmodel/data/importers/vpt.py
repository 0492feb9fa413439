"""VPT contractor recordings (X.mp4 + X.jsonl, one JSON object per 20 Hz tick) -> episodes.

Tick fields used: keyboard.keys (key.keyboard.w -> forward, ...), mouse.buttons (0 -> attack, 1 -> use),
mouse.dx / mouse.dy (pixels; * 360/2400 -> degrees, kept as floats: camera = [dy, dx] scaled, positive pitch =
down), hotbar (0-based slot; a change to slot s presses hotbar.{s+1}), isGuiOpen (kept; camera is 0 while a GUI is
open because the mouse moves the cursor, not the view). Frame t is the view when tick t's action is taken.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from envs.actions import BINARY_KEYS
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


def tick_action(tick: dict[str, Any], last_hotbar: int, path: Path) -> dict[str, Any]:
    """One tick -> canonical action dict (buttons int, camera float32 (2,) degrees)."""
    where = f"{path}:{tick['_line']}"
    try:
        keys = (tick.get("keyboard") or {}).get("keys") or []
        mouse = tick.get("mouse") or {}
        buttons = mouse.get("buttons") or []
        dx, dy = float(mouse.get("dx", 0.0)), float(mouse.get("dy", 0.0))
    except (AttributeError, TypeError, ValueError) as error:
        raise ValueError(f"{where}: malformed 'keyboard' or 'mouse' ({error})") from error
    action: dict[str, Any] = {key: 0 for key in BINARY_KEYS}
    for key in keys:
        if key in KEYS:
            action[KEYS[key]] = 1
    for button in buttons:
        if button in MOUSE_BUTTONS:
            action[MOUSE_BUTTONS[button]] = 1
    hotbar = tick.get("hotbar", last_hotbar)
    if not isinstance(hotbar, int) or not 0 <= hotbar <= 8:
        raise ValueError(f"{where}: key 'hotbar' must be a slot 0..8, got {hotbar!r}")
    if hotbar != last_hotbar:
        action[f"hotbar.{hotbar + 1}"] = 1
    gui = bool(tick.get("isGuiOpen", False))
    action["camera"] = np.zeros(2, np.float32) if gui else np.array([dy, dx], np.float32) * CAMERA_SCALE
    return action


def is_null(action: dict[str, Any]) -> bool:
    """No button, no hotbar change and no camera motion."""
    return not any(action[key] for key in BINARY_KEYS) and not np.any(action["camera"])


def convert(video: Path, target: Path, size: tuple[int, int] | None = None, fps: float | None = None,
            license_note: str | None = None, drop_null: bool = False) -> int:
    """Import one recording into episode file `target`; returns the number of frames written.

    The video must have as many frames as ticks (the last tick's action then has no following frame and is
    dropped) or one more. With drop_null, null-action ticks are dropped with their frame, as in the VPT loader.
    """
    jsonl = video.with_suffix(".jsonl")
    ticks = read_ticks(jsonl)
    actions, hotbar = [], 0
    for tick in ticks:
        actions.append(tick_action(tick, hotbar, jsonl))
        hotbar = tick.get("hotbar", hotbar)
    frames = read_frames(video, size)
    if len(frames) not in (len(ticks), len(ticks) + 1):
        raise ValueError(f"{video}: {len(frames)} frames but {jsonl.name} has {len(ticks)} ticks "
                         "(expected equal, or one more frame)")
    keep = [t for t in range(len(ticks)) if not (drop_null and is_null(actions[t]))]
    frame_index = keep + ([len(ticks)] if len(frames) == len(ticks) + 1 else [])
    if len(frame_index) < 1:
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
    info = {**provenance("vpt", video, license_note), "fps": FPS / factor,
            "action_space": "canonical (from VPT jsonl; raw ticks kept at 20 Hz)", "drop_null": drop_null,
            "dropped_null_ticks": len(ticks) - len(keep)}
    with EpisodeWriter(target, info) as writer:
        writer.append(frames[np.asarray(frame_index)[sub]])
        writer.close(actions=stacked, truncated=truncated, raw_actions=raw, observations=per_step)
    return len(sub)
