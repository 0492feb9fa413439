"""The `wm` command. Subcommands live in their own modules and are imported only when used."""

from __future__ import annotations

import importlib
import sys
from typing import Any

# name -> (module with `main(argv: list[str], prog: str) -> int | None`, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "play": ("worldmodel.viewer.cli", "play a real or learned world with the keyboard (pygame)"),
    "collect": ("worldmodel.data.collect", "record gameplay episodes from any Gymnasium env"),
    "import": ("worldmodel.data.importers.cli", "import MineRL v0.4, VPT, plain video or Crafter recordings"),
    "data": ("worldmodel.data.cli", "inspect, check and split an episode store (`wm data info|check|split DIR`)"),
    "train": ("worldmodel.train.cli", "train the tokenizer, dynamics, frame fusion or geometry heads (Hydra overrides)"),
    "finetune": ("worldmodel.train.finetune", "fine-tune the bundled model on your own footage (import .. bench)"),
    "combine": ("worldmodel.combine", "pair a world model's dynamics with another tokenizer (same encoder)"),
    "bench": ("worldmodel.evaluation.cli", "speed and quality benchmarks of a world model"),
    "probe": ("worldmodel.probes.cli", "run probe suites against ground truth"),
    "agent": ("agents.cli", "train agents in the dream, evaluate them in real envs"),
}


def _agent_train_target(size: str) -> Any:
    """`wm bench train --target agent`: the actor-critic's target, built in agents (imported only when chosen)."""
    from agents.cli import bench_train_target

    return bench_train_target(size)


# name -> keyword arguments of the command's main besides argv and prog: what it needs from above worldmodel,
# which only this dispatcher may reach (lazily)
EXTRA_ARGS: dict[str, dict[str, Any]] = {
    "bench": {"targets": {"agent": _agent_train_target}},
}


def usage() -> str:
    lines = ["usage: wm <command> [options]", "", "commands:"]
    lines += [f"  {name:<9} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += ["", "Run `wm <command> --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name = argv[0]
    if name not in COMMANDS:
        print(f"wm: unknown command '{name}'\n\n{usage()}", file=sys.stderr)
        return 2
    module_name = COMMANDS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            print(f"wm {name}: not available in this version ({module_name} is missing)", file=sys.stderr)
            return 2
        raise
    code = module.main(argv[1:], prog=f"wm {name}", **EXTRA_ARGS.get(name, {}))
    return int(code or 0)


if __name__ == "__main__":
    raise SystemExit(main())
