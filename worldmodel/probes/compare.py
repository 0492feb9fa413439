"""`wm probe compare DIR1 DIR2 ...`: the normalised headline of every family for several probe runs, side by side.

Every run must be on the same fixed scale (results.json schema_version 2: 1 = truth, 0 = copy-last), so runs of
different models, with different tokenizers, compare directly. Prints a Markdown table (normalised [95% CI] per
family and run, with each run's raw headline) and writes a grouped bar plot when --plot is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from worldmodel.probes.suite import SCHEMA_VERSION


def load_results(directory: Path) -> dict[str, Any]:
    """results.json of a probe run; ValueError when missing or on another scale (schema_version)."""
    path = Path(directory) / "results.json"
    if not path.is_file():
        raise ValueError(f"{path}: no results.json (run `wm probe --out {directory}` first)")
    results = json.loads(path.read_text())
    if results.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema_version {results.get('schema_version')} is not {SCHEMA_VERSION}: "
                         "scores from before the fixed scale cannot be compared; re-run the probe")
    return results


def _cell(fam: dict[str, Any] | None) -> str:
    if fam is None or fam.get("normalised") is None:
        return "–"
    lo, hi = fam["ci"]
    interval = f" [{lo:.2f}, {hi:.2f}]" if lo is not None else ""
    return f"{fam['normalised']:.2f}{interval} (raw {fam['model']:.3f})"


def compare_table(runs: list[tuple[str, dict[str, Any]]]) -> str:
    """Markdown: one row per family (union over the runs), one column per run."""
    names = [n for _, r in runs for n in r["families"]]
    families = list(dict.fromkeys(names))
    lines = ["| family | " + " | ".join(label for label, _ in runs) + " |", "|---|" + "---|" * len(runs)]
    for name in families:
        cells = [_cell(r["families"].get(name)) for _, r in runs]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare_plot(runs: list[tuple[str, dict[str, Any]]], path: Path) -> None:
    """Grouped bars of the normalised headline per family and run, with CIs where given."""
    from worldmodel.probes.report import _plt, _save

    plt = _plt()
    families = list(dict.fromkeys(n for _, r in runs for n in r["families"]))
    width = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(max(5, 1.5 * len(families)), 3.2))
    for k, (label, results) in enumerate(runs):
        fams = [results["families"].get(n) for n in families]
        vals = np.array([f["normalised"] if f and f["normalised"] is not None else np.nan for f in fams])
        lo = np.array([f["ci"][0] if f and f["ci"][0] is not None else np.nan for f in fams])
        hi = np.array([f["ci"][1] if f and f["ci"][1] is not None else np.nan for f in fams])
        err = np.nan_to_num(np.abs(np.stack([vals - lo, hi - vals])))
        ax.bar(np.arange(len(families)) + k * width, np.nan_to_num(vals), width, yerr=err, capsize=3, label=label)
    ax.axhline(1.0, color="black", ls="--", lw=1)
    ax.axhline(0.0, color="tab:red", ls="--", lw=1)
    ax.set_xticks(np.arange(len(families)) + 0.4 - width / 2, families, rotation=20)
    ax.set_ylabel("normalised (1 = truth, 0 = copy-last)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _save(fig, path)


def main(argv: list[str], prog: str = "wm probe compare") -> int:
    """Entry point of `wm probe compare`."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="probe output directories")
    parser.add_argument("--plot", type=Path, default=None, metavar="PNG", help="also write a grouped bar plot")
    args = parser.parse_args(argv)
    try:
        runs = [(f"{load_results(d)['model']} ({d.name})", load_results(d)) for d in args.dirs]
    except ValueError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    print(compare_table(runs))
    if args.plot is not None:
        compare_plot(runs, args.plot)
        print(f"wrote {args.plot}")
    return 0
