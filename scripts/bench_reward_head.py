"""Reward and termination heads of a world model, teacher-forced on recorded episodes.

For every transition where an episode's reward arrives ("event") and a quiet transition `--quiet-offset` steps
before it, the model is reset on the `c` real frames ending at that transition (and the c - 1 actions between
them) and stepped once with the recorded action; its predicted reward and termination are compared with the
recording, for each context length c in --contexts. A head that learned where an episode ends inside a training
clip (instead of what happens) shows up as good numbers at one context length only.

    python scripts/bench_reward_head.py --model bundled --data data/gold_heldout --contexts 2 4 8
    # held-out data: wm collect --env BlockWorld-v0 --env-kwargs '{"task": "mine_gold"}' --policy seeker \
    #     --policy-kwargs '{"noise": 0.3, "wander": 60}' --episodes 40 --steps 150 --seed 200000 --out data/gold_heldout
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worldmodel.data import open_dataset  # noqa: E402
from worldmodel.model import WorldModel  # noqa: E402


def transitions(data: str, quiet_offset: int) -> tuple[list[tuple[dict, int]], list[tuple[dict, int]]]:
    """(episode, t) pairs of event transitions (reward != 0) and of quiet ones quiet_offset steps earlier."""
    dataset = open_dataset(data)
    events, quiet = [], []
    for index in range(len(dataset.episodes)):
        episode = dataset.load(index)
        if episode["actions"] is None or episode.get("rewards") is None:
            continue
        rewards = np.asarray(episode["rewards"])
        for t in np.flatnonzero(rewards != 0):
            events.append((episode, int(t)))
            if t - quiet_offset >= 0 and rewards[t - quiet_offset] == 0:
                quiet.append((episode, int(t - quiet_offset)))
    return events, quiet


def predict(wm: WorldModel, cases: list[tuple[dict, int]], context: int) -> tuple[np.ndarray, np.ndarray]:
    """Predicted reward and termination (one step, batched) for the cases with `context` frames before them."""
    usable = [(ep, t) for ep, t in cases if t - context + 1 >= 0]
    if not usable:
        return np.zeros(0), np.zeros(0, dtype=bool)
    frames = np.stack([ep["frames"][t - context + 1:t + 1] for ep, t in usable])  # (B, c, H, W, 3)
    keys = usable[0][0]["actions"].keys()
    past = {k: np.stack([ep["actions"][k][t - context + 1:t] for ep, t in usable]) for k in keys}  # (B, c-1, ...)
    now = {k: np.stack([ep["actions"][k][t] for ep, t in usable]) for k in keys}  # (B, ...)
    wm.seed(0)
    wm.reset(frames, past)
    _, rewards, terminated = wm.step(now)
    return np.asarray(rewards), np.asarray(terminated)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="bundled", help="WorldModel directory or 'bundled'")
    parser.add_argument("--data", required=True, help="episode store with rewards (e.g. mine_gold seeker play)")
    parser.add_argument("--contexts", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--quiet-offset", type=int, default=8, help="quiet transitions this many steps earlier")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    wm = WorldModel.load(None if args.model == "bundled" else args.model)
    events, quiet = transitions(args.data, args.quiet_offset)
    if not events:
        print(f"{args.data}: no transition with a reward", file=sys.stderr)
        return 2
    window = wm.dynamics.cfg.context_frames
    print(f"{len(events)} events, {len(quiet)} quiet transitions ({args.quiet_offset} steps earlier); "
          f"model window {window} frames")
    print(f"{'context':>7} {'n':>4} {'reward@event':>13} {'>=0.5':>6} {'term@event':>11} "
          f"{'reward@quiet':>13} {'>=0.5':>6} {'term@quiet':>11}")
    rows: list[dict[str, Any]] = []
    for context in args.contexts:
        if context > window:
            print(f"{context:>7} skipped: longer than the model's window")
            continue
        r_event, t_event = predict(wm, events, context)
        r_quiet, t_quiet = predict(wm, quiet, context)
        row = {"context": context, "events": int(r_event.size), "reward_at_event": float(r_event.mean()),
               "event_reward_ge_half": float((r_event >= 0.5).mean()), "term_at_event": float(t_event.mean()),
               "quiet": int(r_quiet.size), "reward_at_quiet": float(r_quiet.mean()) if r_quiet.size else None,
               "quiet_reward_ge_half": float((r_quiet >= 0.5).mean()) if r_quiet.size else None,
               "term_at_quiet": float(t_quiet.mean()) if t_quiet.size else None}
        rows.append(row)
        fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
        print(f"{context:>7} {row['events']:>4} {row['reward_at_event']:>13.3f} "
              f"{row['event_reward_ge_half']:>6.2f} {row['term_at_event']:>11.2f} "
              f"{fmt(row['reward_at_quiet'], '.3f'):>13} {fmt(row['quiet_reward_ge_half'], '.2f'):>6} "
              f"{fmt(row['term_at_quiet'], '.2f'):>11}")
    if args.json:
        temp = Path(f"{args.json}.tmp")  # write, then rename: no half-written file after a kill
        temp.write_text(json.dumps({"model": args.model, "data": args.data, "rows": rows}, indent=2))
        os.replace(temp, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
