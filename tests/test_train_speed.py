"""`wm bench train`: every target runs at tiny size and reports per precision its step time, breakdown, FLOPs and
the share of the measured matmul peak; the JSON is written whole, mode 0644. Run through the `wm` dispatcher, which
hands `wm bench` the agent's target (worldmodel may not import agents)."""

import json
import os
import stat

import pytest
import torch

from worldmodel.cli import main as wm_main
from worldmodel.evaluation.cli import main as bench_main
from worldmodel.evaluation.train_speed import matmul_peak, step_flops
from worldmodel.evaluation.train_targets import TrainTarget

SECTIONS = {"tokenizer": [], "dynamics": ["encode"], "fusion": ["rollout", "teacher"], "agent": []}


@pytest.mark.parametrize("target", list(SECTIONS))
def test_bench_train_reports_each_precision(target: str, tmp_path, capsys) -> None:
    out = tmp_path / "train.json"
    argv = ["bench", "train", "--target", target, "--size", "tiny", "--steps", "1", "--threads", "1", "--json", str(out)]
    assert wm_main(argv) == 0
    table = capsys.readouterr().out
    assert "fp32" in table and "bf16 vs fp32" in table and "of peak" in table
    result = json.loads(out.read_text())
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o644 and not (tmp_path / "train.json.tmp").exists()
    assert result["target"] == target and result["size"] == "tiny" and result["gflop_per_step"] > 0
    assert (result["data"] == "synthetic") == (target == "agent")  # the others load a recorded store
    for precision in ("fp32", "bf16"):
        row = result["precisions"][precision]
        assert row["step_ms"] > 0 and 0 < row["peak_fraction"] and row["peak_flop_per_s"] > 0
        assert list(row["breakdown_ms"]) == ["data", "forward", "backward", "optimizer", *SECTIONS[target]]
        assert row["step_ms"] == pytest.approx(sum(v for k, v in row["breakdown_ms"].items() if k != "data"))


def test_self_forcing_times_its_rollout(tmp_path, capsys) -> None:
    argv = ["train", "--target", "dynamics", "--size", "tiny", "--steps", "1", "--threads", "1",
            "--precision", "bf16", "--rollout-frames", "1", "--json", str(tmp_path / "sf.json")]
    assert bench_main(argv) == 0
    row = json.loads((tmp_path / "sf.json").read_text())["precisions"]["bf16"]
    assert row["breakdown_ms"]["rollout"] > 0 and "vs fp32" not in capsys.readouterr().out


def test_flops_count_attention_and_match_a_linear_layer() -> None:
    class Linear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(64, 32, bias=False)

        def compute_loss(self, batch):
            return self.layer(batch["x"]).sum(), {}

    target = TrainTarget("x", Linear(), iter([]), "synthetic", "frames", 1, "", None)  # type: ignore[arg-type]
    x = torch.randn(16, 64, requires_grad=False)
    assert step_flops(target, {"x": x}) == 2 * (2 * 16 * 64 * 32)  # forward + weight gradient (x needs none)

    class Attention(Linear):
        def compute_loss(self, batch):
            q = batch["x"].reshape(1, 1, 16, 64).requires_grad_()
            return torch.nn.functional.scaled_dot_product_attention(q, q, q).sum(), {}

    assert step_flops(TrainTarget("a", Attention(), iter([]), "", "", 1, "", None), {"x": x}) > 0  # type: ignore


def test_matmul_peak_is_a_plausible_rate() -> None:
    assert 1e8 < matmul_peak(torch.float32, size=128, repeats=3) < 1e14


def test_bad_arguments_are_refused(capsys) -> None:
    assert bench_main(["train", "--target", "dynamics", "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench_main(["train", "--target", "nope"])
    with pytest.raises(SystemExit):  # the agent's target comes from the `wm` dispatcher only
        bench_main(["train", "--target", "agent"])
