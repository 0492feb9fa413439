"""An animated GIF of BlockWorld (truth) beside the bundled model's dream of it, same prompt, same actions.

    python scripts/make_dream_gif.py                          # -> docs/images/dream_vs_truth.gif
    python scripts/make_dream_gif.py --seed 3 --out /tmp/dream.gif

Both start from the same four real BlockWorld frames (the dream is prompted with them and the three actions
between them), then play one script: walk forward, turn right about 90 degrees, turn back, stand. The truth is
BlockWorld stepping those actions; the dream is `WorldModel.unroll` of them, open loop (it never sees a real frame
after the prompt). Same seed, same GIF: BlockWorld and the model's sampling are both seeded.

The GIF is written with Pillow (installed with the project's dependencies; its GIF writer needs nothing else,
whereas imageio would only wrap it and PyAV has no GIF palette control), one global palette so the colours do not
flicker from frame to frame, to a temporary file renamed into place.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONTEXT = 4  # real frames the dream is prompted with
SCALE = 3  # GIF pixels per frame pixel
GAP = 2  # separator width in pixels
LABEL_H = 14  # height of the label row
FPS = 10


def script() -> list[tuple[str, dict[str, Any]]]:
    """The scripted (phase, partial action) ticks: walk 20, turn right 15 x 6 deg, turn back 15, stand 10."""
    walk = [("walk", {"forward": 1})] * 20
    right = [("turn right", {"camera": [0.0, 6.0]})] * 15
    back = [("turn back", {"camera": [0.0, -6.0]})] * 15
    stand = [("stand", {})] * 10
    return walk + right + back + stand


def play(seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Truth and dream frames (T, 64, 64, 3), prompt included, and each frame's phase name. During the prompt
    both sides show the real frames: the model is given them (and its fusion net carries the newest one on)."""
    import gymnasium
    import torch

    import envs  # noqa: F401 - registers BlockWorld-v0
    from envs.actions import complete_action, stack_actions
    from worldmodel import WorldModel

    torch.manual_seed(seed)
    env = gymnasium.make("BlockWorld-v0", width=64, height=64)
    obs, _ = env.reset(seed=seed)
    frames, prompt_actions = [obs], []
    for _ in range(CONTEXT - 1):  # stand still: the prompt shows where we are, the script moves
        action = complete_action({})
        obs, *_ = env.step(action)
        frames.append(obs)
        prompt_actions.append(action)
    ticks = script()
    actions = [complete_action(partial) for _, partial in ticks]
    truth = list(frames)
    for action in actions:
        obs, *_ = env.step(action)
        truth.append(obs)
    env.close()

    wm = WorldModel.load()
    wm.seed(seed)
    wm.reset(np.stack(frames), stack_actions(prompt_actions))
    dream, _, _ = wm.unroll(actions)
    phases = ["prompt"] * CONTEXT + [phase for phase, _ in ticks]
    return np.stack(truth), np.concatenate([np.stack(frames), dream]), phases


def compose(truth: np.ndarray, dream: np.ndarray, phase: str, step: int) -> Image.Image:
    """One GIF frame: a label row ("truth", "dream", the tick and phase) over truth | dream, upscaled."""
    side = truth.shape[0] * SCALE
    width = 2 * side + GAP
    canvas = Image.new("RGB", (width, LABEL_H + side), (24, 24, 24))
    canvas.paste(Image.fromarray(truth).resize((side, side), Image.NEAREST), (0, LABEL_H))
    canvas.paste(Image.fromarray(dream).resize((side, side), Image.NEAREST), (side + GAP, LABEL_H))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    draw.text((4, 2), "truth", fill=(235, 235, 235), font=font)
    draw.text((side + GAP + 4, 2), "dream", fill=(235, 235, 235), font=font)
    tick = f"{phase}  t={step}" if phase != "prompt" else "prompt (real frames)"
    draw.text((width - 4 - draw.textlength(tick, font=font), 2), tick, fill=(170, 170, 170), font=font)
    return canvas


def write_gif(images: list[Image.Image], out: Path) -> None:
    """Write the frames as a looping GIF with one palette shared by all frames, atomically."""
    # The palette of every frame side by side: no colour of any frame is left out of it.
    sheet = Image.new("RGB", (images[0].width, images[0].height * len(images)))
    for index, image in enumerate(images):
        sheet.paste(image, (0, index * image.height))
    palette = sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    frames = [image.quantize(palette=palette, dither=Image.Dither.NONE) for image in images]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=1000 // FPS, loop=0,
                       optimize=False)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: play the script in BlockWorld and in the bundled model, write the GIF."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="BlockWorld world and sampling seed (default 0)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "dream_vs_truth.gif")
    args = parser.parse_args(argv)
    truth, dream, phases = play(args.seed)
    images = [compose(t, d, phase, step - CONTEXT + 1)
              for step, (t, d, phase) in enumerate(zip(truth, dream, phases))]
    write_gif(images, args.out)
    print(f"wrote {args.out} ({len(images)} frames, {args.out.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
