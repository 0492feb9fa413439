"""Steps per second of BlockWorldEnv with random actions at 64x64 and 128x128 (warm-up excluded).

    python scripts/bench_blockworld.py --steps 2000

Actions are sampled from the action space before timing (a pool cycled through), so the number measures the
env: validation, physics, attack/use ray casts, rendering, HUD, and resets at episode ends.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from envs.blockworld.env import BlockWorldEnv


def bench(size: int, steps: int, warmup: int, seed: int) -> float:
    """Steps per second at size x size."""
    env = BlockWorldEnv(width=size, height=size)
    env.action_space.seed(seed)
    pool = [env.action_space.sample() for _ in range(512)]
    env.reset(seed=seed)
    for i in range(warmup):
        if any(env.step(pool[i % len(pool)])[2:4]):
            env.reset()
    start = time.perf_counter()
    for i in range(steps):
        if any(env.step(pool[i % len(pool)])[2:4]):
            env.reset()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="timed steps per size (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed steps first (numba load, caches)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128], help="frame sizes (default 64 128)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="repeat and report the best (shared machines are noisy)")
    args = parser.parse_args()
    if args.steps < 1 or args.warmup < 0 or args.repeats < 1:
        parser.error("--steps and --repeats must be >= 1, --warmup >= 0")
    for size in args.sizes:
        rates = [bench(size, args.steps, args.warmup, args.seed) for _ in range(args.repeats)]
        print(f"BlockWorld {size}x{size}: {max(rates):8.1f} steps/s (best of {args.repeats}, median "
              f"{float(np.median(rates)):.1f}; {args.steps} random-action steps)")


if __name__ == "__main__":
    main()
