"""Time and tabulate the probe suite: `python scripts/bench_probes.py [--model random|bundled|oracle|PATH]
[--no-fusion] [--quick] [--out DIR]`.

Runs `wm probe` once (no progress lines) and prints the total and per-family runtime, then one Markdown table
row per family: the headline's raw value for the model and every reference row, the raw truth-to-copy-last gap
(share of the metric's range) and the model's normalised score with its bootstrap interval (`--model random` is
an untrained model of the default size: same speed as the bundled one, meaningless scores).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from worldmodel.probes.cli import main as probe_main
from worldmodel.probes.report import SHORT
from worldmodel.probes.scoring import ROWS


def _f(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(results: dict[str, Any]) -> str:
    """Markdown: per family, raw headline per row, gap share, normalised [CI]."""
    rows = [r for r in ROWS if any(r in f["raw"] for f in results["families"].values())]
    lines = ["| family | headline | " + " | ".join(SHORT[r] for r in rows) + " | gap | normalised [95% CI] |",
             "|---|---|" + "---|" * (len(rows) + 2)]
    for name, fam in results["families"].items():
        ci = fam["ci"]
        interval = f" [{_f(ci[0], 2)}, {_f(ci[1], 2)}]" if ci[0] is not None else ""
        lines.append(f"| {fam['letter']} {name} | {fam['headline']} | " + " | ".join(_f(fam["raw"].get(r)) for r in rows)
                     + f" | {_f(fam['gap_share'], 2)} | {_f(fam['normalised'], 2)}{interval} |")
    return "\n".join(lines)


def main() -> None:
    """Run the suite and print timings and the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="random")
    parser.add_argument("--suite", default="all")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-fusion", action="store_true")
    parser.add_argument("--corruption", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="keep the run here (default: a temporary dir)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        argv = ["--model", args.model, "--suite", args.suite, "--seeds", str(args.seeds), "--out", str(out),
                "--no-progress", "--threads", str(args.threads)]
        argv += ["--quick"] * args.quick + ["--no-fusion"] * args.no_fusion + ["--corruption"] * args.corruption
        code = probe_main(argv, prog="bench_probes")
        results = json.loads((out / "results.json").read_text())
    scenarios = {n: f["n_scenarios"] for n, f in results["families"].items()}
    print(json.dumps({"model": args.model, "fusion": not args.no_fusion, "threads": args.threads,
                      "runtime_s": results["runtime_s"], "family_runtime_s": results["family_runtime_s"],
                      "scenarios": scenarios}, indent=1))
    print(table(results))
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
