"""The Dyna loop: train an agent in the dream, record it in the real env, fine-tune the world model on what it
saw, and train the next agent in the corrected dream.

Each round r writes RUN_DIR/round_r/{agent/, world_model run/} and a `done` marker; a rerun skips finished
rounds and resumes an interrupted stage from its own checkpoints. The world model is fine-tuned with
`wm train dynamics init_from=PREVIOUS` on the whole grown store, with the previous model's architecture and
tokenizer, so each round's model is a drop-in replacement for the last. What the dream over-promised (the
"look down and attack the ground" exploit of the first BlockWorld agents) shows up in the recordings as an
action that did not pay, and the reward head learns it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.config import AgentTrainConfig


@dataclass
class DynaConfig:
    """Settings of `wm agent dyna` (one flag per field)."""

    world: str = "bundled"
    """The starting world model: "bundled" or a WorldModel directory."""
    store: str = "data/bw_gold"
    """Episode store the world model was trained on; each round appends the agent's episodes to it."""
    task: str = "mine_gold"
    """BlockWorld task (the agent's reward, and the task of the recorded episodes)."""
    rounds: int = 1
    """Rounds of (train agent, record it, fine-tune the world model); a final agent follows the last round."""
    run_dir: str = "runs/dyna"
    """Output: round_N/agent, round_N/world (a `wm train dynamics` run dir), final_agent/, dyna.json."""
    agent_minutes: float = 12.0
    """Training budget of each agent (minutes in the dream)."""
    episodes: int = 100
    """Real episodes recorded with each round's agent."""
    steps: int = 200
    """Steps per recorded episode."""
    noise: float = 0.2
    """Share of random actions while recording (the data also shows what the agent did not do)."""
    wm_steps: int = 1000
    """Fine-tuning steps of the world model per round."""
    wm_lr: float = 3e-4
    """Fine-tuning learning rate."""
    wm_batch_size: int = 8
    """Fine-tuning batch (clips of one context window)."""
    event_repeat: int = 10
    """data.event_repeat of the fine-tuning: windows with a reward or an episode end listed again."""
    seed: int = 7
    """Seed of the recordings (agents and fine-tuning use their own defaults, seeded)."""
    threads: int = 1
    """torch threads of every stage."""
    workers: int = 1
    """Recording worker processes."""
    agent_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra AgentTrainConfig fields of every agent (Python API only; e.g. num_worlds, horizon)."""
    wm_overrides: list[str] = field(default_factory=list)
    """Extra `wm train dynamics` overrides of every fine-tuning (Python API only)."""

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        for key in ("rounds", "episodes", "steps", "wm_steps", "wm_batch_size", "threads", "workers"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"dyna config '{key}' must be >= 1, got {getattr(self, key)!r}")
        if not 0.0 <= self.noise <= 1.0 or self.wm_lr <= 0 or self.agent_minutes < 0 or self.event_repeat < 0:
            raise ValueError("dyna config: 'noise' must be in [0, 1], 'wm_lr' > 0, 'agent_minutes' and "
                             "'event_repeat' >= 0")
        if not (Path(self.store) / "index.json").is_file():
            raise ValueError(f"dyna config 'store': {self.store} is not an episode store (no index.json)")


def world_dir(world: str) -> Path:
    """'bundled' -> the shipped model's directory; anything else as given (must hold config.json)."""
    from worldmodel import bundled

    path = bundled.resolve(world)
    if not (path / "config.json").is_file():
        raise ValueError(f"world {world}: no WorldModel there ({path / 'config.json'} missing)")
    return path


def architecture_overrides(world: Path) -> list[str]:
    """`model.KEY=VALUE` overrides that rebuild the dynamics of a WorldModel directory exactly."""
    config = json.loads((world / "config.json").read_text())
    return [f"model.{key}={json.dumps(value)}" for key, value in config["dynamics"].items()]


def train_agent(cfg: DynaConfig, world: Path, run_dir: Path, progress: bool) -> Path:
    """One agent in the dream of `world` (resumes an interrupted run from its checkpoints; a finished one, marked
    by RUN_DIR/done, is not trained again); returns its agent dir."""
    from agents.train import train

    if (run_dir / "done").is_file():
        return run_dir / "agent"
    agent_cfg = AgentTrainConfig(**{"world": str(world), "task": cfg.task, "run_dir": str(run_dir),
                                    "minutes": cfg.agent_minutes, "threads": cfg.threads, **cfg.agent_kwargs})
    train(agent_cfg, progress=progress)
    (run_dir / "done").write_text("trained\n")
    return run_dir / "agent"


def record_agent(cfg: DynaConfig, agent: Path, progress: bool) -> dict[str, Any]:
    """Append cfg.episodes episodes of the (noisy) agent in BlockWorld to the store."""
    from worldmodel.data import open_dataset
    from worldmodel.data.collect import CollectConfig, collect

    existing = len(open_dataset(cfg.store).episodes)
    size = world_frame_size(cfg)
    policy = "agents.policies.trained:TrainedAgentPolicy"  # by path: `wm collect` knows only envs.policies names
    summary = collect(CollectConfig(env_id="BlockWorld-v0", out=cfg.store, policy=policy,
                                    episodes=existing + cfg.episodes, steps=cfg.steps, seed=cfg.seed,
                                    workers=cfg.workers,
                                    env_kwargs={"task": cfg.task, "height": size[0], "width": size[1]},
                                    policy_kwargs={"path": str(agent), "noise": cfg.noise}), progress=progress)
    if summary["failed"]:
        raise ValueError(f"recording the agent {agent} failed: {summary['failed'][0]}")
    return summary


def world_frame_size(cfg: DynaConfig) -> tuple[int, int]:
    """(H, W) frames of the starting world model (recordings must match it)."""
    config = json.loads((world_dir(cfg.world) / "config.json").read_text())
    height, width = config["frame_size"][:2]
    return int(height), int(width)


def fine_tune(cfg: DynaConfig, world: Path, run_dir: Path, progress: bool = True) -> Path:
    """`wm train dynamics init_from=world` on the grown store; returns the new WorldModel directory."""
    from worldmodel.train.cli import main as train_main

    context = json.loads((world / "config.json").read_text())["dynamics"]["context_frames"]
    overrides = [f"tokenizer_checkpoint={world}", f"init_from={world}", f"data.path={cfg.store}",
                 f"data.clip_len={context}", f"data.event_repeat={cfg.event_repeat}", f"run_dir={run_dir}",
                 f"train.steps={cfg.wm_steps}", f"train.lr={cfg.wm_lr}", f"train.batch_size={cfg.wm_batch_size}",
                 "train.warmup_steps=20", f"train.threads={cfg.threads}", "train.num_workers=0",
                 f"train.progress={str(progress).lower()}",
                 *architecture_overrides(world), *cfg.wm_overrides]
    if train_main(["dynamics", *overrides]) != 0:
        raise ValueError(f"fine-tuning the world model in {run_dir} failed (see the error above)")
    return run_dir / "world_model"


def run_dyna(cfg: DynaConfig, progress: bool = True) -> dict[str, Any]:
    """All rounds, then the final agent; returns (and writes to RUN_DIR/dyna.json) the paths of each stage."""
    from worldmodel.checkpoint import write_json

    cfg.validate()
    root = Path(cfg.run_dir)
    world = world_dir(cfg.world)
    rounds: list[dict[str, Any]] = []
    for r in range(1, cfg.rounds + 1):
        here = root / f"round_{r}"
        done = here / "done.json"
        if done.is_file():
            record = json.loads(done.read_text())
        else:
            print(f"dyna round {r}/{cfg.rounds}: agent in {world}", file=sys.stderr)
            agent = train_agent(cfg, world, here / "agent_run", progress)
            recorded = record_agent(cfg, agent, progress)
            new_world = fine_tune(cfg, world, here / "world", progress)
            record = {"round": r, "world_in": str(world), "agent": str(agent), "world_out": str(new_world),
                      "recorded_episodes": recorded["episodes"], "recorded_frames": recorded["frames"]}
            write_json(done, record)
        rounds.append(record)
        world = Path(record["world_out"])
    final = train_agent(cfg, world, root / "final_agent", progress)
    summary = {"config": dataclasses.asdict(cfg), "rounds": rounds, "final_world": str(world),
               "final_agent": str(final)}
    write_json(root / "dyna.json", summary)
    return summary
