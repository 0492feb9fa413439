"""`wm import {minerl,vpt,video,crafter} SRC --out DST`: resumable folder imports into the episode store."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any, Callable

from worldmodel.data.importers import crafter, minerl, video, vpt
from worldmodel.data.importers.common import ImportReport, run_import
from worldmodel.data.video import parse_size

# kind -> (finder, converter, default size, default fps, description)
KINDS: dict[str, tuple[Callable[..., Any], Callable[..., int], str | None, float | None, str]] = {
    "minerl": (minerl.find_trajectories, minerl.convert, None, None,
               "MineRL v0.4 trajectory folders (recording.mp4 + rendered.npz + metadata.json)"),
    "vpt": (vpt.find_recordings, vpt.convert, "64", None, "VPT contractor recordings (X.mp4 + X.jsonl)"),
    "video": (video.find_videos, video.convert, "64", 20.0, "plain footage (mp4/webm/avi/mkv), action-free"),
    "crafter": (crafter.find_episodes, crafter.convert, None, None, "Crafter Recorder episode npz files"),
}


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The argument parser of `wm import`."""
    parser = argparse.ArgumentParser(prog=prog, description="Import recordings into an episode store. Re-running "
                                     "skips finished episodes; bad sources are skipped and listed at the end.")
    sub = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    for kind, (_, _, size, fps, text) in KINDS.items():
        p = sub.add_parser(kind, help=text, description=f"Import {text}.")
        p.add_argument("src", type=Path, help="source folder (searched recursively) or a single source")
        p.add_argument("--out", type=Path, required=True, help="episode store folder (created if absent)")
        p.add_argument("--size", default=size, help=f"frame size N or WxH, centre crop + resize "
                       f"(default: {size or 'keep the source size'})")
        p.add_argument("--fps", type=float, default=fps, help=f"target frame rate (default: {fps or 'source'}); "
                       "for action-labelled data it must divide the source rate (actions are merged)")
        p.add_argument("--license", dest="license_note", default=None, help="license/provenance note to record")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        if kind == "vpt":
            p.add_argument("--drop-null", action="store_true", help="drop null-action ticks (and their frames)")
        if kind == "minerl":
            p.add_argument("--allow-pickle", action="store_true",
                           help="allow object arrays in rendered.npz (unpickles: trusted files only)")
    return parser


def import_folder(kind: str, src: Path, out: Path, progress: bool = True, **options: Any) -> ImportReport:
    """Run one import programmatically (options: size, fps, license_note, drop_null, allow_pickle)."""
    if kind not in KINDS:
        raise ValueError(f"unknown import kind '{kind}'; expected one of {sorted(KINDS)}")
    finder, converter, default_size, default_fps, _ = KINDS[kind]
    if not src.exists():
        raise ValueError(f"{src}: no such file or folder")
    options.setdefault("size", default_size)
    options.setdefault("fps", default_fps)
    options["size"] = parse_size(options["size"])
    items, bad = finder(src)
    convert = functools.partial(converter, **options)
    return run_import(items, out, convert, desc=f"import {kind}", failed=bad, progress=progress)


def main(argv: list[str], prog: str = "wm import") -> int:
    """Entry point of `wm import`; exit status 1 when some sources were skipped."""
    args = vars(build_parser(prog).parse_args(argv))
    kind, src, out, progress = args.pop("kind"), args.pop("src"), args.pop("out"), not args.pop("no_progress")
    try:
        report = import_folder(kind, src, out, progress=progress, **args)
    except ValueError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    print(report.summary())
    return 1 if report.failed else 0
