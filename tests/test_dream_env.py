"""The dream env: WorldModel-v0 (check_env, seeds, reset contexts), the vector env (SAME_STEP autoreset, final
observations, world i = single env with the same seed) and the stable-baselines3 adapter (PPO runs)."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from dream_fixtures import ending_model, one_thread, tiny_model  # noqa: F401 (pytest fixtures)
from gymnasium.utils.env_checker import check_env

import worldmodel.dream  # noqa: F401 (registers WorldModel-v0)
from envs.actions import noop_action, stack_actions
from worldmodel import bundled
from worldmodel.dream.env import WorldModelEnv
from worldmodel.dream.vector import WorldModelVectorEnv
from worldmodel.model import WorldModel

FAST = dict(device="cpu", context_frames=2)


def scripted(n: int) -> list[dict]:
    """A fixed action sequence: forward, turns, a jump."""
    out = []
    for t in range(n):
        a = noop_action()
        a["forward"] = int(t % 2 == 0)
        a["jump"] = int(t == 2)
        a["camera"] = np.array([0.0, 5.0 * (t % 3 - 1)], dtype=np.float32)
        out.append(a)
    return out


def run(env: gym.Env, seed: int, actions: list[dict]) -> list[np.ndarray]:
    obs, _ = env.reset(seed=seed)
    return [obs] + [env.step(a)[0] for a in actions]


def checked(env: gym.Env) -> None:
    """check_env without the (inherent) warning about the canonical camera Box not being in [-1, 1]."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*symmetric and normalized space.*")
        check_env(env.unwrapped)


def test_registered_with_vector_entry_point() -> None:
    spec = gym.spec("WorldModel-v0")
    assert spec.entry_point == "worldmodel.dream.env:WorldModelEnv"
    assert spec.vector_entry_point == "worldmodel.dream.vector:WorldModelVectorEnv"


def test_check_env_with_tiny_model_path_and_instance(tiny_model: Path) -> None:
    env = gym.make("WorldModel-v0", model=str(tiny_model), **FAST)
    assert env.observation_space.shape == (16, 16, 3) and env.action_space.contains(noop_action())
    checked(env)
    instance = WorldModel.load(tiny_model)
    env = gym.make("WorldModel-v0", model=instance, render_mode="rgb_array", **FAST)
    checked(env)
    obs, _ = env.reset(seed=0)
    assert np.array_equal(env.render(), obs) and env.unwrapped.model is not instance  # own rollout state


@pytest.mark.skipif(not (bundled.BUNDLED_DIR / "config.json").is_file(),
                    reason="worldmodel/bundled/ is not installed yet (the bundled model is trained separately)")
def test_check_env_with_bundled_default() -> None:
    env = gym.make("WorldModel-v0", device="cpu")
    checked(env)
    assert env.observation_space.shape == env.unwrapped.model.frame_shape


def test_default_model_is_the_bundled_one(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundled, "BUNDLED_DIR", tiny_model)  # stands in for worldmodel/bundled/
    env = gym.make("WorldModel-v0", **FAST)
    checked(env)
    monkeypatch.setattr(bundled, "BUNDLED_DIR", tiny_model.parent / "missing")
    with pytest.raises(FileNotFoundError, match="bundled world model is missing"):
        gym.make("WorldModel-v0")


def test_same_seed_same_frames(tiny_model: Path) -> None:
    env = WorldModelEnv(model=tiny_model, **FAST)
    actions = scripted(6)
    first, again, other = run(env, 3, actions), run(env, 3, actions), run(env, 4, actions)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other))
    env.reset(seed=9)
    unseeded = [env.reset()[0] for _ in range(2)]  # seeds drawn from the env RNG: reproducible after reset(seed)
    env.reset(seed=9)
    np.testing.assert_array_equal(env.reset()[0], unseeded[0])


def test_reset_from_frames_in_options(tiny_model: Path) -> None:
    env = WorldModelEnv(model=tiny_model, **FAST)
    frames = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    obs, info = env.reset(seed=1, options={"frames": frames, "actions": scripted(2)})
    assert obs.shape == (16, 16, 3) and info["step"] == 0
    assert env.reset(options={"frames": frames[0]})[0].shape == (16, 16, 3)  # one frame, no actions
    as_arrays = env.reset(seed=1, options={"frames": frames, "actions": stack_actions(scripted(2))})[0]
    np.testing.assert_array_equal(as_arrays, obs)
    with pytest.raises(ValueError, match="'frames'"):
        env.reset(options={"frames": frames[:, :8]})
    with pytest.raises(ValueError, match="'actions'"):
        env.reset(options={"frames": frames, "actions": scripted(1)})
    with pytest.raises(ValueError, match="bogus"):
        env.reset(options={"bogus": 1})
    with pytest.raises(ValueError, match="context_frames"):
        WorldModelEnv(model=tiny_model, context_frames=0)
    with pytest.raises(ValueError, match="colour"):
        WorldModelEnv(model=tiny_model, colour="red")


def test_truncation_and_model_termination(tiny_model: Path, ending_model: Path) -> None:
    env = WorldModelEnv(model=tiny_model, max_episode_steps=3, **FAST)
    env.reset(seed=0)
    flags = [env.step(noop_action())[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]
    ending = WorldModelEnv(model=ending_model, **FAST)
    ending.reset(seed=0)
    assert ending.step(noop_action())[2:4] == (True, False)


def test_dataset_prompt(tiny_model: Path, tmp_path: Path) -> None:
    from worldmodel.data import episode_path, update_index, write_episode

    rng = np.random.default_rng(0)
    for index, known in enumerate((True, False)):
        frames = rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
        write_episode(episode_path(tmp_path, f"ep_{index:06d}"), frames, {"source": "test"},
                      actions=stack_actions(scripted(5)) if known else None)
    update_index(tmp_path)
    env = WorldModelEnv(model=tiny_model, prompt=f"dataset:{tmp_path}", context_frames=3, device="cpu")
    np.testing.assert_array_equal(env.reset(seed=5)[0], env.reset(seed=5)[0])
    # clips with and without actions in one batch (re-primed group by group), world i = single env seed i
    venv = WorldModelVectorEnv(num_envs=4, model=tiny_model, prompt=f"dataset:{tmp_path}", context_frames=3,
                               device="cpu")
    known = [s for s in range(20) if env.prompt(s)[1] is not None][:2]
    unknown = [s for s in range(20) if env.prompt(s)[1] is None][:2]
    seeds = [unknown[0], known[0], unknown[1], known[1]]
    obs, _ = venv.reset(seed=seeds)
    step = venv.step([noop_action()] * 4)[0]
    for i, seed in enumerate(seeds):
        np.testing.assert_array_equal(env.reset(seed=seed)[0], obs[i])
        np.testing.assert_array_equal(env.step(noop_action())[0], step[i])
    with pytest.raises(ValueError, match="no episode store"):
        WorldModelEnv(model=tiny_model, prompt=f"dataset:{tmp_path / 'missing'}", device="cpu")


def test_save_and_restore_state_branch_identically(tiny_model: Path) -> None:
    env = WorldModelEnv(model=tiny_model, **FAST)
    env.reset(seed=2)
    env.step(noop_action())
    state = env.save_state()
    actions = scripted(4)
    first = [env.step(a)[0] for a in actions]
    env.restore_state(state)
    assert env.steps == 1
    for a, frame in zip(actions, first):
        np.testing.assert_array_equal(env.step(a)[0], frame)


def test_vector_env_same_step_autoreset_and_final_obs(tiny_model: Path) -> None:
    venv = gym.make_vec("WorldModel-v0", num_envs=3, model=str(tiny_model), max_episode_steps=3, **FAST)
    assert isinstance(venv, WorldModelVectorEnv)
    assert venv.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    obs, info = venv.reset(seed=10)
    assert obs.shape == (3, 16, 16, 3) and list(info["episode_seed"]) == [10, 11, 12]
    actions = scripted(3)
    venv.step(stack_actions([actions[0]] * 3))
    obs, info = venv.reset(options={"reset_mask": np.array([True, False, False])})  # desynchronise world 0
    assert list(info["_step"]) == [True, False, False]
    obs, rew, term, trunc, info = venv.step(stack_actions([actions[1]] * 3))
    obs, rew, term, trunc, info = venv.step(stack_actions([actions[2]] * 3))  # worlds 1, 2 reach 3 steps
    assert list(trunc) == [False, True, True] and not term.any() and rew.dtype == np.float64
    assert list(info["_final_obs"]) == [False, True, True] and list(info["_final_info"]) == [False, True, True]
    assert info["final_obs"][0] is None and info["final_obs"][1].shape == (16, 16, 3)
    assert list(info["final_info"]["step"][1:]) == [3, 3] and list(info["step"]) == [2, 0, 0]
    # world 1 equals a single env reset with its seed: the final frame, then the next episode's first frame
    single = WorldModelEnv(model=tiny_model, **FAST)
    np.testing.assert_array_equal(run(single, 11, actions)[-1], info["final_obs"][1])
    np.testing.assert_array_equal(single.reset(seed=int(info["episode_seed"][1]))[0], obs[1])


def test_vector_env_terminations_and_shared_context(ending_model: Path) -> None:
    venv = WorldModelVectorEnv(num_envs=2, model=ending_model, **FAST)
    frames = np.random.default_rng(1).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    obs, _ = venv.reset(seed=0, options={"frames": frames})
    assert obs.shape == (2, 16, 16, 3)
    obs, rew, term, trunc, info = venv.step([noop_action(), noop_action()])
    assert term.all() and not trunc.any() and info["_final_obs"].all()
    with pytest.raises(ValueError, match="reset_mask"):
        venv.reset(options={"reset_mask": np.array([False, False])})


def test_sb3_ppo_runs_through_the_adapter(tiny_model: Path) -> None:
    from stable_baselines3 import PPO

    from worldmodel.dream.sb3 import DreamVecEnv

    venv = DreamVecEnv(num_envs=2, model=tiny_model, max_episode_steps=8, **FAST)
    assert venv.action_space.nvec.tolist() == [2] * 9 + [10, 11, 11]
    venv.seed(0)
    venv.reset()
    venv.step_async(np.array([[1] + [0] * 8 + [3, 5, 10]] * 2))
    venv.step_wait()
    decoded = venv.decode(np.array([[1] + [0] * 8 + [3, 5, 10]]))
    assert decoded["forward"][0] == 1 and decoded["hotbar.3"][0] == 1 and decoded["camera"][0, 0] == 0.0
    assert decoded["camera"][0, 1] == pytest.approx(10.0)
    dones_seen = []
    for _ in range(7):
        venv.step_async(np.array([venv.action_space.sample() for _ in range(2)]))
        obs, rewards, dones, infos = venv.step_wait()
        dones_seen.append(dones.copy())
    assert dones_seen[-1].all() and infos[0]["terminal_observation"].shape == (16, 16, 3)
    assert infos[0]["TimeLimit.truncated"] is True
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=64, n_epochs=2, seed=0, device="cpu",
                policy_kwargs={"net_arch": [16]})
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256
    assert any(not torch.equal(a, b) for a, b in zip(before, model.policy.parameters()))
    discrete = DreamVecEnv(num_envs=2, model=tiny_model, actions="discrete", **FAST)
    assert discrete.action_space.n == 24
    assert discrete.decode(np.array([1, 9]))["forward"].tolist() == [1, 0]
