"""Frames per second of the `wm play` viewer with the dream, headless (SDL dummy driver), unpaced.

    python scripts/bench_viewer.py --model bundled            # the target: >= 20 frames/s on a 2-core CPU
    python scripts/bench_viewer.py --model runs/wm --compare  # with ground-truth BlockWorld beside it
    python scripts/bench_viewer.py --model random             # untrained, default architecture (64x64, 8x8 tokens)
    python scripts/bench_viewer.py --model tiny               # untrained test-size model (16x16)

Each timed tick is what a frame of `wm play` costs: posted keyboard events (W held, arrow turns, a jump now and
then) -> action -> model step -> upscaled frame with the fps / latency overlay -> blit and flip on the (dummy)
display. The frame pacing of the real loop (clock.tick at --fps) is left out, so the figure is the most the
viewer can show. Speed depends on the architecture, not the weights: `random` builds an untrained model with
the default TokenizerConfig and DynamicsConfig, a stand-in for the bundled model before it is trained.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # before pygame initialises video
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np  # noqa: E402
import pygame  # noqa: E402
import torch  # noqa: E402

TINY_TOKENIZER = dict(height=16, width=16, levels=[5, 5], channels=8, channel_mult=[1, 1, 1], res_blocks=[0, 0, 0],
                      mid_blocks=0)
TINY_DYNAMICS = dict(d_model=32, n_layers=1, n_heads=2, context_frames=4, head_layers=1, lam_dim=16, lam_layers=1,
                     lam_heads=2, lam_levels=[3, 3], decode_steps=1, top_k=8)


def untrained(kind: str, directory: Path) -> Path:
    """Export an untrained model ("random": default configs, "tiny": test size) into `directory`."""
    from worldmodel.dynamics import DynamicsConfig, DynamicsObjective
    from worldmodel.tokenizer import Tokenizer, TokenizerConfig

    torch.manual_seed(0)
    tokenizer = Tokenizer(TokenizerConfig(**TINY_TOKENIZER) if kind == "tiny" else TokenizerConfig())
    dynamics = DynamicsConfig(**TINY_DYNAMICS) if kind == "tiny" else DynamicsConfig()
    objective = DynamicsObjective(dynamics, tokenizer)
    with torch.no_grad():  # an untrained termination head fires at random and would make every tick a reset
        objective.model.term_head[-1].weight.zero_()
        objective.model.term_head[-1].bias.fill_(-20.0)
    return objective.export(directory / kind, card={"note": f"untrained {kind} (bench)"})


def events(t: int) -> list[pygame.event.Event]:
    """Scripted input of tick t: W held throughout, right arrow held for 10 of every 20 ticks, jump every 40."""
    out = []
    if t == 0:
        out.append(pygame.event.Event(pygame.KEYDOWN, {"key": pygame.K_w, "mod": 0, "unicode": "", "scancode": 0}))
    if t % 20 in (0, 10):
        kind = pygame.KEYDOWN if t % 20 == 0 else pygame.KEYUP
        out.append(pygame.event.Event(kind, {"key": pygame.K_RIGHT, "mod": 0, "unicode": "", "scancode": 0}))
    if t % 40 == 5:
        out.append(pygame.event.Event(pygame.KEYDOWN, {"key": pygame.K_SPACE, "mod": 0, "unicode": "", "scancode": 0}))
        out.append(pygame.event.Event(pygame.KEYUP, {"key": pygame.K_SPACE, "mod": 0, "unicode": "", "scancode": 0}))
    return out


def bench(args: argparse.Namespace, model: str) -> dict[str, float]:
    """Run the viewer loop for warmup + ticks ticks; returns frames/s and latency statistics."""
    from worldmodel.dream.env import WorldModelEnv
    from worldmodel.viewer.compare import CompareEnv
    from worldmodel.viewer.loop import ViewerLoop

    env = WorldModelEnv(model=model, device=args.device, context_frames=args.context, render_mode="rgb_array",
                        max_episode_steps=0)
    if args.compare:
        env = CompareEnv(env)
    loop = ViewerLoop(env, seed=args.seed, scale=args.scale)
    pygame.display.init()
    screen = pygame.display.set_mode(loop.surface.get_size())
    times: list[float] = []
    for t in range(args.warmup + args.ticks):
        start = time.perf_counter()
        loop.advance(events(t))  # what run() does per frame (no read-back of the surface)
        screen.blit(loop.surface, (0, 0))
        pygame.display.flip()
        if t >= args.warmup:
            times.append(time.perf_counter() - start)
    pygame.display.quit()
    dream = env.dream if args.compare else env
    steps = []  # the model step alone, for the share of the frame time
    for _ in range(min(args.ticks, 50)):
        start = time.perf_counter()
        dream.model.step({"forward": 1})
        steps.append(time.perf_counter() - start)
    ms = np.array(times) * 1000.0
    return {"fps": len(times) / float(np.sum(times)), "mean_ms": float(ms.mean()),
            "p95_ms": float(np.percentile(ms, 95)), "model_ms": float(np.mean(steps)) * 1000.0,
            "frame": float(dream.frame_shape[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="bundled", help="bundled | DIR | random | tiny (default bundled)")
    parser.add_argument("--ticks", type=int, default=200, help="timed viewer ticks (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed ticks first (default 20)")
    parser.add_argument("--scale", type=int, default=8, help="window pixels per frame pixel (default 8, as wm play)")
    parser.add_argument("--context", type=int, default=4, help="prompt context frames (default 4)")
    parser.add_argument("--compare", action="store_true", help="ground-truth BlockWorld beside the dream")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, as wm play)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.ticks < 1 or args.warmup < 0 or args.scale < 1:
        parser.error("--ticks and --scale must be >= 1, --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model = str(untrained(args.model, Path(tmp))) if args.model in ("random", "tiny") else args.model
        result = bench(args, model)
    size = int(result["frame"])
    verdict = "meets" if result["fps"] >= 20.0 else "misses"
    print(f"viewer with model '{args.model}' ({size}x{size}, scale {args.scale}{', compare' if args.compare else ''}, "
          f"{torch.get_num_threads()} threads, {args.device}): {result['fps']:.1f} frames/s ({verdict} the 20 "
          f"frames/s target); frame time mean {result['mean_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms; "
          f"model step alone {result['model_ms']:.1f} ms")


if __name__ == "__main__":
    main()
