"""Render stored cells into a view: each pixel's ray against the cell boxes near it, nearest box wins.

A stored entry stands for the box of its cell (side `cell_size`) and a point inside it (the mean of what was
seen there). Per pixel:

- hit: every box whose projection may cover the pixel (a square stencil sized by depth) is tested against the
  pixel's ray; the nearest box the ray enters gives colour and depth. A view seen before comes back exactly:
  its rays first enter the cells they saw.
- landed: a point that lands in the pixel (nearest pixel) but whose box no ray hits fills holes where cells
  are smaller than pixels (far surfaces seen from elsewhere); it wins only when clearly in front of any hit.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from worldmodel.geometry import project, ray_box
from worldmodel.memory.camera import Camera

MAX_HALF = 8  # stencil half-size cap in pixels ((2 * 8 + 1)^2 pixels)
NEAR = 0.05  # points nearer than this to the eye plane are not drawn
DEPTH_TOL = (0.25, 0.03)  # (absolute, relative): a landed point must be this much in front of the nearest hit
INDEX_BITS = 32  # a candidate's key: quantised distance above, flat point index below
QUANT = 1e4  # distance quantisation of the key (steps per world unit)
NONE = torch.iinfo(torch.int64).max


class Recall(NamedTuple):
    """What a memory shows from a view (B worlds)."""

    rgb: Tensor  # (B, H, W, 3) uint8 (0 where not valid)
    valid: Tensor  # (B, H, W) bool: some stored cell is seen in the pixel
    age: Tensor  # (B, H, W) int64: render time minus write time of the cell shown (-1 where not valid)
    depth: Tensor  # (B, H, W) float32: distance along the ray to the cell shown (inf where not valid)


def _nearest(pixel: Tensor, distance: Tensor, point: Tensor, size: int, tie: Tensor | None = None) -> Tensor:
    """Per pixel (size,) the flat point index with the smallest distance among candidates (NONE where none);
    among equal distances the smaller tie (Q,) in {0, 1} wins."""
    steps = (distance * QUANT).long().clamp(0, (1 << (61 - INDEX_BITS)) - 1) * 2
    key = ((steps if tie is None else steps + tie) << INDEX_BITS) | point
    best = torch.full((size,), NONE, dtype=torch.int64, device=pixel.device)
    return best.scatter_reduce(0, pixel, key, "amin")


class Entries(NamedTuple):
    """The stored entries that may show in a view, P of them (flat index b * N + i into the table)."""

    point: Tensor  # (P,) flat entry index
    world: Tensor  # (P,)
    at: Tensor  # (P, 3) stored position
    row: Tensor  # (P,) continuous pixel row of the position
    col: Tensor  # (P,)


class Crossings(NamedTuple):
    """Pixel rays that pass through the box of an entry, Q of them."""

    pixel: Tensor  # (Q,) flat pixel b * H * W + row * W + col
    entry: Tensor  # (Q,) index into the Entries
    enter: Tensor  # (Q,) distance along the ray where it enters the box
    leave: Tensor  # (Q,) ... and leaves it
    axis: Tensor  # (Q,) the box face it enters through


def in_view(pos: Tensor, live: Tensor, pose: Tensor, camera: Camera, cell_size: float) -> Entries:
    """The entries where live (B, N), positions pos (B, 3, N), whose box may cover a pixel seen from pose (B, 5)."""
    n, h, w = pos.shape[2], camera.height, camera.width
    row, col, z = camera.project(pos, pose)  # (B, N) each, every entry at once (no gathers over the table)
    margin = math.sqrt(3) * cell_size * camera.focal / z.clamp_min(NEAR) + 1.0  # box corners reach this far
    shown = live & (z > NEAR) & (row > -margin) & (row < h - 1 + margin) & (col > -margin) & (col < w - 1 + margin)
    point = shown.flatten().nonzero()[:, 0]
    world = point // n
    return Entries(point, world, pos[world, :, point % n], row.flatten().index_select(0, point),
                   col.flatten().index_select(0, point))


def crossings(entries: Entries, pose: Tensor, camera: Camera, cell_size: float) -> Crossings:
    """Every pixel ray of the views pose (B, 5) that passes through the box of one of the entries: a square stencil
    around each box centre's projection (sized by its depth), each stencil pixel's ray tested against the box."""
    h, w, dev = camera.height, camera.width, entries.at.device
    eye, basis = camera.eye(pose).index_select(0, entries.world), camera.basis(pose).index_select(0, entries.world)
    low = torch.floor(entries.at / cell_size) * cell_size  # box corners
    row, col, z = (x[:, 0] for x in project((low + cell_size / 2)[:, :, None], eye, basis, h, w, camera.fov_deg))
    corner = math.sqrt(3) / 2 * cell_size
    half = corner * camera.focal / (z - corner).clamp_min(NEAR)  # box projection half-size bound, pixels
    k = torch.floor(half + 0.5).clamp(0, MAX_HALF).long()  # stencil half-size around the nearest pixel
    pixels, owners = [torch.zeros(0, dtype=torch.long, device=dev)], [torch.zeros(0, dtype=torch.long, device=dev)]
    for stencil in k.unique().tolist():  # one fixed-size stencil per size
        sel = (k == stencil).nonzero()[:, 0]
        d = torch.arange(-stencil, stencil + 1, device=dev)
        r = row[sel].round().long()[:, None, None] + d[None, :, None]  # (S, K, 1)
        c = col[sel].round().long()[:, None, None] + d[None, None, :]  # (S, 1, K)
        reach = half[sel, None, None] + 0.5
        cover = ((r - row[sel, None, None]).abs() <= reach) & ((c - col[sel, None, None]).abs() <= reach)
        cover &= (r >= 0) & (r < h) & (c >= 0) & (c < w)
        s, i, j = cover.nonzero(as_tuple=True)
        pixels.append(entries.world[sel[s]] * h * w + r[s, i, 0] * w + c[s, 0, j])
        owners.append(sel[s])
    pixel, owner = torch.cat(pixels), torch.cat(owners)  # (Q,)
    rays = camera.rays(pose).reshape(-1, 3).index_select(0, pixel)  # (Q, 3)
    hit, enter, leave, axis = ray_box(eye.index_select(0, owner), rays, low.index_select(0, owner), cell_size)
    return Crossings(pixel[hit], owner[hit], enter[hit], leave[hit], axis[hit])


def splat(pos: Tensor, rgb: Tensor, time: Tensor, face: Tensor, live: Tensor, pose: Tensor, camera: Camera,
          cell_size: float, t: Tensor) -> Recall:
    """Render cells with points pos (B, 3, N) (channels first), colours rgb (B, N, 3) uint8, write times (B, N) and
    entry faces (B, N) (axis 0-2 the writing ray entered the cell through) where live (B, N), from pose (B, 5) at
    times t (B,). Two entries of one box (seen through two faces, e.g. at a block's edge) are told apart by the
    face each pixel's ray enters through."""
    b, h, w = pos.shape[0], camera.height, camera.width
    size = b * h * w
    entries = in_view(pos, live, pose, camera, cell_size)
    # Points landing in a pixel (the fallback where rays slip between cells smaller than a pixel)
    pr, pc = entries.row.round().long(), entries.col.round().long()
    lands = (pr >= 0) & (pr < h) & (pc >= 0) & (pc < w)
    land_distance = (entries.at - camera.eye(pose).index_select(0, entries.world)).norm(dim=-1)
    landed = _nearest((entries.world * h * w + pr * w + pc)[lands], land_distance[lands], entries.point[lands],
                      size)
    ray = crossings(entries, pose, camera, cell_size)
    point = entries.point.index_select(0, ray.entry)
    other_face = (ray.axis != face.flatten().index_select(0, point)).long()
    hits = _nearest(ray.pixel, ray.enter, point, size, other_face)
    hit_distance = torch.where(hits == NONE, torch.inf, (hits >> (INDEX_BITS + 1)).double() / QUANT)
    land_d = torch.where(landed == NONE, torch.inf, (landed >> (INDEX_BITS + 1)).double() / QUANT)
    use_land = land_d < hit_distance - (DEPTH_TOL[0] + DEPTH_TOL[1] * land_d)
    best = torch.where(use_land, landed, hits)
    valid = best != NONE
    shown = torch.where(valid, best & ((1 << INDEX_BITS) - 1), 0)  # (B*H*W,) flat point index
    depth = torch.where(use_land, land_d, hit_distance).float()
    colour = torch.where(valid[:, None], rgb.reshape(-1, 3).index_select(0, shown), 0)
    age = torch.where(valid, t.repeat_interleave(h * w) - time.flatten().index_select(0, shown), -1)
    return Recall(colour.reshape(b, h, w, 3), valid.reshape(b, h, w), age.reshape(b, h, w), depth.reshape(b, h, w))
