"""`wm import {minerl,vpt,video,crafter} SRC --out DST`: resumable folder imports into the episode store."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any, Callable

from worldmodel.data.align import MAX_LAG
from worldmodel.data.importers import crafter, minerl, video, vpt
from worldmodel.data.importers.common import ImportReport, run_import
from worldmodel.data.video import CROPS, check_crop, check_fps, parse_size

# kind -> (finder, converter, default size, default fps, description, episode 'source' label)
KINDS: dict[str, tuple[Callable[..., Any], Callable[..., int], str | None, float | None, str, str]] = {
    "minerl": (minerl.find_trajectories, minerl.convert, None, None,
               "MineRL v0.4 trajectory folders (recording.mp4 + rendered.npz + metadata.json)", "minerl-v0.4"),
    "vpt": (vpt.find_recordings, vpt.convert, "64", None, "VPT contractor recordings (X.mp4 + X.jsonl)", "vpt"),
    "video": (video.find_videos, video.convert, "64", 20.0, "plain footage (mp4/webm/avi/mkv), action-free",
              "video"),
    "crafter": (crafter.find_episodes, crafter.convert, None, None, "Crafter Recorder episode npz files",
                "crafter"),
}
# options that change what an episode holds (stored as meta 'import'; a resume must match them)
SETTING_KEYS = ("size", "fps", "crop", "drop_null", "mouse_scale", "offset", "align")


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    try:
        value = check_fps(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    assert value is not None
    return value


def lag_int(text: str) -> int:
    """argparse type: a whole number of ticks."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of ticks, got {text!r}") from None


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The argument parser of `wm import`."""
    parser = argparse.ArgumentParser(prog=prog, description="Import recordings into an episode store. Re-running "
                                     "skips finished episodes (imported with the same settings); bad sources are "
                                     "skipped and listed at the end.")
    sub = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    for kind, (_, _, size, fps, text, _) in KINDS.items():
        p = sub.add_parser(kind, help=text, description=f"Import {text}.")
        p.add_argument("src", type=Path, help="source folder (searched recursively) or a single source")
        p.add_argument("--out", type=Path, required=True, help="episode store folder (created if absent)")
        p.add_argument("--size", default=size, help=f"frame size N or WxH, cropped per --crop and resized "
                       f"(default: {size or 'keep the source size'})")
        p.add_argument("--crop", choices=CROPS, default="center", help="center: centre-crop to the --size aspect "
                       "ratio (640x360 -> its middle 360x360 for a square size); full: keep the whole frame, "
                       "resized and letterboxed with black bars (default: center)")
        p.add_argument("--fps", type=positive_float, default=fps, help=f"target frame rate > 0 (default: "
                       f"{fps or 'source'}); for action-labelled data it must divide the source rate "
                       "(actions are merged)")
        p.add_argument("--license", dest="license_note", default=None, help="license/provenance note to record")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        p.add_argument("--reimport", action="store_true", help="convert again the episodes of the store that "
                       "were imported with other settings (without it such a resume is refused)")
        if kind in ("vpt", "minerl"):
            p.add_argument("--offset", type=lag_int, default=0, metavar="K", help="the action log runs K ticks "
                           "late: pair frame t with tick t+K (negative: early); default 0")
            p.add_argument("--align", choices=("auto",), default=None, help=f"auto: estimate the lag (within "
                           f"+-{MAX_LAG} ticks) from image motion vs logged camera, per episode; overrides "
                           "--offset (used only when nothing moves); the lag is stored as meta 'lag'")
        if kind == "vpt":
            p.add_argument("--drop-null", action="store_true", help="drop null-action ticks (and their frames)")
            p.add_argument("--mouse-scale", type=positive_float, default=vpt.CAMERA_SCALE, metavar="DEG_PER_UNIT",
                           help=f"camera degrees per logged mouse unit (default: 360/2400 = {vpt.CAMERA_SCALE:g}, "
                           "the contractor recordings)")
        if kind == "minerl":
            p.add_argument("--allow-pickle", action="store_true",
                           help="allow object arrays in rendered.npz (unpickles: trusted files only)")
    return parser


def import_folder(kind: str, src: Path, out: Path, progress: bool = True, reimport: bool = False,
                  **options: Any) -> ImportReport:
    """Run one import programmatically (options: size, fps, crop, license_note, drop_null, allow_pickle,
    mouse_scale, offset, align); ValueError for bad options or a resume with other settings (see `run_import`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown import kind '{kind}'; expected one of {sorted(KINDS)}")
    finder, converter, default_size, default_fps, _, label = KINDS[kind]
    if not src.exists():
        raise ValueError(f"{src}: no such file or folder")
    options.setdefault("size", default_size)
    options.setdefault("fps", default_fps)
    options["size"] = parse_size(options["size"])
    options["fps"] = check_fps(options["fps"])
    check_crop(options.setdefault("crop", "center"))
    if kind in ("vpt", "minerl"):  # the same defaults as the command line, so settings compare equal on resume
        options.setdefault("offset", 0)
        options.setdefault("align", None)
    if kind == "vpt":
        options.setdefault("drop_null", False)
        options.setdefault("mouse_scale", vpt.CAMERA_SCALE)
    if "mouse_scale" in options:
        check_fps(options["mouse_scale"])  # the same rule: finite and > 0
    if options.get("align") is not None and options["align"] != "auto":
        raise ValueError(f"align must be 'auto' or unset, got {options['align']!r}")
    settings = {"kind": label, **{k: options[k] for k in SETTING_KEYS if k in options}}
    items, bad = finder(src)
    convert = functools.partial(_convert_with_settings, converter, options)
    return run_import(items, out, convert, desc=f"import {kind}", failed=bad, progress=progress,
                      settings=settings, reimport=reimport)


def _convert_with_settings(converter: Callable[..., int], options: dict[str, Any], source: Path, target: Path,
                           settings: dict[str, Any]) -> int:
    return converter(source, target, settings, **options)


def main(argv: list[str], prog: str = "wm import") -> int:
    """Entry point of `wm import`; exit status 1 when some sources were skipped."""
    args = vars(build_parser(prog).parse_args(argv))
    kind, src, out, progress = args.pop("kind"), args.pop("src"), args.pop("out"), not args.pop("no_progress")
    try:
        report = import_folder(kind, src, out, progress=progress, reimport=args.pop("reimport"), **args)
    except ValueError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    print(report.summary())
    return 1 if report.failed else 0
