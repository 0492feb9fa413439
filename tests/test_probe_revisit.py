"""`wm probe --data STORE`: revisits found in a tiny recorded BlockWorld store (from poses and from the summed
camera alone), scored for the bundled model with copy-last and the earlier recorded view as references."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from envs.actions import noop_action
from envs.blockworld.env import BlockWorldEnv
from worldmodel.data import open_dataset, update_index, write_episode
from worldmodel.probes.cli import main
from worldmodel.probes.revisit import RevisitConfig, find_revisits


def _turns(yaw: float, n: int, step: float = 10.0) -> list[dict]:
    out = []
    for _ in range(n):
        action = noop_action()
        action["camera"] = np.array([0.0, yaw * step], np.float32)
        out.append(action)
    return out


def _walk(n: int) -> list[dict]:
    out = []
    for _ in range(n):
        action = noop_action()
        action["forward"] = 1
        out.append(action)
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One recorded 64x64 episode: look around, turn 90 degrees away and back (twice), walk off at the end."""
    root = tmp_path_factory.mktemp("store")
    env = BlockWorldEnv(width=64, height=64, max_episode_steps=0)
    env.reset(seed=4)
    script = _turns(-1, 3) + _turns(1, 3) + [noop_action()] * 6 + _turns(1, 9) + _turns(-1, 9) + [noop_action()] * 2
    script += _turns(-1, 8) + _turns(1, 8) + _walk(6)
    frames, ids, poses = [env.observe().copy()], [env.ground_truth()["block_ids"]], [env.player.pose()]
    for action in script:
        env.step(action)
        gt = env.ground_truth()
        frames.append(env.observe().copy())
        ids.append(gt["block_ids"])
        poses.append(gt["pose"])
    actions = {k: np.array([a[k] for a in script]) for k in script[0]}
    write_episode(root / "episodes" / "ep_000000.npz", np.stack(frames), {"source": "test"},
                  block_ids=np.stack(ids), actions=actions, pose=np.stack(poses))
    update_index(root)
    return root


def test_revisits_from_poses_and_from_the_camera(store: Path) -> None:
    episode = open_dataset(store).load(0)
    by_pose = find_revisits(episode, RevisitConfig())
    by_camera = find_revisits({k: v for k, v in episode.items() if k != "pose"}, RevisitConfig())
    assert len(by_pose) == 2 and [r.source for r in by_pose] == ["pose", "pose"]
    assert [(r.anchor, r.target) for r in by_camera] == [(r.anchor, r.target) for r in by_pose]
    for r in by_pose:  # the prompt holds the anchor but ends where the view has left; the view then returns
        assert r.prompt_end - 11 <= r.anchor < r.prompt_end < r.target and r.angle_deg <= 5.0


def test_wm_probe_data_scores_the_bundled_model(store: Path, tmp_path: Path) -> None:
    assert main(["--data", str(store), "--model", "bundled", "--out", str(tmp_path), "--quiet"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["n_revisits"] == 2 and results["schema_version"] == 2
    psnr, ids = results["metrics"]["psnr"]["raw"], results["metrics"]["ids"]["raw"]
    assert psnr["earlier_view"] > psnr["copy_last"] + 3  # the earlier view is close to the revisit, copying is not
    assert ids["recorded"] > 0.9 and ids["earlier_view"] > ids["copy_last"]
    changed = results["metrics"]["changed_ids"]["raw"]  # the headline: pixels copying the prompt's end misses
    assert changed["copy_last"] < 0.1 < 0.8 < changed["earlier_view"] and 0 <= changed["model"] <= 1
    assert set(psnr) == {"model", "copy_last", "earlier_view"} and "| psnr |" in (tmp_path / "report.md").read_text()


def test_wm_probe_data_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--data", str(tmp_path / "none"), "--model", "copy-last", "--out", str(tmp_path)]) == 2
    assert "not an episode store" in capsys.readouterr().err
