"""Typed configuration of the action-conditioned dynamics model: the one source of its defaults.

The `wm train dynamics` model.* keys; registered with Hydra in worldmodel/train/runs.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass
class DynamicsConfig:
    """Hyper-parameters of the dynamics transformer, its heads, the action embedding and the latent action model.

    The token vocabulary and grid are not here: they come from the tokenizer the model is built on.
    """

    # --- spatiotemporal transformer (the trunk, run once per frame with a KV cache) ---
    d_model: int = 256
    """Width of every token representation."""
    n_layers: int = 6
    """Trunk depth."""
    n_heads: int = 8
    """Attention heads (d_model must divide evenly)."""
    mlp_ratio: float = 4.0
    """Hidden width of the feed-forward blocks, as a multiple of d_model."""
    context_frames: int = 12
    """Attention window in frames: a frame attends to itself and the context_frames - 1 frames before it.
    The KV cache holds this many frames and slides (ring buffer) when full; training clips longer than this
    use the same banded mask, so cached stepping and full recomputation agree."""
    rope_base: float = 100.0
    """Base of the rotary time embedding (frame index); small because offsets never exceed context_frames."""
    dropout: float = 0.0
    """Dropout in attention outputs and feed-forward blocks (training only)."""

    # --- next-frame decoder (MaskGIT-style head over the trunk output; cheap, run decode_steps times) ---
    head_layers: int = 1
    """Layers of the per-frame decoder head (full attention within the predicted frame)."""
    decode_steps: int = 2
    """Iterative decoding passes of the head per frame (1 = fully parallel prediction)."""
    temperature: float = 1.0
    """Default sampling temperature (0 = greedy argmax)."""
    top_k: int = 0
    """Default top-k filter for sampling (0 = off)."""

    # --- action embedding ---
    camera_bins: int = 11
    """Bins per camera axis (odd, so that 'no motion' has its own bin)."""
    camera_max_deg: float = 10.0
    """Camera deltas are clipped to +/- this many degrees per tick before binning."""
    camera_mu: float = 10.0
    """mu of the mu-law companding before uniform binning (finer bins near zero, as VPT)."""
    p_unknown: float = 0.1
    """Training: probability of replacing a transition's action by the 'unknown action' embedding."""
    p_latent_known: float = 0.1
    """Training: probability of conditioning a labelled transition on its latent action instead (keeps the
    latent action model trained when all data has actions)."""
    context_noise: float = 0.0
    """Training: each clip replaces a fraction, drawn uniformly from [0, context_noise], of the tokens the trunk
    sees (not the targets) by random tokens, so open-loop rollouts stay on track after their own errors (the
    discrete-token counterpart of GameNGen's noise augmentation). 0 = off."""

    rollout_frames: int = 0
    """Training (self-forcing, `worldmodel.dynamics.self_forcing`): in a `rollout_fraction` of the clips the last
    rollout_frames context frames are the model's own mean-field open-loop predictions from the real frames
    before them (targets stay real), so it learns to recover from its own drift. 0 = off (teacher forcing)."""
    rollout_fraction: float = 0.5
    """Training: fraction of each batch's clips that are self-forced when rollout_frames > 0."""

    camera_hint_fov: float = 0.0
    """Field of view (degrees) of the footage for the camera-rotation hint (`worldmodel.dynamics.warp`): each
    transition also sees the tokens of the current frame turned by the action's camera. 0 = no hint (the
    models before 2026-12-02). BlockWorld and Minecraft use 70."""

    # --- latent action model (Genie-style, FSQ bottleneck) ---
    lam_levels: list[int] = field(default_factory=lambda: [3, 3, 3])
    """FSQ levels of the latent action code (product = number of latent actions)."""
    lam_dim: int = 128
    """Width of the latent action encoder."""
    lam_layers: int = 2
    """Layers of the latent action encoder."""
    lam_heads: int = 4
    """Attention heads of the latent action encoder."""

    # --- reward and termination heads ---
    reward_weight: float = 1.0
    """Weight of the reward regression loss (MSE) in the total loss."""
    term_weight: float = 1.0
    """Weight of the termination loss (binary cross-entropy) in the total loss."""
    edit_weight: float = 1.0
    """Weight in the token loss of the tokens that change on a transition where attack or use is pressed (a block
    broken or placed: a few of the frame's tokens on a few transitions in a hundred, which the mean loss drowns)."""

    def __post_init__(self) -> None:
        self.lam_levels = [int(v) for v in self.lam_levels]
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming every out-of-range field."""
        checks = {
            "d_model": self.d_model > 0 and self.d_model % max(self.n_heads, 1) == 0,
            "n_heads": self.n_heads > 0 and (self.d_model // max(self.n_heads, 1)) % 2 == 0,
            "n_layers": self.n_layers > 0,
            "context_frames": self.context_frames >= 1,
            "head_layers": self.head_layers >= 1,
            "decode_steps": self.decode_steps >= 1,
            "temperature": self.temperature >= 0.0,
            "top_k": self.top_k >= 0,
            "camera_bins": self.camera_bins >= 3 and self.camera_bins % 2 == 1,
            "camera_max_deg": self.camera_max_deg > 0,
            "camera_mu": self.camera_mu > 0,
            "edit_weight": self.edit_weight > 0,
            "p_unknown": 0.0 <= self.p_unknown <= 1.0,
            "p_latent_known": 0.0 <= self.p_latent_known <= 1.0 and self.p_unknown + self.p_latent_known <= 1.0,
            "context_noise": 0.0 <= self.context_noise < 1.0,
            "camera_hint_fov": 0.0 <= self.camera_hint_fov < 180.0,
            "rollout_frames": self.rollout_frames >= 0,
            "rollout_fraction": 0.0 <= self.rollout_fraction <= 1.0,
            "lam_levels": len(self.lam_levels) > 0 and all(v >= 2 for v in self.lam_levels),
            "lam_dim": self.lam_dim > 0 and self.lam_dim % max(self.lam_heads, 1) == 0,
            "lam_heads": self.lam_heads > 0,
            "lam_layers": self.lam_layers >= 1,
        }
        bad = [key for key, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid DynamicsConfig value(s) for {bad}: {self.to_dict()}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of all fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "DynamicsConfig":
        """Build from a dict (JSON or Hydra); an unknown key raises ValueError naming it.

        Keys starting with '_' (Hydra metadata such as `_target_`) are ignored.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        values = {key: v for key, v in values.items() if not str(key).startswith("_")}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown DynamicsConfig key(s) {unknown}; expected some of {sorted(names)}")
        return cls(**{key: (list(v) if key == "lam_levels" else v) for key, v in values.items()})
