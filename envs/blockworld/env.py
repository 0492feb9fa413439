"""BlockWorldEnv: a first-person Minecraft-like Gymnasium env with exact ground truth (depth, block ids, pose,
edits) and a scripting API for probes.

One step = one 20 Hz tick: camera [delta pitch, delta yaw] first, hotbar selection, movement physics, then
attack / use along the new view. Attack breaks the targeted BREAKABLE block within reach 4.5 in one tick and
collects it; use places the selected hotbar block on the targeted face. Holding attack or use repeats every
REPEAT_TICKS ticks (a fresh press always acts at once). A mined block is collected as itself (grass gives
grass) into the first hotbar slot holding its type, else the first empty one (no stack limit; lost when all 9
slots hold other types). Every voxel change, scripted ones included, is logged as (tick, x, y, z, old_id,
new_id), tick = steps taken so far. reset(seed) builds the world from the seed; the start yaw is a multiple of
15 degrees drawn from the env RNG, pitch 0.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Sequence

import gymnasium as gym
import numpy as np

from envs.actions import HOTBAR, action_space, validate_action
from envs.blockworld import physics
from envs.blockworld.blocks import AIR, BREAKABLE, NUM_BLOCKS, SOLID, WATER
from envs.blockworld.config import BlockWorldConfig
from envs.blockworld.hud import Hud
from envs.blockworld.render import raycast, render
from envs.blockworld.state import Inventory, Player, wrap_yaw
from envs.blockworld.tasks import StepEvents, make_task
from envs.blockworld.textures import make_textures
from envs.blockworld.worldgen import generate_world, spawn_point

REACH = 4.5
REPEAT_TICKS = 4
WORLD_CACHE = 4  # generated worlds kept per env, so resets to a known seed skip generation

Edit = tuple[int, int, int, int, int, int]


@dataclass
class BlockWorldState:
    """A full deep copy of the simulation (from `save_state`)."""

    voxels: np.ndarray
    player: Player
    inventory: Inventory
    edits: list[Edit]
    tick: int
    world_seed: int
    rng_state: dict[str, Any]
    task: Any
    frame: tuple[np.ndarray, np.ndarray, np.ndarray] | None


class BlockWorldEnv(gym.Env):
    """Gymnasium env `BlockWorld-v0`; kwargs are validated by BlockWorldConfig (see config.py)."""

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": physics.TICK_HZ}

    def __init__(self, **kwargs: Any) -> None:
        self.cfg = BlockWorldConfig.from_kwargs(**kwargs)
        self.render_mode = self.cfg.render_mode
        self.task = make_task(self.cfg.task, self.cfg.task_kwargs)
        h, w = self.cfg.height, self.cfg.width
        self.observation_space = gym.spaces.Box(0, 255, shape=(h, w, 3), dtype=np.uint8)
        self.action_space = action_space()
        self.textures = make_textures()
        self.hud = Hud(w, h, self.textures) if self.cfg.hud else None
        self._worlds: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.voxels = np.zeros(self.cfg.world_size, dtype=np.uint8)
        self.solid = np.zeros(self.cfg.world_size, dtype=bool)
        self.player = Player()
        self.inventory = Inventory()
        self.edits: list[Edit] = []
        self.tick = 0
        self.world_seed = 0
        self._frame: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # rgb (with HUD), depth, ids
        self._window: Any = None
        self._started = False

    # ----------------------------------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """New episode; the world is generated from `seed` (or from the env's RNG when seed is None)."""
        super().reset(seed=seed)
        self.world_seed = int(seed) if seed is not None else int(self.np_random.integers(0, 2**31 - 1))
        voxels, spawn = self._world(self.world_seed)
        self.voxels = voxels.copy()
        self.solid = SOLID[self.voxels]
        yaw = float(self.np_random.integers(0, 24)) * 15.0 - 180.0
        self.player = Player(position=spawn.copy(), yaw=yaw)
        self.player.on_ground = physics.supported(self.solid, self.player.position)
        self.inventory = Inventory()
        self.edits = []
        self.tick = 0
        if self.task is not None:
            self.task.reset()
            self.task.start(self.voxels, self.player.position)
        self._started = True
        obs = self.observe()
        if self.render_mode == "human":
            self.render()
        return obs, self._info()

    def step(self, action: dict[str, Any]) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Advance one tick with a canonical action dict (ValueError naming a bad key)."""
        if not self._started:
            raise RuntimeError("BlockWorld: call reset() before step()")
        act = validate_action(action)
        self.tick += 1
        p = self.player
        p.pitch = min(max(p.pitch + float(act["camera"][0]), -90.0), 90.0)
        p.yaw = wrap_yaw(p.yaw + float(act["camera"][1]))
        for slot, key in enumerate(HOTBAR):
            if act[key]:
                self.inventory.selected = slot
                break
        physics.step_player(p, self.solid, self.voxels, act, WATER)
        events = StepEvents(self.tick)
        if self._repeat("attack_cooldown", act["attack"]):
            self._attack(events)
        if self._repeat("use_cooldown", act["use"]):
            self._use(events)
        reward, terminated = self.task.step(events) if self.task is not None else (0.0, False)
        limit = self.cfg.max_episode_steps
        truncated = limit > 0 and self.tick >= limit
        obs = self.observe()
        if self.render_mode == "human":
            self.render()
        return obs, float(reward), bool(terminated), bool(truncated), self._info()

    def render(self) -> np.ndarray | None:
        """rgb_array: the last observation; human: show it in a pygame window (pygame imported lazily)."""
        if self._frame is None:
            self.observe()
        assert self._frame is not None
        if self.render_mode == "rgb_array":
            return self._frame[0].copy()
        if self.render_mode == "human":
            self._show(self._frame[0])
        return None

    def close(self) -> None:
        """Close the human window if one is open."""
        if self._window is not None:
            import pygame

            pygame.display.quit()
            self._window = None

    # --------------------------------------------------------------------------------- ground truth
    def observe(self) -> np.ndarray:
        """Render the current view (keeping depth and block ids for ground_truth) and return the observation."""
        eye = self.player.eye()
        sx, _, sz = self.voxels.shape
        eye[0] = min(max(eye[0], 1e-3), sx - 1e-3)  # keep the camera inside the world box sideways
        eye[2] = min(max(eye[2], 1e-3), sz - 1e-3)
        eye[1] = max(eye[1], 1e-3)  # above the box is fine: the renderer clips rays to it
        cfg = self.cfg
        rgb, depth, ids = render(
            self.voxels, self.textures, eye, self.player.yaw, self.player.pitch, cfg.width, cfg.height,
            float(cfg.fov_deg), cfg.fog,
        )
        if self.hud is not None:
            self.hud.draw(rgb, self.inventory)
        self._frame = (rgb, depth, ids)
        return rgb

    def ground_truth(self) -> dict[str, Any]:
        """Depth (H,W) float32, block_ids (H,W) uint8 of the current view, pose, edits, inventory, slot."""
        if self._frame is None:
            self.observe()
        assert self._frame is not None
        return {
            "depth": self._frame[1].copy(),
            "block_ids": self._frame[2].copy(),
            "pose": self.player.pose(),
            "edits": list(self.edits),
            "inventory": self.inventory.counts(),
            "selected_slot": self.inventory.selected,
        }

    # ------------------------------------------------------------------------------------ scripting
    def set_pose(self, position: Sequence[float], yaw_deg: float, pitch_deg: float) -> None:
        """Teleport the player's feet to `position` and set the view (ground_truth/render re-render lazily)."""
        pos = np.asarray(position, dtype=np.float64)
        if pos.shape != (3,) or not np.all(np.isfinite(pos)):
            raise ValueError(f"set_pose: 'position' must be 3 finite numbers, got {position!r}")
        if not (math.isfinite(yaw_deg) and math.isfinite(pitch_deg)):
            raise ValueError(f"set_pose: 'yaw_deg'/'pitch_deg' must be finite, got {yaw_deg!r}, {pitch_deg!r}")
        physics.clamp_position(pos, self.voxels.shape)
        p = self.player
        p.position, p.velocity = pos, np.zeros(3)
        p.yaw, p.pitch = wrap_yaw(float(yaw_deg)), min(max(float(pitch_deg), -90.0), 90.0)
        p.on_ground = physics.supported(self.solid, pos)
        self._frame = None

    def get_block(self, cell: Sequence[int]) -> int:
        """Block id at an integer cell (ValueError outside the grid)."""
        return int(self.voxels[self._cell(cell)])

    def set_block(self, cell: Sequence[int], block_id: int) -> int:
        """Set a cell (logged as an edit at the current tick) and return the old id."""
        if not 0 <= int(block_id) < NUM_BLOCKS:
            raise ValueError(f"set_block: 'block_id' must be in [0, {NUM_BLOCKS}), got {block_id!r}")
        old = self._edit(self._cell(cell), int(block_id))
        self._frame = None
        return old

    def remove_block(self, cell: Sequence[int]) -> int:
        """Set a cell to AIR; returns the old id."""
        return self.set_block(cell, AIR)

    def save_state(self) -> BlockWorldState:
        """Deep copy of everything that affects future frames (voxels, player, inventory, edits, tick, RNG)."""
        frame = None if self._frame is None else tuple(a.copy() for a in self._frame)
        return BlockWorldState(
            self.voxels.copy(), self.player.copy(), self.inventory.copy(), list(self.edits), self.tick,
            self.world_seed, copy.deepcopy(self.np_random.bit_generator.state), copy.deepcopy(self.task), frame,  # type: ignore[arg-type]
        )

    def restore_state(self, state: BlockWorldState) -> None:
        """Return to a saved state (the state stays reusable); later frames are bit-identical."""
        if not isinstance(state, BlockWorldState):
            raise ValueError(f"restore_state: 'state' must come from save_state(), got {type(state).__name__}")
        if state.voxels.shape != self.voxels.shape:
            raise ValueError(f"restore_state: 'state' has world size {state.voxels.shape}, env has {self.voxels.shape}")
        self.voxels = state.voxels.copy()
        self.solid = SOLID[self.voxels]
        self.player = state.player.copy()
        self.inventory = state.inventory.copy()
        self.edits = list(state.edits)
        self.tick = state.tick
        self.world_seed = state.world_seed
        self.np_random.bit_generator.state = copy.deepcopy(state.rng_state)
        self.task = copy.deepcopy(state.task)
        self._frame = None if state.frame is None else tuple(a.copy() for a in state.frame)  # type: ignore[assignment]
        self._started = True

    # ------------------------------------------------------------------------------------ internals
    def _world(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        key = (seed, self.cfg.world_size)
        if key in self._worlds:
            self._worlds.move_to_end(key)
        else:
            voxels = generate_world(seed, self.cfg.world_size)
            self._worlds[key] = (voxels, np.asarray(spawn_point(voxels, seed), dtype=np.float64))
            if len(self._worlds) > WORLD_CACHE:
                self._worlds.popitem(last=False)
        return self._worlds[key]

    def _info(self) -> dict[str, Any]:
        info = {"tick": self.tick, "pose": self.player.pose(), "inventory_count": self.inventory.total()}
        if self.task is not None:
            info.update(self.task.info(self.voxels, self.player.position))
        return info

    def _cell(self, cell: Sequence[int]) -> tuple[int, int, int]:
        c = tuple(int(v) for v in np.asarray(cell).reshape(-1))
        if len(c) != 3 or not all(0 <= v < n for v, n in zip(c, self.voxels.shape)):
            raise ValueError(f"'cell' must be 3 ints inside the world {self.voxels.shape}, got {cell!r}")
        return c  # type: ignore[return-value]

    def _edit(self, cell: tuple[int, int, int], new: int) -> int:
        old = int(self.voxels[cell])
        self.voxels[cell] = new
        self.solid[cell] = SOLID[new]
        self.edits.append((self.tick, *cell, old, new))
        return old

    def _repeat(self, name: str, pressed: int) -> bool:
        """Button repeat: act on a fresh press, then every REPEAT_TICKS ticks while held."""
        if not pressed:
            setattr(self.player, name, 0)
            return False
        left = getattr(self.player, name)
        if left > 0:
            left -= 1
            setattr(self.player, name, left)
            if left > 0:
                return False
        setattr(self.player, name, REPEAT_TICKS)
        return True

    def _target(self) -> tuple[bool, np.ndarray, np.ndarray]:
        hit, cell, normal, _ = raycast(self.voxels, self.player.eye(), self.player.forward(), REACH)
        return bool(hit), np.asarray(cell, dtype=np.int64), np.asarray(normal, dtype=np.int64)

    def _attack(self, events: StepEvents) -> None:
        hit, cell, _ = self._target()
        if not hit:
            return
        c = (int(cell[0]), int(cell[1]), int(cell[2]))
        block = int(self.voxels[c])
        if not BREAKABLE[block]:
            return
        self._edit(c, AIR)
        events.mined.append(block)
        if self.inventory.add(block):
            events.collected.append(block)

    def _use(self, events: StepEvents) -> None:
        block = self.inventory.selected_block()
        if block == AIR:
            return
        hit, cell, normal = self._target()
        if not hit or not normal.any():
            return
        target = cell + normal
        t = (int(target[0]), int(target[1]), int(target[2]))
        if not all(0 <= v < n for v, n in zip(t, self.voxels.shape)):
            return
        if self.voxels[t] not in (AIR, WATER) or physics.intersects_player(self.player.position, target):
            return
        self.inventory.take_selected()
        self._edit(t, block)
        events.placed.append(block)

    def _show(self, rgb: np.ndarray) -> None:
        import pygame  # human mode only: envs never import pygame at module level

        scale = self.cfg.human_scale
        size = (rgb.shape[1] * scale, rgb.shape[0] * scale)
        if self._window is None:
            pygame.display.init()
            pygame.display.set_caption("BlockWorld-v0")
            self._window = (pygame.display.set_mode(size), pygame.time.Clock())
        screen, clock = self._window
        surface = pygame.surfarray.make_surface(np.ascontiguousarray(rgb.transpose(1, 0, 2)))  # (W, H, 3)
        screen.blit(pygame.transform.scale(surface, size), (0, 0))
        pygame.event.pump()
        pygame.display.flip()
        clock.tick(self.metadata["render_fps"])
