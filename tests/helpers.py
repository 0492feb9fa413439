"""Small helpers shared by test modules (import them: `from helpers import fit`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldmodel.data import load_episode
from worldmodel.data.importers.cli import import_folder
from worldmodel.data.synthetic import find_episode, make_minerl_trajectory


def fit(module: Any, batch: dict[str, Any], steps: int, lr: float,
        parameters: Iterable[torch.nn.Parameter] | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
    """`steps` Adam steps of `module.compute_loss(batch)` on one batch (over `parameters`, default all); the last
    step's loss and metrics, measured before its update."""
    optimizer = torch.optim.Adam(module.parameters() if parameters is None else parameters, lr=lr)
    for _ in range(steps):
        loss, metrics = module.compute_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss, metrics


def import_one_minerl(tmp: Path, **options: Any) -> tuple[dict[str, Any], Any]:
    """Import one synthetic MineRL trajectory "t" (10 steps, one leading frame) from tmp/src to tmp/out with the
    importer's `options`; the imported episode and the source's rendered.npz."""
    make_minerl_trajectory(tmp / "src" / "t", steps=10, lead=1)
    import_folder("minerl", tmp / "src", tmp / "out", progress=False, **options)
    return load_episode(find_episode(tmp / "out", "t")), np.load(tmp / "src" / "t" / "rendered.npz")


def assert_reasons(reasons: Mapping[str, str], src: Path, expected: Mapping[str, str]) -> None:
    """Each input folder src/NAME of `expected` was refused with a reason that contains expected[NAME]."""
    for name, text in expected.items():
        assert text in reasons[str(src / name)], (name, reasons.get(str(src / name)))
