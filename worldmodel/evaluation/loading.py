"""What the benchmarks run on: a world model given by name, and held-out windows of an episode store."""

from __future__ import annotations

from typing import Any

import torch

from worldmodel.evaluation.reprojection import GROUND_TRUTH
from worldmodel.model import WorldModel


def build_model(spec: str, device: str) -> WorldModel:
    """'bundled', a directory, or 'random' (untrained default configuration, for speed only)."""
    if spec == "random":
        from worldmodel.dynamics import DynamicsConfig, DynamicsModel
        from worldmodel.tokenizer import Tokenizer, TokenizerConfig

        torch.manual_seed(0)
        tokenizer = Tokenizer(TokenizerConfig())
        return WorldModel(tokenizer, DynamicsModel(DynamicsConfig(), tokenizer.vocab_size, tokenizer.grid),
                          {"note": "untrained"}, device)
    return WorldModel.load(None if spec == "bundled" else spec, device=device)


def load_windows(data: str, length: int, max_windows: int, split: str | None = None,
                 spread: bool = False) -> list[dict[str, Any]]:
    """Non-overlapping windows of `length` frames from the episodes of a store (at most max_windows), from the
    part `split` ('train' or 'held_out') of its split.json if given. In episode order, or with spread=True taken
    in turn from every long-enough episode (one window of each, then a second of each, ...), so a cap samples
    them all."""
    from worldmodel.data import open_dataset

    dataset = open_dataset(data, split=split)
    per_episode: list[list[dict[str, Any]]] = []
    total = 0
    for index, entry in enumerate(dataset.episodes):
        if int(entry["length"]) < length or (not spread and total >= max_windows):
            continue
        episode = dataset.load(index)
        env_kwargs = entry.get("env_kwargs") or {}
        blockworld = str(entry.get("env_id", "")).startswith("BlockWorld")
        windows = []
        for start in range(0, int(entry["length"]) - length + 1, length):
            acts = episode["actions"]
            window = {"frames": episode["frames"][start:start + length],
                      "actions": None if acts is None else {k: v[start:start + length - 1] for k, v in acts.items()},
                      "fov_deg": float(env_kwargs.get("fov_deg", 70.0)), "hud": bool(env_kwargs.get("hud", True))}
            for key in GROUND_TRUTH:  # BlockWorld stores: lets `reference_errors` bound what a model can do
                window[key] = episode[key][start:start + length] if blockworld and key in episode else None
            windows.append(window)
        per_episode.append(windows)
        total += len(windows)
    if not spread:
        return [w for windows in per_episode for w in windows][:max_windows]
    out: list[dict[str, Any]] = []
    for turn in range(max((len(w) for w in per_episode), default=0)):
        out += [windows[turn] for windows in per_episode if turn < len(windows)]
    return out[:max_windows]
