"""`wm train tokenizer|dynamics [KEY=VALUE ...]`: compose a Hydra config, map it onto typed dataclasses, train.

The config is composed with Hydra's compose API from the repo's configs/ directory (root configs
train_tokenizer.yaml / train_dynamics.yaml, groups data/, model/, train/) and merged into OmegaConf structured
configs, so a misspelt key or a wrongly typed value is an error before anything runs.
"""

from __future__ import annotations

import ast
import inspect
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import worldmodel

TARGETS = {"tokenizer": "train_tokenizer", "dynamics": "train_dynamics", "fusion": "train_fusion"}
GROUPS = ("data", "model", "train")
EXAMPLES = """\
examples:
  wm train tokenizer data.path=data/bw train.steps=2000 model.channels=32
  wm train tokenizer train=smoke data.path=data/bw run_dir=runs/tok_smoke
  wm train dynamics tokenizer_checkpoint=runs/tokenizer data.path=data/bw
  wm train dynamics tokenizer_checkpoint=worldmodel/bundled init_from=bundled data.path=data/bw_gold  # fine-tune
  wm train fusion world=bundled data.path=data/bw data.clip_len=20   # frame fusion on the model's rollouts
  wm train tokenizer --print-config model.levels=[7,5,5,5]
  torchrun --nproc_per_node 2 -m worldmodel.cli train tokenizer data.path=data/bw   # DDP (gloo on CPU)
A run resumes from the newest checkpoint in its run_dir; delete the dir (or pick another) to start afresh."""


def config_dir() -> Path:
    """The repo's configs/ directory (beside the worldmodel package); ValueError if it is missing."""
    path = Path(worldmodel.__file__).resolve().parents[1] / "configs"
    if not (path / "train_tokenizer.yaml").is_file():
        raise ValueError(
            f"{path}: Hydra config directory not found (expected train_tokenizer.yaml there); "
            "run from a source checkout installed with `pip install -e .`"
        )
    return path


def _model_config_class(target: str) -> type:
    """TokenizerConfig, DynamicsConfig or FusionTrainConfig (imported lazily)."""
    if target == "tokenizer":
        from worldmodel.tokenizer import TokenizerConfig

        return TokenizerConfig
    if target == "fusion":
        from worldmodel.fusion.objective import FusionTrainConfig

        return FusionTrainConfig
    from worldmodel.dynamics import DynamicsConfig

    return DynamicsConfig


def _schema(target: str) -> Any:
    """Structured OmegaConf schema of a run: typed data/model/train groups plus the root keys."""
    from omegaconf import MISSING, OmegaConf

    from worldmodel.train.config import DataConfig, TrainConfig

    root: dict[str, Any] = {
        "data": OmegaConf.structured(DataConfig),
        "model": OmegaConf.structured(_model_config_class(target)),
        "train": OmegaConf.structured(TrainConfig),
        "run_dir": f"runs/{target}",
        "seed": 0,
    }
    if target == "fusion":
        root["world"] = "bundled"
    else:
        root["init_from"] = ""
    if target == "tokenizer":
        root["freeze_encoder"] = False
    if target == "dynamics":
        root["tokenizer_checkpoint"] = MISSING
    schema = OmegaConf.create(root)
    OmegaConf.set_struct(schema, True)
    return schema


def compose_config(target: str, overrides: list[str]) -> Any:
    """Compose configs/<root>.yaml with command-line overrides and validate it against the typed schema."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3", job_name=f"wm_train_{target}"):
        raw = compose(config_name=TARGETS[target], overrides=overrides)
    OmegaConf.set_struct(raw, False)
    cfg = OmegaConf.merge(_schema(target), raw)
    for group in GROUPS:  # instantiating runs each dataclass's own validation (ValueError naming the key)
        typed = OmegaConf.to_object(cfg[group])
        if callable(getattr(typed, "validate", None)):
            typed.validate()
    return cfg


def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (the string literal under each dataclass field) of a config class."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body, docs = tree.body[0].body, {}  # type: ignore[attr-defined]
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if isinstance(nxt, ast.Expr) and isinstance(getattr(nxt, "value", None), ast.Constant):
                docs[node.target.id] = " ".join(str(nxt.value.value).split())
    return docs


def help_text(prog: str, target: str | None = None) -> str:
    """Usage, config groups, main keys with their defaults and docs, and examples."""
    from omegaconf import OmegaConf

    from worldmodel.train.config import DataConfig, TrainConfig

    lines = [f"usage: {prog} {{{','.join(TARGETS)}}} [GROUP=OPTION] [KEY=VALUE ...] [--print-config]", ""]
    lines.append("Train the tokenizer, the dynamics or the frame fusion with the generic Trainer "
                 "(worldmodel/train/trainer.py).")
    try:
        root = config_dir()
    except ValueError as error:
        return "\n".join(lines + ["", f"error: {error}"])
    lines += ["", f"config groups (in {root}; pick one with GROUP=OPTION):"]
    for group in GROUPS:
        options = sorted(p.stem for p in (root / group).glob("*.yaml"))
        lines.append(f"  {group + ':':<7} {', '.join(options) or '(none)'}")
    for name in [target] if target else list(TARGETS):
        try:
            cfg = compose_config(name, [])
            model_cls = _model_config_class(name)
        except Exception as error:  # noqa: BLE001 - help must still print
            lines += ["", f"keys of `{prog} {name}`: unavailable ({error})"]
            continue
        docs = {"data": field_docs(DataConfig), "model": field_docs(model_cls), "train": field_docs(TrainConfig)}
        lines += ["", f"keys of `{prog} {name}` (defaults from {TARGETS[name]}.yaml):"]
        root_docs = {"run_dir": "output dir: checkpoints/, tb/, config.yaml (+ tokenizer/ or world_model/)",
                     "seed": "seed of the model initialisation",
                     "tokenizer_checkpoint": "run dir of `wm train tokenizer` (or a tokenizer export dir); required",
                     "init_from": ("WorldModel dir (or 'bundled') whose dynamics weights start a fresh run "
                                   "(fine-tuning); model.* must match its config") if name == "dynamics" else
                                  ("tokenizer export dir, tokenizer run dir or 'bundled' whose weights start a "
                                   "fresh run (fine-tuning, e.g. on a new game); model.* must match its config"),
                     "freeze_encoder": ("with init_from: train the decoder only, so the tokens (and every dynamics "
                                        "model trained on them) stay valid"),
                     "world": "WorldModel dir (or 'bundled') whose rollouts the fusion learns to show; kept frozen"}
        for key in cfg:
            value = cfg._get_node(key)
            if key in GROUPS:
                keys = list(value) if target else [k for k in value if k in docs[key]][:6]
                for sub in keys:
                    shown = OmegaConf.to_container(value)[sub]  # type: ignore[index]
                    lines.append(f"  {key}.{sub}={shown}  -- {docs[key].get(sub, '')}".rstrip(" -"))
                if not target and len(value) > len(keys):
                    lines.append(f"  {key}.* ... ({len(value) - len(keys)} more; `{prog} {name} --help`)")
            else:
                shown = "???" if OmegaConf.is_missing(cfg, key) else value
                lines.append(f"  {key}={shown}  -- {root_docs.get(key, '')}".rstrip(" -"))
    return "\n".join(lines + ["", EXAMPLES])


def _frame_size(dataset: Any) -> tuple[int, int]:
    """(H, W) of the dataset's frames, from its first clip."""
    frames = dataset[0]["frames"]
    return int(frames.shape[-3]), int(frames.shape[-2])


def warm_start(module: Any, source: str) -> None:
    """Copy the dynamics weights of a WorldModel directory ('bundled' = the shipped model) into a fresh
    DynamicsObjective; a resumed run then overwrites them with its own checkpoint. ValueError on a mismatch."""
    from worldmodel.checkpoint import load_safetensors, load_state_into
    from worldmodel.dynamics.bundle import DYNAMICS_FILE
    from worldmodel.model import BUNDLED_DIR

    directory = BUNDLED_DIR if source == "bundled" else Path(source)
    path = directory / DYNAMICS_FILE
    if not path.is_file():
        raise ValueError(f"init_from={source}: {path} not found (expected a WorldModel directory)")
    state = load_safetensors(path)
    if module.model.uses_hint and "hint_emb.weight" not in state and "tok_emb.weight" in state:
        add_camera_hint(state, module.model)
        print(f"init_from={source}: the source has no camera hint; its hint embedding starts as a copy of the "
              "token embedding")
    load_state_into(module.model, state, path)


def add_camera_hint(state: dict[str, Any], model: Any) -> None:
    """Complete the weights of a hint-free dynamics model for a model with the camera hint: the hint embedding
    starts as the trained token embedding (the trunk already knows what each token looks like, and the hint
    says which token should be where next); the 'no hint' vector starts at zero."""
    state["hint_emb.weight"] = state["tok_emb.weight"].clone()
    state["hint_unseen"] = model.hint_unseen.detach().new_zeros(model.hint_unseen.shape)


def warm_start_tokenizer(module: Any, source: str) -> None:
    """Copy the weights of a tokenizer export ('bundled' = the shipped one) into a fresh Tokenizer, to fine-tune
    it on new footage; a resumed run then overwrites them with its own checkpoint. ValueError on a mismatch."""
    from worldmodel.checkpoint import load_safetensors, load_state_into
    from worldmodel.model import BUNDLED_DIR
    from worldmodel.tokenizer.io import WEIGHTS_FILE, resolve_tokenizer_dir

    try:
        directory = BUNDLED_DIR if source == "bundled" else resolve_tokenizer_dir(source)
    except (ValueError, FileNotFoundError) as error:
        raise ValueError(f"init_from={source}: {error}") from error
    path = directory / WEIGHTS_FILE
    load_state_into(module, load_safetensors(path), path)


def _fusion_module(cfg: Any, fusion_cfg: Any, dataset: Any) -> tuple[Any, dict[str, Any]]:
    """A FusionObjective for the world model `cfg.world` (its tokenizer gets a fresh fusion net of
    fusion_cfg.channels, replacing any it had; its dynamics stay frozen) and the world model's card entries."""
    import dataclasses

    from worldmodel.dynamics.bundle import load_world_model
    from worldmodel.fusion.objective import FusionObjective
    from worldmodel.model import BUNDLED_DIR
    from worldmodel.tokenizer import Tokenizer

    world_dir = BUNDLED_DIR if str(cfg.world) == "bundled" else Path(cfg.world)
    try:
        base, dynamics, config = load_world_model(world_dir)
    except FileNotFoundError as error:
        raise ValueError(f"world={cfg.world}: {error}") from error
    size = _frame_size(dataset)
    if size != (base.cfg.height, base.cfg.width):
        raise ValueError(f"{cfg.data.path}: frames are {size[0]}x{size[1]} but world={cfg.world} expects "
                         f"{base.cfg.height}x{base.cfg.width}")
    tokenizer = Tokenizer(dataclasses.replace(base.cfg, fusion_channels=fusion_cfg.channels,
                                              fusion_fov_deg=fusion_cfg.fov_deg))
    state = {k: v for k, v in base.state_dict().items() if not k.startswith("fusion.")}
    state.update({f"fusion.{k}": v for k, v in tokenizer.fusion.state_dict().items()})
    tokenizer.load_state_dict(state)
    card = {k: v for k, v in (config.get("card") or {}).items()
            if k not in ("created", "tokenizer_params", "dynamics_params", "fusion")}
    return FusionObjective(tokenizer, dynamics, fusion_cfg), card


def _run(target: str, cfg: Any) -> None:
    """Build the module and dataset from a validated config and train it."""
    import torch
    from omegaconf import OmegaConf

    from worldmodel.checkpoint import write_atomic_text
    from worldmodel.data import open_dataset
    from worldmodel.train.trainer import Trainer

    data_cfg, train_cfg = OmegaConf.to_object(cfg.data), OmegaConf.to_object(cfg.train)
    model_cfg = OmegaConf.to_object(cfg.model)
    run_dir = Path(cfg.run_dir)
    snapshot = OmegaConf.to_container(cfg, resolve=True)
    if int(os.environ.get("RANK", "0")) == 0:
        write_atomic_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    dataset = open_dataset(data_cfg.path).clips(data_cfg.clip_len, seed=data_cfg.seed,
                                                event_repeat=data_cfg.event_repeat, pad_end=data_cfg.pad_end)
    torch.manual_seed(int(cfg.seed))
    if target == "fusion":
        module, card = _fusion_module(cfg, model_cfg, dataset)
        card["fusion"] = f"frame fusion trained on the rollouts of {cfg.world} ({data_cfg.path})"
        export = lambda _step_dir: module.export(run_dir / "world_model", card)  # noqa: E731
    elif target == "tokenizer":
        from worldmodel.tokenizer import Tokenizer, save_tokenizer

        size = _frame_size(dataset)
        if size != (model_cfg.height, model_cfg.width):
            raise ValueError(
                f"{data_cfg.path}: frames are {size[0]}x{size[1]} but model.height x model.width is "
                f"{model_cfg.height}x{model_cfg.width}; override model.height={size[0]} model.width={size[1]}"
            )
        module = Tokenizer(model_cfg)
        if cfg.init_from:
            warm_start_tokenizer(module, str(cfg.init_from))
        if cfg.freeze_encoder:
            if not cfg.init_from:
                raise ValueError("freeze_encoder=true needs init_from=... (a trained encoder to keep)")
            module.encoder.requires_grad_(False)  # same tokens as the source: its dynamics models stay valid
        export = lambda _step_dir: save_tokenizer(module, run_dir / "tokenizer")  # noqa: E731
    else:
        from worldmodel.dynamics import DynamicsObjective
        from worldmodel.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(cfg.tokenizer_checkpoint)
        size = _frame_size(dataset)
        if size != (tokenizer.cfg.height, tokenizer.cfg.width):
            raise ValueError(
                f"{data_cfg.path}: frames are {size[0]}x{size[1]} but the tokenizer in {cfg.tokenizer_checkpoint} "
                f"expects {tokenizer.cfg.height}x{tokenizer.cfg.width}"
            )
        tokenizer.requires_grad_(False)
        module = DynamicsObjective(model_cfg, tokenizer)
        if cfg.init_from:
            warm_start(module, str(cfg.init_from))
        export = lambda _step_dir: module.export(run_dir / "world_model")  # noqa: E731
    trainer = Trainer(module, dataset, train_cfg, run_dir, config=snapshot, on_checkpoint=export)
    if trainer.resumed_from is not None and trainer.dist.is_main:
        print(f"resuming from {trainer.resumed_from} (step {trainer.step})", file=sys.stderr)
    metrics = trainer.fit()
    if trainer.dist.is_main and metrics:
        print(" ".join(f"{k}={v:.4g}" for k, v in metrics.items()))


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
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

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
    except (ValueError, HydraException, MissingMandatoryValue, OmegaConfBaseException) as error:
        print(f"{prog} {target}: error: {error}", file=sys.stderr)
        return 2
    return 0
