"""The one frame renderer: predicted tokens (or their distribution) -> the frame a world model shows.

Decoding goes through the tokenizer's decoder; with a frame-fusion net (worldmodel/fusion/) the decoded frame is
blended with the pixels carried from earlier steps (`FusionState`). Serving (`WorldModel`) and training (fusion
objective, self-forcing, bench) call this same function, so what a player sees is what training optimised.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import Tensor, nn

from worldmodel.fusion.state import FusionState
from worldmodel.precision import nets_autocast
from worldmodel.tokenizer.model import float_to_frames


@dataclass
class Rendered:
    """One rendered frame per world."""

    frames: Tensor
    """uint8 (B, H, W, 3): what is shown (and carried to the next step)."""
    image: Tensor
    """float (B, 3, H, W) in about [-1, 1] before quantisation; carries the fusion net's gradient when grad is on."""
    decoded: Tensor
    """float (B, 3, H, W): the decoder's frame alone, before fusion."""
    codes: Tensor
    """(B, D, h, w) the FSQ codes that were decoded (expected codes for a distribution)."""
    weight: Tensor | None = None
    """(B, 3, H, W) the fusion's per-pixel weights of decoded / previous / anchor (None without fusion)."""


def token_codes(tokenizer: nn.Module, tokens: Tensor, soft: Tensor | None, grid_h: int) -> Tensor:
    """FSQ codes (B, D, h, w) of tokens (B, N), or of the expected code of their distribution soft (B, N, V)."""
    if soft is None:
        return tokenizer.tokens_to_codes(rearrange(tokens, "b (h w) -> b h w", h=grid_h))
    return tokenizer.expected_codes(rearrange(soft, "b (h w) v -> b h w v", h=grid_h))


def render(tokenizer: nn.Module, tokens: Tensor, soft: Tensor | None, grid_h: int,
           carried: FusionState | None = None, camera_deg: Tensor | None = None,
           dtype: torch.dtype | None = None) -> Rendered:
    """Render tokens (B, N) (or their distribution soft (B, N, V)) as frames.

    With `carried` (a tokenizer with a fusion net, fusion on) and the action's camera turn camera_deg (B, 2), the
    decoded frame is fused with the carried pixels; the caller advances `carried` with the result. The decoder is
    frozen here (no gradient); the fusion net follows the ambient grad mode (on for fusion training). dtype: autocast
    the decoder and fusion net to it (bf16 inference; None = fp32); the frame comes back in fp32."""
    device = next(tokenizer.parameters()).device
    codes = token_codes(tokenizer, tokens.to(device), None if soft is None else soft.to(device), grid_h).to(device)
    with torch.no_grad(), nets_autocast(device, dtype):
        decoded = tokenizer.decode_float(codes).float()  # (B, 3, H, W)
    image, weight = decoded, None
    if carried is not None:
        if camera_deg is None:
            raise ValueError("fusing a frame needs the camera turn of the action that led to it")
        with nets_autocast(device, dtype):
            image, weight = tokenizer.fusion(decoded, codes, carried.inputs(camera_deg, device))
        image, weight = image.float(), weight.float()
    return Rendered(float_to_frames(image.detach()), image, decoded, codes, weight)
