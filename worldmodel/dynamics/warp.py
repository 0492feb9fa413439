"""Camera hint for the dynamics: the model's own frame turned by the action's camera and re-encoded.

The geometry (a pure rotation resamples the rays, whatever the depth) lives in `worldmodel/geometry.py`; its
functions are re-exported here for existing imports.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from worldmodel.geometry import camera_basis, rotation_grid, rotation_warp

__all__ = ["CameraHint", "camera_basis", "rotation_grid", "rotation_warp"]


class CameraHint:
    """Token hint for the next frame: decode a frame's tokens, turn the picture by the action's camera, encode.

    Returns, per transition, the hint tokens and a weight per token in [0, 1]: the fraction of the token's
    pixels that were in view before the turn, times whether the action is known (no hint for unknown or latent
    actions). The dynamics add `weight * embedding(hint)` to their input (`DynamicsModel.embed`)."""

    def __init__(self, tokenizer: torch.nn.Module, fov_deg: float, grid: tuple[int, int]) -> None:
        if not fov_deg > 0:
            raise ValueError(f"camera hint needs a field of view > 0 degrees, got {fov_deg}")
        self.tokenizer, self.fov_deg, self.grid = tokenizer, float(fov_deg), grid

    @torch.no_grad()
    def __call__(self, tokens: torch.Tensor, camera_deg: torch.Tensor, known: torch.Tensor,
                 frames: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (..., N) int64, camera_deg (..., 2), known (...) bool -> hint (..., N) int64, weight (..., N).
        `frames` (M, H, W, 3) uint8: the tokens already decoded (a rollout's last output), to skip decoding."""
        lead = tokens.shape[:-1]
        grid_h, grid_w = self.grid
        if frames is None:
            frames = self.tokenizer.decode(tokens.reshape(-1, grid_h, grid_w))  # (M, H, W, 3) uint8
        warped, valid = rotation_warp(frames, camera_deg.reshape(-1, 2).to(frames.device), self.fov_deg)
        hint = self.tokenizer.encode(warped).reshape(*lead, grid_h * grid_w).to(tokens.device)
        cells = F.adaptive_avg_pool2d(valid[:, None].float(), (grid_h, grid_w))  # (M, 1, h, w) fraction in view
        weight = cells.reshape(*lead, grid_h * grid_w).to(tokens.device) * known[..., None].float()
        return hint.clone(), weight.clone()  # clones: usable outside inference mode (embedding backward)
