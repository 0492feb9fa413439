"""Data benchmarks: collection throughput (1 vs 2 workers), import throughput, and clip loading vs training speed.

    python scripts/bench_data.py                      # all three, small sizes (each part well under a minute)
    python scripts/bench_data.py collect --env Crafter-v0 --policy random
    python scripts/bench_data.py clips --store data/bw --clip-len 16 --batch 32

The clip part times `open_dataset(store).clips(L)` through a torch DataLoader (num_workers 0 and 2) and compares it
with the clips/s that a tokenizer and a dynamics training step of the Trainer consume (batch 8, this machine).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worldmodel.data import open_dataset  # noqa: E402
from worldmodel.data.collect import CollectConfig, collect  # noqa: E402
from worldmodel.data.importers.cli import import_folder  # noqa: E402
from worldmodel.data.synthetic import make_vpt_recording  # noqa: E402
from worldmodel.data.video import write_video  # noqa: E402


def bench_collect(env: str, policy: str, episodes: int, steps: int, work: Path) -> None:
    """Frames/s of `wm collect` with 1 and 2 workers (the same episodes, so the numbers compare)."""
    for workers in (1, 2):
        summary = collect(CollectConfig(env_id=env, out=str(work / f"collect_{workers}"), policy=policy,
                                        episodes=episodes, steps=steps, workers=workers), progress=False)
        per_worker = summary["frames"] / max(summary["episode_seconds"], 1e-9)
        print(f"collect {env} {policy}: {workers} worker(s): {summary['frames']} frames in "
              f"{summary['seconds']:.1f} s = {summary['frames_per_s']:.0f} frames/s (incl. worker start-up); "
              f"{per_worker:.0f} frames/s per worker while recording, "
              f"{summary['frames'] / max(summary['episode_cpu_seconds'], 1e-9):.0f} frames per CPU-second")


def bench_import(recordings: int, ticks: int, work: Path) -> None:
    """Frames/s of the VPT importer (128x72 -> 64x64) and the plain-video importer."""
    src = work / "vpt_src"
    for i in range(recordings):
        make_vpt_recording(src / f"rec{i}", ticks=ticks, size=(640, 360), seed=i)
        write_video(work / "video_src" / f"clip{i}.mp4", np.random.default_rng(i).integers(
            0, 255, (ticks, 360, 640, 3), dtype=np.uint8), fps=20)
    for kind, folder in (("vpt", src), ("video", work / "video_src")):
        report = import_folder(kind, folder, work / f"import_{kind}", progress=False)
        print(f"import {kind} (640x360 -> 64x64): {report.frames} frames in {report.seconds:.1f} s = "
              f"{report.frames / report.seconds:.0f} frames/s")


def bench_clips(store: Path, clip_len: int, batch: int, batches: int) -> float:
    """Clips/s through a DataLoader for num_workers 0 and 2; returns the best."""
    best = 0.0
    clips = open_dataset(store).clips(clip_len)
    for workers in (0, 2):
        loader = torch.utils.data.DataLoader(clips, batch_size=batch, num_workers=workers,
                                             persistent_workers=workers > 0)
        iterator = iter(loader)
        next(iterator)  # start-up (worker spawn, first file opens) is not steady-state loading
        start = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        rate = batches * batch / (time.perf_counter() - start)
        best = max(best, rate)
        print(f"clips {clip_len}x{clips[0]['frames'].shape[1]}x{clips[0]['frames'].shape[2]}, batch {batch}, "
              f"num_workers {workers}: {rate:.0f} clips/s ({rate * clip_len:.0f} frames/s)")
    return best


class _Timed(torch.nn.Module):
    """Wraps a trainable module and stamps the start of every training step (every compute_loss call)."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module
        self.stamps: list[float] = []

    def compute_loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """The wrapped module's (loss, metrics), after noting the time."""
        self.stamps.append(time.perf_counter())
        return self.module.compute_loss(batch)


def step_rate(module: torch.nn.Module, clips: list[dict], run_dir: Path, seconds: float = 5.0) -> float:
    """Steady-state optimizer steps/s of the Trainer on `clips` held in memory (one batch of them per step, so
    loading is left out): 2 warm-up steps, then enough resumed steps to fill `seconds` (at least 2)."""
    from worldmodel.train import TrainConfig, Trainer

    timed = _Timed(module)

    def run(steps: int) -> float:
        """Train up to `steps` (resuming) and return the mean step time after the run's first step."""
        timed.stamps.clear()
        cfg = TrainConfig(steps=steps, batch_size=len(clips), lr=1e-4, warmup_steps=0, media_every=0,
                          ckpt_every=steps, progress=False, device="cpu")
        Trainer(timed, clips, cfg, run_dir).fit()  # type: ignore[arg-type]  # a list is a map-style dataset
        stamps = timed.stamps
        return (stamps[-1] - stamps[0]) / max(1, len(stamps) - 1)

    warm = run(2)
    timed_steps = max(2, int(seconds / max(warm, 1e-6)))
    return 1.0 / run(2 + timed_steps + 1)  # +1: the first resumed step only opens the interval


def bench_training(store: Path, work: Path) -> None:
    """Clips/s a training step consumes (tokenizer: 8 clips x 4 frames; dynamics: 8 x 16), CPU, fp32: steps of
    the one Trainer (worldmodel/train/trainer.py) on one batch of real clips held in memory."""
    try:
        from worldmodel.dynamics import DynamicsConfig, DynamicsObjective
        from worldmodel.tokenizer import Tokenizer, TokenizerConfig
    except ImportError as error:
        print(f"training step rate: skipped ({error})")
        return
    tokenizer = Tokenizer(TokenizerConfig())
    objectives = {"tokenizer": (tokenizer, 4)}
    try:
        objectives["dynamics"] = (DynamicsObjective(DynamicsConfig(), Tokenizer(TokenizerConfig())), 16)
    except Exception as error:  # the dynamics part may still be in progress
        print(f"dynamics step rate: skipped ({type(error).__name__}: {error})")
    for name, (module, clip_len) in objectives.items():
        dataset = open_dataset(store).clips(clip_len)
        clips = [dataset[i] for i in range(8)]
        rate = step_rate(module, clips, work / f"train_{name}")
        print(f"training step {name} (batch 8 x {clip_len} frames, CPU): {rate:.2f} steps/s = "
              f"{rate * 8:.1f} clips/s consumed")


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmark parts."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("parts", nargs="*", choices=[[], "collect", "import", "clips"],
                        help="collect, import and/or clips (default: all three)")
    parser.add_argument("--env", default="BlockWorld-v0")
    parser.add_argument("--policy", default="explorer")
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--store", type=Path, default=None, help="episode store for the clip part (default: "
                        "the collection output, or a fresh synthetic BlockWorld store)")
    parser.add_argument("--clip-len", type=int, default=16)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args(argv)
    args.parts = args.parts or ["collect", "import", "clips"]
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "collect" in args.parts:
            bench_collect(args.env, args.policy, args.episodes, args.steps, work)
        if "import" in args.parts:
            bench_import(2, 200, work)
        if "clips" in args.parts:
            store = args.store
            if store is None:
                store = work / "collect_1"
                if not store.exists():
                    collect(CollectConfig(env_id=args.env, out=str(store), policy=args.policy, episodes=4,
                                          steps=300), progress=False)
            bench_clips(store, args.clip_len, args.batch, args.batches)
            bench_training(store, work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
