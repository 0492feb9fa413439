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
import torch.nn.functional as F
from torch import Tensor

from worldmodel.geometry import box_crossing, inverse_rays, project
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


def crossings(entries: Entries, pose: Tensor, camera: Camera, cell_size: float) -> tuple[Crossings, Tensor]:
    """Every pixel ray of the views pose (B, 5) that passes through the box of one of the entries: a square stencil
    around each box centre's projection (sized by its depth), each stencil pixel's ray tested against the box.
    Boxes smaller than a pixel are left out (their rays mostly slip past): also returns which, small (P,) bool."""
    h, w, dev = camera.height, camera.width, entries.at.device
    eye, basis = camera.eye(pose).index_select(0, entries.world), camera.basis(pose).index_select(0, entries.world)
    low = torch.floor(entries.at / cell_size) * cell_size  # box corners
    row, col, z = (x[:, 0] for x in project((low + cell_size / 2)[:, :, None], eye, basis, h, w, camera.fov_deg))
    corner = math.sqrt(3) / 2 * cell_size
    half = corner * camera.focal / (z - corner).clamp_min(NEAR)  # box projection half-size bound, pixels
    k = torch.floor(half + 0.5).clamp(0, MAX_HALF).long()  # stencil half-size around the nearest pixel
    k = torch.where(k > 2, 1 << torch.log2(k.float()).ceil().long(), k)  # sizes 0, 1, 2, 4, 8: few stencils
    pixels, owners = [torch.zeros(0, dtype=torch.long, device=dev)], [torch.zeros(0, dtype=torch.long, device=dev)]
    for stencil in k.unique().tolist():  # one fixed-size stencil per size
        if stencil == 0:  # boxes under a pixel: drawn and carved as points (`landing`)
            continue
        sel = (k == stencil).nonzero()[:, 0]
        d = torch.arange(-stencil, stencil + 1, device=dev)
        r = row[sel].round().long()[:, None, None] + d[None, :, None]  # (S, K, 1)
        c = col[sel].round().long()[:, None, None] + d[None, None, :]  # (S, 1, K)
        s, i, j = ((r >= 0) & (r < h) & (c >= 0) & (c < w)).nonzero(as_tuple=True)  # the ray test does the rest
        pixels.append(entries.world[sel[s]] * h * w + r[s, i, 0] * w + c[s, 0, j])
        owners.append(sel[s])
    pixel, owner = torch.cat(pixels), torch.cat(owners)  # (Q,)
    inv = inverse_rays(camera.rays(pose)).reshape(-1, 3).index_select(0, pixel)  # (Q, 3)
    hit, enter, leave, axis = box_crossing((low - eye).index_select(0, owner), inv, cell_size)
    keep = hit.nonzero()[:, 0]
    return Crossings(*(x.index_select(0, keep) for x in (pixel, owner, enter, leave, axis))), k == 0


def select(entries: Entries, keep: Tensor) -> Entries:
    """The entries where keep (P,) bool."""
    return Entries(*(x[keep] for x in entries))


def behind(pixel: Tensor, distance: Tensor, depth: Tensor, camera: Camera, cell_size: float) -> Tensor:
    """Which entries (P,) lie wholly behind the surfaces depth (B, H, W) in all 3x3 pixels around where their points
    land (pixel, distance (P,) from `landing`): they can neither show nor be carved. Cells more than a pixel wide
    may reach past those 3x3 pixels, so they never count as behind."""
    farthest = F.max_pool2d(depth[:, None], 3, stride=1, padding=1).flatten()  # (B*H*W,)
    corner = math.sqrt(3) / 2 * cell_size
    narrow = corner * camera.focal < (distance - corner).clamp_min(NEAR)  # box under a pixel either side
    return narrow & (distance - 2 * corner > farthest.index_select(0, pixel) + 0.05)


def landing(entries: Entries, pose: Tensor, camera: Camera) -> tuple[Tensor, Tensor, Tensor]:
    """Where each entry's point lands: inside (P,) bool (in the image), flat pixel (P,) (0 where not inside) and
    the point's distance from the eye (P,)."""
    h, w = camera.height, camera.width
    r, c = entries.row.round().long(), entries.col.round().long()
    inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    pixel = torch.where(inside, entries.world * h * w + r * w + c, 0)
    return inside, pixel, (entries.at - camera.eye(pose).index_select(0, entries.world)).norm(dim=-1)


def splat(pos: Tensor, rgb: Tensor, time: Tensor, face: Tensor, live: Tensor, pose: Tensor, camera: Camera,
          cell_size: float, t: Tensor) -> Recall:
    """Render cells with points pos (B, 3, N) (channels first), colours rgb (B, N, 3) uint8, write times (B, N) and
    entry faces (B, N) (axis 0-2 the writing ray entered the cell through) where live (B, N), from pose (B, 5) at
    times t (B,). Two entries of one box (seen through two faces, e.g. at a block's edge) are told apart by the
    face each pixel's ray enters through."""
    b, h, w = pos.shape[0], camera.height, camera.width
    size = b * h * w
    entries = in_view(pos, live, pose, camera, cell_size)
    # Points landing in a pixel (cells smaller than a pixel, and where rays slip between cells)
    lands, land_pixel, land_distance = landing(entries, pose, camera)
    landed = _nearest(land_pixel[lands], land_distance[lands], entries.point[lands], size)
    land_d = torch.where(landed == NONE, torch.inf, (landed >> (INDEX_BITS + 1)).double() / QUANT)
    hidden = lands & behind(land_pixel, land_distance, land_d.float().view(b, h, w), camera, cell_size)
    entries = select(entries, ~hidden)
    ray, _ = crossings(entries, pose, camera, cell_size)
    point = entries.point.index_select(0, ray.entry)
    other_face = (ray.axis != face.flatten().index_select(0, point)).long()
    hits = _nearest(ray.pixel, ray.enter, point, size, other_face)
    hit_distance = torch.where(hits == NONE, torch.inf, (hits >> (INDEX_BITS + 1)).double() / QUANT)
    use_land = land_d < hit_distance - (DEPTH_TOL[0] + DEPTH_TOL[1] * land_d)
    best = torch.where(use_land, landed, hits)
    valid = best != NONE
    shown = torch.where(valid, best & ((1 << INDEX_BITS) - 1), 0)  # (B*H*W,) flat point index
    depth = torch.where(use_land, land_d, hit_distance).float()
    colour = torch.where(valid[:, None], rgb.reshape(-1, 3).index_select(0, shown), 0)
    age = torch.where(valid, t.repeat_interleave(h * w) - time.flatten().index_select(0, shown), -1)
    return Recall(colour.reshape(b, h, w, 3), valid.reshape(b, h, w), age.reshape(b, h, w), depth.reshape(b, h, w))
