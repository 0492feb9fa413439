"""`wm combine --fusion keep|drop`: the frame-fusion net is kept, dropped or refused, never lost silently."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_fusion import TINY_DYN, tiny_tokenizer

from worldmodel.combine import main as combine_main
from worldmodel.dynamics import DynamicsConfig, DynamicsModel, save_world_model
from worldmodel.model import WorldModel
from worldmodel.tokenizer import save_tokenizer


def _world_and_decoder(tmp_path: Path, world_fusion: int = 8) -> tuple[Path, Path, torch.nn.Module]:
    """A world model (fusion net of width `world_fusion`) and a plain tokenizer export with its encoder."""
    world_tok = tiny_tokenizer(fusion=world_fusion)
    dynamics = DynamicsModel(DynamicsConfig(**TINY_DYN), world_tok.vocab_size, world_tok.grid)
    save_world_model(tmp_path / "world", world_tok, dynamics)
    tuned = tiny_tokenizer(fusion=0, seed=3)
    tuned.encoder.load_state_dict(world_tok.encoder.state_dict())
    return tmp_path / "world", save_tokenizer(tuned, tmp_path / "tuned"), world_tok


def _args(world: Path, tok: Path, out: Path, *extra: str) -> list[str]:
    return ["--world", str(world), "--tokenizer", str(tok), "--out", str(out), *extra]


def test_a_fusion_net_is_never_dropped_silently(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world, tok, world_tok = _world_and_decoder(tmp_path)
    assert combine_main(_args(world, tok, tmp_path / "plain")) == 2
    err = capsys.readouterr().err
    assert "has a frame-fusion net" in err and "--fusion keep" in err and "--fusion drop" in err
    assert not (tmp_path / "plain").exists()

    assert combine_main(_args(world, tok, tmp_path / "kept", "--fusion", "keep")) == 0
    kept = WorldModel.load(tmp_path / "kept")
    assert kept.tokenizer.fusion is not None
    for (key, value), same in zip(kept.tokenizer.fusion.state_dict().items(),
                                  world_tok.fusion.state_dict().values()):
        assert torch.equal(value, same), key
    new_decoder = kept.tokenizer.decoder.state_dict()  # the new decoder, not the world's
    old_decoder = world_tok.decoder.state_dict()
    assert any(not torch.equal(new_decoder[k], old_decoder[k]) for k in old_decoder)
    assert "kept" in kept.config["card"]["combined_from"]["fusion"]

    assert combine_main(_args(world, tok, tmp_path / "dropped", "--fusion", "drop")) == 0
    dropped = WorldModel.load(tmp_path / "dropped")
    assert dropped.tokenizer.fusion is None
    assert dropped.config["card"]["combined_from"]["fusion"] == "frame fusion: none (dropped)"


def test_keep_needs_a_fusion_net_and_plain_pairs_need_no_choice(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    world, tok, _ = _world_and_decoder(tmp_path, world_fusion=0)
    assert combine_main(_args(world, tok, tmp_path / "out", "--fusion", "keep")) == 2
    assert "no frame-fusion net to keep" in capsys.readouterr().err
    assert combine_main(_args(world, tok, tmp_path / "out")) == 0
    assert WorldModel.load(tmp_path / "out").tokenizer.fusion is None


def test_fov_sets_the_fusion_nets_field_of_view(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world, tok, world_tok = _world_and_decoder(tmp_path)
    assert combine_main(_args(world, tok, tmp_path / "wide", "--fusion", "keep", "--fov", "58.7")) == 0
    wide = WorldModel.load(tmp_path / "wide").tokenizer
    assert wide.cfg.fusion_fov_deg == 58.7 and wide.fusion is not None
    assert all(torch.equal(a, b) for a, b in zip(wide.fusion.state_dict().values(),
                                                  world_tok.fusion.state_dict().values()))
    assert combine_main(_args(world, tok, tmp_path / "none", "--fusion", "drop", "--fov", "60")) == 2
    assert "has none" in capsys.readouterr().err
