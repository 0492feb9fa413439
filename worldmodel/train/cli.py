"""`wm train tokenizer|dynamics|fusion [GROUP=OPTION] [KEY=VALUE ...]`: compose a typed config, build, train.

The defaults are the run config dataclasses of worldmodel/train/runs.py, registered in Hydra's ConfigStore;
configs/<group>/*.yaml beside the package hold only named presets (`data=crafter`, `train=smoke`). Hydra composes
them with the command-line overrides into the typed config, so a misspelt key or a wrongly typed value is an
error before anything runs. This module parses, builds and calls; the weight surgery lives beside the modules it
concerns (worldmodel/tokenizer/warm_start.py, worldmodel/dynamics/warm_start.py, worldmodel/fusion/attach.py).
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import worldmodel
from worldmodel.config_docs import field_docs

TARGETS = ("tokenizer", "dynamics", "fusion", "geometry")
GROUPS = ("data", "model", "train")
EXAMPLES = """\
examples:
  wm train tokenizer data.path=data/bw train.steps=2000 model.channels=32
  wm train tokenizer train=smoke data.path=data/bw run_dir=runs/tok_smoke
  wm train tokenizer data=crafter data.path=data/crafter init_from=bundled   # fine-tune the bundled tokenizer
  wm train dynamics tokenizer_checkpoint=runs/tokenizer data.path=data/bw
  wm train dynamics tokenizer_checkpoint=worldmodel/bundled init_from=bundled data.path=data/bw_gold  # fine-tune
  wm train fusion world=bundled data.path=data/bw data.clip_len=20   # frame fusion on the model's rollouts
  wm train geometry data.path=data/bw                                 # depth + odometry heads (spatial memory)
  wm train tokenizer --print-config model.levels=[7,5,5,5]
  torchrun --nproc_per_node 2 -m worldmodel.cli train tokenizer data.path=data/bw   # DDP (gloo on CPU)
A run resumes from the newest checkpoint in its run_dir; delete the dir (or pick another) to start afresh."""


def config_dir() -> Path | None:
    """The repo's configs/ directory of presets (beside the worldmodel package); None where it is not installed
    (the defaults need no files: they are the dataclasses)."""
    path = Path(worldmodel.__file__).resolve().parents[1] / "configs"
    return path if path.is_dir() else None


def preset_options(group: str) -> list[str]:
    """Names of the presets of a config group (configs/<group>/*.yaml)."""
    root = config_dir()
    return sorted(p.stem for p in (root / group).glob("*.yaml")) if root else []


def override_keys(overrides: list[str]) -> list[str]:
    """The dotted keys that KEY=VALUE overrides set (GROUP=OPTION preset choices left out); HydraException on
    malformed syntax."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    return [o.key_or_group for o in parsed if o.key_or_group not in GROUPS and not o.key_or_group.startswith("hydra")]


def check_keys(target: str, keys: list[str]) -> None:
    """ValueError naming the first key that the target's run config does not have (with the closest one)."""
    from omegaconf import DictConfig, OmegaConf

    from worldmodel.train.runs import RUNS

    schema = OmegaConf.structured(RUNS[target])
    for key in keys:
        node: Any = schema
        for depth, part in enumerate(key.split(".")):
            if not isinstance(node, DictConfig):
                break  # inside a list value: the merge checks the type
            names = [name for name in node if name != "defaults"]
            if part not in names:
                where = f"{'.'.join(key.split('.')[:depth])} ({OmegaConf.get_type(node).__name__})" if depth else \
                    f"`wm train {target}`"
                close = difflib.get_close_matches(part, names, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise ValueError(f"unknown key '{key}': {where} has no '{part}'{hint} (keys: {', '.join(names)})")
            node = node._get_node(part)


def _inherit_architecture(target: str, cfg: Any, model_keys: set[str]) -> None:
    """With init_from: set the architecture keys of cfg.model that the command line left alone from the source's
    config.json (in place)."""
    from omegaconf import OmegaConf

    warm_start = importlib.import_module(f"worldmodel.{target}.warm_start")  # tokenizer or dynamics
    source = warm_start.source_config(str(cfg.init_from))
    typed = warm_start.inherit_architecture(OmegaConf.to_object(cfg.model), source, keep=model_keys)
    cfg.model = OmegaConf.structured(typed)


def compose_config(target: str, overrides: list[str]) -> Any:
    """The typed config of `wm train TARGET`: the run dataclass's defaults, the chosen presets, the overrides and,
    with init_from, the source's architecture; validated (ValueError or Hydra error naming the key)."""
    from hydra import compose, initialize, initialize_config_dir
    from omegaconf import OmegaConf

    from worldmodel.train.runs import config_name, register

    keys = override_keys(overrides)
    check_keys(target, keys)
    register()
    root = config_dir()
    setup = (initialize_config_dir(config_dir=str(root), version_base="1.3", job_name=f"wm_train_{target}") if root
             else initialize(config_path=None, version_base="1.3", job_name=f"wm_train_{target}"))
    with setup:
        cfg = compose(config_name=config_name(target), overrides=overrides)
    if target in ("tokenizer", "dynamics") and cfg.init_from:
        _inherit_architecture(target, cfg, {key.split(".")[1] for key in keys if key.startswith("model.")})
    for group in GROUPS:  # instantiating runs each dataclass's own validation (ValueError naming the key)
        typed = OmegaConf.to_object(cfg[group])
        if callable(getattr(typed, "validate", None)):
            typed.validate()
    if target == "tokenizer" and cfg.freeze_encoder and not cfg.init_from:
        raise ValueError("freeze_encoder=true needs init_from=... (a trained encoder to keep)")
    return cfg


def help_text(prog: str, target: str | None = None) -> str:
    """Usage, preset groups, the keys with their defaults and docs (from the dataclasses), and examples."""
    from omegaconf import OmegaConf

    from worldmodel.train.runs import RUNS

    lines = [f"usage: {prog} {{{','.join(TARGETS)}}} [GROUP=OPTION] [KEY=VALUE ...] [--print-config]", ""]
    lines.append("Train the tokenizer, the dynamics, the frame fusion or the geometry heads with the generic Trainer "
                 "(worldmodel/train/trainer.py).")
    presets = config_dir() or "configs/ (not installed)"
    lines += ["", f"config groups (presets in {presets}; GROUP=OPTION sets the keys its file names):"]
    for group in GROUPS:
        lines.append(f"  {group + ':':<7} {', '.join(preset_options(group)) or '(none)'}")
    for name in [target] if target else list(TARGETS):
        cls = RUNS[name]
        try:
            cfg = compose_config(name, [])
        except Exception as error:  # noqa: BLE001 - help must still print
            lines += ["", f"keys of `{prog} {name}`: unavailable ({error})"]
            continue
        values = OmegaConf.to_container(cfg)
        docs = {key: field_docs(OmegaConf.get_type(cfg[key])) for key in GROUPS}
        root_docs = field_docs(cls)
        lines += ["", f"keys of `{prog} {name}` (defaults from {cls.__module__}.{cls.__name__}):"]
        for key, value in values.items():  # type: ignore[union-attr]
            if key not in GROUPS:
                lines.append(f"  {key}={value}  -- {root_docs.get(key, '')}".rstrip(" -"))
                continue
            subs = list(value) if target else list(value)[:6]
            lines += [f"  {key}.{sub}={value[sub]}  -- {docs[key].get(sub, '')}".rstrip(" -") for sub in subs]
            if len(value) > len(subs):
                lines.append(f"  {key}.* ... ({len(value) - len(subs)} more; `{prog} {name} --help`)")
    return "\n".join(lines + ["", EXAMPLES])


def _frame_size(dataset: Any) -> tuple[int, int]:
    """(H, W) of the dataset's frames, from its first clip."""
    frames = dataset[0]["frames"]
    return int(frames.shape[-3]), int(frames.shape[-2])


def _note(message: str | None) -> None:
    """Print a warm start's note (what it had to adapt) on rank 0."""
    if message and int(os.environ.get("RANK", "0")) == 0:
        print(message, file=sys.stderr)


def _tokenizer(run: Any, dataset: Any) -> tuple[Any, Callable[[Path], Any]]:
    """The Tokenizer of a tokenizer run (warm-started with init_from) and its export."""
    from worldmodel.tokenizer import Tokenizer, save_tokenizer
    from worldmodel.tokenizer.warm_start import warm_start

    size = _frame_size(dataset)
    if size != (run.model.height, run.model.width):
        raise ValueError(
            f"{run.data.path}: frames are {size[0]}x{size[1]} but model.height x model.width is "
            f"{run.model.height}x{run.model.width}; override model.height={size[0]} model.width={size[1]}"
        )
    module = Tokenizer(run.model)
    if run.init_from:
        _note(warm_start(module, run.init_from))
    if module.fusion is not None:
        module.fusion.requires_grad_(False)  # trained on a world model's rollouts (`wm train fusion`), not here
    if run.freeze_encoder:
        module.encoder.requires_grad_(False)  # same tokens as the source: its dynamics models stay valid
    return module, lambda _step_dir: save_tokenizer(module, Path(run.run_dir) / "tokenizer")


def _dynamics(run: Any, dataset: Any) -> tuple[Any, Callable[[Path], Any]]:
    """The DynamicsObjective of a dynamics run (on its frozen tokenizer, warm-started with init_from) and its
    export."""
    from worldmodel.dynamics import DynamicsObjective
    from worldmodel.dynamics.warm_start import warm_start
    from worldmodel.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(run.tokenizer_checkpoint)
    size = _frame_size(dataset)
    if size != (tokenizer.cfg.height, tokenizer.cfg.width):
        raise ValueError(
            f"{run.data.path}: frames are {size[0]}x{size[1]} but the tokenizer in {run.tokenizer_checkpoint} "
            f"expects {tokenizer.cfg.height}x{tokenizer.cfg.width}"
        )
    tokenizer.requires_grad_(False)
    if run.token_cache:
        _cache_tokens(tokenizer, dataset, Path(run.run_dir) / "tokens")
    module = DynamicsObjective(run.model, tokenizer)
    if run.init_from:
        _note(warm_start(module.model, run.init_from))
    return module, lambda _step_dir: module.export(Path(run.run_dir) / "world_model")


def _cache_tokens(tokenizer: Any, dataset: Any, root: Path) -> None:
    """Encode the dataset's episodes once (on the GPU when there is one; every DDP rank shares the work) and let
    its clips carry the tokens."""
    import torch

    from worldmodel.data.token_cache import build_token_cache

    rank = int(os.environ.get("RANK", "0"))
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if torch.cuda.is_available() else "cpu")
    directory = build_token_cache(tokenizer.to(device), dataset.files, root, rank=rank, progress=rank == 0)
    tokenizer.cpu()
    dataset.use_tokens(directory)


def _fusion(run: Any, dataset: Any) -> tuple[Any, Callable[[Path], Any]]:
    """The FusionObjective of a fusion run (the world's tokenizer with a fresh fusion net, its dynamics frozen)
    and its export, a WorldModel directory carrying the world's card."""
    from worldmodel.dynamics.bundle import load_world_model
    from worldmodel.fusion.attach import carried_card, with_fresh_fusion
    from worldmodel.fusion.objective import FusionObjective
    from worldmodel import bundled

    try:
        base, dynamics, config = load_world_model(bundled.resolve(run.world))
    except FileNotFoundError as error:
        raise ValueError(f"world={run.world}: {error}") from error
    size = _frame_size(dataset)
    if size != (base.cfg.height, base.cfg.width):
        raise ValueError(f"{run.data.path}: frames are {size[0]}x{size[1]} but world={run.world} expects "
                         f"{base.cfg.height}x{base.cfg.width}")
    module = FusionObjective(with_fresh_fusion(base, run.model.channels, run.model.fov_deg), dynamics, run.model)
    card = {**carried_card(config.get("card")),
            "fusion": f"frame fusion trained on the rollouts of {run.world} ({run.data.path})"}
    return module, lambda _step_dir: module.export(Path(run.run_dir) / "world_model", card)


def _geometry(run: Any, dataset: Any) -> tuple[Any, Callable[[Path], Any]]:
    """The depth and odometry heads of the spatial memory and their export (RUN_DIR/geometry/)."""
    from worldmodel.memory.geometry_heads import GeometryObjective

    module = GeometryObjective(run.model)
    if run.init_from:
        from worldmodel.checkpoint import load_module

        load_module(module, Path(run.init_from) / "geometry.safetensors")
    return module, lambda _step_dir: module.export(Path(run.run_dir) / "geometry")


def _note_split(path: str, split: str) -> None:
    """Warn (rank 0) when the store has a split.json but the run reads every episode, held-out ones included."""
    from worldmodel.data.split import SPLIT_FILE

    if not split and (Path(path) / SPLIT_FILE).is_file() and int(os.environ.get("RANK", "0")) == 0:
        print(f"note: {Path(path) / SPLIT_FILE} exists but data.split is unset, so the held-out episodes are "
              "trained on too (data.split=train reads the training part only)", file=sys.stderr)


def _run(target: str, cfg: Any) -> None:
    """Build the module and dataset from a validated config and train it."""
    import torch
    from omegaconf import OmegaConf

    from worldmodel.checkpoint import write_atomic_text
    from worldmodel.data import open_dataset
    from worldmodel.train.exports import remove_stale_exports
    from worldmodel.train.trainer import Trainer

    run = OmegaConf.to_object(cfg)
    run_dir = Path(run.run_dir)
    snapshot = OmegaConf.to_container(cfg, resolve=True)
    if int(os.environ.get("RANK", "0")) == 0:
        write_atomic_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    data = run.data
    _note_split(data.path, data.split)
    dataset = open_dataset(data.path, split=data.split or None).clips(data.clip_len, seed=data.seed, event_repeat=data.event_repeat,
                                            pad_end=data.pad_end, ground_truth=target == "geometry")
    torch.manual_seed(run.seed)
    build = {"tokenizer": _tokenizer, "dynamics": _dynamics, "fusion": _fusion, "geometry": _geometry}[target]
    module, export = build(run, dataset)
    trainer = Trainer(module, dataset, run.train, run_dir, config=snapshot, on_checkpoint=export)
    if trainer.resumed_from is not None and trainer.dist.is_main:
        remove_stale_exports(run_dir)  # half-written exports of a killed run
        if trainer.finished:  # killed between its last checkpoint and the export: export again (idempotent)
            print(f"{run_dir}: already trained to step {trainer.step}; exporting {trainer.resumed_from} again",
                  file=sys.stderr)
            export(trainer.resumed_from)
        else:
            print(f"resuming from {trainer.resumed_from} (step {trainer.step})", file=sys.stderr)
    metrics = trainer.fit()
    if trainer.dist.is_main and metrics:
        print(" ".join(f"{k}={v:.4g}" for k, v in metrics.items()))


def _message(error: BaseException) -> str:
    """An error's text followed by its causes' (Hydra hides the offending value in the cause)."""
    parts = [str(error)]
    cause = error.__cause__
    while cause is not None:
        text = str(cause).split("\n    full_key:")[0].strip()  # OmegaConf appends its own key/type lines
        if text and text not in parts[-1]:
            parts.append(text)
        cause = cause.__cause__
    return ": ".join(parts)


def main(argv: list[str], prog: str = "wm train") -> int:
    """Entry point of `wm train`; returns the exit status."""
    if not argv or argv[0] in ("-h", "--help"):
        print(help_text(prog))
        return 0
    target, overrides = argv[0], list(argv[1:])
    if target not in TARGETS:
        print(f"{prog}: unknown target '{target}' (choose from {', '.join(TARGETS)})", file=sys.stderr)
        return 2
    if "-h" in overrides or "--help" in overrides:
        print(help_text(prog, target))
        return 0
    print_only = "--print-config" in overrides
    overrides = [o for o in overrides if o != "--print-config"]
    unknown_flags = [o for o in overrides if o.startswith("-")]
    if unknown_flags:
        print(f"{prog}: unknown option {unknown_flags[0]} (overrides are KEY=VALUE)", file=sys.stderr)
        return 2
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        cfg = compose_config(target, overrides)
        if print_only:
            print(OmegaConf.to_yaml(cfg))
            return 0
        if target == "dynamics" and OmegaConf.is_missing(cfg, "tokenizer_checkpoint"):
            raise ValueError("tokenizer_checkpoint=DIR is required (the run_dir of `wm train tokenizer`)")
        _run(target, cfg)
    except ModuleNotFoundError as error:
        if error.name and error.name.startswith("worldmodel."):
            print(f"{prog} {target}: {error.name} is not available in this version", file=sys.stderr)
            return 2
        raise
    except (ValueError, HydraException, OmegaConfBaseException) as error:
        print(f"{prog} {target}: error: {_message(error)}", file=sys.stderr)
        return 2
    return 0
