"""Give a trained tokenizer a fresh frame-fusion net (what `wm train fusion` starts from).

The tokenizer's encoder, codes and decoder are copied unchanged, so the tokens (and every dynamics model trained
on them) stay valid; only the fusion net is new, replacing any the tokenizer had.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from worldmodel.tokenizer.model import Tokenizer

FUSION_PREFIX = "fusion."
"""State-dict prefix of the fusion net's weights inside a tokenizer."""

STALE_CARD_KEYS = ("created", "tokenizer_params", "dynamics_params", "fusion")
"""World-model card entries that no longer hold once the fusion net is replaced (the export writes them anew)."""


def with_fresh_fusion(tokenizer: Tokenizer, channels: int, fov_deg: float) -> Tokenizer:
    """A new Tokenizer with `tokenizer`'s config and weights, plus a freshly initialised fusion net of `channels`
    (at half resolution) for footage of horizontal field of view `fov_deg`; any fusion net it had is dropped.
    Draws the new net's initial weights from torch's global RNG."""
    cfg = dataclasses.replace(tokenizer.cfg, fusion_channels=channels, fusion_fov_deg=fov_deg)
    fused = Tokenizer(cfg)
    state = {key: value for key, value in tokenizer.state_dict().items() if not key.startswith(FUSION_PREFIX)}
    state.update({FUSION_PREFIX + key: value for key, value in fused.fusion.state_dict().items()})
    fused.load_state_dict(state)
    return fused


def carried_card(card: Mapping[str, Any] | None) -> dict[str, Any]:
    """The entries of a world model's card that stay true when only its fusion net is replaced."""
    return {key: value for key, value in (card or {}).items() if key not in STALE_CARD_KEYS}
