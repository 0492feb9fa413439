"""Training in stages: train.max_minutes stops a run with a checkpoint and the next run resumes it; the BlockWorld
recipe (scripts/train_blockworld_model.sh) runs end to end at tiny sizes, stops when its stage time is up and
continues when run again."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from worldmodel.checkpoint import list_checkpoints
from worldmodel.train import TrainConfig, Trainer, lr_at

sys.path.insert(0, str(Path(__file__).parent))
from test_trainer import Regressor, TinyClips, small_cfg  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class Slow(Regressor):
    """A Regressor whose steps take 20 ms."""

    def compute_loss(self, batch):
        time.sleep(0.02)
        return super().compute_loss(batch)


def test_max_minutes_stops_with_a_checkpoint_and_the_next_run_resumes(tmp_path) -> None:
    cfg = small_cfg(steps=1000, ckpt_every=1000, max_minutes=0.3 / 60)  # 0.3 s: about 15 steps
    first = Trainer(Slow(), TinyClips(n=64), cfg, tmp_path)
    first.fit()
    stopped = first.step
    assert 3 <= stopped < 1000 and not first.finished
    assert [step for step, _ in list_checkpoints(tmp_path)] == [stopped]  # saved at the stop, not only at 1000
    second = Trainer(Slow(), TinyClips(n=64), small_cfg(steps=stopped + 3, ckpt_every=1000), tmp_path)
    assert second.step == stopped
    second.fit()
    assert second.finished and [step for step, _ in list_checkpoints(tmp_path)] == [stopped + 3]
    assert lr_at(stopped, cfg) == pytest.approx(lr_at(stopped, small_cfg(steps=1000)))  # schedule of the whole run
    with pytest.raises(ValueError, match="'max_minutes'"):
        TrainConfig(max_minutes=-1).validate()


def _recipe(out: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """Run the recipe on the cpu profile at tiny sizes (cwd: where its held-out stores would go)."""
    tiny = {"EPISODES": "2", "MAX_STEPS": "22", "TOK_STEPS": "2", "DYN_STEPS": "2", "FUSION_STEPS": "2",
            "BATCH": "2", "TOK_BATCH": "2", "FUSION_BATCH": "1", "HELDOUT": "0", "BENCH": "0", "THREADS": "1",
            "LOADERS": "0", "WORKERS": "1",
            "TOK_ARGS": "model.channels=8 train.warmup_steps=1",
            "DYN_ARGS": "model.d_model=32 model.n_layers=1 model.n_heads=2 model.lam_dim=16 model.lam_layers=1 "
                        "model.lam_heads=2 train.warmup_steps=1",
            "FUSION_ARGS": "model.channels=4 model.teacher_steps=1 train.warmup_steps=1"}
    environ = {**os.environ, **tiny, **env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(["bash", str(ROOT / "scripts" / "train_blockworld_model.sh"), str(out), "cpu"], cwd=cwd,
                          env=environ, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_recipe_runs_in_stages_at_tiny_sizes(tmp_path) -> None:
    out = tmp_path / "bw"
    cut = _recipe(out, tmp_path, STAGE_HOURS=str(0.01))  # 36 s: too little to start a step needing a minute
    assert cut.returncode == 3, cut.stderr[-2000:]
    assert "run the same command again" in cut.stderr
    done = _recipe(out, tmp_path, STAGE_HOURS="0")
    assert done.returncode == 0, done.stderr[-3000:]
    world = out / "fusion" / "world_model"
    assert (world / "config.json").is_file() and (world / "tokenizer.safetensors").is_file()
    for run, steps in (("tokenizer", 2), ("dynamics", 2), ("fusion", 2)):
        assert [step for step, _ in list_checkpoints(out / run)] == [steps], run
    again = _recipe(out, tmp_path, STAGE_HOURS="0")  # everything done: nothing retrained
    assert again.returncode == 0 and "resuming" not in again.stderr
    from worldmodel.model import WorldModel

    assert WorldModel.load(world).tokenizer.fusion is not None
