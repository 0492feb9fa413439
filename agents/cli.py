"""`wm agent train|eval`: train an actor-critic in the dream; evaluate it in BlockWorld beside baselines.

    wm agent train --world runs/gold_wm/world_model --contexts data/bw_gold --task mine_gold --minutes 30
    wm agent eval --env BlockWorld-v0 --task mine_gold --episodes 100 --agent runs/agent --dream runs/gold_wm/world_model
    wm agent sb3 --world runs/gold_wm/world_model --contexts data/bw_gold --minutes 30 --episodes 100
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from agents.config import FLAG_NAMES, AgentTrainConfig
from worldmodel.config_docs import field_docs

BASELINES = ("random_set", "random", "scripted")
CRAFTER_BASELINES = ("random_set",)  # Crafter's random policy: uniform over its 17 actions


def config_parser(cls: type, prog: str, description: str,
                  flag_names: dict[str, str] | None = None) -> argparse.ArgumentParser:
    """One flag per int/float/str/bool field of a config dataclass: the field's type, its default and its docstring
    as help, so a default is written only in the dataclass. A bool field that defaults to True gets --no-NAME
    (False: --NAME). flag_names renames a field's flag (without the dashes and the no- prefix)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    docs = field_docs(cls)
    for field in dataclasses.fields(cls):
        flag = (flag_names or {}).get(field.name, field.name.replace("_", "-"))
        doc = docs.get(field.name, "")
        if str(field.type) == "bool":
            on = bool(field.default)
            parser.add_argument(f"--no-{flag}" if on else f"--{flag}", dest=field.name, default=on,
                                action="store_false" if on else "store_true",
                                help=f"{doc} (sets {field.name}={not on}; default {on})")
            continue
        kind = {"int": int, "float": float, "str": str}.get(str(field.type))
        if kind is None:  # dicts and lists: Python API only
            continue
        parser.add_argument(f"--{flag}", dest=field.name, type=kind, default=field.default,
                            help=f"{doc} (default {field.default})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def train_parser(prog: str) -> argparse.ArgumentParser:
    """Flags of `wm agent train`: one per AgentTrainConfig field (dream_fusion is --no-fusion)."""
    return config_parser(AgentTrainConfig, f"{prog} train", "Train an actor-critic inside a world model's dream "
                         "(imagined rollouts from real contexts, lambda-returns).", FLAG_NAMES)


def dyna_parser(prog: str) -> argparse.ArgumentParser:
    """Flags of `wm agent dyna`: one per DynaConfig field."""
    from agents.dyna import DynaConfig

    return config_parser(DynaConfig, f"{prog} dyna", "The Dyna loop in BlockWorld: train an agent in the dream, "
                         "record it, fine-tune the world model on the grown store; repeat, then a final agent.")


def add_evaluation_args(parser: argparse.ArgumentParser) -> None:
    """The flags every evaluating subcommand shares: task, episodes, seeds, threads, output."""
    parser.add_argument("--task", default="mine_gold", help="BlockWorld task (default mine_gold)")
    parser.add_argument("--episodes", type=int, default=100, help="episodes per policy (default 100)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="steps per episode (default 200 in BlockWorld, 10000 = Crafter's own limit in Crafter)")
    parser.add_argument("--seed", type=int, default=100000, help="episode i uses seed+i (default 100000: held out)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--json", default=None, help="also write the results as JSON to this file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def eval_parser(prog: str) -> argparse.ArgumentParser:
    """Flags of `wm agent eval`."""
    parser = argparse.ArgumentParser(prog=f"{prog} eval", description="Evaluate an agent (and baselines) in a real "
                                     "env; with --dream, also in the dream from the same starts (the return gap).")
    parser.add_argument("--env", default="BlockWorld-v0",
                        help="real env id: BlockWorld-v0 (default) or Crafter-v0 (adds achievements and the score)")
    add_evaluation_args(parser)
    parser.add_argument("--agent", default=None, help="agent dir or agent training run dir (omit: baselines only)")
    parser.add_argument("--baselines", default=None,
                        help=f"comma list of {', '.join(BASELINES)} (Crafter: random_set only, its uniform random "
                             "policy) or 'none' (default all that apply)")
    parser.add_argument("--dream", default=None, help="world model ('bundled' or a dir) to also run the agent in")
    parser.add_argument("--contexts", default=None,
                        help="episode store that prompts the dream (default: live BlockWorld play; Crafter needs one)")
    parser.add_argument("--dream-temperature", type=float, default=1.0, help="dream sampling temperature")
    parser.add_argument("--reward-floor", type=float, default=0.1, help="dream rewards below it count as 0")
    parser.add_argument("--greedy", action="store_true", help="argmax actions instead of sampling")
    return parser


def sb3_parser(prog: str) -> argparse.ArgumentParser:
    """Flags of `wm agent sb3`."""
    parser = argparse.ArgumentParser(prog=f"{prog} sb3", description="Off-the-shelf comparison: stable-baselines3 "
                                     "PPO trained on the dream (DreamVecEnv), evaluated in BlockWorld.")
    parser.add_argument("--world", default="bundled", help="world model ('bundled' or a dir)")
    parser.add_argument("--contexts", default="data/bw_gold", help="episode store whose clips prompt the dream")
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget in minutes (default 30)")
    parser.add_argument("--timesteps", type=int, default=2_000_000, help="maximum dream steps (default 2e6)")
    parser.add_argument("--num-envs", type=int, default=16, help="dream worlds per batched step (default 16)")
    parser.add_argument("--horizon", type=int, default=16, help="dream episode length (default 16)")
    parser.add_argument("--reward-floor", type=float, default=0.1, help="dream rewards below it count as 0")
    parser.add_argument("--policy", default="CnnPolicy", help="SB3 policy: CnnPolicy (frames >= 36 px) or MlpPolicy")
    add_evaluation_args(parser)
    return parser


def run_sb3(args: argparse.Namespace) -> dict[str, Any]:
    """Train SB3 PPO in the dream, then evaluate it in BlockWorld (in this process: SB3 files are pickles)."""
    import gymnasium as gym
    import torch

    import envs  # noqa: F401
    from agents.evaluate import run_episodes
    from agents.sb3_ppo import SB3Policy, train_ppo

    torch.set_num_threads(args.threads)
    args.max_steps = args.max_steps or 200
    model, info = train_ppo(args.world, args.contexts, args.minutes, args.num_envs, args.horizon, seed=0,
                            reward_floor=args.reward_floor, max_steps=args.timesteps, progress=False,
                            policy=args.policy)
    height, width = info["frame_shape"][:2]  # BlockWorld renders at the dream's frame size
    make_env = lambda: gym.make("BlockWorld-v0", task=args.task, max_episode_steps=args.max_steps,
                                width=width, height=height)
    outcome = run_episodes(make_env, SB3Policy(model), args.episodes, args.seed, "sb3_ppo")
    return {"env": "BlockWorld-v0", "task": args.task, "episodes": args.episodes, "max_steps": args.max_steps,
            "seed": args.seed, "training": {**info, "world": args.world, "contexts": args.contexts},
            "policies": {"sb3_ppo": outcome.summary(seed=args.seed)}}


def real_env_factory(env_id: str, task: str, max_steps: int) -> Any:
    """A function making the real env the agents act in: BlockWorld with `task`, or Crafter with canonical
    actions (envs.crafter_actions), each limited to max_steps."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers BlockWorld-v0, Crafter-v0)
    from agents.action_set import kind_for_env

    if kind_for_env(env_id) == "crafter":
        from envs.crafter_actions import CanonicalCrafterActions

        return lambda: CanonicalCrafterActions(gym.make(env_id, max_episode_steps=max_steps))
    return lambda: gym.make(env_id, task=task, max_episode_steps=max_steps)


def run_eval(args: argparse.Namespace) -> dict[str, Any]:
    """Evaluate the chosen policies; returns the results dict that is printed and written."""
    import gymnasium as gym
    import torch
    from tqdm import tqdm

    import envs  # noqa: F401  (registers BlockWorld-v0, Crafter-v0)
    from agents.action_set import ActionSet, kind_for_env
    from agents.checkpoint import load_agent
    from agents.evaluate import AgentPolicy, FloorReward, run_episodes
    from agents.policies import make_policy

    torch.set_num_threads(args.threads)
    kind = kind_for_env(args.env)
    args.max_steps = args.max_steps or (10000 if kind == "crafter" else 200)
    make_env = real_env_factory(args.env, args.task, args.max_steps)
    space = make_env().action_space
    allowed = CRAFTER_BASELINES if kind == "crafter" else BASELINES
    spec = args.baselines if args.baselines is not None else ",".join(allowed)
    baselines = [] if spec == "none" else [b.strip() for b in spec.split(",") if b.strip()]
    unknown = sorted(set(baselines) - set(allowed))
    if unknown:
        raise ValueError(f"--baselines: {unknown} not available in {args.env}; choose from {list(allowed)} or 'none'")
    policies: list[tuple[str, Any]] = []
    action_set = ActionSet(kind=kind)
    if args.agent:
        agent, action_set, _card = load_agent(args.agent)
        if action_set.kind != kind:
            raise ValueError(f"--agent {args.agent}: its actions are {action_set.kind!r} ones, {args.env} needs {kind!r}")
        policies.append(("agent", AgentPolicy(agent, action_set, greedy=args.greedy)))
    builders = {"random_set": lambda: make_policy("random_set", space, action_set=action_set), "random": lambda: make_policy("random", space),
                "scripted": lambda: make_policy("seeker", space)}
    policies += [(name, builders[name]()) for name in baselines]
    if not policies:
        raise ValueError("nothing to evaluate: pass --agent and/or --baselines")
    total = args.episodes * (len(policies) + (1 if args.dream and args.agent else 0))
    bar = tqdm(total=total, desc="eval", unit="ep", disable=args.no_progress, file=sys.stderr)
    results: dict[str, Any] = {"env": args.env, "task": args.task, "episodes": args.episodes,
                               "max_steps": args.max_steps, "seed": args.seed, "policies": {}}
    for name, policy in policies:
        outcome = run_episodes(make_env, policy, args.episodes, args.seed, name, bar.update)
        results["policies"][name] = outcome.summary(seed=args.seed)
    if args.dream and args.agent:
        import worldmodel.dream  # noqa: F401  (registers WorldModel-v0)
        from worldmodel import WorldModel

        world = WorldModel.load(args.dream)
        window = int(world.dynamics.cfg.context_frames)  # a full window of real frames, as in training
        if kind == "crafter" and not args.contexts:
            raise ValueError("--dream in Crafter needs --contexts (an episode store of Crafter clips)")
        prompt = f"dataset:{args.contexts}" if args.contexts else "blockworld"
        prompt_kwargs = {} if args.contexts else {"env_kwargs": {"task": args.task}}

        def make_dream() -> gym.Env:
            dream = gym.make("WorldModel-v0", model=world, prompt=prompt, device="cpu", context_frames=window,
                             max_episode_steps=args.max_steps, temperature=args.dream_temperature,
                             prompt_kwargs=prompt_kwargs)
            return FloorReward(dream, args.reward_floor)

        outcome = run_episodes(make_dream, policies[0][1], args.episodes, args.seed, "agent_in_dream", bar.update)
        results["dream"] = {"world": args.dream, **outcome.summary(seed=args.seed)}
        results["dream_real_gap"] = results["dream"]["mean_return"] - results["policies"]["agent"]["mean_return"]
    bar.close()
    return results


def format_results(results: dict[str, Any]) -> str:
    """A plain table: policy, success rate [95% CI], mean return [95% CI], mean episode length."""
    crafter = any("crafter_score" in r for r in results["policies"].values())
    first = "score" if crafter else "success"
    lines = [(f"{results['env']}{'' if crafter else ' task=' + results['task']}: {results['episodes']} episodes x "
              f"{results['max_steps']} steps, seeds {results['seed']}..{results['seed'] + results['episodes'] - 1}"),
             f"{'policy':<16} {first:>8} {'95% CI':>15} {'return':>8} {'95% CI':>15} {'length':>7}"]
    rows = dict(results["policies"])
    if "dream" in results:
        rows["agent (dream)"] = results["dream"]
    for name, r in rows.items():
        value, s_ci = ((r["crafter_score"], r["score_ci95"]) if "crafter_score" in r
                       else (r["success_rate"], r["success_ci95"]))
        r_ci = r["return_ci95"]
        if crafter and "crafter_score" not in r:  # the dream has no achievements: no score to show
            lines.append(f"{name:<16} {'-':>8} {'':>15} {r['mean_return']:>8.3f} [{r_ci[0]:.3f}, {r_ci[1]:.3f}] "
                         f"{r['mean_length']:>7.1f}")
            continue
        lines.append(f"{name:<16} {value:>8.3f} [{s_ci[0]:.3f}, {s_ci[1]:.3f}] {r['mean_return']:>8.3f} "
                     f"[{r_ci[0]:.3f}, {r_ci[1]:.3f}] {r['mean_length']:>7.1f}")
    if crafter:
        names = sorted({n for r in results["policies"].values() for n in r.get("achievement_success", {})})
        lines.append("achievements unlocked (% of episodes; those never unlocked left out):")
        for policy, r in results["policies"].items():
            rates = r.get("achievement_success", {})
            lines.append(f"  {policy:<14} " + " ".join(f"{n}={100 * rates[n]:.0f}" for n in names
                                                      if rates.get(n, 0) > 0))
    if "dream_real_gap" in results:
        lines.append(f"dream - real mean return: {results['dream_real_gap']:+.3f} (positive: the dream over-promises)")
    return "\n".join(lines)


def bench_train_target(size: str) -> Any:
    """The agent's target of `wm bench train --target agent` (agents/bench_train.py): the `wm` dispatcher, which
    alone may reach agents from worldmodel, hands this builder to `wm bench`."""
    from agents.bench_train import agent_target

    return agent_target(size)


def main(argv: list[str], prog: str = "wm agent") -> int:
    """Entry point of `wm agent`."""
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in ("train", "eval", "sb3", "dyna"):
        print(f"usage: {prog} {{train,eval,sb3,dyna}} [options]\n\n  train  train an actor-critic in a world model's "
              f"dream\n  eval   evaluate agents and baselines in BlockWorld or Crafter (and the dream)\n"
              f"  sb3    train stable-baselines3 PPO in the dream and evaluate it in BlockWorld\n"
              f"  dyna   alternate agent training, real recordings and world-model fine-tuning\n\n"
              f"Run `{prog} COMMAND --help` for options.", file=sys.stderr if argv else sys.stdout)
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    try:
        if argv[0] == "train":
            from agents.train import train

            args = vars(train_parser(prog).parse_args(argv[1:]))
            progress = not args.pop("no_progress")
            cfg = AgentTrainConfig(**args)
            cfg.validate()
            summary = train(cfg, progress=progress)
            print(json.dumps(summary))
            return 0
        if argv[0] == "dyna":
            from agents.dyna import DynaConfig, run_dyna

            args = vars(dyna_parser(prog).parse_args(argv[1:]))
            progress = not args.pop("no_progress")
            print(json.dumps(run_dyna(DynaConfig(**args), progress=progress), indent=1))
            return 0
        if argv[0] == "sb3":
            args = sb3_parser(prog).parse_args(argv[1:])
            results = run_sb3(args)
        else:
            args = eval_parser(prog).parse_args(argv[1:])
            results = run_eval(args)
    except ValueError as error:
        print(f"{prog} {argv[0]}: error: {error}", file=sys.stderr)
        return 2
    print(format_results(results))
    if args.json:
        from worldmodel.checkpoint import write_json

        write_json(args.json, results)
    return 0
