"""`wm play`: play a world with keyboard and mouse, or replay an action script headless into a video.

Which world runs is decided by an env factory (ENV_FACTORIES, keyed by name); DEFAULT_ENV is used when --env
is not given. Any other registered Gymnasium id with the canonical action space also works.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym

from envs.actions import Action, complete_action

DEFAULT_ENV = "BlockWorld-v0"


def make_blockworld(args: argparse.Namespace) -> gym.Env:
    """BlockWorld at --size with the viewer's options."""
    import envs  # noqa: F401  (registers BlockWorld-v0)

    kwargs: dict[str, Any] = {"width": args.size, "height": args.size, "render_mode": "rgb_array"}
    if args.task:
        kwargs["task"] = args.task
    if args.max_steps is not None:
        kwargs["max_episode_steps"] = args.max_steps
    return gym.make("BlockWorld-v0", **kwargs).unwrapped  # unwrapped: the viewer validates actions itself


def make_registered(name: str, args: argparse.Namespace) -> gym.Env:
    """Any registered Gymnasium id (its action space must be the canonical Dict)."""
    import envs  # noqa: F401

    try:
        return gym.make(name, render_mode="rgb_array")
    except gym.error.Error as error:
        raise ValueError(f"--env: cannot make {name!r} ({error}); known: {sorted(ENV_FACTORIES)}") from None


ENV_FACTORIES: dict[str, Callable[[argparse.Namespace], gym.Env]] = {"BlockWorld-v0": make_blockworld}


def make_env(args: argparse.Namespace) -> gym.Env:
    """Build the env named by --env (DEFAULT_ENV when absent)."""
    name = args.env or DEFAULT_ENV
    factory = ENV_FACTORIES.get(name)
    return factory(args) if factory is not None else make_registered(name, args)


def build_parser(prog: str) -> argparse.ArgumentParser:
    """Command-line options of `wm play`."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Play a world with keyboard and mouse (pygame window), or replay an action script headless.",
        epilog=(
            "Controls: W A S D move, Space jump, Shift sneak, Ctrl sprint, mouse or arrow keys look, left click (or F)"
            " attack, right click (or E) use, 1-9 hotbar slot, P pause, R reset, Esc quit.\n"
            "Action scripts are JSON Lines, one action dict per line, e.g. {\"forward\": 1, \"camera\": [0, 15]};"
            " absent keys mean not pressed / no camera motion.\n"
            f"Examples:\n  {prog} --env BlockWorld-v0 --seed 3 --record play.mp4\n"
            f"  {prog} --headless --actions script.jsonl --record out.mp4"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--env", default=None, metavar="ID", help=f"world to play (default {DEFAULT_ENV}); known: {', '.join(ENV_FACTORIES)}")
    parser.add_argument("--seed", type=int, metavar="N", default=None, help="seed of the first episode (default: random)")
    parser.add_argument("--size", type=int, metavar="PX", default=64, help="observation width and height in pixels (default 64)")
    parser.add_argument("--scale", type=int, metavar="N", default=8, help="window pixels per observation pixel (default 8)")
    parser.add_argument("--fps", type=float, metavar="HZ", default=20.0, help="ticks per second (default 20, the env's tick rate)")
    parser.add_argument("--record", type=Path, metavar="OUT", default=None, help="write the played frames to OUT.mp4 or OUT.gif")
    parser.add_argument("--record-scale", type=int, metavar="N", default=4, help="upscale factor of recorded frames (default 4)")
    parser.add_argument("--task", default=None, metavar="TASK", help="BlockWorld task: mine_gold or collect_logs[:N]")
    parser.add_argument("--max-steps", type=int, metavar="N", default=None, help="episode length limit (BlockWorld default 1000)")
    parser.add_argument("--sensitivity", type=float, metavar="DEG", default=0.15, help="mouse look, degrees per pixel (default 0.15)")
    parser.add_argument("--arrow-deg", type=float, metavar="DEG", default=5.0, help="arrow-key look, degrees per tick (default 5)")
    parser.add_argument("--headless", action="store_true", help="no window: replay --actions with the SDL dummy driver")
    parser.add_argument("--actions", type=Path, metavar="FILE", default=None, help="JSON Lines action script for --headless")
    return parser


def read_actions(path: Path) -> list[Action]:
    """Parse a JSON Lines action script (blank lines skipped); ValueError naming the file and line number."""
    if not path.is_file():
        raise ValueError(f"--actions: file '{path}' not found")
    actions: list[Action] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if not isinstance(item, dict):
                    raise ValueError(f"expected a JSON object, got {type(item).__name__}")
                actions.append(complete_action(item))
            except (ValueError, TypeError) as error:
                raise ValueError(f"{path}:{number}: bad action line: {error}") from None
    if not actions:
        raise ValueError(f"--actions: file '{path}' holds no actions")
    return actions


def has_display() -> bool:
    """True if SDL can open a window: a DISPLAY / WAYLAND_DISPLAY, a forced SDL_VIDEODRIVER, or not Linux."""
    if os.environ.get("SDL_VIDEODRIVER"):
        return True
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def check_args(args: argparse.Namespace) -> None:
    """ValueError naming the bad option."""
    for key in ("size", "scale", "record_scale"):
        if getattr(args, key) < 1:
            raise ValueError(f"--{key.replace('_', '-')} must be >= 1, got {getattr(args, key)}")
    if not 0 < args.fps <= 240:
        raise ValueError(f"--fps must be in (0, 240], got {args.fps}")
    if args.headless and args.actions is None:
        raise ValueError("--headless needs --actions FILE.jsonl (an action script to replay)")
    if args.actions is not None and not args.headless:
        raise ValueError("--actions is only used with --headless")


def replay(args: argparse.Namespace, actions: list[Action]) -> int:
    """Headless: step the env once per scripted action, one video frame per action."""
    from worldmodel.viewer.loop import ViewerLoop
    from worldmodel.viewer.record import VideoWriter

    env = make_env(args)
    recorder = VideoWriter(args.record, fps=args.fps) if args.record else None
    try:
        loop = ViewerLoop(env, seed=args.seed, scale=1, fps=args.fps, recorder=recorder,
                          record_scale=args.record_scale, overlay=False)
        for action in actions:
            loop.step(action)
    except BaseException:
        if recorder is not None:
            recorder.abort()
        raise
    finally:
        env.close()
    frames = recorder.close() if recorder is not None else 0
    where = f", {frames} frames -> {args.record}" if recorder is not None else ""
    print(f"replayed {len(actions)} actions ({loop.episodes} resets, last return {loop.episode_return:g}){where}")
    return 0


def play(args: argparse.Namespace) -> int:
    """Interactive window until Esc."""
    from worldmodel.viewer.keys import KeyboardControls
    from worldmodel.viewer.loop import ViewerLoop
    from worldmodel.viewer.record import VideoWriter

    env = make_env(args)
    recorder = VideoWriter(args.record, fps=args.fps) if args.record else None
    controls = KeyboardControls(mouse_sensitivity=args.sensitivity, arrow_deg=args.arrow_deg)
    try:
        loop = ViewerLoop(env, seed=args.seed, scale=args.scale, fps=args.fps, controls=controls,
                          recorder=recorder, record_scale=args.record_scale)
        steps = loop.run(caption=f"wm play {args.env or DEFAULT_ENV}")
    finally:
        env.close()
        frames = recorder.close() if recorder is not None else 0
    print(f"played {steps} steps" + (f", {frames} frames -> {args.record}" if recorder is not None else ""))
    return 0


def main(argv: list[str], prog: str = "wm play") -> int:
    """Entry point of `wm play`."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        check_args(args)
        if args.headless:
            os.environ["SDL_VIDEODRIVER"] = "dummy"  # before pygame initialises video
            os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
            return replay(args, read_actions(args.actions))
        if not has_display():
            print(f"{prog}: no display found (DISPLAY / WAYLAND_DISPLAY unset), so no window can open.\n"
                  f"Replay an action script instead: {prog} --headless --actions FILE.jsonl --record OUT.mp4",
                  file=sys.stderr)
            return 2
        return play(args)
    except ValueError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
