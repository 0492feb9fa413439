"""Timeline: the viewer's rewind buffer - recent frames of the episode, sparse saved states, branching.

Every tick stores its frame, the action that led to it, its step in the episode and the return so far (cheap);
every `keyframe_every` ticks it also stores `env.save_state()` (a BlockWorld copy, or a dream snapshot holding
the model's KV cache, ~10 MB for the bundled model - hence sparse). Stepping back only moves a cursor over stored frames, so it is
instant. Branching from the cursor restores the nearest saved state at or before it and replays the stored
actions up to it (envs are deterministic given their saved state), then drops the frames after it.
The buffer is a ring: beyond `capacity` ticks the oldest are dropped, always keeping a saved state first.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from envs.actions import Action


@dataclass
class Entry:
    """One tick of the timeline."""

    image: np.ndarray
    action: Action | None  # the action that led to this frame (None for an episode's first frame)
    episode_return: float
    state: Any = None  # env.save_state() at this frame, on keyframes only
    step: int = 0  # ticks since the episode began


def supports_states(env: Any) -> bool:
    """True if the env offers save_state() / restore_state() (BlockWorld, the dream, the compare view)."""
    return callable(getattr(env, "save_state", None)) and callable(getattr(env, "restore_state", None))


class Timeline:
    """Recent frames with a cursor; `back`, `forward`, `branch(env)` and `push` after each live step."""

    def __init__(self, capacity: int = 400, keyframe_every: int = 20) -> None:
        if capacity < 2 or keyframe_every < 1:
            raise ValueError(f"viewer: rewind 'capacity' must be >= 2 and 'keyframe_every' >= 1, got "
                             f"{capacity}, {keyframe_every}")
        self.capacity, self.keyframe_every = int(capacity), int(keyframe_every)
        self.entries: deque[Entry] = deque()
        self.cursor = 0  # index into entries of the frame on screen
        self._since_key = 0

    @property
    def rewound(self) -> int:
        """How many ticks the cursor is behind the newest frame (0 = live)."""
        return len(self.entries) - 1 - self.cursor

    def start(self, image: np.ndarray, state: Any, episode_return: float = 0.0, step: int = 0) -> None:
        """Begin a new timeline (episode start, or a restored bookmark) at a frame with its saved state."""
        self.entries = deque([Entry(image, None, episode_return, state, step)])
        self.cursor = 0
        self._since_key = 0

    def push(self, image: np.ndarray, action: Action, episode_return: float, save: Callable[[], Any],
             step: int = 0) -> None:
        """Append a live step (the cursor must be at the end); saves a state every keyframe_every ticks.
        step: ticks since the episode began, restored with the frame on rewind."""
        self._since_key += 1
        state = None
        if self._since_key >= self.keyframe_every:
            state, self._since_key = save(), 0
        self.entries.append(Entry(image, action, episode_return, state, step))
        while len(self.entries) > self.capacity or (len(self.entries) > 1 and self.entries[0].state is None):
            self.entries.popleft()  # the first entry must hold a state, or branching could not restore it
        self.cursor = len(self.entries) - 1

    def back(self) -> Entry | None:
        """Move the cursor one tick back; None if at the oldest stored frame."""
        if self.cursor == 0:
            return None
        self.cursor -= 1
        return self.entries[self.cursor]

    def forward(self) -> Entry | None:
        """Move the cursor one tick forward through stored frames; None if already live."""
        if self.rewound == 0:
            return None
        self.cursor += 1
        return self.entries[self.cursor]

    def branch(self, env: Any) -> Entry:
        """Put the env in the state of the cursor's frame (restore + replay) and drop the frames after it."""
        key = max(i for i in range(self.cursor + 1) if self.entries[i].state is not None)
        env.restore_state(self.entries[key].state)
        for i in range(key + 1, self.cursor + 1):
            env.step(self.entries[i].action)  # deterministic replay from the saved state
        while len(self.entries) > self.cursor + 1:
            self.entries.pop()
        self._since_key = self.cursor - key
        return self.entries[self.cursor]
