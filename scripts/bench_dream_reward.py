"""Dream reward calibration: the same action sequences from the same BlockWorld states, in the dream and for real.

Each start is a live `mine_gold` state reached by the noisy scripted seeker (the contexts `wm agent train` uses:
`agents.imagination.LiveContexts`). From it a random sequence over the agent's 10 actions runs `--horizon` steps in
BlockWorld, and the same sequence runs in each world model's dream primed with the start's last 8 frames. A dream
that pays where BlockWorld does not (false hits) hands an agent reward to chase; one that never pays leaves it
nothing to learn from. Both show up here, with no agent training involved.

    python scripts/bench_dream_reward.py --model bundled runs/dyn_H/world_model --starts 128 --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.action_set import ActionSet  # noqa: E402
from agents.imagination import LiveContexts  # noqa: E402
from worldmodel.model import WorldModel  # noqa: E402


def real_rollouts(starts: int, horizon: int, seed: int, context: int) -> dict[str, Any]:
    """Seeded live starts, random action indices (S, horizon) and the real rewards and ends they earn."""
    live = LiveContexts("mine_gold", context, (64, 64, 3), seed=seed, pool=0)
    action_set, rng = ActionSet(), np.random.default_rng(seed + 1)
    frames, actions, indices, rewards = [], [], [], []
    while len(frames) < starts:
        clip, clip_actions = live._play()
        if live.ended:  # the seeker already mined the gold: nothing left to earn
            continue
        index = rng.integers(len(action_set), size=horizon)
        earned = np.zeros(horizon, np.float32)
        for t, i in enumerate(index):
            _, reward, terminated, _, _ = live.env.step(action_set.action(int(i)))
            earned[t] = reward
            if terminated:
                break
        frames.append(clip), actions.append(clip_actions), indices.append(index), rewards.append(earned)
    keys = actions[0].keys()
    return {"frames": np.stack(frames), "actions": {k: np.stack([a[k] for a in actions]) for k in keys},
            "indices": np.stack(indices), "rewards": np.stack(rewards)}


def dream_rewards(path: str, starts: dict[str, Any], temperature: float, seed: int) -> np.ndarray:
    """Predicted rewards (S, horizon) of the same action sequences in a model's dream (0 after a predicted end)."""
    world = WorldModel.load(path)
    world.temperature = temperature
    world.seed(seed)
    world.reset(starts["frames"], starts["actions"])
    action_set = ActionSet()
    alive = np.ones(len(starts["frames"]), bool)
    out = np.zeros(starts["indices"].shape, np.float32)
    for t in range(starts["indices"].shape[1]):
        _, reward, terminated = world.step(action_set.batch(starts["indices"][:, t]))
        out[:, t] = np.where(alive, reward, 0.0)
        alive &= ~np.asarray(terminated)
    return out


def summary(predicted: np.ndarray, real: np.ndarray, threshold: float) -> dict[str, float]:
    """Hit rates and the confusion of 'this rollout earns the reward' between dream and BlockWorld."""
    dream_hit, real_hit = (predicted >= threshold).any(1), (real > 0).any(1)
    return {"real_hit_rate": float(real_hit.mean()), "dream_hit_rate": float(dream_hit.mean()),
            "true_hits": int((dream_hit & real_hit).sum()), "false_hits": int((dream_hit & ~real_hit).sum()),
            "missed_hits": int((~dream_hit & real_hit).sum()),
            "real_return": float(real.sum(1).mean()), "dream_return": float(predicted.sum(1).mean())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", default=["bundled"], help="WorldModel directories or 'bundled'")
    parser.add_argument("--starts", type=int, default=128)
    parser.add_argument("--horizon", type=int, default=16, help="steps per rollout (wm agent train imagines 16)")
    parser.add_argument("--temperature", type=float, default=1.0, help="dream sampling (the agent default)")
    parser.add_argument("--threshold", type=float, default=0.5, help="predicted reward that counts as a hit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    starts = real_rollouts(args.starts, args.horizon, args.seed, context=8)
    results = {}
    for path in args.model:
        results[path] = summary(dream_rewards(path, starts, args.temperature, args.seed), starts["rewards"],
                                args.threshold)
        row = results[path]
        print(f"{path}: BlockWorld hits {row['real_hit_rate']:.3f}, dream hits {row['dream_hit_rate']:.3f} "
              f"(true {row['true_hits']}, false {row['false_hits']}, missed {row['missed_hits']} of "
              f"{args.starts}); mean return real {row['real_return']:.3f}, dream {row['dream_return']:.3f}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
