"""The bundled model's frames, bit for bit, against the reference recorded before the rollout engine refactor."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from worldmodel.bundled import BUNDLED_DIR

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden_frames.npz"


@pytest.mark.skipif(not (BUNDLED_DIR / "config.json").is_file(), reason="worldmodel/bundled/ is not installed")
def test_bundled_model_frames_are_unchanged() -> None:
    spec = importlib.util.spec_from_file_location("golden_frames", ROOT / "scripts" / "golden_frames.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frames = module.session()
    golden = np.load(GOLDEN)
    assert sorted(golden.files) == sorted(frames)
    for name in golden.files:
        assert np.array_equal(golden[name], frames[name]), f"{name}: frames differ from the recorded reference"
