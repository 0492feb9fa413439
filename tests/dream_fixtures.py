"""A tiny randomly initialised WorldModel for the dream env and viewer tests (16x16 frames, 4x4 tokens).

Import the fixtures into a test module (`from dream_fixtures import tiny_model, ...`): pytest picks up fixtures
defined in or imported into the module. The model is exported once per session with the dynamics export, so the
tests exercise the real load path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from worldmodel.dynamics import DynamicsConfig, DynamicsObjective
from worldmodel.tokenizer import Tokenizer, TokenizerConfig

FRAME = 16
TOKENIZER = dict(height=FRAME, width=FRAME, levels=[5, 5], channels=8, channel_mult=[1, 1, 1], res_blocks=[0, 0, 0],
                 mid_blocks=0)
DYNAMICS = dict(d_model=32, n_layers=1, n_heads=2, context_frames=4, head_layers=1, lam_dim=16, lam_layers=1,
                lam_heads=2, lam_levels=[3, 3], decode_steps=1, temperature=1.0, top_k=8)


def export_tiny_model(path: Path, terminate: bool = False, seed: int = 0) -> Path:
    """Export an untrained tiny model to `path`. Its termination head is forced (bias +-20, zero weights) so
    episodes never end by termination, or always end (terminate=True) - tests then know episode lengths."""
    torch.manual_seed(seed)
    objective = DynamicsObjective(DynamicsConfig(**DYNAMICS), Tokenizer(TokenizerConfig(**TOKENIZER)))
    last = objective.model.term_head[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(20.0 if terminate else -20.0)
    objective.export(path, card={"note": "tiny untrained test model"})
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of a tiny model that never terminates."""
    return export_tiny_model(tmp_path_factory.mktemp("dream") / "tiny")


@pytest.fixture(scope="session")
def ending_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of a tiny model whose termination head always fires."""
    return export_tiny_model(tmp_path_factory.mktemp("dream") / "ending", terminate=True)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny ops on a shared 2-core machine run fastest (and steadiest) on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
