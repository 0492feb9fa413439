"""CompareEnv (`wm play --compare`): ground-truth BlockWorld and the dream side by side, with a live PSNR.

Both start from the same moment: the dream is prompted by a BlockWorld run (worldmodel.dream.prompts
.BlockWorldPrompt), and the truth is that very BlockWorld env, continuing from the end of the prompt. Each step
sends the same action to both. The observation is [truth | dream] (a 1-pixel gap between), so the viewer loop,
recording and rewind work unchanged; status_lines() gives the overlay its PSNR text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from worldmodel.dream.env import WorldModelEnv
from worldmodel.dream.prompts import BlockWorldPrompt

GAP = 1
GAP_COLOUR = 40
MAX_PSNR = 99.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 images (MAX_PSNR when identical)."""
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return MAX_PSNR if mse <= 0.0 else min(MAX_PSNR, 10.0 * np.log10(255.0**2 / mse))


@dataclass
class CompareState:
    """save_state() of the pair: dream state, BlockWorld state, PSNR statistics."""

    dream: Any
    truth: Any
    stats: tuple[float, float, int]


class CompareEnv(gym.Env):
    """Truth and dream stepped with the same actions; reward, termination and truncation are the dream's."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, dream: WorldModelEnv) -> None:
        if not isinstance(dream.prompt, BlockWorldPrompt):
            raise ValueError("--compare needs the dream prompted by BlockWorld (--prompt blockworld[:POLICY])")
        self.dream = dream
        self.truth = dream.prompt.env  # the prompt's BlockWorld, left at the end of the context
        self.render_mode = "rgb_array"
        h, w, _ = dream.frame_shape
        self.observation_space = gym.spaces.Box(0, 255, shape=(h, 2 * w + GAP, 3), dtype=np.uint8)
        self.action_space = dream.action_space
        self.last_psnr = self.sum_psnr = 0.0
        self.count = 0
        self._obs: np.ndarray | None = None

    def _pair(self, truth: np.ndarray, dream: np.ndarray) -> np.ndarray:
        self.last_psnr = psnr(truth, dream)
        self.sum_psnr += self.last_psnr
        self.count += 1
        gap = np.full((truth.shape[0], GAP, 3), GAP_COLOUR, dtype=np.uint8)
        self._obs = np.concatenate([truth, gap, dream], axis=1)  # (H, 2W + GAP, 3)
        return self._obs.copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """A new prompt for both worlds (options are not supported: the truth needs a BlockWorld prompt)."""
        super().reset(seed=seed)
        if options:
            raise ValueError("CompareEnv: reset options are not supported (both worlds start from a BlockWorld prompt)")
        dream_obs, info = self.dream.reset(seed=seed if seed is not None else int(self.np_random.integers(2**31 - 1)))
        self.sum_psnr, self.count = 0.0, 0
        return self._pair(self.truth.observe(), dream_obs), dict(info, psnr=self.last_psnr)

    def step(self, action: dict[str, Any]) -> tuple[np.ndarray, float, bool, bool, dict]:
        """The same action in both worlds."""
        dream_obs, reward, terminated, truncated, info = self.dream.step(action)
        truth_obs, *_ = self.truth.step(action)
        return self._pair(truth_obs, dream_obs), reward, terminated, truncated, dict(info, psnr=self.last_psnr)

    def memory_map(self) -> np.ndarray | None:
        """The dream's memory seen from above (None without a memory)."""
        return self.dream.memory_map()

    def status_lines(self) -> list[str]:
        """Overlay text: which side is which and the PSNR (now and averaged over the episode)."""
        mean = self.sum_psnr / max(self.count, 1)
        return [f"left truth | right dream  PSNR {self.last_psnr:4.1f} dB (mean {mean:4.1f})"]

    def save_state(self) -> CompareState:
        """Both worlds' states (for the viewer's rewind)."""
        return CompareState(self.dream.save_state(), self.truth.save_state(),
                            (self.last_psnr, self.sum_psnr, self.count))

    def restore_state(self, state: CompareState) -> None:
        """Return both worlds to a saved state."""
        self.dream.restore_state(state.dream)
        self.truth.restore_state(state.truth)
        self.last_psnr, self.sum_psnr, self.count = state.stats
        gap = np.full((self.dream.frame_shape[0], GAP, 3), GAP_COLOUR, dtype=np.uint8)
        self._obs = np.concatenate([self.truth.observe(), gap, self.dream.observe()], axis=1)

    def render(self) -> np.ndarray | None:
        """The current side-by-side frame."""
        return None if self._obs is None else self._obs.copy()

    def close(self) -> None:
        """Close both worlds."""
        self.dream.close()
        self.truth.close()
