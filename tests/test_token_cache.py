"""Token cache: a store encoded once by the frozen tokenizer gives the dynamics the very tokens (and loss) that
encoding every clip gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from test_data_store import make_store
from test_self_forcing import tiny_objective
from worldmodel.data import open_dataset
from worldmodel.data.token_cache import build_token_cache, cache_path, tokenizer_key


def _episodes(root: Path) -> list[Path]:
    store = open_dataset(root)
    return [store.path(i) for i in range(len(store))]


def test_cached_clips_carry_the_tokens_encoding_gives_and_the_same_loss(tmp_path: Path) -> None:
    make_store(tmp_path / "store", [12, 9])
    objective = tiny_objective().eval()
    episodes = _episodes(tmp_path / "store")
    directory = build_token_cache(objective.tokenizer, episodes, tmp_path / "tokens", progress=False)
    assert directory.name == tokenizer_key(objective.tokenizer)
    clips = open_dataset(tmp_path / "store").clips(6, seed=1)
    clips.use_tokens(directory)
    batch = next(iter(DataLoader(clips, batch_size=4)))
    assert batch["tokens"].shape == (4, 6, 16) and batch["tokens"].dtype == torch.int64
    torch.testing.assert_close(batch["tokens"], objective.encode(batch["frames"]), rtol=0, atol=0)
    torch.manual_seed(5)
    cached, _ = objective.compute_loss(batch)
    torch.manual_seed(5)
    encoded, _ = objective.compute_loss({k: v for k, v in batch.items() if k != "tokens"})
    assert torch.equal(cached, encoded)


def test_a_built_cache_is_reused_and_a_changed_tokenizer_gets_its_own(tmp_path: Path) -> None:
    make_store(tmp_path / "store", [10])
    objective = tiny_objective()
    episodes = _episodes(tmp_path / "store")
    first = build_token_cache(objective.tokenizer, episodes, tmp_path / "tokens", progress=False)
    stamp = cache_path(first, episodes[0]).stat().st_mtime_ns
    assert build_token_cache(objective.tokenizer, episodes, tmp_path / "tokens", progress=False) == first
    assert cache_path(first, episodes[0]).stat().st_mtime_ns == stamp  # not encoded again
    with torch.no_grad():
        next(objective.tokenizer.parameters()).add_(0.5)
    second = build_token_cache(objective.tokenizer, episodes, tmp_path / "tokens", progress=False)
    assert second != first and np.load(cache_path(second, episodes[0])).shape == (10, 16)
    assert not list(first.glob(".*tmp*"))  # nothing half-written left behind
    make_store(tmp_path / "store", [12])  # the same episode name recorded again: encoded again, not read stale
    assert not cache_path(second, episodes[0]).exists()
    third = build_token_cache(objective.tokenizer, episodes, tmp_path / "tokens", progress=False)
    assert third == second and np.load(cache_path(third, episodes[0])).shape == (12, 16)


def test_missing_tokens_and_wrong_token_shapes_are_named(tmp_path: Path) -> None:
    make_store(tmp_path / "store", [10, 10])
    clips = open_dataset(tmp_path / "store").clips(4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no tokens for"):
        clips.use_tokens(tmp_path / "empty")
    objective = tiny_objective()
    batch = next(iter(DataLoader(clips, batch_size=2)))
    batch["tokens"] = torch.zeros(2, 4, 15, dtype=torch.int64)
    with pytest.raises(ValueError, match="batch 'tokens' must be integer"):
        objective.compute_loss(batch)
