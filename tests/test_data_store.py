"""Episode store: round trip, chunked random access, atomic writes, index, clip dataset, `wm data info`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from envs.actions import ACTION_KEYS, BINARY_KEYS, noop_action, stack_actions
from worldmodel.data import EpisodeReader, EpisodeWriter, load_episode, open_dataset, update_index, write_episode
from worldmodel.data.cli import dataset_info, main as data_main
from worldmodel.data.index import episode_path, remove_stale_tmp


def random_actions(steps: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    acts = []
    for _ in range(steps):
        a = noop_action()
        a["forward"] = int(rng.integers(2))
        a["camera"] = rng.normal(0, 3, 2).astype(np.float32)
        acts.append(a)
    return stack_actions(acts)


def make_store(root: Path, lengths: list[int], size: int = 16, actions: bool = True, truth: bool = False) -> None:
    rng = np.random.default_rng(0)
    for i, length in enumerate(lengths):
        frames = rng.integers(0, 255, (length, size, size, 3), dtype=np.uint8)
        extra = {}
        if truth:
            extra = {"depth": rng.random((length, size, size)).astype(np.float16),
                     "block_ids": rng.integers(0, 19, (length, size, size), dtype=np.uint8),
                     "pose": rng.random((length, 5)).astype(np.float32)}
        write_episode(episode_path(root, f"ep_{i:06d}"), frames, meta={"source": "test", "fps": 20}, chunk_size=8,
                      actions=random_actions(length - 1, i) if actions else None,
                      rewards=np.arange(length - 1, dtype=np.float32), **extra)
    update_index(root)


def test_round_trip_and_random_access(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (37, 12, 20, 3), dtype=np.uint8)
    acts = random_actions(36)
    raw = [{"key": i, "nested": {"x": [1, 2]}} for i in range(36)]
    path = write_episode(tmp_path / "episodes" / "a.npz", frames, meta={"source": "t", "fps": 20, "seed": 3},
                         chunk_size=8, actions=acts, raw_actions=raw, terminated=np.arange(36) == 35,
                         pose=np.zeros((37, 5), np.float32))
    episode = load_episode(path)
    assert episode["frames"].shape == (37, 12, 20, 3) and episode["frames"].dtype == np.uint8
    assert np.array_equal(episode["frames"], frames)
    assert set(episode["actions"]) == set(ACTION_KEYS)
    assert episode["actions"]["camera"].dtype == np.float32 and episode["actions"]["camera"].shape == (36, 2)
    assert np.array_equal(episode["actions"]["forward"], acts["forward"])
    assert episode["raw_actions"] == raw and episode["terminated"][-1] and episode["pose"].shape == (37, 5)
    assert episode["meta"]["width"] == 20 and episode["meta"]["height"] == 12 and episode["meta"]["seed"] == 3
    reader = EpisodeReader(path)
    for start, stop in [(0, 1), (5, 21), (8, 16), (30, 37), (0, 37)]:
        assert np.array_equal(reader.read("frames", start, stop), frames[start:stop])
    with pytest.raises(ValueError, match="outside"):
        reader.read("frames", 30, 40)
    with pytest.raises(ValueError, match="missing key 'depth.00000'"):
        reader.read("depth", 0, 2)
    reader.close()


def test_writer_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "episodes" / "x.npz"
    with pytest.raises(RuntimeError):
        with EpisodeWriter(target, {}) as writer:
            writer.append(np.zeros((5, 4, 4, 3), np.uint8))
            raise RuntimeError("crash mid-episode")
    assert list(target.parent.iterdir()) == []
    with pytest.raises(ValueError, match="'rewards' has length 2, expected 4"):
        write_episode(target, np.zeros((5, 4, 4, 3), np.uint8), rewards=np.zeros(2))
    assert list(target.parent.iterdir()) == []
    camera = random_actions(4)
    camera["camera"][2, 0] = np.nan
    with pytest.raises(ValueError, match="'camera' is not finite at step 2"):
        write_episode(target, np.zeros((5, 4, 4, 3), np.uint8), actions=camera)
    assert list(target.parent.iterdir()) == []
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    stale = target.parent / f".y.npz.tmp-{dead.stdout.strip()}-0123abcd"  # its writer is gone
    stale.write_bytes(b"half")
    live = target.parent / f".z.npz.tmp-{os.getppid()}-0123abcd"  # its writer still runs: another import
    live.write_bytes(b"half")
    assert remove_stale_tmp(tmp_path) == [stale] and not stale.exists() and live.exists()


def test_bad_episode_file_names_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        load_episode(bad)


def test_index_and_clips(tmp_path: Path) -> None:
    make_store(tmp_path, [20, 5, 12], truth=True)
    index = json.loads((tmp_path / "index.json").read_text())
    assert [e["length"] for e in index["episodes"]] == [20, 5, 12]
    dataset = open_dataset(tmp_path)
    assert len(dataset) == 3 and dataset.num_frames == 37
    clips = dataset.clips(6, seed=1, ground_truth=True)
    assert len(clips) == (20 - 6 + 1) + (12 - 6 + 1)  # the 5-frame episode is too short
    starts = {clips.window(i) for i in range(len(clips))}
    assert len(starts) == len(clips)  # the seeded order is a permutation of all windows
    item = clips[0]
    assert item["frames"].shape == (6, 16, 16, 3) and item["frames"].dtype == torch.uint8
    assert item["actions"]["camera"].shape == (5, 2) and item["actions"]["jump"].shape == (5,)
    assert bool(item["action_known"]) and item["rewards"].dtype == torch.float32
    assert item["terminated"].dtype == torch.bool and item["depth"].shape == (6, 16, 16)
    path, start = clips.window(0)
    episode = load_episode(path)
    assert np.array_equal(item["frames"].numpy(), episode["frames"][start:start + 6])
    assert np.array_equal(item["rewards"].numpy(), episode["rewards"][start:start + 5])
    assert open_dataset(tmp_path).clips(6, seed=2).window(0) != clips.window(0) or len(clips) < 3


def test_action_free_clips_and_loader_workers(tmp_path: Path) -> None:
    make_store(tmp_path, [30, 30], actions=False)
    (tmp_path / "index.json").unlink()  # the dataset works without an index too
    clips = open_dataset(tmp_path).clips(8, stride=4)
    assert len(clips) == 2 * ((30 - 8) // 4 + 1)
    loader = torch.utils.data.DataLoader(clips, batch_size=4, num_workers=2)
    batch = next(iter(loader))
    assert batch["frames"].shape == (4, 8, 16, 16, 3)
    assert not batch["action_known"].any() and batch["actions"]["camera"].abs().sum() == 0
    assert set(batch["actions"]) == set(BINARY_KEYS) | {"camera"}


def test_clip_errors(tmp_path: Path) -> None:
    make_store(tmp_path, [10])
    write_episode(episode_path(tmp_path, "other"), np.zeros((10, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="frame size"):
        open_dataset(tmp_path).clips(4)
    with pytest.raises(ValueError, match="no episode has 50 frames"):
        open_dataset(tmp_path).clips(50)
    with pytest.raises(ValueError, match="no ground truth"):
        open_dataset(tmp_path).clips(4, ground_truth=True)


def test_data_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_store(tmp_path, [21, 41])
    info = dataset_info(tmp_path)
    assert info["episodes"] == 2 and info["frames"] == 62
    assert info["hours"] == pytest.approx(62 / 20 / 3600)
    assert info["resolutions"] == {"16x16": 2} and info["actions"]["labelled_steps"] == 60
    assert 0 < info["actions"]["press_rate"]["forward"] < 1
    assert data_main(["info", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 62
    assert data_main(["info", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "episodes     2" in text and "camera yaw" in text
    assert data_main(["info", str(tmp_path / "missing")]) == 2


def test_event_repeat_lists_reward_windows_again(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for i, length in enumerate([12, 9]):  # one reward mid-episode in ep 0, a termination at the end of ep 1
        rewards = np.zeros(length - 1, np.float32)
        terminated = np.zeros(length - 1, bool)
        if i == 0:
            rewards[5] = 1.0
        else:
            terminated[-1] = True
        write_episode(episode_path(tmp_path, f"ep_{i:06d}"), rng.integers(0, 255, (length, 8, 8, 3), dtype=np.uint8),
                      meta={"source": "test", "fps": 20}, actions=random_actions(length - 1, i), rewards=rewards,
                      terminated=terminated)
    update_index(tmp_path)
    plain = open_dataset(tmp_path).clips(4)
    boosted = open_dataset(tmp_path).clips(4, event_repeat=2)
    # transition 5 lies in the windows starting at frames 3, 4, 5; the last transition of ep 1 in one window
    assert sorted(boosted.events) == sorted([(0, 3), (0, 4), (0, 5), (1, 5)] * 2)
    assert len(boosted) == len(plain) + 8
    items = [boosted[i] for i in range(len(boosted))]
    with_event = sum(bool(it["rewards"].any() or it["terminated"].any()) for it in items)
    assert with_event == 4 + 8  # every listed event window really holds its event
    with pytest.raises(ValueError, match="event_repeat"):
        open_dataset(tmp_path).clips(4, event_repeat=-1)


def test_pad_end_puts_the_episode_end_at_every_clip_position(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (9, 8, 8, 3), dtype=np.uint8)
    terminated = np.zeros(8, bool)
    terminated[-1] = True
    write_episode(episode_path(tmp_path, "ep_000000"), frames, meta={"source": "test", "fps": 20},
                  actions=random_actions(8, 0), rewards=terminated.astype(np.float32), terminated=terminated)
    update_index(tmp_path)
    plain = open_dataset(tmp_path).clips(4)
    padded = open_dataset(tmp_path).clips(4, pad_end=2, event_repeat=1)
    assert len(plain) == 6 and len(padded) == 8 + 3  # two windows run off the end; three hold the end
    positions = set()
    for i in range(len(padded)):
        item = padded[i]
        assert item["frames"].shape == (4, 8, 8, 3) and item["valid"].shape == (3,)
        if item["terminated"].any():
            t = int(np.flatnonzero(item["terminated"].numpy())[0])
            positions.add(t)
            assert item["valid"][: t + 1].all() and not item["valid"][t + 1:].any()  # nothing after the end counts
            assert torch.equal(item["frames"][t + 1], item["frames"][-1])  # the last frame repeated
            assert not item["rewards"][t + 1:].any() and not item["actions"]["forward"][t + 1:].any()
    assert positions == {0, 1, 2}  # not only the last position
    assert all(bool(plain[i]["valid"].all()) for i in range(len(plain)))
    with pytest.raises(ValueError, match="pad_end"):
        open_dataset(tmp_path).clips(4, pad_end=3)
