"""`wm combine`: a WorldModel directory from one model's dynamics and another tokenizer export.

    wm combine --world bundled --tokenizer runs/fusion --out runs/wm_fusion

A tokenizer trained with `freeze_encoder=true` (a new decoder, or a frame-fusion net on top) makes the same
tokens as its source, so every dynamics model trained on those tokens runs with it unchanged. This writes the
pair as a directory `WorldModel.load` reads. It refuses a tokenizer whose encoder differs from the world model's
(its tokens would mean something else to the dynamics) unless --allow-new-encoder is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from worldmodel.dynamics.bundle import load_world_model, save_world_model
from worldmodel import bundled


def encoders_match(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """Whether two tokenizers have identical encoder weights and FSQ levels (so they make the same tokens)."""
    if list(a.cfg.levels) != list(b.cfg.levels):
        return False
    sa, sb = a.encoder.state_dict(), b.encoder.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def combine(world: str | Path, tokenizer_dir: str | Path, out: str | Path, allow_new_encoder: bool = False) -> Path:
    """Write OUT = WORLD's dynamics + the tokenizer export at TOKENIZER_DIR; ValueError if the encoders differ."""
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
    card = {k: v for k, v in (config.get("card") or {}).items()
            if k not in ("created", "tokenizer_params", "dynamics_params")}
    card["combined_from"] = {"dynamics": str(world), "tokenizer": str(tokenizer_dir)}
    return save_world_model(out, tokenizer, dynamics, card)


def main(argv: list[str], prog: str = "wm combine") -> int:
    """Entry point of `wm combine`; returns the exit status."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--world", required=True, help="WorldModel directory or 'bundled' (the dynamics)")
    parser.add_argument("--tokenizer", required=True, help="tokenizer export or `wm train tokenizer` run dir")
    parser.add_argument("--out", required=True, help="output WorldModel directory (replaced atomically)")
    parser.add_argument("--allow-new-encoder", action="store_true",
                        help="accept a tokenizer whose encoder differs (its tokens will not match the dynamics)")
    args = parser.parse_args(argv)
    try:
        out = combine(args.world, args.tokenizer, args.out, args.allow_new_encoder)
    except (ValueError, FileNotFoundError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0
