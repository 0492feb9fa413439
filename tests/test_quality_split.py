"""`wm bench quality --split held_out --spread`: windows from the held-out episodes only, taken from each in turn."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from worldmodel.data import update_index, write_episode
from worldmodel.data.split import make_split
from worldmodel.evaluation.loading import load_windows


def test_windows_come_from_the_split_and_spread_over_its_episodes(tmp_path: Path) -> None:
    for i in range(6):  # every frame of episode i has brightness 10 * i: a window's source is its colour
        write_episode(tmp_path / "episodes" / f"ep_{i}.npz", np.full((12, 8, 8, 3), 10 * i, np.uint8),
                      meta={"source": "test", "fps": 20})
    update_index(tmp_path)
    split = make_split(tmp_path, 0.5)
    held = sorted(int(f[3]) for f in split["held_out"])

    def sources(windows: list[dict]) -> list[int]:
        return [int(w["frames"][0, 0, 0, 0]) // 10 for w in windows]

    first = load_windows(str(tmp_path), 4, 3, split="held_out")
    assert sources(first) == [held[0]] * 3  # in order: the first episode's windows fill the cap
    spread = load_windows(str(tmp_path), 4, 4, split="held_out", spread=True)
    assert sources(spread) == [*held, held[0]]
    assert set(sources(load_windows(str(tmp_path), 4, 99, split="train"))) == set(range(6)) - set(held)
