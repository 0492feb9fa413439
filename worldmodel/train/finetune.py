"""`wm finetune`: fine-tune the bundled world model on your own footage, in one resumable command.

    wm finetune --footage ~/footage --format vpt --out runs/mine --minutes 30 --threads 1 --fov 90

Stages, each a `wm` command run in a child process (so each prints its own lines and resumes on its own):
 1. import   `wm import FORMAT FOOTAGE --out OUT/data --size 64 [--align auto]` (vpt, minerl: the lag between the
             log and the picture is estimated and trimmed; resumes where it stopped)
 2. check    `wm data check OUT/data` (the lag each episode still shows: 0 once aligned)
 3. split    `wm data split OUT/data --held-out F` (kept if OUT/data/split.json exists)
 4. decoder  `wm train tokenizer init_from=bundled freeze_encoder=true data.split=train ...` (same tokens)
 5. dynamics `wm train dynamics init_from=bundled tokenizer_checkpoint=BUNDLED data.split=train ...`
 6. combine  `wm combine --world OUT/dynamics/world_model --tokenizer OUT/decoder --fusion keep [--fov F]`
             -> OUT/world_model, the fine-tuned model (the bundled frame-fusion net carried over)
 7. bench    `wm bench quality --model bundled OUT/world_model --split held_out --spread --horizons 16`: the
             held-out windows' open-loop PSNR of both models beside copying the last frame

The two training stages share what is left of --minutes after the import (decoder 1/4, dynamics the rest, a few
minutes kept for the bench); each stops at its step count or its share (train.max_minutes: a checkpoint, an export,
and a re-run continues it). Every stage prints a header with the time spent and the time left; training prints
plain progress lines with an ETA. Running the same command again skips finished work and goes on.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

BENCH_MINUTES = 3.0
"""Minutes kept for the two benchmarks at the end."""


def positive(kind: type) -> object:
    """argparse type: a number > 0 of `kind`."""
    def parse(text: str) -> object:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


def parser(prog: str) -> argparse.ArgumentParser:
    """The flags of `wm finetune`."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.split("\n\n")[1:3]))
    p.add_argument("--footage", type=Path, required=True, help="folder of recordings (or an episode store with "
                   "--format store)")
    p.add_argument("--format", required=True, choices=("vpt", "minerl", "video", "crafter", "store"),
                   help="what the footage is: an importer's kind, or 'store' (already imported: used as it is)")
    p.add_argument("--out", type=Path, required=True, help="run folder: data/, decoder/, dynamics/, world_model/")
    p.add_argument("--minutes", type=positive(float), default=30.0, help="time budget of the whole recipe")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads for training and bench (0: default)")
    p.add_argument("--held-out", type=positive(float), default=0.1, metavar="FRACTION",
                   help="fraction of the episodes held out (at least one)")
    p.add_argument("--decoder-steps", type=int, default=300, help="decoder fine-tuning steps (0.4 s each on one "
                   "busy CPU thread)")
    p.add_argument("--dynamics-steps", type=int, default=400, help="dynamics fine-tuning steps (2-2.5 s each on "
                   "one busy CPU thread)")
    p.add_argument("--fov", type=positive(float), default=None, metavar="DEG",
                   help="horizontal field of view of the imported frames, for the frame-fusion net's warp "
                        "(BlockWorld: 70)")
    p.add_argument("--mouse-scale", type=positive(float), default=None, metavar="DEG_PER_UNIT",
                   help="vpt: camera degrees per logged mouse unit (default: the importer's 0.15)")
    p.add_argument("--crop", choices=("center", "full"), default="center", help="import crop (see `wm import`)")
    p.add_argument("--max-windows", type=int, default=64, help="held-out windows benchmarked")
    p.add_argument("--train-args", default="", help="extra `wm train` overrides for both stages, e.g. "
                   "'train.batch_size=4'")
    return p


class Stages:
    """Runs the stages in child processes, printing a header with elapsed and remaining time before each."""

    def __init__(self, total: int, minutes: float) -> None:
        self.total, self.minutes, self.start, self.index = total, minutes, time.monotonic(), 0

    def elapsed(self) -> float:
        """Minutes since the recipe started."""
        return (time.monotonic() - self.start) / 60

    def left(self) -> float:
        """Minutes of the budget left."""
        return self.minutes - self.elapsed()

    def run(self, name: str, argv: list[str], ok: tuple[int, ...] = (0,)) -> int:
        """Run `wm ARGV`; SystemExit with its status unless it is in `ok`."""
        self.index += 1
        print(f"\n[{self.index}/{self.total}] {name}: {self.elapsed():.1f} min spent, {self.left():.1f} min left"
              f"\n$ wm {shlex.join(argv)}", flush=True)
        status = subprocess.call([sys.executable, "-m", "worldmodel.cli", *argv])
        if status not in ok:
            print(f"wm finetune: stage '{name}' failed (exit status {status}); fix it and run the same command "
                  "again: finished stages are skipped", file=sys.stderr)
            raise SystemExit(status or 1)
        return status

    def skip(self, name: str, why: str) -> None:
        """Report a stage that has nothing to do."""
        self.index += 1
        print(f"\n[{self.index}/{self.total}] {name}: skipped ({why})", flush=True)


def _train_args(args: argparse.Namespace, data: Path, minutes: float) -> list[str]:
    """Overrides both training stages share."""
    extra = shlex.split(args.train_args)
    return [f"data.path={data}", "data.split=train", "train.progress=false", f"train.threads={args.threads}",
            f"train.max_minutes={max(0.5, minutes):.2f}", "train.num_workers=0", "train.warmup_steps=50", *extra]


def _summary(path: Path) -> str:
    """The held-out open-loop numbers of the bench's JSON: pooled 16-step PSNR of each model and of copy-last."""
    data = json.loads(path.read_text())
    models = data.get("models", {"model": data})
    lines = ["held-out windows, 16 open-loop steps, pooled PSNR (dB):"]
    for name, summary in models.items():
        row = summary.get("open_loop_16_psnr") or {}
        model, copy = row.get("model_pooled"), row.get("copy_last_pooled")
        if model is None or copy is None:
            return f"see {path}"
        lines.append(f"  {name}: {model:.2f}, copy-last {copy:.2f}: {model - copy:+.2f} dB over {row['windows']} "
                     "windows")
    return "\n".join(lines)


def main(argv: list[str], prog: str = "wm finetune") -> int:
    """Entry point of `wm finetune`; returns the exit status."""
    args = parser(prog).parse_args(argv)
    from worldmodel import bundled

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    data = args.footage if args.format == "store" else out / "data"
    stages = Stages(7, args.minutes)
    if args.format == "store":
        stages.skip("import", f"--format store: {data} is used as it is")
    else:
        cmd = ["import", args.format, str(args.footage), "--out", str(data), "--size", "64", "--crop", args.crop,
               "--no-progress"]
        if args.format in ("vpt", "minerl"):
            cmd += ["--align", "auto"]
        if args.mouse_scale and args.format == "vpt":
            cmd += ["--mouse-scale", str(args.mouse_scale)]
        stages.run("import", cmd)
    stages.run("check", ["data", "check", str(data)], ok=(0, 1))  # 1: a lag is not 0 (warned, not fatal)
    if (data / "split.json").is_file():
        stages.skip("split", f"{data / 'split.json'} exists")
    else:
        stages.run("split", ["data", "split", str(data), "--held-out", str(args.held_out)])
    budget = max(1.0, stages.left() - BENCH_MINUTES)
    stages.run("decoder", ["train", "tokenizer", "init_from=bundled", "freeze_encoder=true",
                           f"run_dir={out / 'decoder'}", f"train.steps={args.decoder_steps}",
                           *_train_args(args, data, budget / 4)])
    stages.run("dynamics", ["train", "dynamics", "init_from=bundled", f"tokenizer_checkpoint={bundled.BUNDLED_DIR}",
                            f"run_dir={out / 'dynamics'}", f"train.steps={args.dynamics_steps}",
                            *_train_args(args, data, stages.left() - BENCH_MINUTES)])
    combine = ["combine", "--world", str(out / "dynamics" / "world_model"), "--tokenizer", str(out / "decoder"),
               "--out", str(out / "world_model"), "--fusion", "keep"]
    stages.run("combine", combine + (["--fov", str(args.fov)] if args.fov else []))
    report = out / "quality.json"
    bench = ["bench", "quality", "--model", "bundled", str(out / "world_model"), "--data", str(data),
             "--split", "held_out", "--spread", "--horizons", "16", "--max-windows", str(args.max_windows),
             "--json", str(report)]
    stages.run("bench", bench + (["--threads", str(args.threads)] if args.threads else []))
    print(f"\n{_summary(report)}\nfine-tuned model: {out / 'world_model'} (WorldModel.load('{out / 'world_model'}'))"
          f"; {stages.elapsed():.1f} min in all", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
