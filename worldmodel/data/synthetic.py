"""Tiny synthetic recordings in each source format (MineRL v0.4, VPT, plain video, Crafter) for tests and benchmarks.

Frame j of every synthetic episode is a flat grey of brightness `code(j)` (8 levels, 30 apart, cycling), so
alignment survives lossy video coding and can be checked with `decode_index` (which returns j mod 8).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from worldmodel.data.video import write_video

LEAD_VALUE = 250  # brightness of the extra leading frames of a MineRL recording (not a code value)


CODES = 8


def code(index: int) -> int:
    """Brightness that marks frame `index`: 20 + 30 * (index mod 8)."""
    return 20 + 30 * (index % CODES)


def coded_frames(count: int, size: tuple[int, int] = (64, 64), start: int = 0) -> np.ndarray:
    """(count, H, W, 3) uint8 flat frames with brightness code(start + j); size = (width, height)."""
    values = np.array([code(start + j) for j in range(count)], np.uint8)
    return np.broadcast_to(values[:, None, None, None], (count, size[1], size[0], 3)).copy()


def decode_index(frame: np.ndarray) -> int:
    """Frame index mod 8 from the frame's mean brightness (-1 for a MineRL lead frame)."""
    mean = float(np.mean(frame))
    if abs(mean - LEAD_VALUE) < 10:
        return -1
    return min(range(CODES), key=lambda i: abs(code(i) - mean))


def make_minerl_trajectory(folder: Path, steps: int, lead: int = 2, size: int = 64, seed: int = 0,
                           spelling: str = "dots", drop_keys: Sequence[str] = (), fps: float = 20.0,
                           true_count: int | None = None) -> Path:
    """A MineRL v0.4 trajectory folder: recording.mp4 (lead + steps + 1 frames), rendered.npz, metadata.json.

    spelling: 'dots' (observation$equipped_items.mainhand.type, observation$compassAngle) or 'dollars'
    (observation$equipped_items$mainhand$type, observation$compass$angle).
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lead_frames = np.full((lead, size, size, 3), LEAD_VALUE, np.uint8)
    write_video(folder / "recording.mp4", np.concatenate([lead_frames, coded_frames(steps + 1, (size, size))]), fps)
    arrays: dict[str, Any] = {"reward": rng.integers(0, 2, steps).astype(np.float64)}
    for key in ("forward", "back", "left", "right", "jump", "sneak", "sprint", "attack"):
        arrays[f"action${key}"] = rng.integers(0, 2, steps).astype(np.int64)
    arrays["action$camera"] = rng.normal(0, 3, (steps, 2)).astype(np.float32)
    arrays["action$place"] = rng.choice(np.array(["none", "none", "dirt", "stone"]), steps)
    arrays["action$equip"] = rng.choice(np.array(["none", "wooden_pickaxe"]), steps)
    if spelling == "dots":
        arrays["observation$equipped_items.mainhand.type"] = rng.choice(np.array(["air", "wooden_pickaxe"]), steps)
        arrays["observation$compassAngle"] = rng.uniform(-180, 180, steps).astype(np.float32)
    else:
        arrays["observation$equipped_items$mainhand$type"] = rng.choice(np.array(["air", "wooden_pickaxe"]), steps)
        arrays["observation$compass$angle"] = rng.uniform(-180, 180, steps).astype(np.float32)
    arrays["observation$inventory$dirt"] = rng.integers(0, 5, steps)
    for key in drop_keys:
        arrays.pop(key)
    np.savez_compressed(folder / "rendered.npz", **arrays)
    meta = {"true_video_frame_count": lead + steps + 1 if true_count is None else true_count,
            "duration_steps": steps, "success": False}
    (folder / "metadata.json").write_text(json.dumps(meta))
    return folder


def vpt_tick(rng: np.random.Generator, hotbar: int, gui: bool = False) -> dict[str, Any]:
    """One random VPT contractor tick."""
    keys = [k for k in ("key.keyboard.w", "key.keyboard.a", "key.keyboard.space", "key.keyboard.left.shift",
                        "key.keyboard.e", "key.keyboard.left.control") if rng.random() < 0.3]
    buttons = [b for b in (0, 1, 2) if rng.random() < 0.2]
    return {"keyboard": {"keys": keys, "newKeys": keys[:1], "chars": ""},
            "mouse": {"x": 640.0, "y": 360.0, "dx": float(rng.normal(0, 12)), "dy": float(rng.normal(0, 6)),
                      "scaledX": 0.0, "scaledY": 0.0, "dwheel": 0.0, "buttons": buttons, "newButtons": []},
            "hotbar": hotbar, "tick": 0, "isGuiOpen": gui, "yaw": 0.0, "pitch": 0.0}


def make_vpt_recording(stem: Path, ticks: int, extra_frame: bool = False, size: tuple[int, int] = (128, 72),
                       seed: int = 0, null_every: int = 0) -> tuple[Path, Path]:
    """X.mp4 + X.jsonl with `ticks` ticks (and ticks or ticks+1 frames); every `null_every`-th tick is null."""
    rng = np.random.default_rng(seed)
    stem.parent.mkdir(parents=True, exist_ok=True)
    lines, hotbar = [], 0
    for t in range(ticks):
        if rng.random() < 0.1:
            hotbar = int(rng.integers(0, 9))
        tick = vpt_tick(rng, hotbar, gui=bool(rng.random() < 0.05))
        if null_every and t % null_every == null_every - 1:
            tick["keyboard"]["keys"], tick["mouse"]["buttons"] = [], []
            tick["mouse"]["dx"] = tick["mouse"]["dy"] = 0.0
        tick["tick"] = t
        lines.append(json.dumps(tick))
    jsonl = stem.with_suffix(".jsonl")
    jsonl.write_text("\n".join(lines) + "\n")
    video = write_video(stem.with_suffix(".mp4"), coded_frames(ticks + int(extra_frame), size), 20.0)
    return video, jsonl


def make_crafter_npz(path: Path, steps: int, size: int = 64, seed: int = 0, dead: bool = False) -> Path:
    """A Crafter Recorder-style episode npz: image (steps+1,H,W,3), action, reward, done, discount, achievements."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = np.zeros(steps + 1, bool)
    done[-1] = True
    discount = np.ones(steps + 1, np.float32)
    discount[-1] = 0.0 if dead else 1.0
    np.savez_compressed(path, image=coded_frames(steps + 1, (size, size)),
                        action=np.concatenate([[0], rng.integers(0, 17, steps)]).astype(np.int64),
                        reward=rng.random(steps + 1).astype(np.float32), done=done, discount=discount,
                        achievement_collect_wood=rng.integers(0, 2, steps + 1),
                        ainventory_wood=rng.integers(0, 3, steps + 1))
    return path


def find_episode(store: Path, readable: str) -> Path:
    """The one episode file of `store` whose name is `readable` plus the source-path hash ('<readable>-<8 hex>')."""
    matches = [p for p in sorted((Path(store) / "episodes").glob(f"{readable}-*.npz"))
               if len(p.stem) == len(readable) + 9]
    if len(matches) != 1:
        raise ValueError(f"{store}: expected one episode named {readable}-<hash>, found {[p.name for p in matches]}")
    return matches[0]


def readable(name: str) -> str:
    """An episode name without its '-<8 hex>' source-path hash."""
    return name.rsplit("-", 1)[0]


def turning_script(ticks: int, seed: int = 0, hold: int = 3) -> np.ndarray:
    """(ticks, 2) float32 [pitch, yaw] degrees a tick: random turns (yaw -8..8, pitch -3..3) held `hold` ticks,
    pitch kept within +-30 degrees."""
    rng = np.random.default_rng(seed)
    camera, pitch = np.zeros((ticks, 2), np.float32), 0.0
    for t in range(ticks):
        if t % hold == 0:
            yaw_step, pitch_step = float(rng.choice([-8, -4, 0, 4, 8])), float(rng.choice([-3, 0, 3]))
        step = pitch_step if abs(pitch + pitch_step) <= 30 else -pitch_step
        pitch += step
        camera[t] = (step, yaw_step)
    return camera


def make_blockworld_vpt(stem: Path, ticks: int, lag: int = 0, size: tuple[int, int] = (96, 64), seed: int = 0,
                        mouse_scale: float = 360.0 / 2400.0) -> tuple[Path, Path, np.ndarray]:
    """A VPT-style recording of BlockWorld turning on the spot: X.mp4 (ticks + 1 rendered frames) and X.jsonl
    whose mouse log runs `lag` ticks late (tick t logs the turn made at tick t - lag; the first ticks log none).

    Returns (video, jsonl, true camera (ticks, 2) [pitch, yaw] degrees: the turn between frames t and t+1).
    """
    import gymnasium

    import envs  # noqa: F401  (registers BlockWorld-v0)
    from envs.actions import noop_action

    camera = turning_script(ticks, seed)
    env = gymnasium.make("BlockWorld-v0", width=size[0], height=size[1])
    frame, _ = env.reset(seed=seed)
    frames = [np.array(frame)]  # copies: the env may reuse its frame buffer
    for t in range(ticks):
        action = noop_action()
        action["camera"] = camera[t]
        frame, *_ = env.step(action)
        frames.append(np.array(frame))
    env.close()
    logged = np.zeros_like(camera)
    if lag >= 0:
        logged[lag:] = camera[:ticks - lag]
    else:
        logged[:lag] = camera[-lag:]
    lines = []
    for t in range(ticks):
        tick = {"keyboard": {"keys": []}, "hotbar": 0, "tick": t, "isGuiOpen": False,
                "mouse": {"dx": float(logged[t, 1] / mouse_scale), "dy": float(logged[t, 0] / mouse_scale),
                          "buttons": []}}
        lines.append(json.dumps(tick))
    stem.parent.mkdir(parents=True, exist_ok=True)
    jsonl = stem.with_suffix(".jsonl")
    jsonl.write_text("\n".join(lines) + "\n")
    return write_video(stem.with_suffix(".mp4"), np.stack(frames), 20.0), jsonl, camera
