"""Agents: lambda-returns, the actor-critic update (it must learn), training smoke + resume, eval output, and one
policy object running unchanged in the dream and in BlockWorld."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from dream_fixtures import FRAME, tiny_model  # noqa: F401  (fixture)

import envs  # noqa: F401  (registers BlockWorld-v0)
import worldmodel.dream  # noqa: F401  (registers WorldModel-v0)
from agents.action_set import ActionSet
from agents.actor_critic import ActorCritic, ActorCriticConfig
from agents.checkpoint import load_agent, save_agent
from agents.cli import main as agent_main
from agents.config import AgentTrainConfig
from agents.evaluate import AgentPolicy, run_episodes, wilson_interval
from agents.imagination import imagine, to_tensors
from agents.returns import lambda_returns
from agents.train import DreamTrainer
from worldmodel.data.collect import CollectConfig, collect


def test_lambda_returns_hand_computed():
    rewards = torch.tensor([[1.0, 0.0, 2.0]])
    values = torch.tensor([[0.5, 1.0, 2.0, 4.0]])
    continues = torch.tensor([[1.0, 1.0, 0.0]])
    # G2 = 2 (terminal: no bootstrap); G1 = 0.9 (0.5 V2 + 0.5 G2) = 1.8; G0 = 1 + 0.9 (0.5 V1 + 0.5 G1) = 2.26
    got = lambda_returns(rewards, values, continues, gamma=0.9, lam=0.5)
    assert torch.allclose(got, torch.tensor([[2.26, 1.8, 2.0]]))


def test_lambda_returns_limits():
    rewards = torch.tensor([[1.0, 1.0]])
    values = torch.tensor([[3.0, 2.0, 10.0]])
    ones = torch.ones(1, 2)
    # lam = 1: discounted sum bootstrapped at the horizon; lam = 0: one-step TD targets
    assert torch.allclose(lambda_returns(rewards, values, ones, 0.5, 1.0), torch.tensor([[4.0, 6.0]]))
    assert torch.allclose(lambda_returns(rewards, values, ones, 0.5, 0.0), torch.tensor([[2.0, 6.0]]))
    with pytest.raises(ValueError, match="values"):
        lambda_returns(rewards, values[:, :2], ones, 0.5, 0.5)


class BanditWorld:
    """A stand-in world model: constant frames; reward 1 and termination when the 'attack' action is taken."""

    frame_shape = (FRAME, FRAME, 3)
    temperature = 1.0

    def __init__(self, attack: dict | None = None) -> None:
        self.attack_key = attack

    def seed(self, seed: int) -> None:
        pass

    def reset(self, frames, actions=None):
        self.b = len(frames)
        return np.zeros((self.b, FRAME, FRAME, 3), np.uint8)

    def step(self, action):
        hit = np.asarray(action["attack"]) == 1
        return np.zeros((self.b, FRAME, FRAME, 3), np.uint8), hit.astype(np.float32), hit

    def unroll(self, policy, steps):
        """WorldModel.unroll's contract: policy(t, last frames or None) -> action; outputs stacked on axis 1."""
        outs, frames = [], None
        for t in range(steps):
            outs.append(self.step(policy(t, frames)))
            frames = outs[-1][0]
        return tuple(np.stack([out[i] for out in outs], 1) for i in range(3))


def test_actor_critic_learns_the_rewarded_action():
    torch.manual_seed(0)
    actions = ActionSet()
    agent = ActorCritic(ActorCriticConfig(num_actions=len(actions), channels=(8, 8), hidden=32))
    world = BanditWorld(actions.action(actions.names.index("attack")))
    optimizer = torch.optim.Adam(agent.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    contexts = (np.zeros((16, 1, FRAME, FRAME, 3), np.uint8), None)
    attack = actions.names.index("attack")

    @torch.no_grad()
    def attack_prob() -> float:
        logits, _ = agent(torch.zeros(1, FRAME, FRAME, 3, dtype=torch.uint8))
        return float(torch.softmax(logits, -1)[0, attack])

    before = attack_prob()
    for _ in range(60):
        imagined = imagine(world, agent, actions, contexts, horizon=4, generator=generator)
        batch = to_tensors(imagined, torch.device("cpu"))
        with torch.no_grad():
            values = agent(batch["frames"].flatten(0, 1))[1].reshape(16, 5)
        batch["returns"] = lambda_returns(batch["rewards"], values, batch["continues"], 0.9, 0.9)
        batch["frames"] = batch["frames"][:, :-1]
        loss, metrics = agent.compute_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert before == pytest.approx(1 / len(actions), abs=1e-6)  # the policy head starts uniform
    assert attack_prob() > 0.5
    assert set(metrics) >= {"loss", "policy_loss", "value_loss", "entropy"}


def test_imagined_alive_mask_stops_after_termination():
    actions = ActionSet()
    agent = ActorCritic(ActorCriticConfig(num_actions=len(actions), channels=(8,), hidden=8))
    with torch.no_grad():  # always attack
        agent.policy.bias.copy_(torch.full((len(actions),), -50.0))
        agent.policy.bias[actions.names.index("attack")] = 50.0
    world = BanditWorld({})
    imagined = imagine(world, agent, actions, (np.zeros((2, 1, FRAME, FRAME, 3), np.uint8), None), 3,
                       torch.Generator().manual_seed(0))
    assert imagined.rewards.tolist() == [[1, 1, 1], [1, 1, 1]]
    assert imagined.alive.tolist() == [[1, 0, 0], [1, 0, 0]]  # only the first (terminal) step counts


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two short 16x16 BlockWorld episodes of the seeker on mine_gold (contexts for imagination)."""
    out = tmp_path_factory.mktemp("agents") / "store"
    collect(CollectConfig(env_id="BlockWorld-v0", out=str(out), policy="seeker", episodes=2, steps=30,
                          env_kwargs={"width": FRAME, "height": FRAME, "task": "mine_gold"}), progress=False)
    return out


def test_training_smoke_resume_and_export(tiny_model, tiny_store, tmp_path):  # noqa: F811
    cfg = AgentTrainConfig(world=str(tiny_model), contexts=str(tiny_store), run_dir=str(tmp_path / "run"),
                           num_worlds=2, horizon=3, context_frames=2, iterations=2, ckpt_every=1, minutes=0)
    trainer = DreamTrainer(cfg)
    metrics = trainer.update()
    assert np.isfinite(metrics["loss"]) and 0 <= metrics["entropy"] <= np.log(len(trainer.action_set)) + 1e-4
    trainer.iteration = 1
    trainer.save()
    resumed = DreamTrainer(cfg)
    assert resumed.iteration == 1
    for a, b in zip(trainer.agent.state_dict().values(), resumed.agent.state_dict().values()):
        assert torch.equal(a, b)
    agent, action_set, card = load_agent(tmp_path / "run")
    assert card["iterations"] == 1 and action_set.names == trainer.action_set.names
    save_agent(tmp_path / "bad", ActorCritic(ActorCriticConfig(num_actions=len(action_set), hidden=16)),
               action_set, {})
    bad = tmp_path / "bad" / "agent.json"
    data = json.loads(bad.read_text())
    data["network"]["hidden"] = 256  # config and weights disagree: a clear error naming the weights file
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="agent.safetensors.*shape"):
        load_agent(tmp_path / "bad")


def test_agent_runs_unchanged_in_dream_and_blockworld(tiny_model):  # noqa: F811
    actions = ActionSet()
    policy = AgentPolicy(ActorCritic(ActorCriticConfig(num_actions=len(actions), channels=(8, 8), hidden=16)),
                         actions)
    real = run_episodes(lambda: gym.make("BlockWorld-v0", width=FRAME, height=FRAME, task="mine_gold",
                                         max_episode_steps=5), policy, 2, 0, "agent")
    dream = run_episodes(lambda: gym.make("WorldModel-v0", model=str(tiny_model), device="cpu",
                                          max_episode_steps=5), policy, 2, 0, "agent")
    assert real.lengths.tolist() == [5, 5] and dream.lengths.tolist() == [5, 5]
    again = run_episodes(lambda: gym.make("WorldModel-v0", model=str(tiny_model), device="cpu",
                                          max_episode_steps=5), policy, 2, 0, "agent")
    assert np.array_equal(again.returns, dream.returns)  # same seeds, same dream


def test_wilson_interval():
    low, high = wilson_interval(0, 20)
    assert low == 0.0 and high == pytest.approx(0.1611, abs=1e-4)
    low, high = wilson_interval(10, 20)
    assert low < 0.5 < high and high - 0.5 == pytest.approx(0.5 - low)


def test_eval_cli_prints_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "eval.json"
    code = agent_main(["eval", "--episodes", "2", "--max-steps", "60", "--baselines", "random_set,scripted",
                       "--json", str(out), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "random_set" in printed and "scripted" in printed and "95% CI" in printed
    results = json.loads(out.read_text())
    scripted = results["policies"]["scripted"]
    assert scripted["success_rate"] == 1.0 and scripted["successes"] == 2  # the privileged seeker mines the gold
    assert results["policies"]["random_set"]["episodes"] == 2
    assert set(scripted) >= {"mean_return", "return_ci95", "success_ci95", "mean_length"}
    assert agent_main(["eval", "--baselines", "nonsense"]) == 2


def test_scripted_seeker_mines_the_gold_and_random_rarely_does():
    from agents.policies import make_policy

    make_env = lambda: gym.make("BlockWorld-v0", width=32, height=32, task="mine_gold",  # noqa: E731
                                max_episode_steps=80)
    space = make_env().action_space
    seeker = run_episodes(make_env, make_policy("seeker", space), 3, 0, "seeker")
    assert seeker.successes.all() and (seeker.lengths < 80).all()
    noisy = run_episodes(make_env, make_policy("seeker", space, noise=0.3, wander=10), 3, 0, "noisy")
    assert noisy.successes.all() and noisy.lengths.mean() > seeker.lengths.mean()
    with pytest.raises(ValueError, match="noise"):
        make_policy("seeker", space, noise=2.0)
    with pytest.raises(ValueError, match="bad policy kwargs"):
        make_policy("seeker", space, speed=3)


def test_sb3_ppo_trains_in_the_dream_and_runs_in_blockworld(tiny_model, tiny_store, tmp_path, capsys):  # noqa: F811
    pytest.importorskip("stable_baselines3")
    out = tmp_path / "sb3.json"
    code = agent_main(["sb3", "--world", str(tiny_model), "--contexts", str(tiny_store), "--timesteps", "64",
                       "--num-envs", "2", "--horizon", "4", "--episodes", "2", "--max-steps", "5", "--policy", "MlpPolicy",
                       "--json", str(out), "--no-progress"])
    assert code == 0
    results = json.loads(out.read_text())
    assert results["training"]["timesteps"] >= 64 and results["policies"]["sb3_ppo"]["mean_length"] == 5
    assert "sb3_ppo" in capsys.readouterr().out


def test_live_blockworld_contexts_are_seeded_real_frames():
    from agents.imagination import LiveContexts

    a = LiveContexts("mine_gold", 3, (FRAME, FRAME, 3), seed=5, pool=4, refresh=1)
    b = LiveContexts("mine_gold", 3, (FRAME, FRAME, 3), seed=5, pool=4, refresh=1)
    frames, actions = a.sample(6)
    again, _ = b.sample(6)
    assert frames.shape == (6, 3, FRAME, FRAME, 3) and frames.dtype == np.uint8
    assert actions["camera"].shape == (6, 2, 2) and actions["attack"].shape == (6, 2)
    assert np.array_equal(frames, again)  # same seed, same contexts
    assert frames.std() > 5  # rendered BlockWorld, not blank frames


def test_ppo_updates_learn_the_rewarded_action(tiny_store, tmp_path):
    cfg = AgentTrainConfig(contexts=str(tiny_store), run_dir=str(tmp_path / "run"), num_worlds=8, horizon=4,
                           context_frames=2, epochs=4, minibatches=2, lr=1e-3, minutes=0)
    trainer = DreamTrainer(cfg, world=BanditWorld())
    attack = trainer.action_set.names.index("attack")
    for _ in range(15):
        metrics = trainer.update()
    with torch.no_grad():
        logits, _ = trainer.agent(torch.zeros(1, FRAME, FRAME, 3, dtype=torch.uint8))
    assert float(torch.softmax(logits, -1)[0, attack]) > 0.5
    assert metrics["action/attack"] > 0.3  # the imagined batches already act on it


def test_trained_agent_records_data_for_the_dyna_loop(tmp_path):
    actions = ActionSet()
    save_agent(tmp_path / "agent", ActorCritic(ActorCriticConfig(num_actions=len(actions), channels=(8, 8),
                                                                 hidden=16)), actions, {"note": "untrained"})
    out = tmp_path / "store"
    summary = collect(CollectConfig(env_id="BlockWorld-v0", out=str(out), episodes=2, steps=6,
                                    policy="agents.policies.trained:TrainedAgentPolicy",
                                    env_kwargs={"width": FRAME, "height": FRAME, "task": "mine_gold"},
                                    policy_kwargs={"path": str(tmp_path / "agent"), "noise": 0.5}), progress=False)
    assert summary["episodes"] == 2 and not summary["failed"]
    from worldmodel.data import open_dataset

    episode = open_dataset(out).load(0)
    assert episode["frames"].shape == (7, FRAME, FRAME, 3)
    assert episode["meta"]["policy_kwargs"]["noise"] == 0.5


def test_dyna_loop_records_fine_tunes_and_resumes(tiny_model, tiny_store, tmp_path):  # noqa: F811
    import shutil

    from agents.dyna import DynaConfig, run_dyna
    from worldmodel.data import open_dataset

    store = tmp_path / "store"
    shutil.copytree(tiny_store, store)
    before = len(open_dataset(store).episodes)
    cfg = DynaConfig(world=str(tiny_model), store=str(store), rounds=1, run_dir=str(tmp_path / "dyna"),
                     agent_minutes=0, episodes=1, steps=6, wm_steps=2, wm_batch_size=2,
                     agent_kwargs=dict(contexts=str(store), num_worlds=2, horizon=2, context_frames=2, iterations=1),
                     wm_overrides=["train.ckpt_every=2", "train.media_every=0", "train.progress=false"])
    summary = run_dyna(cfg, progress=False)
    assert len(open_dataset(store).episodes) == before + 1  # the round's agent was recorded into the store
    world = Path(summary["final_world"])
    assert world == tmp_path / "dyna" / "round_1" / "world" / "world_model" and (world / "config.json").is_file()
    assert json.loads((world / "config.json").read_text())["dynamics"] == \
        json.loads((tiny_model / "config.json").read_text())["dynamics"]  # same architecture, fine-tuned
    _, _, card = load_agent(summary["final_agent"])
    assert card["trained_in"] == str(world)  # the final agent dreams in the fine-tuned model
    again = run_dyna(cfg, progress=False)  # finished rounds and agents are skipped, not redone
    assert again["rounds"] == summary["rounds"] and len(open_dataset(store).episodes) == before + 1
    with pytest.raises(ValueError, match="not an episode store"):
        run_dyna(DynaConfig(store=str(tmp_path / "nowhere")))


def test_agent_train_flags_come_from_the_config_dataclass():
    """One flag per field (type, default and help from the dataclass); the README's command lines keep working."""
    import dataclasses
    import shlex

    from agents.cli import train_parser
    from worldmodel.config_docs import field_docs

    def parse(line: str) -> AgentTrainConfig:
        args = vars(train_parser("wm agent").parse_args(shlex.split(line)))
        args.pop("no_progress")
        return AgentTrainConfig(**args)

    assert parse("") == AgentTrainConfig()
    parser = train_parser("wm agent")
    docs = field_docs(AgentTrainConfig)
    helps = {action.dest: action.help for action in parser._actions}
    for field in dataclasses.fields(AgentTrainConfig):
        assert docs[field.name] in helps[field.name], field.name
    readme = parse("--world bundled --task mine_gold --iterations 94 --minutes 0 --threads 2 --run-dir runs/agent_G "
                   "--no-fusion --entropy-coef 0.03 --action-set crafter --contexts data/c --reward-floor 0.3")
    assert readme == dataclasses.replace(AgentTrainConfig(), iterations=94, minutes=0.0, threads=2,
                                         run_dir="runs/agent_G", dream_fusion=False, entropy_coef=0.03,
                                         action_set="crafter", contexts="data/c", reward_floor=0.3)
    assert isinstance(readme.minutes, float) and isinstance(readme.iterations, int)
