"""AgentTrainConfig: every setting of `wm agent train` and its default (agents/cli.py makes one flag per field from
it: type, default, and the docstring as --help)."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class AgentTrainConfig:
    """Actor-critic training inside a world model's dream."""

    world: str = "bundled"
    """World model: "bundled" or a WorldModel directory (the dynamics run's RUN_DIR/world_model)."""
    contexts: str = "blockworld"
    """Where imagined rollouts start (real contexts): "blockworld" (live play of the noisy scripted seeker in
    BlockWorld with `task`; needs no data) or an episode store whose clips are used."""
    task: str = "mine_gold"
    """BlockWorld task the world model's reward head was trained on (recorded in the agent card; for
    "blockworld" contexts also the task those are played in)."""
    action_set: str = "blockworld"
    """The agent's actions: "blockworld" (10 named BlockWorld actions, 10-degree turns) or "crafter" (Crafter's
    17 actions; pair it with a Crafter world model and an episode store of Crafter clips as contexts)."""
    run_dir: str = "runs/agent"
    """Output: agent/ (the trained agent), checkpoints/ (resume), tb/ (TensorBoard), config.json."""
    num_worlds: int = 32
    """Dream worlds stepped in one batched forward per imagination step."""
    horizon: int = 16
    """Imagined steps per rollout; the value bootstraps beyond it."""
    context_frames: int = 0
    """Real frames that prime each imagined rollout (0 = the world model's whole window). A full window also
    matches training: clips there always hold a full window before their last transition, where mine_gold pays."""
    iterations: int = 2000
    """Maximum updates (one imagined batch each); `minutes` may stop training first."""
    minutes: float = 30.0
    """Wall-clock budget of the training loop in minutes (0 = no limit)."""
    lr: float = 5e-4
    """Adam learning rate."""
    epochs: int = 4
    """Gradient passes over each imagined batch (PPO's ratio clip keeps them near on-policy; 1 with
    minibatches 1 is one plain REINFORCE step). Imagination costs far more than an update, so reuse it."""
    minibatches: int = 4
    """Minibatches (split over worlds) per pass."""
    gamma: float = 0.95
    """Discount per step."""
    lam: float = 0.95
    """Lambda of the lambda-returns."""
    entropy_coef: float = 1e-2
    """Weight of the entropy bonus."""
    grad_clip: float = 1.0
    """Clip of the global gradient norm (0 = off)."""
    dream_temperature: float = 1.0
    """World-model sampling temperature during imagination (lower = more deterministic dreams; sampling, not
    greedy decoding, keeps the agent from exploiting one fixed model error)."""
    dream_fusion: bool = True
    """Show dream frames through the world model's frame-fusion net, if it has one (sharper, closer to the real
    frames; about 2.5x slower imagination on a CPU). `wm agent train --no-fusion` turns it off."""
    reward_floor: float = 0.1
    """Predicted rewards of smaller magnitude count as 0 (the reward head's noise would add up over the
    horizon). 0.1 keeps BlockWorld's task rewards; in Crafter 0.3 drops the +/-0.1 health changes and keeps the
    achievements (+1; a small Crafter model predicts about 0.4 for them on average, so 0.5 would drop most)."""
    ckpt_every: int = 25
    """Save a checkpoint (and export agent/) every N iterations, and at the end."""
    log_every: int = 5
    """Write TensorBoard scalars every N iterations."""
    seed: int = 0
    """Seed of contexts, dream sampling, action sampling and network initialisation."""
    threads: int = 1
    """torch threads (1 is fastest for batched small models on a busy 2-core CPU)."""
    device: str = "cpu"
    """"cpu", "cuda" or "auto"."""

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        positive = ("num_worlds", "horizon", "iterations", "epochs", "minibatches", "ckpt_every", "log_every",
                    "threads")
        if self.context_frames < 0:
            raise ValueError(f"agent config 'context_frames' must be >= 0, got {self.context_frames!r}")
        for key in positive:
            if int(getattr(self, key)) < 1:
                raise ValueError(f"agent config '{key}' must be >= 1, got {getattr(self, key)!r}")
        for key in ("minutes", "entropy_coef", "grad_clip", "dream_temperature", "reward_floor"):
            if float(getattr(self, key)) < 0:
                raise ValueError(f"agent config '{key}' must be >= 0, got {getattr(self, key)!r}")
        if not 0 < self.gamma <= 1 or not 0 <= self.lam <= 1 or self.lr <= 0:
            raise ValueError("agent config: 'gamma' must be in (0, 1], 'lam' in [0, 1] and 'lr' > 0")
        if self.action_set not in ("blockworld", "crafter"):
            raise ValueError(f"agent config 'action_set' must be blockworld or crafter, got {self.action_set!r}")
        if self.action_set == "crafter" and self.contexts == "blockworld":
            raise ValueError("agent config: action_set 'crafter' needs 'contexts' = an episode store of Crafter "
                             "clips (e.g. data/crafter), not live BlockWorld play")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"agent config 'device' must be cpu, cuda or auto, got {self.device!r}")


FLAG_NAMES = {"dream_fusion": "fusion"}
"""`wm agent train` flags named other than their field (without dashes and no- prefix): --no-fusion."""


def field_names() -> list[str]:
    """The config's field names in order."""
    return [f.name for f in fields(AgentTrainConfig)]
