"""Training data for the probes' auxiliary models, rendered on the fly from BlockWorld (no dataset needed).

`ViewSampler` draws labelled views for the segmenter: random worlds, random standing poses on the surface,
random extra pillars and holes (so probe landmarks and edits are common), random hotbars, and the
ground-truth block-id buffer as the label. `Babbler` plays a seeded "babbling" policy (random held actions of
random length, covering every action the probes command) and yields transitions (frame t, frame t+1) labelled
with the actions that took effect (jump only from the ground, attack only when a block broke, ...), for the
inverse dynamics model. Both are deterministic for a seed. `ViewStream` and `TransitionStream` wrap them as
endless torch IterableDatasets, the form the Trainer (worldmodel/train/trainer.py) reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

from envs.actions import BUTTONS, HOTBAR, noop_action
from envs.blockworld import blocks as B
from envs.blockworld.env import BlockWorldEnv
from envs.blockworld.worldgen import surface_y

LANDMARK_BLOCKS = (B.GOLD, B.DIAMOND, *B.WOOLS)  # what the probes place as landmarks
PILLAR_BLOCKS = (*LANDMARK_BLOCKS, B.PLANKS, B.LOG, B.STONE, B.DIRT, B.SAND, B.COAL_ORE, B.IRON_ORE)
CAMERA_STEPS = (0.6, 1.6, 3.2, 5.8, 10.0)  # the world model's camera bin centres (dynamics/actions.py)
IDM_BUTTONS = ("forward", "back", "left", "right", "jump", "attack")
IDM_LABELS = IDM_BUTTONS + ("hotbar",)  # binary outputs of the IDM; "hotbar" = the selected slot changed
MOVE_MIN = 0.08  # blocks per tick along a movement key's direction for it to count (walking moves 0.216)


def random_inventory(env: BlockWorldEnv, rng: np.random.Generator) -> None:
    """Fill the hotbar with random blocks and select a random slot (so the HUD varies like real play)."""
    for slot in env.inventory.slots:
        if rng.random() < 0.5:
            slot[0], slot[1] = int(rng.choice(PILLAR_BLOCKS)), int(rng.integers(1, 70))
        else:
            slot[0], slot[1] = 0, 0
    env.inventory.selected = int(rng.integers(0, 9))


def decorate(env: BlockWorldEnv, rng: np.random.Generator, centre: np.ndarray, yaw: float) -> None:
    """Random pillars and holes in front of a pose, so landmark blocks and edits are not rare in training."""
    sx, sy, sz = env.voxels.shape
    for _ in range(int(rng.integers(0, 4))):
        angle = np.radians(yaw + rng.uniform(-40, 40))
        dist = rng.uniform(1.5, 9.0)
        x = int(np.clip(centre[0] - np.sin(angle) * dist, 1, sx - 2))
        z = int(np.clip(centre[2] + np.cos(angle) * dist, 1, sz - 2))
        top = surface_y(env.voxels, x, z)
        if rng.random() < 0.25 and top > 2:
            env.remove_block((x, top, z))  # a hole / broken block
            continue
        block = int(rng.choice(LANDMARK_BLOCKS if rng.random() < 0.6 else PILLAR_BLOCKS))
        for dy in range(1, int(rng.integers(1, 4)) + 1):
            if top + dy < sy - 1:
                env.set_block((x, top + dy, z), block)


class ViewSampler:
    """Labelled random views: `sample(n)` -> frames uint8 (n, H, W, 3), block ids uint8 (n, H, W)."""

    def __init__(self, seed: int, size: int = 64, views_per_world: int = 8) -> None:
        self.rng = np.random.default_rng(seed)
        self.env = BlockWorldEnv(width=size, height=size)
        self.views_per_world = views_per_world

    def sample(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n views from n / views_per_world fresh (decorated) worlds."""
        env, rng = self.env, self.rng
        frames, ids = [], []
        for i in range(n):
            if i % self.views_per_world == 0:
                env.reset(seed=int(rng.integers(0, 2**31 - 1)))
                sx, _, sz = env.voxels.shape
            x, z = rng.uniform(8, sx - 8), rng.uniform(8, sz - 8)
            feet = np.array([x, surface_y(env.voxels, int(x), int(z)) + 1.0, z])
            yaw = float(rng.uniform(-180, 180))
            pitch = float(np.clip(rng.normal(5.0, 22.0), -70, 80))
            if rng.random() < 0.7:  # pillars accumulate over the views of one world
                decorate(env, rng, feet, yaw)
            random_inventory(env, rng)
            env.set_pose(feet, yaw, pitch)
            frames.append(env.observe())
            ids.append(env.ground_truth()["block_ids"])
        return np.stack(frames), np.stack(ids)


@dataclass
class Transition:
    """A batch of labelled transitions: frames (n, 2, H, W, 3) uint8, buttons (n, len(IDM_LABELS)) float32,
    camera (n, 2) float32 [delta pitch, delta yaw] degrees actually applied."""

    frames: np.ndarray
    buttons: np.ndarray
    camera: np.ndarray


class Babbler:
    """Plays random held actions in BlockWorld; `sample(n)` -> a Transition batch (effective labels)."""

    def __init__(self, seed: int, size: int = 64, episode_len: int = 120) -> None:
        self.rng = np.random.default_rng(seed)
        self.env = BlockWorldEnv(width=size, height=size, max_episode_steps=0)
        self.episode_len = episode_len
        self.left = 0  # steps left in this episode
        self.hold = 0  # steps left of the current held action
        self.action = noop_action()
        self.first = True  # the current tick is the first of the held action

    def _new_episode(self) -> None:
        env, rng = self.env, self.rng
        env.reset(seed=int(rng.integers(0, 2**31 - 1)))
        pose = env.ground_truth()["pose"]
        decorate(env, rng, pose[:3], float(pose[3]))
        random_inventory(env, rng)
        self.left = self.episode_len

    def _new_action(self) -> None:
        """A random action held for 1-10 ticks: half the time one action type alone (as the probes command
        them), otherwise a random combination. One-shot keys (jump, attack, use, hotbar) act on the first tick."""
        rng = self.rng
        a = noop_action()
        alone = rng.random() < 0.5
        kind = rng.choice(["move", "yaw", "pitch", "jump", "attack", "hotbar", "idle"],
                          p=[0.3, 0.2, 0.12, 0.12, 0.1, 0.06, 0.1])
        if not alone or kind == "move":
            move = rng.random() if not alone else 0.38 * rng.random()
            for key, upper in (("forward", 0.15), ("back", 0.22), ("left", 0.30), ("right", 0.38)):
                if move < upper:
                    a[key] = 1
                    break
            a["sprint"] = int(a["forward"] and rng.random() < 0.2)
            a["sneak"] = int(not alone and rng.random() < 0.04)
        if (not alone and rng.random() < 0.5) or kind == "yaw":
            a["camera"][1] = float(rng.choice(CAMERA_STEPS)) * float(rng.choice([-1, 1]))
        if (not alone and rng.random() < 0.25) or kind == "pitch":
            pitch = float(self.env.player.pitch)
            sign = -np.sign(pitch) if abs(pitch) > 50 else float(rng.choice([-1, 1]))
            a["camera"][0] = float(rng.choice(CAMERA_STEPS)) * sign
        a["jump"] = int((not alone and rng.random() < 0.12) or kind == "jump")
        a["attack"] = int((not alone and rng.random() < 0.1) or kind == "attack")
        a["use"] = int(not alone and rng.random() < 0.05)  # placing changes frames; not a label (no probe scores it)
        if (not alone and rng.random() < 0.06) or kind == "hotbar":
            a[HOTBAR[int(rng.integers(0, 9))]] = 1
        self.action = a
        self.hold = int(rng.integers(1, 11))
        self.first = True

    def step(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One labelled transition: (frame t, frame t+1, effective buttons, applied camera)."""
        if self.left <= 0:
            self._new_episode()
        if self.hold <= 0:
            self._new_action()
        env, act = self.env, dict(self.action)
        if not self.first:
            for key in ("jump", "attack", "use", *HOTBAR):  # one-shot keys: first tick only, sometimes held
                if self.rng.random() < 0.7:
                    act[key] = 0
        before = env.observe().copy()
        p0 = env.player
        on_ground, pitch0, yaw0 = p0.on_ground or p0.in_water, p0.pitch, p0.yaw
        p0_pos = p0.position.copy()
        n_edits, slot0 = len(env.edits), env.inventory.selected
        env.step(act)
        after = env.observe().copy()
        new_edits = env.edits[n_edits:]
        labels = np.zeros(len(IDM_LABELS), np.float32)
        # movement labels count only when the body moved that way (keys held against a wall show nothing)
        moved = env.player.position - p0_pos
        rad = np.radians(yaw0)
        fwd, right = np.array([-np.sin(rad), np.cos(rad)]), np.array([-np.cos(rad), -np.sin(rad)])
        along = {"forward": moved[[0, 2]] @ fwd, "back": -moved[[0, 2]] @ fwd, "left": -moved[[0, 2]] @ right,
                 "right": moved[[0, 2]] @ right}
        for i, key in enumerate(IDM_BUTTONS[:4]):
            labels[i] = float(act[key] and along[key] > MOVE_MIN)
        labels[4] = float(act["jump"] and on_ground)
        labels[5] = float(any(e[5] == B.AIR for e in new_edits))
        labels[6] = float(env.inventory.selected != slot0)
        dyaw = (env.player.yaw - yaw0 + 180.0) % 360.0 - 180.0
        camera = np.array([env.player.pitch - pitch0, dyaw], np.float32)
        self.hold -= 1
        self.left -= 1
        self.first = False
        return before, after, labels, camera

    def sample(self, n: int) -> Transition:
        """n consecutive labelled transitions (the policy carries on across calls)."""
        out = [self.step() for _ in range(n)]
        frames = np.stack([np.stack([o[0], o[1]]) for o in out])  # (n, 2, H, W, 3)
        return Transition(frames, np.stack([o[2] for o in out]), np.stack([o[3] for o in out]))


def _worker_seed(seed: int) -> int:
    """`seed` in the main process; a distinct seed per DataLoader worker (else every worker repeats one stream)."""
    worker = get_worker_info()
    return seed if worker is None else seed + 1_000_003 * (worker.id + 1)


class ViewStream(IterableDataset):
    """Endless labelled views of one ViewSampler: items {"frames": (H, W, 3) uint8, "block_ids": (H, W) uint8}.
    Each iteration restarts from `seed`, so the stream is the same every time."""

    def __init__(self, seed: int, size: int = 64, views_per_world: int = 8) -> None:
        super().__init__()
        self.seed, self.size, self.views_per_world = seed, size, views_per_world

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        sampler = ViewSampler(_worker_seed(self.seed), self.size, self.views_per_world)
        while True:
            frames, ids = sampler.sample(self.views_per_world)  # one world's views
            for frame, block_ids in zip(frames, ids):
                yield {"frames": frame, "block_ids": block_ids}


class TransitionStream(IterableDataset):
    """Endless labelled transitions of `players` independent Babblers taking turns, `chunk` consecutive
    transitions each, so a batch of players * chunk holds a run from every player. Items: {"frames": (2, H, W, 3)
    uint8, "buttons": (len(IDM_LABELS),) float32, "camera": (2,) float32 degrees}. Each iteration restarts from
    `seed` (player i plays seed * 1000 + i), so the stream is the same every time."""

    def __init__(self, seed: int, size: int = 64, players: int = 8, chunk: int = 8) -> None:
        super().__init__()
        self.seed, self.size, self.players, self.chunk = seed, size, players, chunk

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        seed = _worker_seed(self.seed)
        players = [Babbler(seed * 1000 + i, self.size) for i in range(self.players)]
        while True:
            for player in players:
                run = player.sample(self.chunk)
                for i in range(self.chunk):
                    yield {"frames": run.frames[i], "buttons": run.buttons[i], "camera": run.camera[i]}


def first_items(stream: IterableDataset, n: int) -> dict[str, np.ndarray]:
    """The first `n` items of a stream, stacked per key (e.g. label frequencies before training on it)."""
    items = list(islice(iter(stream), n))
    if not items:
        raise ValueError(f"{type(stream).__name__} yielded no items")
    return {key: np.stack([item[key] for item in items]) for key in items[0]}


assert set(IDM_BUTTONS) <= set(BUTTONS)
