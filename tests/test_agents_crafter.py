"""Agents in Crafter: the Crafter score, `wm agent eval --env Crafter-v0`, and one agent with Crafter's 17 actions
running in the dream (training smoke) and in Crafter itself."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from dream_fixtures import FRAME, tiny_model  # noqa: F401  (fixture)

from agents.action_set import ActionSet
from agents.actor_critic import ActorCritic, ActorCriticConfig
from agents.checkpoint import save_agent
from agents.cli import main as agent_main
from agents.config import AgentTrainConfig
from agents.evaluate import EvalResult, crafter_score, run_episodes
from agents.train import DreamTrainer

needs_crafter = pytest.mark.skipif(importlib.util.find_spec("crafter") is None, reason="crafter not installed")


def test_crafter_score_formula():
    assert crafter_score(np.zeros(22)) == 0.0
    assert crafter_score(np.full(22, 100.0)) == pytest.approx(100.0)
    assert crafter_score(np.array([100.0, 0.0])) == pytest.approx(np.sqrt(101.0) - 1.0)  # log-mean, not mean
    unlocked = {"a": np.array([True, True, False, False]), "b": np.array([False, False, False, True])}
    summary = EvalResult("x", np.zeros(4), np.zeros(4, bool), np.ones(4), unlocked).summary()
    assert summary["achievement_success"] == {"a": 0.5, "b": 0.25}
    assert summary["crafter_score"] == pytest.approx(np.sqrt(51.0 * 26.0) - 1.0)
    low, high = summary["score_ci95"]
    assert low <= summary["crafter_score"] <= high


@pytest.fixture(scope="module")
def crafter_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short FRAMExFRAME Crafter episode of the random policy (contexts for imagination)."""
    from worldmodel.data.collect import CollectConfig, collect

    out = tmp_path_factory.mktemp("crafter") / "store"
    collect(CollectConfig(env_id="Crafter-v0", out=str(out), policy="random", episodes=1, steps=20,
                          env_kwargs={"size": FRAME, "view": 4}), progress=False)  # 9 tiles do not fit 16 px
    return out


@needs_crafter
def test_eval_cli_in_crafter_prints_the_score(tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert agent_main(["eval", "--env", "Crafter-v0", "--episodes", "2", "--max-steps", "40", "--json", str(out),
                       "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "score" in printed and "random_set" in printed
    result = json.loads(out.read_text())["policies"]["random_set"]
    assert set(result["achievement_success"]) >= {"collect_wood", "place_table", "eat_cow"}  # all 22 listed
    assert 0.0 <= result["crafter_score"] <= 100.0 and result["mean_length"] <= 40
    assert agent_main(["eval", "--env", "Crafter-v0", "--baselines", "scripted", "--no-progress"]) == 2
    blockworld_agent = save_agent(tmp_path / "bw", ActorCritic(ActorCriticConfig(num_actions=10, hidden=16)),
                                  ActionSet(), {})
    assert agent_main(["eval", "--env", "Crafter-v0", "--agent", str(blockworld_agent), "--episodes", "1",
                       "--no-progress"]) == 2
    assert "'blockworld' ones" in capsys.readouterr().err


@needs_crafter
def test_crafter_agent_trains_in_the_dream_and_plays_crafter(tiny_model, crafter_store, tmp_path):  # noqa: F811
    import gymnasium as gym

    import envs  # noqa: F401  (registers Crafter-v0)
    import worldmodel.dream  # noqa: F401  (registers WorldModel-v0)
    from agents.evaluate import AgentPolicy
    from envs.crafter_actions import CanonicalCrafterActions

    with pytest.raises(ValueError, match="episode store of Crafter"):
        AgentTrainConfig(action_set="crafter").validate()
    cfg = AgentTrainConfig(world=str(tiny_model), contexts=str(crafter_store), action_set="crafter",
                           run_dir=str(tmp_path / "run"), num_worlds=2, horizon=3, context_frames=2,
                           iterations=1, minutes=0, reward_floor=0.5)
    trainer = DreamTrainer(cfg)
    metrics = trainer.update()
    assert len(trainer.action_set) == 17 and np.isfinite(metrics["loss"])
    assert 0 <= metrics["entropy"] <= np.log(17) + 1e-4 and "action/make_iron_sword" in metrics
    policy = AgentPolicy(trainer.agent, trainer.action_set)
    real = run_episodes(lambda: CanonicalCrafterActions(gym.make("Crafter-v0", size=FRAME, view=4,
                                                                           max_episode_steps=6)),
                        policy, 2, 0, "agent")
    dream = run_episodes(lambda: gym.make("WorldModel-v0", model=str(tiny_model), device="cpu",
                                          max_episode_steps=6), policy, 1, 0, "agent")
    assert real.lengths.tolist() == [6, 6] and len(real.achievements["collect_wood"]) == 2
    assert dream.lengths.tolist() == [6] and not dream.achievements
