"""Time the spatial memory (worldmodel/memory/): write + render per step at batch 1 and 64, on one thread.

    python scripts/bench_memory.py                       # batch 1 and 64, 64x64, capacity 65,536, full memory
    python scripts/bench_memory.py --batch 1 --steps 50 --device cuda

Frames, depth and poses are real BlockWorld views (a walk turning 5 degrees a step, world b starting b steps
later); before timing, the memory is filled with random synthetic views until it holds `--fill` of its
capacity, so the numbers are those of a memory in steady state (carving and eviction at work).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from envs.blockworld.env import BlockWorldEnv
from worldmodel.memory import SpatialMemory, blockworld_camera, blockworld_hud


def walk(size: int, steps: int, seed: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A BlockWorld walk: frames uint8 (T, H, W, 3), depth (T, H, W), pose (T, 5)."""
    env = BlockWorldEnv(width=size, height=size)
    env.reset(seed=seed)
    start = env.player.position.copy()
    frames, depth, pose = [], [], []
    for t in range(steps):
        env.set_pose(start + np.array([0.05 * t, 0.0, 0.03 * t]), 5.0 * t, 5.0 + 10.0 * np.sin(t / 7.0))
        frames.append(env.observe())
        truth = env.ground_truth()
        depth.append(truth["depth"])
        pose.append(truth["pose"])
    return torch.from_numpy(np.stack(frames)), torch.from_numpy(np.stack(depth)), torch.from_numpy(np.stack(pose))


def fill(memory: SpatialMemory, share: float, around: torch.Tensor) -> int:
    """Write random synthetic views (near `around` (3,)) until the memory holds `share` of its capacity."""
    g = torch.Generator().manual_seed(0)
    b, cam, writes = memory.batch, memory.camera, 0
    while memory.count().float().mean() < share * memory.capacity and writes < 2000:
        pose = torch.cat([around + torch.rand(b, 3, generator=g) * 16.0 - 8.0, torch.rand(b, 1, generator=g) * 360.0,
                          torch.rand(b, 1, generator=g) * 40.0 - 10.0], 1)
        depth = 2.0 + 28.0 * torch.rand(b, cam.height, cam.width, generator=g)
        frames = torch.randint(0, 256, (b, cam.height, cam.width, 3), dtype=torch.uint8, generator=g)
        memory.write(frames, depth, pose, -1000 + writes)
        writes += 1
    return writes


def bench(batch: int, steps: int, size: int, capacity: int, share: float, device: str,
          views: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> dict[str, float]:
    """Mean ms per step of write, render and both, after filling; per frame = per step / batch."""
    frames, depth, pose = views
    memory = SpatialMemory(blockworld_camera(size, size), batch, capacity=capacity,
                           ignore=blockworld_hud(size, size), device=device)
    writes = fill(memory, share, pose[0, :3].float())
    index = (torch.arange(batch)[:, None] + torch.arange(steps + 3)[None]) % frames.shape[0]  # (B, T)
    f, d, p = frames[index].to(device), depth[index].to(device), pose[index].float().to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    times = {"write": 0.0, "render": 0.0, "cpu": 0.0}
    for t in range(steps + 3):
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        memory.write(f[:, t], d[:, t], p[:, t], t)
        sync()
        t1 = time.perf_counter()
        memory.render(p[:, t], t)
        sync()
        t2, c2 = time.perf_counter(), time.process_time()
        if t >= 3:  # warm-up steps are not timed
            times["write"] += t1 - t0
            times["render"] += t2 - t1
            times["cpu"] += c2 - c0
    out = {k: v / steps * 1e3 for k, v in times.items()}
    out["total"] = out["write"] + out["render"]
    out["per_frame"] = out["total"] / batch
    out["fill_writes"] = writes
    out["entries"] = memory.count().float().mean().item()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--capacity", type=int, default=65536)
    parser.add_argument("--fill", type=float, default=0.9, help="share of the capacity filled before timing")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    views = walk(args.size, 72)
    x = torch.rand(1 << 20)
    t0 = time.perf_counter()
    for _ in range(20):
        x + 1.0
    reference = (time.perf_counter() - t0) / 20 * 1e3
    print(f"{args.size}x{args.size}, capacity {args.capacity}, {args.threads} thread(s), {args.device}; "
          f"reference: a 1M-float add takes {reference:.2f} ms here (wall ms; cpu = process CPU ms per step)")
    print(f"{'batch':>6} {'entries':>8} {'write ms':>9} {'render ms':>10} {'step ms':>8} {'cpu ms':>7} {'ms/frame':>9}")
    for batch in args.batch:
        r = bench(batch, args.steps, args.size, args.capacity, args.fill, args.device, views)
        print(f"{batch:>6} {r['entries']:>8.0f} {r['write']:>9.2f} {r['render']:>10.2f} {r['total']:>8.2f} "
              f"{r['cpu']:>7.2f} {r['per_frame']:>9.3f}")


if __name__ == "__main__":
    main()
