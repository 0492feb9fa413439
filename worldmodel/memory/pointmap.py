"""SpatialMemory: per world a bounded, voxel-hashed map of the points shown so far, newest observation wins.

Every pixel with a depth becomes a world point (pushed `push` beyond its surface, so that a block face seen from
any side falls into cells of the block behind it); the points of one frame are merged per cell of `cell_size`
(mean position and colour) and written with the time `t`. Writing first carves free space: a stored cell that a
pixel ray of the new view passes through before reaching the surface it sees is removed, so a broken block
disappears once its place is seen again. HUD pixels (`ignore`) are neither stored nor used to carve.

The store of each world is a set-associative hash table of `capacity` entries, `ways` per set: a cell goes to the
set of its hash, into its own entry if present, else an empty way, else the oldest way of the set (so a full
memory forgets what it saw longest ago; "oldest" is exact within each set of `ways` entries, and sets fill
unevenly, so some evictions come before all `capacity` entries are used). Every tensor keeps its size for life.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from worldmodel.geometry import ray_box
from worldmodel.memory.camera import Camera
from worldmodel.memory.splat import Recall, behind, crossings, in_view, landing, select, splat

EMPTY = -1  # key of an unused entry
COORD_BITS = 20  # bits per cell coordinate in a key: cells in [-2^19, 2^19) on each axis; 2 bits of entry face
BIAS = 1 << (COORD_BITS - 1)
SORT_LAST = torch.iinfo(torch.int64).max  # key of a pixel that writes nothing (sorts after every real key)
CARVE_MARGIN = (0.02, 0.01)  # (absolute, relative): a ray must see this far past a cell's far side to clear it
FIB = 0x9E3779B97F4A7C15 - (1 << 64)  # Fibonacci hashing multiplier as a signed int64


@dataclass
class MemoryState:
    """The stored entries of B worlds, C = S sets * W ways each; entry i is way i % W of set i // W."""

    key: Tensor  # (B, C) int64 packed cell coordinates and entry face, EMPTY where unused
    pos: Tensor  # (B, 3, C) float32 world position (mean of the points written into the cell), channels first
    rgb: Tensor  # (B, C, 3) uint8
    time: Tensor  # (B, C) int64 time of the write

    def clone(self) -> "MemoryState":
        """An independent copy."""
        return MemoryState(**{f.name: getattr(self, f.name).clone() for f in fields(self)})


def _times(t: int | Tensor, batch: int, device: torch.device) -> Tensor:
    """Time of each world (B,) int64 from one int or a (B,) tensor."""
    return torch.as_tensor(t, dtype=torch.int64, device=device).expand(batch).contiguous()


def cell_keys(points: Tensor, face: Tensor, cell_size: float) -> tuple[Tensor, Tensor]:
    """Packed keys (...) int64 of world points (..., 3) in cells entered through face axes (...) (0-2), and whether
    each point is inside the key range."""
    cells = torch.floor(points / cell_size)
    inside = torch.isfinite(cells).all(-1) & (cells.abs() < BIAS - 1).all(-1)
    c = (torch.where(inside[..., None], cells, 0.0).long() + BIAS)
    packed = (c[..., 0] << (2 * COORD_BITS)) | (c[..., 1] << COORD_BITS) | c[..., 2]
    return (packed << 2) | face, inside


class SpatialMemory:
    """What B worlds have shown, placed in 3D: `write` frames with depth and pose, `render` any view."""

    def __init__(self, camera: Camera, batch: int, capacity: int = 65536, cell_size: float = 0.125,
                 ways: int = 16, ignore: Tensor | None = None, device: torch.device | str = "cpu",
                 push: float = 1e-3) -> None:
        """capacity entries per world (a multiple of `ways`, capacity / ways a power of two); ignore (H, W) bool:
        pixels never stored (the HUD, `blockworld_hud`); cell_size in world units (0.125 = one BlockWorld texel)."""
        sets = capacity // ways
        if capacity % ways or sets & (sets - 1) or sets < 1:
            raise ValueError(f"capacity / ways must be a power of two, got {capacity} / {ways}")
        self.camera, self.batch, self.capacity, self.cell_size = camera, batch, capacity, float(cell_size)
        self.sets, self.ways, self.push, self.device = sets, ways, float(push), torch.device(device)
        shape = (camera.height, camera.width)
        ignore = torch.zeros(shape, dtype=torch.bool) if ignore is None else ignore.bool()
        if ignore.shape != shape:
            raise ValueError(f"ignore must be (H, W) = {shape}, got {tuple(ignore.shape)}")
        self.ignore = ignore.to(self.device)
        dev = self.device
        self.state = MemoryState(
            key=torch.full((batch, capacity), EMPTY, dtype=torch.int64, device=dev),
            pos=torch.zeros(batch, 3, capacity, device=dev),
            rgb=torch.zeros(batch, capacity, 3, dtype=torch.uint8, device=dev),
            time=torch.zeros(batch, capacity, dtype=torch.int64, device=dev),
        )

    # ------------------------------------------------------------------------------------------------ state
    def count(self) -> Tensor:
        """Stored entries per world (B,) int64."""
        return (self.state.key != EMPTY).sum(1)

    def snapshot(self) -> MemoryState:
        """A copy of every world's entries; `restore` it any number of times."""
        return self.state.clone()

    def restore(self, snap: MemoryState) -> None:
        """Return to a snapshot (which stays intact), copying into the existing tensors."""
        for f in fields(MemoryState):
            getattr(self.state, f.name).copy_(getattr(snap, f.name))

    def copy(self) -> "SpatialMemory":
        """An independent memory with the same settings and entries."""
        out = SpatialMemory.__new__(SpatialMemory)
        out.__dict__.update(self.__dict__)
        out.state = self.state.clone()
        return out

    def reset_worlds(self, worlds: Tensor | list[int]) -> None:
        """Forget everything of worlds (K,); the others keep their entries."""
        index = torch.as_tensor(worlds, dtype=torch.long, device=self.device)
        self.state.key[index] = EMPTY
        self.state.pos[index] = 0.0
        self.state.rgb[index] = 0
        self.state.time[index] = 0

    # ------------------------------------------------------------------------------------------------ write
    def write(self, frames: Tensor, depth: Tensor, pose: Tensor, t: int | Tensor, mask: Tensor | None = None,
              carve: bool = True) -> None:
        """Store frames uint8 (B, H, W, 3) seen with depth (B, H, W) (euclidean along the ray; inf, nan or <= 0:
        no surface) from pose (B, 5) at time t (int or (B,)); mask (B, H, W) bool limits the pixels used
        (default all but `ignore`). Carves the free space the view sees through (unless carve=False: pixels where
        nothing stored shows, e.g. made-up content filling what the memory could not recall, have nothing in
        front of them to carve), then inserts its cells."""
        dev = self.device
        frames, pose = frames.to(dev), pose.to(dev, torch.float32)
        depth = depth.to(dev, torch.float32)
        times = _times(t, self.batch, dev)
        surface, seen = self._seen(depth, mask)
        if carve:
            self._carve(pose, seen)
        # float64: a point pushed 1e-3 past a face must land in the cell behind it at any distance
        rays = self.camera.rays(pose.double())  # (B, H, W, 3)
        eye = self.camera.eye(pose.double())[:, None, None].expand_as(rays)
        points = eye + (depth.double() + self.push)[..., None] * rays
        low = torch.floor(points / self.cell_size) * self.cell_size
        face = ray_box(eye, rays, low, self.cell_size)[3]  # (B, H, W) the cell face the ray entered through
        keys, inside = cell_keys(points, face, self.cell_size)
        points = points.float()
        self._insert(rearrange(torch.where(surface & inside, keys, SORT_LAST), "b h w -> b (h w)"),
                     rearrange(points, "b h w c -> b (h w) c"), rearrange(frames, "b h w c -> b (h w) c"), times)

    def _seen(self, depth: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """The pixels with a surface (B, H, W) bool and the distance each used ray sees (sky = max_depth, unused
        or unknown = 0) of depth (B, H, W) where mask (default all but `ignore`)."""
        use = ~self.ignore.expand_as(depth)
        if mask is not None:
            use = use & mask.to(self.device)
        surface = use & torch.isfinite(depth) & (depth > 0) & (depth < self.camera.max_depth)
        seen = torch.where(surface, depth, torch.where(use & ~(depth > 0), 0.0, self.camera.max_depth))
        return surface, torch.where(use, seen, 0.0)

    def clear(self, depth: Tensor, pose: Tensor, mask: Tensor | None = None) -> None:
        """Carve only: remove the stored cells that a view from pose (B, 5) with depth (B, H, W) sees through
        (as `write` does before it inserts), e.g. what another store saw for real."""
        self._carve(pose.to(self.device, torch.float32), self._seen(depth.to(self.device, torch.float32), mask)[1])

    def _carve(self, pose: Tensor, seen: Tensor) -> None:
        """Remove the stored cells that a pixel ray passes through before the surface it sees (B, H, W) (distance
        along the ray; sky = max_depth, unknown = 0): free space, e.g. where a block was broken. A cell smaller
        than a pixel goes when its point lands in front of the nearest surface seen in the 3x3 pixels around, so a
        far edge is not carved by the background beside it."""
        entries = in_view(self.state.pos, self.state.key != EMPTY, pose, self.camera, self.cell_size)
        lands, pixel, distance = landing(entries, pose, self.camera)
        keep = ~(lands & behind(pixel, distance, seen, self.camera, self.cell_size))  # hidden: nothing to carve
        entries, lands, pixel, distance = select(entries, keep), lands[keep], pixel[keep], distance[keep]
        ray, small = crossings(entries, pose, self.camera, self.cell_size)
        surface = seen.flatten().index_select(0, ray.pixel)  # (Q,)
        free = torch.zeros_like(small)
        free[ray.entry[surface > ray.leave + (CARVE_MARGIN[0] + CARVE_MARGIN[1] * surface)]] = True
        nearest = -F.max_pool2d(-seen[:, None], 3, stride=1, padding=1).flatten()  # (B*H*W,)
        surface = nearest.index_select(0, pixel)  # (P,)
        far_side = distance + math.sqrt(3) / 2 * self.cell_size + (CARVE_MARGIN[0] + CARVE_MARGIN[1] * surface)
        free |= small & lands & (surface > far_side)
        self.state.key.view(-1)[entries.point[free]] = EMPTY

    def _insert(self, keys: Tensor, points: Tensor, colours: Tensor, times: Tensor) -> None:
        """Merge per cell and insert: keys (B, N) (SORT_LAST = nothing), points (B, N, 3), colours (B, N, 3)."""
        b, n = keys.shape
        dev = keys.device
        keys, order = keys.sort(dim=1)
        points = torch.gather(points, 1, order[..., None].expand(-1, -1, 3))
        colours = torch.gather(colours, 1, order[..., None].expand(-1, -1, 3)).float()
        first = torch.ones_like(keys, dtype=torch.bool)
        first[:, 1:] = keys[:, 1:] != keys[:, :-1]
        segment = (first.cumsum(1) - 1 + torch.arange(b, device=dev)[:, None] * n).reshape(-1)  # (B*N,) cell id
        sums = torch.zeros(b * n, 7, device=dev).index_add_(
            0, segment, torch.cat([points.reshape(-1, 3), colours.reshape(-1, 3), torch.ones(b * n, 1, device=dev)],
                                  1))
        cell = (first & (keys != SORT_LAST)).reshape(-1)  # one row per written cell
        segment_of = segment[cell]
        mean = sums[segment_of, :6] / sums[segment_of, 6:]
        key, world = keys.reshape(-1)[cell], torch.arange(b, device=dev).repeat_interleave(n)[cell]  # (M,)
        self._place(key, world, mean[:, :3], mean[:, 3:].round().clamp(0, 255).to(torch.uint8), times[world])

    def _place(self, key: Tensor, world: Tensor, pos: Tensor, rgb: Tensor, time: Tensor) -> None:
        """Write M distinct cells (per world) into their sets: own entry, else empty, else oldest way."""
        st = self.state
        bits = self.sets.bit_length() - 1
        set_index = ((key * FIB) >> (64 - bits)) & (self.sets - 1) if bits else torch.zeros_like(key)
        group = world * self.sets + set_index  # (M,) flat set index
        table, stamps = st.key.view(-1, self.ways), st.time.view(-1, self.ways)  # (B*S, W)
        match = table[group] == key[:, None]  # (M, W)
        found = match.any(1)
        self._store(group * self.ways + match.long().argmax(1), found, key, pos, rgb, time)
        fresh = (~found).nonzero()[:, 0]
        if not fresh.numel():
            return
        # New cells: the k-th new cell of a set takes its k-th victim (empty ways first, then oldest; the ways
        # just refreshed above carry the newest time, so they come last); beyond `ways` new cells a set drops them.
        g, order = group[fresh].sort(stable=True)
        fresh = fresh[order]
        start = torch.ones_like(g, dtype=torch.bool)
        start[1:] = g[1:] != g[:-1]
        position = torch.arange(g.numel(), device=g.device)
        rank = position - torch.cummax(torch.where(start, position, 0), 0).values  # (F,) rank within its set
        keep = rank < self.ways
        g, fresh, rank = g[keep], fresh[keep], rank[keep]
        age = torch.where(table[g] == EMPTY, torch.iinfo(torch.int64).min, stamps[g])  # (F, W)
        way = torch.gather(age.argsort(dim=1, stable=True), 1, rank[:, None])[:, 0]
        chosen = torch.zeros_like(found)
        chosen[fresh] = True
        slot = torch.zeros_like(key)
        slot[fresh] = g * self.ways + way
        self._store(slot, chosen, key, pos, rgb, time)

    def _store(self, slot: Tensor, use: Tensor, key: Tensor, pos: Tensor, rgb: Tensor, time: Tensor) -> None:
        """Write cells where use (M,) into flat entries slot (M,)."""
        st, slot = self.state, slot[use]
        st.key.view(-1)[slot] = key[use]
        st.pos[slot // self.capacity, :, slot % self.capacity] = pos[use]
        st.rgb.view(-1, 3)[slot] = rgb[use]
        st.time.view(-1)[slot] = time[use]

    # ----------------------------------------------------------------------------------------------- render
    def render(self, pose: Tensor, t: int | Tensor) -> Recall:
        """What the memory shows from pose (B, 5) at time t: rgb uint8 (B, H, W, 3), valid (B, H, W) bool, age
        (B, H, W) int64 (t minus the write time; -1 where not valid) and depth (B, H, W) (inf where not valid)."""
        st = self.state
        pose = pose.to(self.device, torch.float32)
        return splat(st.pos, st.rgb, st.time, st.key & 3, st.key != EMPTY, pose, self.camera, self.cell_size,
                     _times(t, self.batch, self.device))
