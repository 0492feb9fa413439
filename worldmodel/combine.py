"""`wm combine`: a WorldModel directory from one model's dynamics and another tokenizer export.

    wm combine --world bundled --tokenizer runs/fusion --out runs/wm_fusion

A tokenizer trained with `freeze_encoder=true` (a new decoder, or a frame-fusion net on top) makes the same
tokens as its source, so every dynamics model trained on those tokens runs with it unchanged. This writes the
pair as a directory `WorldModel.load` reads. It refuses a tokenizer whose encoder differs from the world model's
(its tokens would mean something else to the dynamics) unless --allow-new-encoder is given.

The frame-fusion net never goes missing silently: a tokenizer export that brings its own is used as it is;
otherwise, when WORLD has one, `--fusion keep` carries WORLD's net over to the new decoder (it was trained on the
old decoder's frames: `wm train fusion world=OUT` fits it again) and `--fusion drop` writes the model without one;
with neither, such a pair is refused. `--fusion keep` also replaces a net the tokenizer brings with WORLD's,
`--fusion drop` removes it. `--fov DEG` sets the net's field of view to the new footage's.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

from worldmodel import bundled
from worldmodel.checkpoint import load_state_into
from worldmodel.dynamics.bundle import load_world_model, save_world_model

FUSION_CHOICES = ("keep", "drop")
FUSION_PREFIX = "fusion."


def encoders_match(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """Whether two tokenizers have identical encoder weights and FSQ levels (so they make the same tokens)."""
    if list(a.cfg.levels) != list(b.cfg.levels):
        return False
    sa, sb = a.encoder.state_dict(), b.encoder.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def with_fusion_of(tokenizer: torch.nn.Module, donor: torch.nn.Module | None, source: str,
                   fov: float | None = None) -> torch.nn.Module:
    """A copy of `tokenizer` whose fusion net is `donor`'s (None: no fusion net), for footage of horizontal field
    of view `fov` (None: the donor's); ValueError naming `source` when the donor's net does not fit."""
    from worldmodel.tokenizer import Tokenizer

    fusion = {} if donor is None else {"fusion_channels": donor.cfg.fusion_channels,
                                       "fusion_fov_deg": fov or donor.cfg.fusion_fov_deg}
    cfg = dataclasses.replace(tokenizer.cfg, **(fusion or {"fusion_channels": 0}))
    out = Tokenizer(cfg)
    state = {k: v for k, v in tokenizer.state_dict().items() if not k.startswith(FUSION_PREFIX)}
    if donor is not None:
        state.update({k: v for k, v in donor.state_dict().items() if k.startswith(FUSION_PREFIX)})
    load_state_into(out, state, source)
    return out.eval()


def choose_fusion(world_tok: torch.nn.Module, tokenizer: torch.nn.Module, fusion: str | None, world: str,
                  tokenizer_dir: str, fov: float | None = None) -> tuple[torch.nn.Module, str]:
    """The tokenizer to write (with the fusion net `fusion` asks for, its field of view set to `fov` if given)
    and a line saying which net it carries."""
    chosen, note = _choose_fusion(world_tok, tokenizer, fusion, world, tokenizer_dir)
    if fov is not None:
        if chosen.fusion is None:
            raise ValueError("--fov sets the frame-fusion net's field of view, but the combined model has none")
        if fov <= 0:
            raise ValueError(f"--fov must be > 0 degrees, got {fov}")
        chosen = with_fusion_of(chosen, chosen, str(tokenizer_dir), fov)
        note += f", field of view {fov:g} degrees"
    return chosen, note


def _choose_fusion(world_tok: torch.nn.Module, tokenizer: torch.nn.Module, fusion: str | None, world: str,
                   tokenizer_dir: str) -> tuple[torch.nn.Module, str]:
    """choose_fusion without the field of view."""
    has_world, has_own = world_tok.fusion is not None, tokenizer.fusion is not None
    if fusion not in (None, *FUSION_CHOICES):
        raise ValueError(f"--fusion must be one of {', '.join(FUSION_CHOICES)}, got {fusion!r}")
    if fusion == "keep":
        if not has_world:
            raise ValueError(f"--fusion keep: {world} has no frame-fusion net to keep")
        return with_fusion_of(tokenizer, world_tok, f"{world} (its fusion net)"), f"frame fusion: {world}'s net kept"
    if fusion == "drop":
        return with_fusion_of(tokenizer, None, str(tokenizer_dir)), "frame fusion: none (dropped)"
    if has_own:
        return tokenizer, f"frame fusion: {tokenizer_dir}'s own net"
    if has_world:
        raise ValueError(f"{world} has a frame-fusion net and {tokenizer_dir} has none: pass --fusion keep (carry "
                         f"{world}'s net over to the new decoder) or --fusion drop (write the model without one)")
    return tokenizer, "frame fusion: none"


def combine(world: str | Path, tokenizer_dir: str | Path, out: str | Path, allow_new_encoder: bool = False,
            fusion: str | None = None, fov: float | None = None) -> Path:
    """Write OUT = WORLD's dynamics + the tokenizer export at TOKENIZER_DIR, with the fusion net `fusion` chooses
    (see the module docstring); ValueError if the encoders differ or the fusion choice is missing or impossible."""
    from worldmodel.tokenizer import load_tokenizer

    world_dir = bundled.resolve(world)
    old_tokenizer, dynamics, config = load_world_model(world_dir)
    tokenizer = load_tokenizer(tokenizer_dir)
    if (tokenizer.vocab_size, tuple(tokenizer.grid)) != (dynamics.vocab_size, tuple(dynamics.grid)):
        raise ValueError(f"{tokenizer_dir}: vocabulary/grid {tokenizer.vocab_size}/{list(tokenizer.grid)} differ "
                         f"from the dynamics' {dynamics.vocab_size}/{list(dynamics.grid)} in {world_dir}")
    if not allow_new_encoder and not encoders_match(old_tokenizer, tokenizer):
        raise ValueError(f"{tokenizer_dir}: its encoder differs from the one {world_dir}'s dynamics were trained "
                         "with, so its tokens would mean something else (train it with freeze_encoder=true, or "
                         "pass --allow-new-encoder)")
    tokenizer, note = choose_fusion(old_tokenizer, tokenizer, fusion, str(world), str(tokenizer_dir), fov)
    card = {k: v for k, v in (config.get("card") or {}).items()
            if k not in ("created", "tokenizer_params", "dynamics_params")}
    if tokenizer.fusion is None:
        card.pop("fusion", None)
    elif fusion != "keep":
        card["fusion"] = f"frame fusion net of {tokenizer_dir}"
    card["combined_from"] = {"dynamics": str(world), "tokenizer": str(tokenizer_dir), "fusion": note}
    return save_world_model(out, tokenizer, dynamics, card)


def main(argv: list[str], prog: str = "wm combine") -> int:
    """Entry point of `wm combine`; returns the exit status."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--world", required=True, help="WorldModel directory or 'bundled' (the dynamics)")
    parser.add_argument("--tokenizer", required=True, help="tokenizer export or `wm train tokenizer` run dir")
    parser.add_argument("--out", required=True, help="output WorldModel directory (replaced atomically)")
    parser.add_argument("--allow-new-encoder", action="store_true",
                        help="accept a tokenizer whose encoder differs (its tokens will not match the dynamics)")
    parser.add_argument("--fusion", choices=FUSION_CHOICES, default=None,
                        help="keep: carry WORLD's frame-fusion net over to the new decoder; drop: write no fusion "
                             "net. Needed when WORLD has one and the tokenizer export has none")
    parser.add_argument("--fov", type=float, default=None, metavar="DEG",
                        help="horizontal field of view of the footage, for the frame-fusion net's camera warp "
                             "(default: the net's own; BlockWorld: 70)")
    args = parser.parse_args(argv)
    try:
        out = combine(args.world, args.tokenizer, args.out, args.allow_new_encoder, args.fusion, args.fov)
    except (ValueError, FileNotFoundError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0
