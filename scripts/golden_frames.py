"""Record (or check) the bundled model's frames for a fixed scripted session: the bit-for-bit reference that
refactors of the rollout path must reproduce (tests/test_golden_frames.py checks it).

    python scripts/golden_frames.py --out tests/data/golden_frames.npz     # record
    python scripts/golden_frames.py --check tests/data/golden_frames.npz   # compare

The session covers every serving path: greedy sampling and mean-field, with and without the fusion net, a batch of
two worlds, observe, snapshot/restore and re-priming one world of a batch.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

import envs  # noqa: F401  (registers BlockWorld-v0)
from envs.actions import complete_action


def prompt_frames(seed: int, count: int) -> np.ndarray:
    """`count` BlockWorld frames (64x64) of a short walk with a turn, uint8 (count, 64, 64, 3)."""
    import gymnasium

    env = gymnasium.make("BlockWorld-v0", width=64, height=64)
    obs, _ = env.reset(seed=seed)
    frames = [obs]
    for t in range(count - 1):
        obs, *_ = env.step(complete_action({"forward": 1, "camera": np.array([0.0, 4.0 if t % 2 else -2.0], np.float32)}))
        frames.append(obs)
    env.close()
    return np.stack(frames)


def script(t: int) -> dict:
    """The action of tick t: walk, turn right then left, look down a little, jump once."""
    yaw = 8.0 if t < 6 else -6.0
    return {"forward": int(t % 3 != 2), "jump": int(t == 4), "camera": np.array([1.0 if t == 7 else 0.0, yaw],
                                                                              np.float32)}


def session() -> dict[str, np.ndarray]:
    """Run the scripted session on the bundled model -> named uint8 frame arrays."""
    from worldmodel import WorldModel

    torch.set_num_threads(1)
    wm = WorldModel.load()
    wm.precision = "fp32"  # recorded in fp32 (bf16 nets give other, equally good frames)
    wm.memory = False  # the frames recorded before the spatial memory existed (tests/test_world_memory.py has it)
    a, b = prompt_frames(3, 8), prompt_frames(11, 8)
    out: dict[str, np.ndarray] = {}
    for decoding in ("sample", "mean"):
        for fusion in (True, False):
            wm.decoding, wm.fusion, wm.temperature = decoding, fusion, 0.0 if decoding == "mean" else 1.0
            wm.seed(5)
            shown = [wm.reset(a)]
            for t in range(6):
                shown.append(wm.step(script(t))[0])
            snap = wm.snapshot()
            wm.observe(b[3])
            for t in range(6, 10):
                shown.append(wm.step(script(t))[0])
            wm.restore(snap)
            for t in range(6, 10):
                shown.append(wm.step(script(t))[0])
            out[f"single_{decoding}_{int(fusion)}"] = np.stack(shown)
    wm.decoding, wm.fusion, wm.temperature = "sample", True, 1.0
    wm.seed(2)
    shown = [wm.reset(np.stack([a, b]))]
    for t in range(5):
        shown.append(wm.step([script(t), script(t + 3)])[0])
    wm.reset(a[None], worlds=[1])
    for t in range(5):
        shown.append(wm.step({"forward": np.array([1, 0]), "camera": np.array([[0.0, 5.0], [0.0, -5.0]],
                                                                               np.float32)})[0])
    out["batched"] = np.stack(shown)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="write the frames to this .npz")
    group.add_argument("--check", type=Path, help="compare with this .npz; exit 1 on any difference")
    args = parser.parse_args(argv)
    frames = session()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".npz", dir=args.out.parent)
        os.close(fd)
        np.savez_compressed(tmp, **frames)
        os.chmod(tmp, 0o644)
        os.replace(tmp, args.out)
        print(f"wrote {args.out} ({', '.join(frames)})")
        return 0
    golden = np.load(args.check)
    bad = [name for name in golden.files if not np.array_equal(golden[name], frames[name])]
    print("identical" if not bad else f"differs: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
