"""Plot of `wm bench quality`: open-loop PSNR per rollout step for each model beside copy-last-frame (matplotlib,
Agg backend, so it works headless). Written to a temp name and renamed, so a killed run leaves no half file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def plot_quality(summaries: dict[str, dict[str, Any]], path: str | os.PathLike) -> Path:
    """One PSNR-per-step curve per model (pooled over windows), copy-last-frame dashed, each model's tokenizer
    reconstruction PSNR (its ceiling) as a dotted line, and the reprojection references in grey when present.
    `summaries` maps a model name to its quality summary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not summaries:
        raise ValueError("plot_quality: no results to plot")
    out = Path(path)
    figure, axis = plt.subplots(figsize=(7, 4.2))
    for index, (name, summary) in enumerate(summaries.items()):
        color = f"C{index}"
        per_step = summary["open_loop_psnr_per_step"]
        axis.plot(range(1, len(per_step) + 1), per_step, color=color, label=name)
        axis.axhline(summary["tokenizer_psnr"]["model_pooled"], color=color, linestyle=":", linewidth=1)
    copy = next(iter(summaries.values()))["copy_last_psnr_per_step"]
    axis.plot(range(1, len(copy) + 1), copy, color="black", linestyle="--", label="copy last frame")
    references = next(iter(summaries.values())).get("references")
    if references:  # BlockWorld ground truth: what perfect geometry gives (reprojection.py)
        for key, label, style in (("reprojection_psnr_per_step", "reprojection, true depth (no model)", "-."),
                                  ("reprojection_map_psnr_per_step", "... + true block types unseen", ":")):
            axis.plot(range(1, len(references[key]) + 1), references[key], color="grey", linestyle=style, label=label)
    axis.set_xlabel("open-loop step")
    axis.set_ylabel("PSNR (dB), pooled over windows")
    axis.set_title("open-loop rollouts (dotted: tokenizer reconstruction)")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    figure.savefig(temp, dpi=120)
    plt.close(figure)
    os.replace(temp, out)
    return out
