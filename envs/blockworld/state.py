"""Mutable state of the BlockWorld player: pose, velocity, hotbar inventory, input cooldowns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

HOTBAR_SLOTS = 9
EYE_HEIGHT = 1.62


@dataclass
class Inventory:
    """Nine hotbar slots holding block types in order of pickup, with counts (no stack limit)."""

    slots: list[list[int]] = field(default_factory=lambda: [[0, 0] for _ in range(HOTBAR_SLOTS)])
    """slots[i] = [block_id, count]; block_id 0 = empty."""
    selected: int = 0
    """Selected slot index 0..8 (hotbar.1 selects 0)."""

    def add(self, block_id: int) -> bool:
        """Add one block; it stacks on its slot or takes the first empty slot. False when the hotbar is full."""
        for slot in self.slots:
            if slot[0] == block_id and slot[1] > 0:
                slot[1] += 1
                return True
        for slot in self.slots:
            if slot[1] == 0:
                slot[0], slot[1] = block_id, 1
                return True
        return False

    def selected_block(self) -> int:
        """Block id in the selected slot (0 when empty)."""
        block_id, count = self.slots[self.selected]
        return block_id if count > 0 else 0

    def take_selected(self) -> int:
        """Remove one block from the selected slot and return its id (0 when empty)."""
        slot = self.slots[self.selected]
        if slot[1] <= 0:
            return 0
        slot[1] -= 1
        block_id = slot[0]
        if slot[1] == 0:
            slot[0] = 0
        return block_id

    def counts(self) -> dict[int, int]:
        """block_id -> total count."""
        out: dict[int, int] = {}
        for block_id, count in self.slots:
            if count > 0:
                out[block_id] = out.get(block_id, 0) + count
        return out

    def total(self) -> int:
        """Number of items held."""
        return sum(count for _, count in self.slots)

    def key(self) -> tuple:
        """Hashable summary used to know when the HUD must be redrawn."""
        return (self.selected, tuple(tuple(slot) for slot in self.slots))

    def copy(self) -> "Inventory":
        """Deep copy."""
        return Inventory([list(slot) for slot in self.slots], self.selected)


@dataclass
class Player:
    """Feet position (x, y, z) in blocks, velocity in blocks/s, view angles in degrees."""

    position: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=np.float64))
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=np.float64))
    yaw: float = 0.0
    pitch: float = 0.0
    on_ground: bool = False
    in_water: bool = False
    attack_cooldown: int = 0
    use_cooldown: int = 0

    def eye(self) -> np.ndarray:
        """Eye position (3,) float64."""
        eye = self.position.copy()
        eye[1] += EYE_HEIGHT
        return eye

    def forward(self) -> np.ndarray:
        """Unit view direction (3,) (INTERFACES.md convention)."""
        yaw, pitch = math.radians(self.yaw), math.radians(self.pitch)
        return np.array([-math.sin(yaw) * math.cos(pitch), -math.sin(pitch), math.cos(yaw) * math.cos(pitch)])

    def pose(self) -> np.ndarray:
        """float64 (5,) [x, y, z, yaw_deg, pitch_deg] (feet position)."""
        pose = np.empty(5, dtype=np.float64)
        pose[:3] = self.position
        pose[3], pose[4] = self.yaw, self.pitch
        return pose

    def copy(self) -> "Player":
        """Deep copy."""
        return Player(
            self.position.copy(), self.velocity.copy(), self.yaw, self.pitch, self.on_ground, self.in_water,
            self.attack_cooldown, self.use_cooldown,
        )


def wrap_yaw(yaw: float) -> float:
    """Wrap degrees into [-180, 180)."""
    return (yaw + 180.0) % 360.0 - 180.0
