"""`wm train` end to end: the tokenizer, dynamics and fusion commands, their config keys, presets and init_from."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from worldmodel.checkpoint import latest_checkpoint
from worldmodel.train.cli import main as train_main


def _write_tiny_store(root: Path) -> None:
    from worldmodel.data import update_index, write_episode

    rng = np.random.default_rng(0)
    for i in range(2):
        frames = rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
        write_episode(root / "episodes" / f"ep_{i}.npz", frames, meta={"source": "test", "fps": 20})
    update_index(root)


TOKENIZER_OVERRIDES = ["train=smoke", "model.height=16", "model.width=16", "model.channels=8",
                       "model.channel_mult=[1,2,2]", "model.res_blocks=[0,0,1]", "model.mid_blocks=0",
                       "data.clip_len=2"]


@pytest.mark.skipif(importlib.util.find_spec("worldmodel.data") is None, reason="worldmodel.data not written yet")
def test_wm_train_tokenizer_cli(tmp_path, capsys) -> None:
    _write_tiny_store(tmp_path / "store")
    run_dir = tmp_path / "run"
    argv = ["tokenizer", f"data.path={tmp_path / 'store'}", f"run_dir={run_dir}", *TOKENIZER_OVERRIDES]
    assert train_main(argv, prog="wm train") == 0
    assert latest_checkpoint(run_dir).name == "step_00000003"
    assert (run_dir / "config.yaml").is_file() and (run_dir / "tokenizer" / "tokenizer.safetensors").is_file()
    from worldmodel.tokenizer import load_tokenizer

    assert load_tokenizer(run_dir).grid == (4, 4)
    assert train_main([*argv, "train.steps=4"], prog="wm train") == 0  # resumes at 3, runs 1 more
    assert latest_checkpoint(run_dir).name == "step_00000004"
    assert train_main([*argv, "model.chanels=3"], prog="wm train") == 2
    assert "model.chanels" in capsys.readouterr().err
    assert train_main([*argv, "model.height=18"], prog="wm train") == 2
    assert "'height'" in capsys.readouterr().err


def test_wm_train_help_lists_groups_and_keys(capsys) -> None:
    assert train_main(["--help"], prog="wm train") == 0
    out = capsys.readouterr().out
    assert "config groups" in out and "train:" in out and "data.path=" in out and "model.levels=" in out
    assert "wm train dynamics tokenizer_checkpoint=" in out
    assert train_main(["dynamics"], prog="wm train") == 2


CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_wm_train_dynamics_cli_exports_a_world_model(tmp_path) -> None:
    pytest.importorskip("worldmodel.dynamics")
    from worldmodel.tokenizer import Tokenizer, TokenizerConfig, save_tokenizer

    _write_tiny_store(tmp_path / "store")
    tok_cfg = TokenizerConfig(height=16, width=16, levels=[5, 5], channels=8, channel_mult=[1, 2, 2],
                              res_blocks=[0, 0, 1], mid_blocks=0)
    save_tokenizer(Tokenizer(tok_cfg), tmp_path / "tok" / "tokenizer")
    run_dir = tmp_path / "dyn"
    argv = ["dynamics", f"tokenizer_checkpoint={tmp_path / 'tok'}", f"data.path={tmp_path / 'store'}",
            f"run_dir={run_dir}", "train=smoke", "data.clip_len=4", "model.d_model=32", "model.n_layers=1",
            "model.n_heads=2", "model.context_frames=3", "model.head_layers=1", "model.lam_dim=16",
            "model.lam_layers=1", "model.lam_heads=2", "model.lam_levels=[3,3]"]
    assert train_main(argv, prog="wm train") == 0
    assert latest_checkpoint(run_dir).name == "step_00000003"
    assert (run_dir / "world_model" / "config.json").is_file()
    assert (run_dir / "world_model" / "dynamics.safetensors").is_file()
    cached = list((run_dir / "tokens").glob("*/*.npy"))  # token_cache=true (default): the store encoded once
    assert cached and len(cached) == len(list((tmp_path / "store" / "episodes").glob("*")))


def test_freeze_encoder_trains_the_decoder_and_keeps_the_tokens(tmp_path, capsys) -> None:
    from worldmodel.tokenizer import load_tokenizer

    _write_tiny_store(tmp_path / "store")
    first = ["tokenizer", f"data.path={tmp_path / 'store'}", f"run_dir={tmp_path / 'a'}", *TOKENIZER_OVERRIDES]
    assert train_main(first, prog="wm train") == 0
    second = ["tokenizer", f"data.path={tmp_path / 'store'}", f"run_dir={tmp_path / 'b'}", *TOKENIZER_OVERRIDES,
              f"init_from={tmp_path / 'a'}", "freeze_encoder=true", "train.lr=0.05"]
    assert train_main(second, prog="wm train") == 0
    source, tuned = load_tokenizer(tmp_path / "a"), load_tokenizer(tmp_path / "b")
    for (name, a), b in zip(source.state_dict().items(), tuned.state_dict().values()):
        if name.startswith("encoder."):
            assert torch.equal(a, b), name
    assert any(not torch.equal(a, b) for a, b in zip(source.decoder.parameters(), tuned.decoder.parameters()))
    frames = torch.randint(0, 256, (3, 16, 16, 3), dtype=torch.uint8)
    assert torch.equal(source.encode(frames), tuned.encode(frames))
    assert train_main(["tokenizer", f"data.path={tmp_path / 'store'}", f"run_dir={tmp_path / 'c'}",
                       *TOKENIZER_OVERRIDES, "freeze_encoder=true"], prog="wm train") == 2
    assert "init_from" in capsys.readouterr().err


def test_wm_train_fusion_cli_adds_a_fusion_net_and_keeps_the_rest(tmp_path, capsys) -> None:
    from worldmodel.dynamics import DynamicsConfig, DynamicsModel, save_world_model
    from worldmodel.model import WorldModel
    from worldmodel.tokenizer import Tokenizer, TokenizerConfig

    _write_tiny_store(tmp_path / "store")
    torch.manual_seed(0)
    tokenizer = Tokenizer(TokenizerConfig(height=16, width=16, channels=8, channel_mult=[1, 2, 2],
                                          res_blocks=[0, 0, 1], mid_blocks=0))
    dynamics = DynamicsModel(DynamicsConfig(d_model=32, n_layers=1, n_heads=2, context_frames=3, lam_dim=16,
                                            lam_layers=1, lam_heads=2, lam_levels=[3, 3]),
                             tokenizer.vocab_size, tokenizer.grid)
    save_world_model(tmp_path / "world", tokenizer, dynamics)
    base = ["fusion", f"world={tmp_path / 'world'}", f"data.path={tmp_path / 'store'}", "train=smoke",
            "model.channels=4", "model.context=2", "model.teacher_steps=1"]
    assert train_main([*base, "data.clip_len=5", f"run_dir={tmp_path / 'run'}"], prog="wm train") == 0
    trained = WorldModel.load(tmp_path / "run" / "world_model")
    assert trained.tokenizer.fusion is not None and trained.tokenizer.cfg.fusion_channels == 4
    for name, value in tokenizer.state_dict().items():
        assert torch.equal(value, trained.tokenizer.state_dict()[name]), name
    for name, value in dynamics.state_dict().items():
        assert torch.equal(value, trained.dynamics.state_dict()[name]), name
    assert train_main([*base, "data.clip_len=2", f"run_dir={tmp_path / 'short'}"], prog="wm train") == 2
    assert "no horizon" in capsys.readouterr().err


def _changed(name: str, value: object) -> object:
    """A valid value different from a field's default, for every kind of field the run configs have."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 2 if value % 2 else (value * 2 or 2)  # odd stays odd (camera_bins), products stay divisible
    if isinstance(value, float):
        return value / 2 if value else 0.25
    if isinstance(value, list):
        return [_changed(name, v) if isinstance(v, float) else v + 1 for v in value]
    return {"device": "cpu", "precision": "fp32", "split": "train"}.get(name, f"{value}_x")


def _override(key: str, value: object) -> str:
    """KEY=VALUE in Hydra's syntax."""
    if isinstance(value, bool):
        return f"{key}={str(value).lower()}"
    if isinstance(value, list):
        return f"{key}=[{','.join(map(str, value))}]"
    return f"{key}={value}"


@pytest.mark.parametrize("target", ["tokenizer", "dynamics", "fusion"])
def test_every_field_can_be_set_from_the_command_line_and_lands_in_the_typed_config(target: str) -> None:
    """One composition per target that sets every field of data, model, train and the root to a non-default value;
    the typed run config must hold them all (a field the schema lacked or a merge that dropped one would fail)."""
    import dataclasses

    from omegaconf import OmegaConf

    from worldmodel.train.cli import compose_config
    from worldmodel.train.runs import RUNS

    default = RUNS[target]()
    wanted: dict[str, object] = {}
    for field in dataclasses.fields(default):
        value = getattr(default, field.name)
        if field.name in ("data", "model", "train"):
            for sub in dataclasses.fields(value):
                wanted[f"{field.name}.{sub.name}"] = _changed(sub.name, getattr(value, sub.name))
        elif field.name not in ("defaults", "init_from", "freeze_encoder"):  # those two: tests below
            wanted[field.name] = _changed(field.name, "x" if field.name == "tokenizer_checkpoint" else value)
    run = OmegaConf.to_object(compose_config(target, [_override(k, v) for k, v in wanted.items()]))
    assert isinstance(run, RUNS[target])
    for group in ("data", "model", "train"):
        assert type(getattr(run, group)) is type(getattr(default, group))
    for key, value in wanted.items():
        group, _, name = key.rpartition(".")
        got = getattr(getattr(run, group) if group else run, name)
        assert got == value and type(got) is type(value), key


def test_unknown_keys_are_a_clear_error_naming_the_key(capsys) -> None:
    from worldmodel.train.cli import compose_config

    with pytest.raises(ValueError, match=r"unknown key 'model.chanels'.*did you mean 'channels'"):
        compose_config("tokenizer", ["model.chanels=3"])
    with pytest.raises(ValueError, match=r"unknown key 'train.stepz'.*TrainConfig"):
        compose_config("dynamics", ["tokenizer_checkpoint=x", "train.stepz=3"])
    with pytest.raises(ValueError, match=r"unknown key 'init_from'.*`wm train fusion`"):
        compose_config("fusion", ["init_from=bundled"])
    assert train_main(["fusion", "data.paht=x", "--print-config"], prog="wm train") == 2
    assert "unknown key 'data.paht'" in capsys.readouterr().err
    assert train_main(["tokenizer", "train.steps=many", "--print-config"], prog="wm train") == 2
    assert "train.steps=many" in capsys.readouterr().err
    assert train_main(["tokenizer", "train=nope", "--print-config"], prog="wm train") == 2
    assert "train/nope" in capsys.readouterr().err


def test_presets_change_only_what_they_name() -> None:
    """Each YAML preset sets exactly the keys its file names (on every target) and differs from the defaults
    somewhere; the defaults themselves live in the dataclasses, not in YAML."""
    from omegaconf import OmegaConf

    from worldmodel.train.cli import compose_config

    assert not list(CONFIGS.glob("*.yaml"))  # no root configs: the run dataclasses are the roots
    presets = sorted(p for group in ("data", "model", "train") for p in (CONFIGS / group).glob("*.yaml"))
    assert presets
    repeated = {(path, key) for path in presets for key in OmegaConf.load(path)}
    for target in ("tokenizer", "dynamics", "fusion"):
        extra = ["tokenizer_checkpoint=x"] if target == "dynamics" else []
        base = OmegaConf.to_container(compose_config(target, extra))
        for path in presets:
            group, named = path.parent.name, OmegaConf.to_container(OmegaConf.load(path))
            composed = OmegaConf.to_container(compose_config(target, [*extra, f"{group}={path.stem}"]))
            assert composed[group] == {**base[group], **named}, path
            assert {k: v for k, v in composed.items() if k != group} == \
                {k: v for k, v in base.items() if k != group}, path
            repeated -= {(path, key) for key, value in named.items() if base[group][key] != value}
    assert not repeated, f"preset lines that repeat the defaults of every target: {sorted(repeated)}"


def test_init_from_takes_the_architecture_from_the_source_unless_set(tmp_path) -> None:
    from worldmodel.dynamics import DynamicsConfig, DynamicsObjective
    from worldmodel.tokenizer import Tokenizer, TokenizerConfig, save_tokenizer
    from worldmodel.train.cli import compose_config

    tok_cfg = TokenizerConfig(height=16, width=16, levels=[5, 5], channels=8, channel_mult=[1, 2, 2],
                              res_blocks=[0, 0, 1], mid_blocks=0)
    save_tokenizer(Tokenizer(tok_cfg), tmp_path / "tok")
    tok = compose_config("tokenizer", [f"init_from={tmp_path / 'tok'}", "model.channels=4", "model.height=32"]).model
    assert (list(tok.levels), list(tok.channel_mult), list(tok.res_blocks), tok.mid_blocks) == \
        ([5, 5], [1, 2, 2], [0, 0, 1], 0)
    assert tok.channels == 4 and tok.height == 32 and tok.width == 64  # set here / not architecture: kept
    dyn_cfg = DynamicsConfig(d_model=32, n_layers=1, n_heads=2, context_frames=3, lam_dim=16, lam_layers=1,
                             lam_heads=2, lam_levels=[3, 3], reward_weight=7.0)
    DynamicsObjective(dyn_cfg, Tokenizer(tok_cfg)).export(tmp_path / "wm")
    dyn = compose_config("dynamics", ["tokenizer_checkpoint=x", f"init_from={tmp_path / 'wm'}",
                                      "model.n_layers=2"]).model
    assert (dyn.d_model, dyn.n_heads, dyn.context_frames, dyn.lam_dim, list(dyn.lam_levels)) == (32, 2, 3, 16, [3, 3])
    assert dyn.n_layers == 2 and dyn.reward_weight == 1.0  # set here / a training knob: the run's own
    with pytest.raises(ValueError, match="not found"):
        compose_config("dynamics", ["tokenizer_checkpoint=x", f"init_from={tmp_path / 'nowhere'}"])


def test_wm_train_dynamics_init_from_a_smaller_model_with_the_default_model_config(tmp_path) -> None:
    """The default model.* is far bigger than the source: the architecture comes from the source's config.json."""
    from worldmodel.dynamics import DynamicsConfig, DynamicsObjective, load_world_model
    from worldmodel.tokenizer import Tokenizer, TokenizerConfig

    _write_tiny_store(tmp_path / "store")
    tokenizer = Tokenizer(TokenizerConfig(height=16, width=16, levels=[5, 5], channels=8, channel_mult=[1, 2, 2],
                                          res_blocks=[0, 0, 1], mid_blocks=0))
    source = DynamicsObjective(DynamicsConfig(d_model=32, n_layers=1, n_heads=2, context_frames=3, lam_dim=16,
                                              lam_layers=1, lam_heads=2, lam_levels=[3, 3]), tokenizer)
    source.export(tmp_path / "wm")
    argv = ["dynamics", f"tokenizer_checkpoint={tmp_path / 'wm'}", f"init_from={tmp_path / 'wm'}",
            f"data.path={tmp_path / 'store'}", f"run_dir={tmp_path / 'run'}", "train=smoke", "data.clip_len=4"]
    assert train_main(argv, prog="wm train") == 0
    _, dynamics, _ = load_world_model(tmp_path / "run" / "world_model")
    assert dynamics.cfg.d_model == 32 and dynamics.cfg.lam_levels == [3, 3]


def test_wm_train_tokenizer_init_from_a_tokenizer_with_a_fusion_net(tmp_path, capsys) -> None:
    """As `init_from=bundled`: the source has a fusion net and another architecture than the default model.*."""
    from worldmodel.tokenizer import (
        Tokenizer,
        TokenizerConfig,
        load_tokenizer,
        save_tokenizer,
    )

    _write_tiny_store(tmp_path / "store")
    source = Tokenizer(TokenizerConfig(height=16, width=16, levels=[5, 5], channels=8, channel_mult=[1, 2, 2],
                                       res_blocks=[0, 0, 1], mid_blocks=0, fusion_channels=4))
    save_tokenizer(source, tmp_path / "src")
    argv = ["tokenizer", f"init_from={tmp_path / 'src'}", f"data.path={tmp_path / 'store'}", "train=smoke",
            "model.height=16", "model.width=16", "data.clip_len=2", "freeze_encoder=true"]
    assert train_main([*argv, f"run_dir={tmp_path / 'a'}"], prog="wm train") == 0
    assert "frame-fusion net is left out" in capsys.readouterr().err
    tuned = load_tokenizer(tmp_path / "a")
    assert tuned.fusion is None and tuned.cfg.levels == [5, 5] and tuned.cfg.channels == 8
    frames = torch.randint(0, 256, (3, 16, 16, 3), dtype=torch.uint8)
    assert torch.equal(tuned.encode(frames), source.encode(frames))
    assert train_main([*argv, "model.fusion_channels=4", f"run_dir={tmp_path / 'b'}"], prog="wm train") == 0
    kept = load_tokenizer(tmp_path / "b")
    for name, value in source.fusion.state_dict().items():  # kept as it was: not trained by `wm train tokenizer`
        assert torch.equal(value, kept.fusion.state_dict()[name]), name
