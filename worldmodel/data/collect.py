"""`wm collect`: record episodes of a policy in any Gymnasium env with K worker processes, atomically, resumable.

    wm collect --env BlockWorld-v0 --policy explorer --episodes 100 --steps 500 --workers 2 --out data/bw

Episode i is named ep_{i:06d} and seeded from (seed, i), so re-running skips finished episodes and the data does not
depend on how episodes were spread over workers.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from envs.policies import make_policy
from worldmodel.data.index import episode_path, episodes_dir, remove_stale_tmp, update_index
from worldmodel.data.record import make_env, record_episode, space_description
from worldmodel.data.store import DEFAULT_CHUNK


@dataclass
class CollectConfig:
    """What to record."""

    env_id: str
    """Gymnasium id (BlockWorld-v0, Crafter-v0 are registered by `import envs`; 'module:Id' imports a module
    first, e.g. 'worldmodel.dream:WorldModel-v0')."""
    out: str
    """Episode store folder."""
    policy: str = "random"
    """'random', 'explorer', 'seeker' (envs.policies) or 'package.module:Class'."""
    episodes: int = 10
    """Total episodes wanted in the store (existing ep_* are kept and skipped)."""
    steps: int = 500
    """Maximum steps per episode (frames = steps + 1 unless the env ends first)."""
    workers: int = 1
    """Parallel worker processes (1 = record in this process)."""
    seed: int = 0
    """Base seed; episode i uses a seed derived from (seed, i)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for gym.make."""
    policy_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the policy's constructor (e.g. {"noise": 0.3} for seeker)."""
    chunk_size: int = DEFAULT_CHUNK
    """Frames per compressed chunk in the episode files."""
    start_method: str = "spawn"
    """multiprocessing start method for the workers."""


def episode_name(index: int) -> str:
    """The deterministic name of episode `index`."""
    return f"ep_{index:06d}"


def episode_seed(seed: int, index: int) -> int:
    """A well-mixed 31-bit seed for episode `index` of a run with base `seed`."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0] & 0x7FFFFFFF)


_WORKER: dict[str, Any] = {}


def _init_worker(config: CollectConfig, single_thread: bool = False) -> None:
    if single_thread:  # K workers x N numba/BLAS threads would oversubscribe the cores
        for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = "1"
    _WORKER.clear()
    _WORKER["config"] = config
    try:
        _setup_worker(config)
    except Exception as error:  # a Pool initializer must not raise (the pool would restart it forever)
        _WORKER["init_error"] = f"{type(error).__name__}: {error}"


def _setup_worker(config: CollectConfig) -> None:
    env, get_frame = make_env(config.env_id, config.env_kwargs)
    policy = make_policy(config.policy, env.action_space, config.seed, **config.policy_kwargs)
    fps = (env.metadata or {}).get("render_fps") or 20
    meta = {"source": "collect", "env_id": config.env_id, "policy": config.policy, "fps": fps,
            "action_space": space_description(env.action_space), "task": config.env_kwargs.get("task"),
            "policy_kwargs": config.policy_kwargs,
            "env_kwargs": config.env_kwargs, "license": "generated with `wm collect` (no third-party footage)"}
    _WORKER.update(config=config, env=env, get_frame=get_frame, policy=policy, meta=meta)


def _run_episode(index: int) -> tuple[int, int, float, float, str | None]:
    """(index, frames, seconds, CPU seconds, error) for one episode, in a worker (or in this process)."""
    config: CollectConfig = _WORKER["config"]
    if "init_error" in _WORKER:
        return index, 0, 0.0, 0.0, _WORKER["init_error"]
    seed = episode_seed(config.seed, index)
    start, cpu = time.perf_counter(), time.process_time()
    try:
        frames = record_episode(_WORKER["env"], _WORKER["get_frame"], _WORKER["policy"], seed, config.steps,
                                episode_path(config.out, episode_name(index)), {**_WORKER["meta"], "seed": seed},
                                config.chunk_size)
    except Exception as error:  # reported by the parent; the writer already removed its temporary file
        return index, 0, time.perf_counter() - start, 0.0, f"{type(error).__name__}: {error}"
    return index, frames, time.perf_counter() - start, time.process_time() - cpu, None


def collect(config: CollectConfig, progress: bool = True) -> dict[str, Any]:
    """Record the missing episodes; returns a summary dict (episodes, frames, seconds, frames_per_s, failed)."""
    if config.episodes < 0 or config.steps < 1 or config.workers < 1:
        raise ValueError("episodes must be >= 0, steps >= 1 and workers >= 1")
    _check_env_id(config.env_id)
    out = Path(config.out)
    episodes_dir(out).mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(out)
    todo = [i for i in range(config.episodes) if not episode_path(out, episode_name(i)).exists()]
    failed: list[tuple[str, str]] = []
    frames = 0
    start = time.perf_counter()
    bar = tqdm(total=len(todo), desc=f"collect {config.env_id}", unit="ep", disable=not progress, file=sys.stderr)
    frames_box = [0, 0.0, 0.0]  # frames, wall and CPU seconds spent inside episodes (summed over workers)
    try:
        if config.workers == 1 or len(todo) <= 1:
            _init_worker(config)
            _collect_results(map(_run_episode, todo), bar, failed, frames_box)
        else:
            context = multiprocessing.get_context(config.start_method)
            with context.Pool(min(config.workers, len(todo)), _init_worker, (config, True)) as pool:
                _collect_results(pool.imap_unordered(_run_episode, todo), bar, failed, frames_box)
        frames = int(frames_box[0])
    finally:
        bar.close()
        if _WORKER.get("env") is not None:
            _WORKER.pop("env").close()
        update_index(out)
    seconds = time.perf_counter() - start
    return {"episodes": len(todo) - len(failed), "skipped_existing": config.episodes - len(todo), "frames": frames,
            "seconds": seconds, "frames_per_s": frames / seconds if seconds > 0 else 0.0, "failed": failed,
            "workers": config.workers, "episode_seconds": frames_box[1], "episode_cpu_seconds": frames_box[2]}


def _check_env_id(env_id: str) -> None:
    """Fail fast in the parent on an unknown env id (the workers would each fail otherwise)."""
    import gymnasium

    import envs  # noqa: F401  (registers BlockWorld-v0, Crafter-v0)

    try:
        if ":" in env_id:  # 'module:Id' as gymnasium.make accepts it
            module, _, env_id = env_id.partition(":")
            importlib.import_module(module)
        gymnasium.spec(env_id)
    except (gymnasium.error.Error, ImportError) as error:
        raise ValueError(f"unknown env id '{env_id}' ({error})") from error


def _collect_results(results: Any, bar: tqdm, failed: list[tuple[str, str]], frames_box: list[float]) -> None:
    for index, count, seconds, cpu, error in results:
        frames_box[1] += seconds
        frames_box[2] += cpu
        if error is not None:
            failed.append((episode_name(index), error))
        frames_box[0] += count
        bar.update(1)
        bar.set_postfix(frames=frames_box[0], failed=len(failed))


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The argument parser of `wm collect`."""
    parser = argparse.ArgumentParser(prog=prog, description="Record episodes of a policy in a Gymnasium env into "
                                     "an episode store. Re-running resumes: existing ep_* files are kept.")
    parser.add_argument("--env", required=True, dest="env_id", help="Gymnasium env id, e.g. BlockWorld-v0, Crafter-v0")
    parser.add_argument("--policy", default="random",
                        help="random | explorer | seeker | package.module:Class (default random)")
    parser.add_argument("--policy-kwargs", default="{}", help='JSON kwargs of the policy, e.g. \'{"noise": 0.3}\'')
    parser.add_argument("--episodes", type=int, default=10, help="total episodes wanted in the store (default 10)")
    parser.add_argument("--steps", type=int, default=500, help="max steps per episode (default 500)")
    parser.add_argument("--workers", type=int, default=1, help="parallel worker processes (default 1)")
    parser.add_argument("--out", required=True, help="episode store folder")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    parser.add_argument("--env-kwargs", default="{}", help='JSON kwargs for gym.make, e.g. \'{"width": 64}\'')
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK, help="frames per compressed chunk")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str], prog: str = "wm collect") -> int:
    """Entry point of `wm collect`; prints throughput; exit status 1 when episodes failed."""
    args = build_parser(prog).parse_args(argv)
    parsed: dict[str, dict[str, Any]] = {}
    for flag, text in (("--env-kwargs", args.env_kwargs), ("--policy-kwargs", args.policy_kwargs)):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            print(f"{prog}: {flag} must be a JSON object, got {text!r}", file=sys.stderr)
            return 2
        parsed[flag] = value
    config = CollectConfig(env_id=args.env_id, out=args.out, policy=args.policy, episodes=args.episodes,
                           steps=args.steps, workers=args.workers, seed=args.seed, env_kwargs=parsed["--env-kwargs"],
                           policy_kwargs=parsed["--policy-kwargs"], chunk_size=args.chunk_size)
    try:
        summary = collect(config, progress=not args.no_progress)
    except ValueError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    print(f"recorded {summary['episodes']} episode(s), {summary['frames']} frames in {summary['seconds']:.1f} s: "
          f"{summary['frames_per_s']:.0f} frames/s with {config.workers} worker(s); "
          f"{summary['skipped_existing']} already present")
    if summary["episode_seconds"] > 0:
        print(f"  per worker while recording: {summary['frames'] / summary['episode_seconds']:.0f} frames/s")
    for name, reason in summary["failed"]:
        print(f"  failed {name}: {reason}")
    return 1 if summary["failed"] else 0

