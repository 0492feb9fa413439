"""`wm data info DIR [--json]` (episodes, frames, hours, resolution, action statistics), `wm data index DIR`,
`wm data check DIR [--json]` (action/frame lag per episode) and `wm data split DIR --held-out F [--seed S]`."""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from envs.actions import BINARY_KEYS
from worldmodel.data.align import estimate_lag, image_shifts
from worldmodel.data.index import episodes_dir, scan_index, update_index_report
from worldmodel.data.split import SPLIT_FILE, make_split
from worldmodel.data.store import EpisodeReader

CHECK_FRAMES = 2000  # `wm data check` looks at the first this many frames of each episode
WEAK_CORRELATION = 0.2  # below this the camera barely explains the image motion


def dataset_info(root: str | Path, actions: bool = True) -> dict[str, Any]:
    """Summary of a store: counts, duration, resolutions, sources, fps, canonical-action statistics, and the
    episode files that cannot be read ('damaged': [{file, reason}], left out of every count)."""
    entries, damaged = scan_index(root)
    frames = sum(int(e["length"]) for e in entries)
    seconds = sum(int(e["length"]) / float(e.get("fps") or 20.0) for e in entries)
    info: dict[str, Any] = {
        "path": str(root), "episodes": len(entries), "frames": frames, "hours": seconds / 3600.0,
        "resolutions": dict(Counter(f"{e['width']}x{e['height']}" for e in entries)),
        "sources": dict(Counter(str(e.get("source")) for e in entries)),
        "env_ids": dict(Counter(str(e.get("env_id")) for e in entries if e.get("env_id"))),
        "fps": dict(Counter(str(e.get("fps")) for e in entries)),
        "episode_length": _stats([int(e["length"]) for e in entries]),
        "action_known_episodes": sum(bool(e.get("action_known")) for e in entries),
        "ground_truth_episodes": sum(bool(e.get("ground_truth")) for e in entries),
    }
    info["damaged"] = [{"file": file, "reason": reason} for file, reason in damaged]
    if actions:
        info["actions"] = _action_stats(root, entries, info["damaged"])
    return info


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    array = np.asarray(values, dtype=np.float64)
    return {"min": float(array.min()), "mean": float(array.mean()), "max": float(array.max())}


def _action_stats(root: str | Path, entries: list[dict[str, Any]], damaged: list[dict[str, str]]) -> dict[str, Any]:
    presses = {key: 0 for key in BINARY_KEYS}
    cameras, rewards, terminated, steps = [], 0.0, 0, 0
    for entry in entries:
        try:
            reader = EpisodeReader(episodes_dir(root) / entry["file"])
        except ValueError as error:  # listed in index.json but damaged since
            damaged.append({"file": entry["file"], "reason": str(error)})
            continue
        try:
            rewards += float(reader.array("rewards").sum())
            terminated += int(reader.array("terminated").sum())
            acts = reader.actions()
            if acts is None:
                continue
            steps += len(acts["camera"])
            for key in BINARY_KEYS:
                presses[key] += int(acts[key].sum())
            cameras.append(acts["camera"])
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
            damaged.append({"file": entry["file"], "reason": f"{reader.path}: {error}"})
        finally:
            reader.close()
    stats: dict[str, Any] = {"labelled_steps": steps, "reward_total": rewards, "terminations": terminated}
    if steps:
        camera = np.concatenate(cameras)  # (steps, 2) [pitch, yaw]
        stats["press_rate"] = {key: presses[key] / steps for key in BINARY_KEYS}
        stats["camera_deg"] = {name: {"mean": float(camera[:, i].mean()), "std": float(camera[:, i].std()),
                                      "abs_mean": float(np.abs(camera[:, i]).mean()),
                                      "moving": float((camera[:, i] != 0).mean())}
                               for i, name in enumerate(("pitch", "yaw"))}
    return stats


def check_alignment(root: str | Path, max_frames: int = CHECK_FRAMES) -> dict[str, Any]:
    """Per episode with camera actions: the lag (ticks the actions run late, -10..10) that best pairs the logged
    camera with the image motion, its correlation, the correlation at lag 0, and a warning when the lag is not 0.

    Returns {"path", "episodes": [{file, lag, correlation, correlation_at_zero, status}], "warnings": [...],
    "damaged": [...]}; status is 'aligned', 'lagged', 'no motion' (nothing to align on) or 'no actions'.
    """
    entries, damaged = scan_index(root)
    result: dict[str, Any] = {"path": str(root), "episodes": [], "warnings": [],
                              "damaged": [{"file": f, "reason": r} for f, r in damaged]}
    for entry in entries:
        row: dict[str, Any] = {"file": entry["file"], "lag": None, "correlation": None, "correlation_at_zero": None}
        if not entry.get("action_known"):
            result["episodes"].append({**row, "status": "no actions"})
            continue
        try:
            reader = EpisodeReader(episodes_dir(root) / entry["file"])
            try:
                stop = min(reader.length, max_frames)
                frames, camera = reader.read("frames", 0, stop), reader.array("actions.camera")[:stop - 1]
            finally:
                reader.close()
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
            result["damaged"].append({"file": entry["file"], "reason": str(error)})
            continue
        estimate = estimate_lag(image_shifts(frames), camera)
        if estimate is None:
            result["episodes"].append({**row, "status": "no motion"})
            continue
        row.update(lag=estimate.lag, correlation=round(estimate.correlation, 4),
                   correlation_at_zero=round(estimate.correlation_at_zero, 4),
                   status="aligned" if estimate.lag == 0 else "lagged")
        result["episodes"].append(row)
        if estimate.lag:
            weak = " (weak correlation: little camera motion?)" if estimate.correlation < WEAK_CORRELATION else ""
            result["warnings"].append(
                f"{entry['file']}: the camera actions match the frames best {estimate.lag:+d} step(s) late "
                f"(correlation {estimate.correlation:.2f}, {estimate.correlation_at_zero:.2f} at 0){weak}; "
                f"re-import with --offset {estimate.lag} or --align auto")
    return result


def format_check(check: dict[str, Any]) -> str:
    """Readable lines of `check_alignment`."""
    lines = [f"store {check['path']}: action/frame lag per episode (steps the actions run late)"]
    for row in check["episodes"]:
        if row["lag"] is None:
            lines.append(f"  {row['file']}: {row['status']}")
        else:
            lines.append(f"  {row['file']}: lag {row['lag']:+d}  correlation {row['correlation']:.2f} "
                         f"(at 0: {row['correlation_at_zero']:.2f})  {row['status']}")
    lines += [f"warning: {text}" for text in check["warnings"]]
    lines += [f"damaged: {item['file']}: {item['reason']}" for item in check["damaged"]]
    return "\n".join(lines)


def format_info(info: dict[str, Any]) -> str:
    """Readable multi-line text of `dataset_info`."""
    def counts(mapping: dict[str, int]) -> str:
        return ", ".join(f"{k} ({v})" for k, v in mapping.items()) or "-"

    length = info["episode_length"]
    lines = [f"store        {info['path']}",
             f"episodes     {info['episodes']}  ({info['action_known_episodes']} with actions, "
             f"{info['ground_truth_episodes']} with ground truth)",
             f"frames       {info['frames']}  ({info['hours']:.3f} h)",
             f"length       min {length.get('min', 0):.0f} / mean {length.get('mean', 0):.1f} / "
             f"max {length.get('max', 0):.0f} frames",
             f"resolution   {counts(info['resolutions'])}", f"fps          {counts(info['fps'])}",
             f"sources      {counts(info['sources'])}"]
    if info["env_ids"]:
        lines.append(f"envs         {counts(info['env_ids'])}")
    acts = info.get("actions")
    if acts:
        lines.append(f"rewards      total {acts['reward_total']:.2f}, {acts['terminations']} termination(s)")
        if acts.get("press_rate"):
            rates = "  ".join(f"{k} {v:.2f}" for k, v in acts["press_rate"].items() if not k.startswith("hotbar"))
            hotbar = sum(v for k, v in acts["press_rate"].items() if k.startswith("hotbar"))
            lines.append(f"press rate   {rates}  hotbar.* {hotbar:.3f}")
            for name, cam in acts["camera_deg"].items():
                lines.append(f"camera {name:<5} mean {cam['mean']:+.2f}  std {cam['std']:.2f}  |mean| "
                             f"{cam['abs_mean']:.2f} deg/step  moving {cam['moving']:.0%} of steps")
    for item in info.get("damaged", []):
        lines.append(f"damaged      {item['file']}: {item['reason']}")
    return "\n".join(lines)


def main(argv: list[str], prog: str = "wm data") -> int:
    """Entry point of `wm data`."""
    parser = argparse.ArgumentParser(prog=prog, description="Inspect, check, split or re-index an episode store.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    info = sub.add_parser("info", help="episodes, frames, hours, resolution, action statistics")
    info.add_argument("dir", type=Path, help="episode store folder")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.add_argument("--no-actions", action="store_true", help="skip action statistics (faster)")
    index = sub.add_parser("index", help="rewrite DIR/index.json from the episode files present")
    index.add_argument("dir", type=Path, help="episode store folder")
    check = sub.add_parser("check", help="per episode with camera actions, the action/frame lag that best aligns "
                           "them (0 when aligned) and its correlation; exit 1 with a warning when some lag is not 0")
    check.add_argument("dir", type=Path, help="episode store folder")
    check.add_argument("--json", action="store_true", help="print JSON instead of text")
    check.add_argument("--max-frames", type=int, default=CHECK_FRAMES,
                       help=f"frames looked at per episode (default {CHECK_FRAMES})")
    split = sub.add_parser("split", help=f"hold out a fraction of the episodes (by episode, seeded): writes "
                           f"DIR/{SPLIT_FILE}, read by open_dataset(DIR, split='train'|'held_out')")
    split.add_argument("dir", type=Path, help="episode store folder")
    split.add_argument("--held-out", type=float, required=True, metavar="FRACTION",
                       help="fraction of the episodes to hold out, e.g. 0.1 (at least 1 episode, at most n-1)")
    split.add_argument("--seed", type=int, default=0, help="seed of the choice (default 0)")
    args = parser.parse_args(argv)
    try:
        if args.command == "split":
            result = make_split(args.dir, args.held_out, args.seed)
            print(f"split {len(result['train']) + len(result['held_out'])} episode(s): {len(result['train'])} "
                  f"train, {len(result['held_out'])} held out (seed {args.seed}) -> {args.dir / SPLIT_FILE}")
            return 0
        if args.command == "check":
            if args.max_frames < 2:
                raise ValueError(f"--max-frames must be >= 2, got {args.max_frames}")
            report = check_alignment(args.dir, args.max_frames)
            print(json.dumps(report, indent=1) if args.json else format_check(report))
            return 1 if report["warnings"] else 0
        if args.command == "index":
            entries, damaged = update_index_report(args.dir)
            print(f"indexed {len(entries)} episode(s) in {args.dir / 'index.json'}")
            for file, reason in damaged:
                print(f"damaged (left out): {file}: {reason}")
            return 0
        result = dataset_info(args.dir, actions=not args.no_actions)
    except ValueError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=1) if args.json else format_info(result))
    return 0
