"""`wm finetune`: the recipe end to end at tiny sizes (slow), and its report and flags (fast)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from worldmodel.train.finetune import _summary, main, parser

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def test_summary_reads_the_bench_json(tmp_path: Path) -> None:
    row = {"model": 20.0, "copy_last": 18.0, "model_pooled": 19.5, "copy_last_pooled": 16.25, "windows": 8}
    (tmp_path / "q.json").write_text(json.dumps({"models": {"bundled": {"open_loop_16_psnr": row},
                                                            "runs/x/world_model": {"open_loop_16_psnr": row}}}))
    text = _summary(tmp_path / "q.json")
    assert "bundled: 19.50, copy-last 16.25: +3.25 dB over 8 windows" in text
    assert text.count("+3.25") == 2


def test_flags_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser("wm finetune").parse_args(["--footage", "x", "--format", "vpt", "--out", "y", "--minutes", "0"])
    assert "must be > 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser("wm finetune").parse_args(["--footage", "x", "--format", "mkv", "--out", "y"])


@pytest.mark.slow
def test_finetune_runs_end_to_end_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(SCRIPTS))
    from finetune_footage import make_clip

    for i in range(2):
        make_clip(tmp_path / "raw" / f"maze_{i}", 2.0, i, lag=2, mouse_scale=0.1, fov=90.0, size=(128, 72))
    argv = ["--footage", str(tmp_path / "raw"), "--format", "vpt", "--out", str(tmp_path / "run"), "--minutes", "10",
            "--threads", "1", "--held-out", "0.5", "--decoder-steps", "2", "--dynamics-steps", "2",
            "--mouse-scale", "0.1", "--fov", "58.7", "--max-windows", "2",
            "--train-args", "train.batch_size=2 train.ckpt_every=1 train.log_every=1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "[7/7] bench" in out and "copy-last" in out
    assert (tmp_path / "run" / "world_model" / "config.json").is_file()
    assert main(argv) == 0  # again: nothing left to train, the split kept, the model exported again
    assert "split: skipped" in capsys.readouterr().out
