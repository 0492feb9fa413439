"""Weight surgery beside the modules: tokenizer and dynamics warm starts (init_from) and a fresh fusion net."""

import pytest
import torch

from worldmodel.dynamics import DynamicsConfig, DynamicsObjective
from worldmodel.tokenizer import Tokenizer, TokenizerConfig, save_tokenizer

TOK = dict(height=16, width=16, levels=[5, 5], channels=8, channel_mult=[1, 1, 1], res_blocks=[0, 0, 0], mid_blocks=0)
DYN = dict(d_model=32, n_layers=1, n_heads=2, context_frames=3, head_layers=1, lam_dim=16, lam_layers=1, lam_heads=2,
           lam_levels=[3, 3])


def same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """Whether two modules hold equal tensors under the same names."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_dynamics_warm_start_copies_the_weights_and_names_a_mismatch(tmp_path) -> None:
    from worldmodel.dynamics.warm_start import warm_start

    torch.manual_seed(1)
    source = DynamicsObjective(DynamicsConfig(**DYN), Tokenizer(TokenizerConfig(**TOK)))
    source.export(tmp_path / "wm")
    torch.manual_seed(2)
    fresh = DynamicsObjective(DynamicsConfig(**DYN), Tokenizer(TokenizerConfig(**TOK)))
    assert not same(fresh.model, source.model)
    assert warm_start(fresh.model, str(tmp_path / "wm")) is None
    assert same(fresh.model, source.model)
    wider = DynamicsObjective(DynamicsConfig(**{**DYN, "d_model": 64}), Tokenizer(TokenizerConfig(**TOK)))
    with pytest.raises(ValueError, match="dynamics.safetensors"):
        warm_start(wider.model, str(tmp_path / "wm"))
    with pytest.raises(ValueError, match="not found"):
        warm_start(fresh.model, str(tmp_path / "nowhere"))


def test_dynamics_architecture_comes_from_the_source_except_the_kept_keys(tmp_path) -> None:
    from worldmodel.dynamics.warm_start import ARCHITECTURE_KEYS, inherit_architecture, source_config

    DynamicsObjective(DynamicsConfig(**DYN, reward_weight=5.0), Tokenizer(TokenizerConfig(**TOK))).export(tmp_path)
    source = source_config(str(tmp_path))
    assert source.d_model == 32 and source.reward_weight == 5.0
    merged = inherit_architecture(DynamicsConfig(), source, keep={"n_layers"})
    assert all(getattr(merged, k) == getattr(source, k) for k in ARCHITECTURE_KEYS if k != "n_layers")
    assert merged.n_layers == DynamicsConfig().n_layers and merged.reward_weight == 1.0


def test_tokenizer_warm_start_copies_the_weights_and_names_a_mismatch(tmp_path) -> None:
    from worldmodel.tokenizer.warm_start import warm_start

    torch.manual_seed(1)
    source = Tokenizer(TokenizerConfig(**TOK))
    save_tokenizer(source, tmp_path / "run" / "tokenizer")
    torch.manual_seed(2)
    fresh = Tokenizer(TokenizerConfig(**TOK))
    assert not same(fresh, source)
    assert warm_start(fresh, str(tmp_path / "run")) is None  # a run dir resolves to its tokenizer/ export
    assert same(fresh, source)
    with pytest.raises(ValueError, match="tokenizer.safetensors"):
        warm_start(Tokenizer(TokenizerConfig(**{**TOK, "channels": 16})), str(tmp_path / "run"))
    with pytest.raises(ValueError, match="no tokenizer found"):
        warm_start(fresh, str(tmp_path / "nowhere"))


def test_tokenizer_warm_start_drops_the_fusion_net_unless_the_config_keeps_one(tmp_path) -> None:
    """The bundled tokenizer has a fusion net; `wm train tokenizer init_from=bundled` (fusion_channels=0) drops it."""
    from worldmodel.tokenizer.warm_start import warm_start

    torch.manual_seed(1)
    source = Tokenizer(TokenizerConfig(**TOK, fusion_channels=4))
    save_tokenizer(source, tmp_path / "fused")
    plain = Tokenizer(TokenizerConfig(**TOK))
    assert "left out" in warm_start(plain, str(tmp_path / "fused"))
    assert plain.fusion is None
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in plain.state_dict().items())
    kept = Tokenizer(TokenizerConfig(**TOK, fusion_channels=4))
    assert warm_start(kept, str(tmp_path / "fused")) is None
    assert same(kept, source)
    save_tokenizer(plain, tmp_path / "plain")
    with pytest.raises(ValueError, match="has none"):
        warm_start(Tokenizer(TokenizerConfig(**TOK, fusion_channels=4)), str(tmp_path / "plain"))
    with pytest.raises(ValueError, match="fusion"):  # a fusion net of another width: shapes differ
        warm_start(Tokenizer(TokenizerConfig(**TOK, fusion_channels=6)), str(tmp_path / "fused"))


def test_tokenizer_architecture_comes_from_the_source_except_the_kept_keys(tmp_path) -> None:
    from worldmodel.tokenizer.warm_start import inherit_architecture, source_config

    save_tokenizer(Tokenizer(TokenizerConfig(**TOK, fusion_channels=4)), tmp_path)
    merged = inherit_architecture(TokenizerConfig(), source_config(str(tmp_path)), keep={"channels"})
    assert (merged.levels, merged.channel_mult, merged.res_blocks, merged.mid_blocks) == ([5, 5], [1, 1, 1],
                                                                                          [0, 0, 0], 0)
    assert merged.channels == 32 and merged.height == 64 and merged.fusion_channels == 0


def test_with_fresh_fusion_keeps_the_tokenizer_and_replaces_the_fusion() -> None:
    from worldmodel.fusion.attach import carried_card, with_fresh_fusion

    torch.manual_seed(0)
    base = Tokenizer(TokenizerConfig(**TOK, fusion_channels=4))
    fused = with_fresh_fusion(base, 6, 60.0)
    assert base.cfg.fusion_channels == 4 and fused.cfg.fusion_channels == 6 and fused.cfg.fusion_fov_deg == 60.0
    assert fused.fusion is not None
    for key, value in base.state_dict().items():
        if not key.startswith("fusion."):
            assert torch.equal(value, fused.state_dict()[key]), key
    card = {"created": "then", "tokenizer_params": 1, "dynamics_params": 2, "fusion": "old", "trained": "on x"}
    assert carried_card(card) == {"trained": "on x"} and carried_card(None) == {}
