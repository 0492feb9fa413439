"""`wm collect`: episodes from a tiny image env, Crafter and BlockWorld; workers, resume, policies."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.envs.registration import register, registry

from envs.actions import action_space
from envs.policies import make_policy
from worldmodel.data import load_episode, open_dataset
from worldmodel.data.collect import CollectConfig, collect, episode_seed, main as collect_main


class TinyImageEnv(gymnasium.Env):
    """8x8 frames whose brightness is the step count; Discrete(3) actions; ends after `limit` steps."""

    metadata = {"render_modes": [], "render_fps": 15}

    def __init__(self, limit: int = 1000) -> None:
        self.observation_space = spaces.Box(0, 255, (8, 8, 3), np.uint8)
        self.action_space = spaces.Discrete(3)
        self.limit, self.t = limit, 0

    def _obs(self) -> np.ndarray:
        return np.full((8, 8, 3), self.t % 256, np.uint8)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = int(self.np_random.integers(0, 100))
        return self._obs(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        return self._obs(), float(action), self.t % 1000 >= self.limit, False, {}


if "TinyImage-v0" not in registry:
    register(id="TinyImage-v0", entry_point=f"{__name__}:TinyImageEnv")
TINY = f"{__name__}:TinyImage-v0"  # the module prefix lets spawned workers import this file and its registration


def test_collect_tiny_env_and_resume(tmp_path: Path) -> None:
    summary = collect(CollectConfig(env_id=TINY, out=str(tmp_path), episodes=3, steps=10, seed=5), progress=False)
    assert summary["episodes"] == 3 and summary["frames"] == 33 and not summary["failed"]
    episode = load_episode(tmp_path / "episodes" / "ep_000001.npz")
    assert episode["frames"].shape == (11, 8, 8, 3) and episode["actions"] is None
    assert episode["raw_actions"]["action"].shape == (10,)
    assert np.array_equal(episode["rewards"], episode["raw_actions"]["action"].astype(np.float32))
    assert np.all(np.diff(episode["frames"][:, 0, 0, 0].astype(int)) == 1)  # frame t+1 follows action t
    assert episode["truncated"][-1] and not episode["terminated"].any()
    assert episode["meta"]["seed"] == episode_seed(5, 1) and episode["meta"]["fps"] == 15
    again = collect(CollectConfig(env_id=TINY, out=str(tmp_path), episodes=4, steps=10, seed=5), progress=False)
    assert again["skipped_existing"] == 3 and again["episodes"] == 1
    assert len(open_dataset(tmp_path)) == 4


def test_collect_two_workers_matches_one(tmp_path: Path) -> None:
    one = collect(CollectConfig(env_id=TINY, out=str(tmp_path / "a"), episodes=3, steps=6), progress=False)
    two = collect(CollectConfig(env_id=TINY, out=str(tmp_path / "b"), episodes=3, steps=6, workers=2),
                  progress=False)
    assert one["frames"] == two["frames"] == 21 and not two["failed"]
    for name in ("ep_000000", "ep_000002"):
        a = load_episode(tmp_path / "a" / "episodes" / f"{name}.npz")
        b = load_episode(tmp_path / "b" / "episodes" / f"{name}.npz")
        assert np.array_equal(a["frames"], b["frames"]) and np.array_equal(a["rewards"], b["rewards"])


def test_collect_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert collect_main(["--env", "NoSuchEnv-v9", "--out", str(tmp_path)]) == 2
    assert "NoSuchEnv-v9" in capsys.readouterr().err
    assert collect_main(["--env", TINY, "--out", str(tmp_path), "--env-kwargs", "[1]"]) == 2
    code = collect_main(["--env", TINY, "--out", str(tmp_path), "--policy", "nope", "--episodes", "1",
                         "--no-progress"])
    assert code == 1 and "unknown policy 'nope'" in capsys.readouterr().out
    assert not list((tmp_path / "episodes").iterdir())  # nothing half-written


@pytest.mark.skipif(importlib.util.find_spec("crafter") is None, reason="crafter not installed")
def test_collect_crafter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = collect_main(["--env", "Crafter-v0", "--episodes", "1", "--steps", "12", "--out", str(tmp_path),
                         "--no-progress"])
    assert code == 0 and "frames/s with 1 worker(s)" in capsys.readouterr().out
    episode = load_episode(tmp_path / "episodes" / "ep_000000.npz")
    assert episode["frames"].shape == (13, 64, 64, 3) and episode["raw_actions"]["action"].dtype.kind == "i"
    from envs.crafter_actions import to_crafter  # the canonical actions are stored too: action-conditioned data

    canonical = [{key: value[t] for key, value in episode["actions"].items()} for t in range(12)]
    assert [to_crafter(a) for a in canonical] == episode["raw_actions"]["action"].tolist()


def blockworld_available() -> bool:
    try:
        import envs.blockworld.env  # noqa: F401
    except Exception:
        return False
    return True


@pytest.mark.skipif(not blockworld_available(), reason="envs.blockworld.env does not import yet")
def test_collect_blockworld_explorer_with_ground_truth(tmp_path: Path) -> None:
    summary = collect(CollectConfig(env_id="BlockWorld-v0", out=str(tmp_path), policy="explorer", episodes=1,
                                    steps=40, env_kwargs={"width": 32, "height": 32}), progress=False)
    assert not summary["failed"], summary["failed"]
    episode = load_episode(tmp_path / "episodes" / "ep_000000.npz")
    assert episode["frames"].shape == (41, 32, 32, 3) and episode["meta"]["action_known"]
    assert episode["depth"].shape == (41, 32, 32) and episode["depth"].dtype == np.float16
    assert episode["block_ids"].dtype == np.uint8 and episode["pose"].shape == (41, 5)
    assert episode["actions"]["camera"].shape == (40, 2)


def test_explorer_is_seeded_smooth_and_varied() -> None:
    policy = make_policy("explorer", action_space(), seed=3)
    run = [policy.act(None, {}) for _ in range(1500)]
    assert set(policy.history) == {n for n, w in policy.WEIGHTS.items() if w > 0}  # every behaviour shows up
    camera = np.array([a["camera"] for a in run])
    assert np.abs(camera).max() <= 20.0  # no jumps of the view
    moving = np.abs(camera).sum(1) > 0
    assert 0.1 < moving.mean() < 0.9
    # smooth: the camera velocity changes little from step to step (eased turns, not jitter)
    assert np.median(np.abs(np.diff(camera, axis=0)).sum(1)[moving[1:]]) < 3.0
    for key in ("forward", "jump", "attack", "use"):
        assert any(a[key] for a in run), key
    again = make_policy("explorer", action_space(), seed=3)
    assert all(np.array_equal(again.act(None, {})["camera"], a["camera"]) for a in run[:200])


def test_explorer_edit_behaviour_breaks_and_places_blocks() -> None:
    """The opt-in `edit` behaviour (the edit-heavy training store) really changes the world both ways."""
    env = gymnasium.make("BlockWorld-v0", width=32, height=32)
    policy = make_policy("explorer", env.action_space, seed=4, weights={"edit": 1.0, "walk": 0.0, "look": 0.0,
                         "turn_back": 0.0, "loop": 0.0, "mine": 0.0, "place": 0.0, "idle": 0.0})
    obs, info = env.reset(seed=4)
    for _ in range(150):
        obs, _, _, _, info = env.step(policy.act(obs, info))
    edits = env.unwrapped.edits  # (tick, x, y, z, old id, new id)
    assert set(policy.history) == {"edit"}
    assert sum(e[5] == 0 for e in edits) >= 3 and sum(e[5] != 0 for e in edits) >= 2, edits


def test_random_policy_seeded() -> None:
    a, b = make_policy("random", action_space(), 1), make_policy("random", action_space(), 1)
    acts = [a.act(None, {}) for _ in range(50)]
    assert all(np.array_equal(x["camera"], b.act(None, {})["camera"]) for x in acts)
    assert np.abs(np.array([x["camera"] for x in acts])).mean() < 10
    discrete = make_policy("random", spaces.Discrete(4), 2)
    assert all(0 <= discrete.act(None, {}) < 4 for _ in range(10))
    with pytest.raises(ValueError, match="canonical"):
        make_policy("explorer", spaces.Discrete(4), 0)
