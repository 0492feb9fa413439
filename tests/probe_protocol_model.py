"""A model speaking the `wm probe --model pkg.module:factory` protocol (worldmodel/probes/protocol.py) for the
probe tests: it keeps the last frame and rolls it sideways by the commanded yaw (a crude, action-following
world model), and records what it was given."""

from __future__ import annotations

from typing import Any

import numpy as np

CALLS: list[dict[str, Any]] = []


class RollingModel:
    """Shifts the last prompt frame by yaw x width / fov pixels per degree turned."""

    frame_size = (64, 64)
    fov_deg = 70.0
    context_frames = 6

    def predict(self, prompt_frames: np.ndarray, prompt_actions: list[dict], actions: list[dict]) -> np.ndarray:
        """One frame per action: the last prompt frame rolled by the cumulative yaw."""
        CALLS.append({"prompt": prompt_frames.shape, "prompt_actions": len(prompt_actions), "actions": len(actions)})
        frame, yaw, out = prompt_frames[-1], 0.0, []
        for action in actions:
            yaw += float(action["camera"][1])
            out.append(np.roll(frame, -int(round(yaw * self.frame_size[1] / self.fov_deg)), axis=1))
        return np.stack(out).astype(np.uint8)


def make() -> RollingModel:
    """The factory named on the command line: `--model probe_protocol_model:make`."""
    return RollingModel()


def broken() -> Any:
    """A factory whose model lacks the protocol's predict."""
    return object()
