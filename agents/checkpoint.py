"""Agent files: RUN_DIR/agent/{agent.safetensors, agent.json} (weights, and the network config, action set and a
card of how it was trained). Written to a temporary directory and renamed, so a reader never sees half of one;
loading never unpickles."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from agents.action_set import ActionSet
from agents.actor_critic import ActorCritic, ActorCriticConfig
from worldmodel.checkpoint import load_safetensors, load_state_into, module_state, read_json, save_safetensors, \
    write_json

AGENT_FORMAT = "worldmodel-agent/1"
WEIGHTS, CONFIG = "agent.safetensors", "agent.json"


def save_agent(directory: str | Path, agent: ActorCritic, action_set: ActionSet, card: dict[str, Any]) -> Path:
    """Write an agent directory atomically (replacing an older one)."""
    directory = Path(directory)
    tmp = directory.with_name(f".tmp-{directory.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_safetensors(module_state(agent), tmp / WEIGHTS, metadata={"format": AGENT_FORMAT})
    write_json(tmp / CONFIG, {"format": AGENT_FORMAT, "network": agent.cfg.to_dict(),
                              "action_set": action_set.to_dict(), "card": card})
    old = directory.with_name(f".old-{directory.name}")
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)
    return directory


def load_agent(path: str | Path) -> tuple[ActorCritic, ActionSet, dict[str, Any]]:
    """Read an agent directory, or a run dir holding agent/ -> (network in eval mode, action set, card)."""
    path = Path(path)
    directory = path if (path / CONFIG).is_file() else path / "agent"
    config = read_json(directory / CONFIG)
    if not isinstance(config, dict) or config.get("format") != AGENT_FORMAT:
        raise ValueError(f"{directory / CONFIG}: not a {AGENT_FORMAT} agent config")
    try:
        action_set = ActionSet.from_dict(config["action_set"])
        cfg = ActorCriticConfig.from_dict(config["network"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{directory / CONFIG}: bad agent config ({error})") from error
    if cfg.num_actions != len(action_set):
        raise ValueError(f"{directory / CONFIG}: network has {cfg.num_actions} actions, action set {len(action_set)}")
    agent = ActorCritic(cfg)
    load_state_into(agent, load_safetensors(directory / WEIGHTS), directory / WEIGHTS)
    return agent.eval(), action_set, dict(config.get("card", {}))
