"""A candidate world model: the bundled one (tokenizer, frame fusion, geometry heads, card) with a newly trained
dynamics. Written to a temp folder, then renamed into place.

    python scripts/make_candidate.py DYNAMICS_EXPORT OUT_DIR NOTE

DYNAMICS_EXPORT is a `wm train dynamics` export (RUN_DIR/world_model) or a checkpoint folder
(RUN_DIR/checkpoints/step_N, whose model.safetensors holds the objective's weights); NOTE is appended to the
card's "trained" line.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

from worldmodel import bundled


def dynamics_weights(source: Path) -> dict:
    """The dynamics weights of an export or of a training checkpoint (keys 'model.*' of the objective)."""
    if (source / "dynamics.safetensors").is_file():
        return load_file(str(source / "dynamics.safetensors"))
    state = load_file(str(source / "model.safetensors"))
    weights = {key[len("model."):]: value for key, value in state.items() if key.startswith("model.")}
    if not weights:
        raise ValueError(f"{source}: neither dynamics.safetensors nor a checkpoint with model.* weights")
    return weights


def main(source: Path, out: Path, note: str) -> None:
    weights = dynamics_weights(source)
    reference = load_file(str(bundled.BUNDLED_DIR / "dynamics.safetensors"))
    if set(weights) != set(reference) or any(weights[k].shape != reference[k].shape for k in reference):
        raise ValueError(f"{source}: its dynamics does not have the bundled architecture")
    temp = out.parent / f".{out.name}.tmp"
    shutil.rmtree(temp, ignore_errors=True)
    shutil.copytree(bundled.BUNDLED_DIR, temp, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    save_file(weights, str(temp / "dynamics.safetensors"))
    config = json.loads((temp / "config.json").read_text())
    config["card"]["trained"] += f"; then {note}"
    (temp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    temp.rename(out)
    print(f"candidate: {out}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
