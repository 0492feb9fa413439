"""`wm data split`: a reproducible train / held-out split by episode, read by open_dataset(dir, split=...)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from worldmodel.data import open_dataset, update_index, write_episode
from worldmodel.data.cli import main as data_main
from worldmodel.data.index import episode_path


def make_store(root: Path, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        write_episode(episode_path(root, f"ep_{i:03d}"), np.full((6, 8, 8, 3), i, np.uint8),
                      meta={"source": "test", "fps": 20})
    update_index(root)


def test_split_is_by_episode_reproducible_and_read_by_open_dataset(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    make_store(tmp_path, 20)
    assert data_main(["split", str(tmp_path), "--held-out", "0.1", "--seed", "3"]) == 0
    assert "18 train, 2 held out" in capsys.readouterr().out
    first = json.loads((tmp_path / "split.json").read_text())
    assert data_main(["split", str(tmp_path), "--held-out", "0.1", "--seed", "3"]) == 0
    assert json.loads((tmp_path / "split.json").read_text()) == first  # same seed, same split
    data_main(["split", str(tmp_path), "--held-out", "0.1", "--seed", "4"])
    assert json.loads((tmp_path / "split.json").read_text())["held_out"] != first["held_out"]
    data_main(["split", str(tmp_path), "--held-out", "0.1", "--seed", "3"])
    train, held = open_dataset(tmp_path, split="train"), open_dataset(tmp_path, split="held_out")
    assert len(train) == 18 and len(held) == 2 and len(open_dataset(tmp_path)) == 20
    assert not {e["file"] for e in train.episodes} & {e["file"] for e in held.episodes}
    assert [e["file"] for e in held.episodes] == first["held_out"]
    assert len(held.clips(4)) == 2 * 3  # clips come from held-out episodes only
    make_store(tmp_path, 1, start=20)  # added after the split
    with pytest.raises(ValueError, match=r"split.json: does not list 1 episode\(s\).*ep_020"):
        open_dataset(tmp_path, split="train")


def test_split_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_store(tmp_path, 3)
    with pytest.raises(ValueError, match="no split"):
        open_dataset(tmp_path, split="train")
    assert data_main(["split", str(tmp_path), "--held-out", "1.5"]) == 2
    assert "between 0 and 1" in capsys.readouterr().err
    data_main(["split", str(tmp_path), "--held-out", "0.01"])
    assert len(open_dataset(tmp_path, split="held_out")) == 1  # at least one episode held out
    with pytest.raises(ValueError, match="split must be one of"):
        open_dataset(tmp_path, split="test")
    (tmp_path / "split.json").write_text("{oops")
    with pytest.raises(ValueError, match="split.json:1: invalid JSON"):
        open_dataset(tmp_path, split="train")
