"""Train an actor-critic inside a world model's dream: imagine from real contexts, lambda-returns, update.

One iteration: sample B real contexts -> imagine H steps with the current policy (world model sampling at
`dream_temperature`) -> values of o_0..o_H without gradient -> lambda-returns bootstrapped at the horizon ->
advantages G - V scaled to unit std -> `epochs` passes of PPO-clipped policy gradient + value regression over
minibatches of worlds (ActorCritic.compute_loss). Checkpoints resume; the newest agent is
exported to RUN_DIR/agent after every checkpoint.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from einops import rearrange
from tqdm import tqdm

from agents.action_set import ActionSet
from agents.actor_critic import ActorCritic, ActorCriticConfig
from agents.checkpoint import save_agent
from agents.config import AgentTrainConfig
from agents.imagination import imagine, make_contexts, to_tensors
from agents.returns import lambda_returns
from worldmodel.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint, write_json


def normalised(advantages: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """Advantages scaled to unit standard deviation over the live steps (mean kept: with sparse rewards most
    advantages are ~0, and centring would push down the many actions that simply saw no reward)."""
    weight = alive / alive.sum().clamp_min(1.0)
    mean = (weight * advantages).sum()
    std = ((weight * (advantages - mean) ** 2).sum()).sqrt()
    return advantages / std.clamp_min(0.1)  # no reward anywhere: do not blow value noise up to unit scale


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class DreamTrainer:
    """Holds the world model, the agent, the optimizer and the context sampler of one run."""

    def __init__(self, cfg: AgentTrainConfig, world: Any = None) -> None:
        from worldmodel import WorldModel

        cfg.validate()
        self.cfg = cfg
        self.device = _device(cfg.device)
        torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.world = world if world is not None else WorldModel.load(cfg.world, device=self.device)
        self.world.temperature = cfg.dream_temperature
        if hasattr(self.world, "fusion"):  # a WorldModel (tests pass scripted stand-ins)
            self.world.fusion = self.world.fusion and cfg.dream_fusion
        self.world.seed(cfg.seed)
        self.action_set = ActionSet(kind=cfg.action_set)
        self.agent = ActorCritic(ActorCriticConfig(num_actions=len(self.action_set),
                                                   entropy_coef=cfg.entropy_coef)).to(self.device)
        self.optimizer = torch.optim.Adam(self.agent.parameters(), lr=cfg.lr)
        self.run_dir = Path(cfg.run_dir)
        self.iteration = 0
        resume = latest_checkpoint(self.run_dir)
        if resume is not None:
            state = load_checkpoint(resume, self.agent)
            self.optimizer.load_state_dict(state["optimizer"])
            self.iteration = int(state["step"])
        # reseeded from the iteration count, so a resumed run draws fresh contexts and actions deterministically
        self.context_frames = cfg.context_frames or int(self.world.dynamics.cfg.context_frames)
        self.sampler = make_contexts(cfg.contexts, cfg.task, self.context_frames, self.world.frame_shape,
                                     seed=cfg.seed + 7919 * self.iteration)
        self.generator = torch.Generator(device=self.device).manual_seed(cfg.seed + self.iteration)
        self.resumed_from = resume

    def update(self) -> dict[str, float]:
        """One imagined batch, then `epochs` x `minibatches` gradient steps on it; returns metrics."""
        cfg, agent = self.cfg, self.agent
        agent.eval()
        imagined = imagine(self.world, agent, self.action_set, self.sampler.sample(cfg.num_worlds), cfg.horizon,
                           self.generator, cfg.reward_floor)
        batch = to_tensors(imagined, self.device)
        b = cfg.num_worlds
        with torch.no_grad():
            logits, values = agent(rearrange(batch["frames"], "b t h w c -> (b t) h w c"))
            values = rearrange(values, "(b t) -> b t", b=b)  # (B, H+1)
            log_probs = rearrange(torch.log_softmax(logits, -1), "(b t) a -> b t a", b=b)[:, :-1]  # (B, H, A)
        batch["returns"] = lambda_returns(batch["rewards"], values, batch["continues"], cfg.gamma, cfg.lam)
        batch["frames"] = batch["frames"][:, :-1]  # the observations the actions were taken in
        batch["old_log_probs"] = log_probs.gather(-1, batch["actions"][..., None]).squeeze(-1)
        batch["advantages"] = normalised(batch["returns"] - values[:, :-1], batch["alive"])
        agent.train()
        metrics: dict[str, float] = {}
        for _ in range(cfg.epochs):
            order = torch.randperm(b, generator=self.generator, device=self.device)
            for worlds in order.chunk(min(cfg.minibatches, b)):
                loss, metrics = agent.compute_loss({key: value[worlds] for key, value in batch.items()})
                self.optimizer.zero_grad()
                loss.backward()
                if cfg.grad_clip:
                    metrics["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(agent.parameters(), cfg.grad_clip))
                self.optimizer.step()
        alive = imagined.alive
        metrics["imagined_return"] = float((imagined.rewards * alive).sum(1).mean())
        metrics["imagined_terminations"] = float(((1 - imagined.continues) * alive).sum(1).mean())
        metrics["reward_max"] = float(imagined.rewards.max())
        counts = np.bincount(imagined.actions.reshape(-1), minlength=len(self.action_set))
        metrics.update({f"action/{n}": float(c) / counts.sum() for n, c in zip(self.action_set.names, counts)})
        return metrics

    def save(self) -> None:
        """Checkpoint (for resume) and export RUN_DIR/agent."""
        config = dataclasses.asdict(self.cfg)
        save_checkpoint(self.run_dir, self.iteration, self.agent, {"optimizer": self.optimizer.state_dict()},
                        config=config)
        card = {"trained_in": self.cfg.world, "task": self.cfg.task, "iterations": self.iteration,
                "imagined_steps": self.iteration * self.cfg.num_worlds * self.cfg.horizon, "config": config}
        save_agent(self.run_dir / "agent", self.agent, self.action_set, card)


def train(cfg: AgentTrainConfig, progress: bool = True, world: Any = None) -> dict[str, Any]:
    """Run (or resume) a training run up to cfg.iterations or cfg.minutes; returns a summary."""
    from torch.utils.tensorboard import SummaryWriter

    trainer = DreamTrainer(cfg, world)
    write_json(trainer.run_dir / "config.json", dataclasses.asdict(cfg))
    if trainer.resumed_from is not None:
        print(f"resuming from {trainer.resumed_from} (iteration {trainer.iteration})", file=sys.stderr)
    writer = SummaryWriter(str(trainer.run_dir / "tb"))
    start = time.perf_counter()
    bar = tqdm(total=cfg.iterations, initial=trainer.iteration, desc="agent (dream)", unit="it",
               disable=not progress, file=sys.stderr)
    recent: list[float] = []
    try:
        while trainer.iteration < cfg.iterations:
            if cfg.minutes and time.perf_counter() - start > cfg.minutes * 60:
                break
            metrics = trainer.update()
            trainer.iteration += 1
            recent = (recent + [metrics["imagined_return"]])[-20:]
            if trainer.iteration % cfg.log_every == 0:
                for key, value in metrics.items():
                    writer.add_scalar(key if "/" in key else f"agent/{key}", value, trainer.iteration)
            if trainer.iteration % cfg.ckpt_every == 0:
                trainer.save()
            bar.update(1)
            bar.set_postfix(ret=f"{np.mean(recent):.3f}", ent=f"{metrics['entropy']:.2f}")
        trainer.save()
    finally:
        bar.close()
        writer.close()
    return {"iterations": trainer.iteration, "seconds": time.perf_counter() - start,
            "imagined_return_recent": float(np.mean(recent)) if recent else 0.0,
            "agent": str(trainer.run_dir / "agent")}
