"""Writes a probe run: results.json, report.md, and PNG plots / frame strips under plots/ (matplotlib, Agg).

Every file is written to a temporary name in the same directory and renamed into place.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from worldmodel.checkpoint import atomic_target, publish, write_atomic_text
from worldmodel.probes.scoring import ROWS, FamilyResult

ROW_COLORS = {"model": "tab:blue", "ceiling": "tab:green", "copy_last": "tab:red", "frozen_first": "tab:orange",
              "shuffled_actions": "tab:purple"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    """Save a figure atomically as PNG and close it."""
    plt = _plt()
    fd, tmp = atomic_target(path, ".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=90, bbox_inches="tight")
        publish(tmp, path)
    finally:
        plt.close(fig)
        Path(tmp).unlink(missing_ok=True)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def plot_summary(results: dict[str, Any], path: Path) -> None:
    """Normalised headline score per family with its bootstrap CI (1 = ceiling, 0 = primary floor)."""
    plt = _plt()
    fams = results["families"]
    names = list(fams)
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(names)), 3))
    vals = [fams[n]["normalised"] if fams[n]["normalised"] is not None else np.nan for n in names]
    lo = [fams[n]["ci"][0] if fams[n]["ci"][0] is not None else np.nan for n in names]
    hi = [fams[n]["ci"][1] if fams[n]["ci"][1] is not None else np.nan for n in names]
    err = np.array([[v - a if np.isfinite(a) else 0 for v, a in zip(vals, lo)],
                    [b - v if np.isfinite(b) else 0 for v, b in zip(vals, hi)]])
    ax.bar(range(len(names)), vals, yerr=np.abs(err), color="tab:blue", capsize=4)
    ax.axhline(1.0, color="tab:green", ls="--", lw=1, label="ceiling")
    ax.axhline(0.0, color="tab:red", ls="--", lw=1, label="floor")
    ax.set_xticks(range(len(names)), [f"{fams[n]['letter']} {n}" for n in names], rotation=20)
    ax.set_ylabel("normalised score")
    ax.set_title(f"{results['model']}: (model - floor) / (ceiling - floor)")
    ax.legend(fontsize=7)
    _save(fig, path)


def plot_family(name: str, result: FamilyResult, summary: dict[str, Any], path: Path) -> bool:
    """The family's own plot (curves or per-row bars); False when there is nothing to draw."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    extras = result.extras
    if name == "permanence":
        for row, points in extras["recall_curve"].items():
            g = [p[0] for p in points]
            ax.plot(g, [p[1] for p in points], "o-", color=ROW_COLORS[row], label=row)
        ax.set_xscale("log")
        ticks = sorted({round(p[0]) for points in extras["recall_curve"].values() for p in points})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.axvline(extras["context_frames"], color="grey", ls=":", label="context window")
        ax.set_xlabel("gap (frames out of view)")
        ax.set_ylabel("landmark recall")
    elif name == "drift":
        for kind, style in (("explore", "-"), ("idle", ":")):
            for row, curve in extras["quality_curves"].get(kind, {}).items():
                t = np.arange(len(curve)) * extras["curve_stride"]
                ax.plot(t, curve, style, color=ROW_COLORS[row], label=f"{row} ({kind})")
        ax.set_xlabel("frames after the prompt")
        ax.set_ylabel("block-id quality")
    elif name == "actions":
        classes = list(next(iter(extras["per_action"].values())))
        width = 0.8 / len(ROWS)
        for k, row in enumerate(ROWS):
            f1 = [extras["per_action"][row][c]["f1"] for c in classes]
            ax.bar(np.arange(len(classes)) + k * width, [v if v is not None and np.isfinite(v) else 0 for v in f1],
                   width, color=ROW_COLORS[row], label=row)
        ax.set_xticks(np.arange(len(classes)) + 0.4, classes, rotation=45, fontsize=7)
        ax.set_ylabel("F1 (IDM vs commands)")
    else:
        metrics = [m for m in summary["metrics"] if not m.startswith("never_seen")][:6]
        width = 0.8 / len(ROWS)
        for k, row in enumerate(ROWS):
            vals = [summary["metrics"][m].get(row) for m in metrics]
            ax.bar(np.arange(len(metrics)) + k * width, [v if v is not None else 0 for v in vals], width,
                   color=ROW_COLORS[row], label=row)
        ax.set_xticks(np.arange(len(metrics)) + 0.4, metrics, rotation=30, fontsize=7)
    ax.set_title(f"{summary['letter']} {name}")
    ax.legend(fontsize=6)
    _save(fig, path)
    return True


def strip_image(truth: np.ndarray, pred: np.ndarray, gap: int = 2) -> np.ndarray:
    """Truth frames (K, H, W, 3) in a top row over the predicted ones, white gaps between: (2H+gap, K(W+gap), 3)."""
    k, h, w, _ = truth.shape
    out = np.full((2 * h + gap, k * (w + gap) - gap, 3), 255, np.uint8)
    for c in range(k):
        out[:h, c * (w + gap) : c * (w + gap) + w] = truth[c]
        out[h + gap :, c * (w + gap) : c * (w + gap) + w] = pred[c]
    return out


def save_strip(result: FamilyResult, path: Path) -> bool:
    """Ground truth (top) | model (bottom) frame strips of a family, one image per strip stacked; False if none."""
    if not result.strips:
        return False
    plt = _plt()
    strips = result.strips
    fig, axes = plt.subplots(len(strips), 1, figsize=(1.1 * max(len(s.labels) for s in strips) + 1,
                                                      2.4 * len(strips)), squeeze=False)
    for ax, strip in zip(axes[:, 0], strips):
        image = strip_image(strip.truth, strip.pred)
        h, w = strip.truth.shape[1:3]
        ax.imshow(image, interpolation="nearest")
        ax.set_xticks([c * (w + 2) + w / 2 for c in range(len(strip.labels))], strip.labels, fontsize=7)
        ax.set_yticks([h / 2, h + 2 + h / 2], ["truth", "model"], fontsize=7)
        ax.tick_params(length=0)
        ax.set_title(strip.title, fontsize=8, loc="left")
    _save(fig, path)
    return True


def markdown(results: dict[str, Any], images: dict[str, list[str]]) -> str:
    """The human report."""
    cfg = results["config"]
    lines = [f"# Probe report: {results['model']}", "",
             f"Suites: {', '.join(results['suites'])}; worlds per sweep point: {1 if cfg['quick'] else cfg['seeds']}; "
             f"seed {cfg['seed']}; prompt {cfg['prompt_len']} frames; context window {cfg['context']} frames; "
             f"runtime {results['runtime_s']:.1f} s.", "",
             "Normalised score = (model - floor) / (ceiling - floor): 1 = as good as ground truth through the "
             "model's tokenizer, 0 = as good as the primary floor (copy-last-frame). CIs: seeded bootstrap over "
             "scenarios. Only surfaces seen in the prompt count for memory; never-seen surfaces are reported apart.",
             "", "![summary](plots/summary.png)", "",
             "| family | headline | model | ceiling | copy-last | frozen-first | shuffled | normalised [95% CI] |",
             "|---|---|---|---|---|---|---|---|"]
    for name, fam in results["families"].items():
        floors = fam["floors"]
        norm = _fmt(fam["normalised"]) if fam["floor_is_floor"] else "n/a (no floor)"
        lines.append(f"| {fam['letter']} {name} | {fam['headline']} | {_fmt(fam['model'])} | {_fmt(fam['ceiling'])} | "
                     f"{_fmt(floors['copy_last'])} | {_fmt(floors['frozen_first'])} | "
                     f"{_fmt(floors['shuffled_actions'])}"
                     f" | {norm} [{_fmt(fam['ci'][0], 2)}, {_fmt(fam['ci'][1], 2)}] |")
    seg = results["aux"]["segmenter"]
    lines += ["", f"Segmenter: held-out accuracy {_fmt(seg.get('metrics', {}).get('accuracy_gt'))}; on this run's "
              f"truth frames {_fmt(seg.get('this_run', {}).get('accuracy_gt'))}, on their tokenizer reconstructions "
              f"(the block-id ceiling) {_fmt(seg.get('this_run', {}).get('accuracy_ceiling'))}.", ""]
    for name, fam in results["families"].items():
        lines += [f"## {fam['letter']}. {name}", "", f"Headline: `{fam['headline']}`: {fam['description']}", ""]
        if name == "permanence":
            g = fam["g50"]["model"]
            g50 = "n/a" if g["g50"] is None else (f"> {g['g50']:.0f}" if g["censored"] else f"{g['g50']:.1f}")
            lines += [f"g50 (gap at which recall halves) of the model: {g50} frames "
                      f"(context window {fam['context_frames']}).", ""]
        lines += ["| metric | " + " | ".join(ROWS) + " | normalised |", "|---|" + "---|" * (len(ROWS) + 1)]
        for metric, vals in fam["metrics"].items():
            arrow = "↑" if vals["higher_is_better"] else "↓"
            norm = _fmt(vals["normalised"]) if vals["floor_is_floor"] else "n/a"
            lines.append(f"| {metric} {arrow} | " + " | ".join(_fmt(vals.get(r)) for r in ROWS) + f" | {norm} |")
        lines.append("")
        lines += [f"![{name}]({img})" for img in images.get(name, [])] + [""]
    if "corruption" in results:
        lines += ["## Corruption harness", "", "Each corruption of the ground-truth rollout must move every "
                  "metric the expected way (✓) or leave it (=).", "",
                  "| family | metric | clean | " + " | ".join(results["corruption"]["kinds"]) + " |",
                  "|---|---|---|" + "---|" * len(results["corruption"]["kinds"])]
        for row in results["corruption"]["table"]:
            cells = [f"{_fmt(c['value'])} {c['verdict']}" for c in row["corrupted"]]
            lines.append(f"| {row['family']} | {row['metric']} | {_fmt(row['clean'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(out: str | Path, results: dict[str, Any], raw: dict[str, FamilyResult]) -> dict[str, Path]:
    """Write results.json, report.md and plots/ into `out`; returns the paths written."""
    out = Path(out)
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    images: dict[str, list[str]] = {}
    plot_summary(results, plots / "summary.png")
    for name, result in raw.items():
        summary = results["families"][name]
        images[name] = []
        if plot_family(name, result, summary, plots / f"{name}.png"):
            images[name].append(f"plots/{name}.png")
        if save_strip(result, plots / f"strip_{name}.png"):
            images[name].append(f"plots/strip_{name}.png")
    write_atomic_text(out / "results.json", json.dumps(results, indent=1, allow_nan=False) + "\n")
    write_atomic_text(out / "report.md", markdown(results, images))
    return {"results": out / "results.json", "report": out / "report.md", "plots": plots}

