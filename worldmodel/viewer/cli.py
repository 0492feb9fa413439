"""`wm play`: play a world with keyboard and mouse, or replay an action script headless into a video.

Which world runs is decided by an env factory (ENV_FACTORIES, keyed by name). Without --env: the learned world
(WorldModel-v0, --model, default the bundled model, prompted by a BlockWorld frame) - or BlockWorld-v0, with a
note, while no bundled model is installed. Any other registered Gymnasium id with the canonical action space
also works. --compare shows ground-truth BlockWorld beside the dream, stepped with the same actions.
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

DEFAULT_ENV = "WorldModel-v0"
MODEL_ENV = "WorldModel-v0"
FALLBACK_ENV = "BlockWorld-v0"  # played when no env is named and no bundled model is installed


def make_blockworld(args: argparse.Namespace) -> gym.Env:
    """BlockWorld at --size with the viewer's options."""
    import envs  # noqa: F401  (registers BlockWorld-v0)

    size = args.size or 64
    kwargs: dict[str, Any] = {"width": size, "height": size, "render_mode": "rgb_array"}
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


def make_model_env(args: argparse.Namespace) -> gym.Env:
    """The dream (WorldModel-v0) with --model, --prompt, --context, --device, --temperature; --compare puts
    ground-truth BlockWorld beside it."""
    import torch

    from worldmodel.dream.env import WorldModelEnv

    torch.set_num_threads(args.threads)
    kwargs: dict[str, Any] = {"model": args.model or "bundled", "prompt": args.prompt, "context_frames": args.context,
                              "render_mode": "rgb_array", "device": args.device, "temperature": args.temperature}
    if args.max_steps is not None:
        kwargs["max_episode_steps"] = args.max_steps
    if args.task:
        raise ValueError("--task applies to BlockWorld-v0; the dream's rewards come from the model")
    env = WorldModelEnv(**kwargs)
    if args.size is not None and args.size != env.frame_shape[0]:
        raise ValueError(f"--size {args.size}: this model's frames are {env.frame_shape[0]} pixels (leave --size out)")
    if args.compare:
        from worldmodel.viewer.compare import CompareEnv

        return CompareEnv(env)
    return env


ENV_FACTORIES: dict[str, Callable[[argparse.Namespace], gym.Env]] = {
    "BlockWorld-v0": make_blockworld,
    MODEL_ENV: make_model_env,
}


def env_name(args: argparse.Namespace) -> str:
    """The env to play: --env, else the dream (--model, or the bundled model when installed), else BlockWorld."""
    if args.env is not None:
        if args.model is not None and args.env != MODEL_ENV:
            raise ValueError(f"--model plays {MODEL_ENV}; it cannot be combined with --env {args.env}")
        return args.env
    if args.model is not None or args.compare:
        return MODEL_ENV
    from worldmodel.bundled import BUNDLED_DIR

    if (BUNDLED_DIR / "config.json").is_file():
        return DEFAULT_ENV
    print(f"note: no bundled world model installed ({BUNDLED_DIR}); playing {FALLBACK_ENV}. "
          "Use --model DIR to play a trained model.", file=sys.stderr)
    return FALLBACK_ENV


def make_env(args: argparse.Namespace, name: str | None = None) -> gym.Env:
    """Build the env `name` (default env_name(args))."""
    name = name or env_name(args)
    if args.compare and name != MODEL_ENV:
        raise ValueError(f"--compare shows BlockWorld beside the dream; it needs {MODEL_ENV}, not {name}")
    factory = ENV_FACTORIES.get(name)
    return factory(args) if factory is not None else make_registered(name, args)


def build_parser(prog: str) -> argparse.ArgumentParser:
    """Command-line options of `wm play`."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # keys imports pygame: no banner in --help
    from worldmodel.viewer.keys import controls_text

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Play a world with keyboard and mouse (pygame window), or replay an action script headless.",
        epilog=(
            f"Controls: {controls_text()}\n"
            "Action scripts are JSON Lines, one action dict per line, e.g. {\"forward\": 1, \"camera\": [0, 15]};"
            " absent keys mean not pressed / no camera motion.\n"
            f"Examples:\n  {prog}                        (the bundled model, prompted by a BlockWorld frame)\n"
            f"  {prog} --model runs/wm --compare   (ground truth beside the dream, live PSNR)\n"
            f"  {prog} --env BlockWorld-v0 --seed 3 --record play.mp4\n"
            f"  {prog} --headless --model runs/wm --actions script.jsonl --record out.mp4"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--env", default=None, metavar="ID", help=f"world to play (default {DEFAULT_ENV} with the bundled model); known: {', '.join(ENV_FACTORIES)}")
    parser.add_argument("--model", default=None, metavar="PATH", help="play the dream of this WorldModel directory, or 'bundled'")
    parser.add_argument("--compare", action="store_true", help="ground-truth BlockWorld beside the dream, same actions, live PSNR")
    parser.add_argument("--prompt", default="blockworld", metavar="SRC", help="dream reset context: blockworld[:noop|walk] or dataset:DIR (default blockworld)")
    parser.add_argument("--context", type=int, metavar="K", default=4, help="frames of prompt context (default 4)")
    parser.add_argument("--temperature", type=float, metavar="T", default=None, help="dream sampling temperature (default: the model's)")
    parser.add_argument("--device", default="auto", metavar="DEV", help="dream device: cpu, cuda or auto (default auto)")
    parser.add_argument("--threads", type=int, metavar="N", default=1, help="torch CPU threads for the dream (default 1: its small matrices gain little from more, and on a busy machine extra threads stall)")
    parser.add_argument("--seed", type=int, metavar="N", default=None, help="seed of the first episode (default: random)")
    parser.add_argument("--size", type=int, metavar="PX", default=None, help="BlockWorld observation size in pixels (default 64; the dream's is the model's)")
    parser.add_argument("--scale", type=int, metavar="N", default=None, help="window pixels per observation pixel (default: the largest up to 8 at which the window fits the screen)")
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
    for key in ("size", "scale", "record_scale", "context", "threads"):
        if getattr(args, key) is not None and getattr(args, key) < 1:
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
    where = f"; {frames} frames -> {args.record}" if recorder is not None else ""
    print(loop.summary() + where)
    return 0


def play(args: argparse.Namespace) -> int:
    """Interactive window until Esc."""
    from worldmodel.viewer.keys import KeyboardControls
    from worldmodel.viewer.loop import ViewerLoop
    from worldmodel.viewer.record import VideoWriter

    name = env_name(args)
    env = make_env(args, name)
    recorder = VideoWriter(args.record, fps=args.fps) if args.record else None
    controls = KeyboardControls(mouse_sensitivity=args.sensitivity, arrow_deg=args.arrow_deg)
    try:
        loop = ViewerLoop(env, seed=args.seed, scale=args.scale, fps=args.fps, controls=controls,
                          recorder=recorder, record_scale=args.record_scale)
        loop.run(caption=f"wm play - {name}")
    finally:
        env.close()
        frames = recorder.close() if recorder is not None else 0
    print(loop.summary() + (f"; {frames} frames -> {args.record}" if recorder is not None else ""))
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
    except (ValueError, FileNotFoundError) as error:  # bad options, or no bundled model installed
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
