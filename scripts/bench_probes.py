"""Time the probe suite: `python scripts/bench_probes.py [--model random|bundled|oracle|PATH] [--quick]`.

Runs `wm probe` once (no progress bar) into a temporary directory and prints the total and per-family runtime
with the number of predicted frames, so the 10-minute budget of the standard suite can be checked on a 2-core CPU
(`--model random` is an untrained model of the default size: same speed as the bundled one, meaningless scores).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from worldmodel.probes.cli import main as probe_main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="random")
    parser.add_argument("--suite", default="all")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["--model", args.model, "--suite", args.suite, "--seeds", str(args.seeds), "--out", tmp, "--no-progress",
                "--threads", str(args.threads)]
        code = probe_main(argv + (["--quick"] if args.quick else []), prog="bench_probes")
        if code:
            raise SystemExit(code)
        results = json.loads((Path(tmp) / "results.json").read_text())
    frames = {n: sum(1 for _ in f["scenarios"]) for n, f in results["families"].items()}
    print(json.dumps({"model": args.model, "threads": args.threads, "runtime_s": results["runtime_s"],
                      "family_runtime_s": results["family_runtime_s"], "scenarios": frames}, indent=1))


if __name__ == "__main__":
    main()
