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
from worldmodel.probes.scoring import MEANING, ROWS, FamilyResult

ROW_COLORS = {"model": "tab:blue", "truth": "black", "reference_tokenizer": "tab:green", "model_tokenizer": "tab:olive",
              "copy_last": "tab:red", "frozen_first": "tab:orange", "no_memory": "tab:pink",
              "perfect_memory": "tab:cyan", "shuffled_actions": "tab:purple"}
SHORT = {"model": "model", "truth": "truth", "reference_tokenizer": "ref. tok.", "model_tokenizer": "own tok.",
         "copy_last": "copy-last", "frozen_first": "frozen", "no_memory": "no-memory", "perfect_memory": "perf. memory",
         "shuffled_actions": "shuffled"}


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
    """Normalised headline score per family (bars, with the bootstrap CI when given) and the reference rows
    (markers) on the fixed scale: 1 = truth, 0 = copy-last."""
    plt = _plt()
    fams = results["families"]
    names = list(fams)
    fig, ax = plt.subplots(figsize=(max(4, 1.4 * len(names)), 3.2))
    vals = np.array([_nan(fams[n]["normalised"]) for n in names])
    lo = np.array([_nan(fams[n]["ci"][0]) for n in names])
    hi = np.array([_nan(fams[n]["ci"][1]) for n in names])
    err = np.nan_to_num(np.abs(np.stack([vals - lo, hi - vals])))
    ax.bar(range(len(names)), np.nan_to_num(vals), yerr=err, color=ROW_COLORS["model"], capsize=4, label="model")
    for row in ("reference_tokenizer", "model_tokenizer", "no_memory", "perfect_memory", "shuffled_actions"):
        ys = [_nan(fams[n].get("normalised_rows", {}).get(row)) for n in names]
        if np.isfinite(ys).any():
            ax.plot(range(len(names)), ys, "o", color=ROW_COLORS[row], ms=4, label=SHORT[row])
    ax.axhline(1.0, color="black", ls="--", lw=1, label="truth")
    ax.axhline(0.0, color=ROW_COLORS["copy_last"], ls="--", lw=1, label="copy-last")
    ax.set_xticks(range(len(names)), [f"{fams[n]['letter']} {n}" for n in names], rotation=20)
    ax.set_ylabel("normalised score")
    ax.set_title(f"{results['model']}: (row - copy-last) / (truth - copy-last)", fontsize=9)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _save(fig, path)


def _nan(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and value is not None else float("nan")


def _unit(metric: str) -> str:
    """The axis a metric belongs on: dB (PSNR), ratio (0-1), or other (px, degrees, blocks, frames)."""
    if "psnr" in metric:
        return "dB"
    if any(k in metric for k in ("_px", "_deg", "_blocks", "horizon")):
        return "other"
    return "ratio"


def _bars(ax: Any, summary: dict[str, Any], metrics: list[str], rows: list[str]) -> None:
    width = 0.8 / max(1, len(rows))
    for k, row in enumerate(rows):
        vals = [summary["metrics"][m].get(row) for m in metrics]
        ax.bar(np.arange(len(metrics)) + k * width, [v if v is not None else 0 for v in vals], width,
               color=ROW_COLORS[row], label=SHORT[row])
    ax.set_xticks(np.arange(len(metrics)) + 0.4, metrics, rotation=30, fontsize=7)


def plot_family(name: str, result: FamilyResult, summary: dict[str, Any], path: Path) -> bool:
    """The family's own plot (curves or per-row bars); False when there is nothing to draw."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    extras = result.extras
    if name == "permanence":
        for row, points in extras["recall_curve"].items():  # ratios only: one axis
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
        rows = [r for r in ROWS if r in extras["per_action"]]
        width = 0.8 / len(rows)
        for k, row in enumerate(rows):
            f1 = [extras["per_action"][row][c]["f1"] for c in classes]
            ax.bar(np.arange(len(classes)) + k * width, [v if v is not None and np.isfinite(v) else 0 for v in f1],
                   width, color=ROW_COLORS[row], label=row)
        ax.set_xticks(np.arange(len(classes)) + 0.4, classes, rotation=45, fontsize=7)
        ax.set_ylabel("F1 (IDM vs commands)")
    else:  # ratios and dB on separate axes (PSNR ~20 dB would flatten ratios < 1)
        plt.close(fig)
        names = [m for m in summary["metrics"] if "never_seen" not in m]
        ratios = [m for m in names if _unit(m) == "ratio"][:6]
        db = [m for m in names if _unit(m) == "dB"][:3]
        rows = [r for r in ROWS if r in summary["metrics"][names[0]]]
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [2, 1]})
        _bars(axes[0], summary, ratios, rows)
        axes[0].set_ylabel("ratio (0-1)")
        _bars(axes[1], summary, db, rows)
        axes[1].set_ylabel("PSNR (dB)")
        axes[0].set_title(f"{summary['letter']} {name}")
        axes[1].legend(*axes[0].get_legend_handles_labels(), fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        _save(fig, path)
        return True
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


def _rows_present(results: dict[str, Any]) -> list[str]:
    present = {r for fam in results["families"].values() for r in fam["raw"]}
    return [r for r in ROWS if r in present]


def markdown(results: dict[str, Any], images: dict[str, list[str]]) -> str:
    """The human report."""
    cfg = results["config"]
    rows = _rows_present(results)
    lines = [f"# Probe report: {results['model']}", "",
             f"Suites: {', '.join(results['suites'])}; worlds per sweep point: {1 if cfg['quick'] else cfg['seeds']}"
             f"{' (quick)' if cfg['quick'] else ''}; "
             f"seed {cfg['seed']}; prompt {cfg['prompt_len']} frames; context window {cfg['context']} frames; "
             f"runtime {results['runtime_s']:.1f} s.", "",
             MEANING + " Rows: truth (BlockWorld), ref. tok. (the truth through the bundled tokenizer, the same for "
             "every model), own tok. (the truth through the model's own tokenizer, its ceiling: a separate column), "
             "copy-last, frozen (first prompt frame), no-memory (the last prompt frame carried by the true depth and "
             "camera), perf. memory (every prompt frame carried that way), shuffled (the model fed mirrored turns "
             "and moves). CIs: seeded bootstrap over scenarios, shown from 5 scenarios on. Gap: the headline's raw "
             "truth - copy-last difference as a share of its range.",
             "", "![summary](plots/summary.png)", "",
             "Headline, raw (measured against the truth):", "",
             "| family | headline | " + " | ".join(SHORT[r] for r in rows) + " | gap | normalised [95% CI] |",
             "|---|---|" + "---|" * (len(rows) + 2)]
    for name, fam in results["families"].items():
        norm = _fmt(fam["normalised"]) if fam["floor_is_floor"] else "n/a (no floor)"
        ci = (f" [{_fmt(fam['ci'][0], 2)}, {_fmt(fam['ci'][1], 2)}]" if fam["ci"][0] is not None else " (n < 5)")
        lines.append(f"| {fam['letter']} {name} | {fam['headline']} | "
                     + " | ".join(_fmt(fam["raw"].get(r)) for r in rows)
                     + f" | {_fmt(fam['gap_share'], 2)} | {norm}{ci} |")
    lines += ["", "Headline, normalised (1 = truth, 0 = copy-last):", "",
              "| family | " + " | ".join(SHORT[r] for r in rows) + " |", "|---|" + "---|" * len(rows)]
    for name, fam in results["families"].items():
        lines.append(f"| {fam['letter']} {name} | "
                     + " | ".join(_fmt(fam["normalised_rows"].get(r), 2) for r in rows) + " |")
    seg = results["aux"]["segmenter"]
    this = seg.get("this_run", {})
    lines += ["", f"Segmenter: held-out accuracy {_fmt(seg.get('metrics', {}).get('accuracy_gt'))}; on this run's "
              f"truth frames {_fmt(this.get('accuracy_gt'))}, on their reference-tokenizer reconstructions "
              f"{_fmt(this.get('accuracy_reference_tokenizer'))}.", ""]
    lines += [idm_line(results), ""]
    for name, fam in results["families"].items():
        lines += [f"## {fam['letter']}. {name}", "", f"Headline: `{fam['headline']}`: {fam['description']}", ""]
        if name == "permanence":
            g = fam["g50"].get("model", {})
            g50 = ("n/a" if g.get("g50") is None else (f"> {g['g50']:.0f}" if g["censored"] else f"{g['g50']:.1f}"))
            lines += [f"g50 (gap at which recall halves) of the model: {g50} frames "
                      f"(context window {fam['context_frames']}).", ""]
        lines += ["| metric | " + " | ".join(SHORT[r] for r in rows) + " | gap | normalised |",
                  "|---|" + "---|" * (len(rows) + 2)]
        for metric, vals in fam["metrics"].items():
            arrow = "↑" if vals["higher_is_better"] else "↓"
            norm = _fmt(vals["normalised"]) if vals["floor_is_floor"] else "n/a"
            lines.append(f"| {metric} {arrow} | " + " | ".join(_fmt(vals.get(r)) for r in rows)
                         + f" | {_fmt(vals['gap_share'], 2)} | {norm} |")
        lines.append("")
        lines += [f"![{name}]({img})" for img in images.get(name, [])] + [""]
    if "corruption" in results:
        c = results["corruption"]
        lines += ["## Corruption harness", "", c["rule"], "",
                  "| family | base | " + " | ".join(c["kinds"]) + " |", "|---|---|" + "---|" * len(c["kinds"])]
        for row in c["table"]:
            cells = [f"{_fmt(x['drop'], 2)} {x['verdict']}" for x in row["corrupted"]]
            lines.append(f"| {row['family']} | {row['base']} | " + " | ".join(cells) + " |")
        lines += ["", "ok" if c["ok"] else f"FAILED: {', '.join(c['failures'])}"]
    return "\n".join(lines) + "\n"


def idm_line(results: dict[str, Any]) -> str:
    """The action reader of family E and its macro-F1 on the true frames."""
    reader = results.get("aux", {}).get("action_reader") or {}
    if reader.get("macro_f1_truth") is None:
        return "Action reader (IDM): not measured in this run (family E did not run)."
    learned = reader.get("learned_idm_macro_f1_truth")
    extra = f"; the learned IDM: {_fmt(learned)}" if learned is not None else ""
    return (f"Action reader (IDM): {reader['reader']}; macro-F1 on the true frames {_fmt(reader['macro_f1_truth'])}"
            f"{extra}.")


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

