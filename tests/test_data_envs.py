"""Gymnasium wrappers owned by the data part: Crafter (seeded reset, copied info) and the optional MineRL env."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from envs.minerl_env import minerl_available

crafter_missing = importlib.util.find_spec("crafter") is None


@pytest.mark.skipif(crafter_missing, reason="crafter not installed (pip install 'worldmodel[crafter]')")
def test_crafter_env_seeded_and_copied_info() -> None:
    import gymnasium

    import envs  # noqa: F401

    env = gymnasium.make("Crafter-v0")
    obs_a, _ = env.reset(seed=7)
    first = [env.step(i % 17)[0] for i in range(5)]
    obs_b, _ = env.reset(seed=7)
    again = [env.step(i % 17)[0] for i in range(5)]
    assert obs_a.shape == (64, 64, 3) and obs_a.dtype == np.uint8 and np.array_equal(obs_a, obs_b)
    assert all(np.array_equal(x, y) for x, y in zip(first, again))
    obs_c, _ = env.reset(seed=8)
    assert not np.array_equal(obs_a, obs_c)
    _, _, terminated, truncated, info = env.step(0)
    inventory = info["inventory"]
    env.step(0)
    assert inventory is not env.unwrapped._env._player.inventory and not terminated and not truncated
    with pytest.raises(ValueError, match="Crafter action"):
        env.unwrapped.step(99)


def test_crafter_actions_round_trip_and_reject_others() -> None:
    from envs.actions import complete_action
    from envs.crafter_actions import CRAFTER_ACTION_NAMES, to_canonical, to_crafter

    dicts = [to_canonical(i) for i in range(len(CRAFTER_ACTION_NAMES))]
    assert [to_crafter(a) for a in dicts] == list(range(17))
    assert len({tuple(int(a[k]) for k in a if k != "camera") for a in dicts}) == 17  # all distinct
    assert to_canonical(5)["attack"] == 1 and not to_canonical(0)["attack"]
    with pytest.raises(ValueError, match="not one of the 17"):
        to_crafter(complete_action({"forward": 1, "attack": 1}))
    with pytest.raises(ValueError, match="not one of the 17"):
        to_crafter(complete_action({"camera": np.array([0.0, 5.0], np.float32)}))
    with pytest.raises(ValueError, match="Crafter action"):
        to_canonical(17)


@pytest.mark.skipif(crafter_missing, reason="crafter not installed (pip install 'worldmodel[crafter]')")
def test_canonical_crafter_wrapper_steps_like_ids() -> None:
    import gymnasium

    import envs  # noqa: F401
    from envs.crafter_actions import CanonicalCrafterActions, to_canonical

    plain, wrapped = gymnasium.make("Crafter-v0"), CanonicalCrafterActions(gymnasium.make("Crafter-v0"))
    plain.reset(seed=3)
    wrapped.reset(seed=3)
    for i in (3, 3, 5, 1, 5):
        a, b = plain.step(i)[0], wrapped.step(to_canonical(i))[0]
        assert np.array_equal(a, b)
    assert "camera" in wrapped.action_space.spaces


@pytest.mark.skipif(not minerl_available(), reason="minerl is an optional extra that builds Minecraft; not installed")
def test_minerl_env_adapter() -> None:  # pragma: no cover - only where minerl is installed
    from envs.minerl_env import MineRLEnv

    env = MineRLEnv("MineRLNavigateDense-v0")
    obs, _ = env.reset(seed=0)
    assert obs.ndim == 3 and obs.shape[2] == 3
    env.close()


def test_minerl_env_explains_missing_package() -> None:
    if minerl_available():
        pytest.skip("minerl is installed")
    from envs.minerl_env import MineRLEnv

    with pytest.raises(ImportError, match="optional 'minerl'"):
        MineRLEnv()
