"""Evaluate policies in a real env (BlockWorld, Crafter) or in the dream: returns, success rates, intervals.

Every policy here has `reset(seed)` and `act(obs, info) -> canonical action dict`, so the same object runs
unchanged in `BlockWorld-v0` and in `WorldModel-v0`: the learned agent (frames only, here), and from
agents.policies the uniform choice over the agent's action set (random_set), the random policy over the full
action space, and the scripted seeker (privileged: it reads the goal from info, so it only works in BlockWorld).
In Crafter (with canonical actions, envs.crafter_actions) the episodes also give the Crafter score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import gymnasium as gym
import numpy as np
import torch

from agents.action_set import ActionSet
from agents.actor_critic import ActorCritic


class AgentPolicy:
    """A trained ActorCritic acting from the current frame (sampled with a seeded generator, or greedy)."""

    def __init__(self, agent: ActorCritic, action_set: ActionSet, greedy: bool = False) -> None:
        self.agent, self.action_set, self.greedy = agent.eval(), action_set, greedy
        self.generator = torch.Generator()

    def reset(self, seed: int) -> None:
        """Reseed the action sampling for a new episode."""
        self.generator.manual_seed(int(seed))

    def act(self, obs: Any, info: dict[str, Any]) -> dict[str, Any]:
        """Canonical action for one uint8 frame (H, W, 3); info is not used (the agent sees frames only)."""
        frames = torch.as_tensor(np.asarray(obs))[None]
        index = int(self.agent.act(frames, generator=self.generator, greedy=self.greedy)[0])
        return self.action_set.action(index)


@dataclass
class EvalResult:
    """Per-episode outcomes of one policy."""

    name: str
    returns: np.ndarray
    successes: np.ndarray
    lengths: np.ndarray
    achievements: dict[str, np.ndarray] = field(default_factory=dict)
    """Crafter: achievement name -> bool (episodes,), unlocked in that episode (empty for other envs)."""

    def summary(self, seed: int = 0) -> dict[str, Any]:
        """Mean return and success rate with 95% intervals (bootstrap for the mean, Wilson for the rate);
        for Crafter also each achievement's success rate and the Crafter score with a bootstrap interval."""
        n, k = len(self.successes), int(self.successes.sum())
        low, high = wilson_interval(k, n)
        r_low, r_high = bootstrap_mean_interval(self.returns, seed=seed)
        out = {"policy": self.name, "episodes": n, "mean_return": float(self.returns.mean()),
               "return_ci95": [r_low, r_high], "success_rate": k / n if n else 0.0,
               "success_ci95": [low, high], "successes": k, "mean_length": float(self.lengths.mean())}
        if self.achievements:
            unlocked = np.stack([self.achievements[name] for name in sorted(self.achievements)], axis=1)  # (N, A)
            out["achievement_success"] = {name: float(self.achievements[name].mean())
                                          for name in sorted(self.achievements)}
            out["crafter_score"] = crafter_score(unlocked.mean(axis=0) * 100.0)
            out["score_ci95"] = list(bootstrap_score_interval(unlocked, seed=seed))
        return out


def crafter_score(success_percent: np.ndarray) -> float:
    """The Crafter score (Hafner 2021): exp(mean_i ln(1 + s_i)) - 1 over the achievements' success rates s_i in
    percent (the share of episodes in which achievement i was unlocked at least once); 0..100, log-averaged so
    that rare achievements count."""
    s = np.asarray(success_percent, dtype=np.float64)
    return float(np.exp(np.log1p(s).mean()) - 1.0)


def bootstrap_score_interval(unlocked: np.ndarray, seed: int = 0, draws: int = 2000) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the Crafter score, resampling episodes (rows of unlocked (N, A))."""
    unlocked = np.asarray(unlocked, dtype=np.float64)
    if not len(unlocked):
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(unlocked), (draws, len(unlocked)))
    rates = unlocked[rows].mean(axis=1) * 100.0  # (draws, A)
    scores = np.exp(np.log1p(rates).mean(axis=1)) - 1.0
    return float(np.percentile(scores, 2.5)), float(np.percentile(scores, 97.5))


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial rate (sensible at 0 and n, unlike the normal approximation)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_mean_interval(values: np.ndarray, seed: int = 0, draws: int = 2000) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the mean (seeded)."""
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (draws, len(values)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def run_episodes(make_env: Callable[[], gym.Env], policy: Any, episodes: int, seed: int, name: str,
                 progress: Callable[[int], None] | None = None) -> EvalResult:
    """Run `episodes` episodes (episode i reset with seed + i, the policy reseeded with it too).

    Success: the episode terminated with a positive return (the task's own end, e.g. the gold mined). Where the
    final info has Crafter's "achievements" counts, which ones were unlocked is kept too."""
    env = make_env()
    returns, successes, lengths = [], [], []
    achievements: dict[str, list[bool]] = {}
    try:
        for i in range(episodes):
            obs, info = env.reset(seed=seed + i)
            policy.reset(seed + i)
            total, steps, terminated, truncated = 0.0, 0, False, False
            while not (terminated or truncated):
                obs, reward, terminated, truncated, info = env.step(policy.act(obs, info))
                total += float(reward)
                steps += 1
            returns.append(total)
            successes.append(bool(terminated) and total > 0)
            lengths.append(steps)
            for name, count in (info.get("achievements") or {}).items():
                achievements.setdefault(name, []).append(int(count) > 0)
            if progress is not None:
                progress(1)
    finally:
        env.close()
    return EvalResult(name, np.asarray(returns), np.asarray(successes), np.asarray(lengths),
                      {key: np.asarray(value) for key, value in achievements.items()})


class FloorReward(gym.RewardWrapper):
    """Predicted rewards of magnitude below `floor` count as 0 (as in training), for dream returns that compare."""

    def __init__(self, env: gym.Env, floor: float) -> None:
        super().__init__(env)
        self.floor = floor

    def reward(self, reward: float) -> float:
        """The reward, or 0 when its magnitude is below the floor."""
        return float(reward) if abs(reward) >= self.floor else 0.0
