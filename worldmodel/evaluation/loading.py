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


def load_windows(data: str, length: int, max_windows: int) -> list[dict[str, Any]]:
    """Non-overlapping windows of `length` frames from the episodes of a store (at most max_windows)."""
    from worldmodel.data import open_dataset

    dataset = open_dataset(data)
    out: list[dict[str, Any]] = []
    for index, entry in enumerate(dataset.episodes):
        if int(entry["length"]) < length:
            continue
        episode = dataset.load(index)
        env_kwargs = entry.get("env_kwargs") or {}
        blockworld = str(entry.get("env_id", "")).startswith("BlockWorld")
        for start in range(0, int(entry["length"]) - length + 1, length):
            acts = episode["actions"]
            window = {"frames": episode["frames"][start:start + length],
                      "actions": None if acts is None else {k: v[start:start + length - 1] for k, v in acts.items()},
                      "fov_deg": float(env_kwargs.get("fov_deg", 70.0)), "hud": bool(env_kwargs.get("hud", True))}
            for key in GROUND_TRUTH:  # BlockWorld stores: lets `reference_errors` bound what a model can do
                window[key] = episode[key][start:start + length] if blockworld and key in episode else None
            out.append(window)
            if len(out) >= max_windows:
                return out
    return out
