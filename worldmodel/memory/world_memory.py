"""WorldMemory: the spatial memory as a rollout drives it: poses from actions and the geometry heads, frames in
with depth, the remembered view out.

Per world it keeps a pose (B, 5) [x, y, z, yaw, pitch] in the prompt's own frame (the first prompt frame stands at
the origin, level), the time, and the newest frame. Rotation comes from the camera actions (exact); translation
from the geometry heads (`geometry_heads.py`): the odometry net where both frames are real (prompt, `observe`), the
motion net (frame before + action) on open-loop steps, where the next frame is still to be made.

    start(frames, buttons, camera)   every prompt frame goes in (a prompt may be longer than the dynamics' window)
    step(predicted, buttons, camera, known) -> shown
        the pose moves; the memory is rendered at it; wherever it remembers a surface the remembered pixel is shown,
        elsewhere the model's prediction, which is then stored for later (generated content stays put once made).
        Edits: on attack / use, the prediction wins around the crosshair and overwrites what was stored there.
    observe(frames)                  a real frame: the pose is refined and the frame overwrites (newest wins)

Unknown actions (camera unknown) lose the pose: that world stops recalling until its next start. The engine
(`worldmodel/rollout/engine.py`) re-encodes the shown frame as the next step's context, so the dynamics sees what
the memory recalled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from worldmodel.memory.camera import Camera
from worldmodel.memory.collide import slide, wall_tangent
from worldmodel.memory.geometry_heads import GeometryObjective, action_features, blur_frames
from worldmodel.memory.pointmap import MemoryState, SpatialMemory
from worldmodel.memory.splat import Recall
from worldmodel.memory.top_down import top_down
from worldmodel.precision import nets_autocast
from worldmodel.tokenizer.model import float_to_frames
from worldmodel.memory.sky import SkyMap

ATTACK, USE = 7, 8  # indices of the edit buttons in envs.actions.BUTTONS (a test checks they agree)
WALLS = ("pass", "slide", "stop")  # MemoryConfig.walls
MOVES = slice(0, 5)  # forward, back, left, right, jump: the buttons that move the player


@dataclass
class MemoryConfig:
    """How a world model uses its spatial memory (the `memory` section of a model's config.json)."""

    capacity: int = 65536
    """Stored cells per world (memory and time stay flat however long the rollout)."""
    cell_size: float = 0.125
    """Side of a stored cell in blocks (0.125 = one BlockWorld texel)."""
    fov_deg: float = 70.0
    """Vertical field of view of the frames (BlockWorld's default)."""
    edit_radius: float = 0.2
    """On attack / use, the prediction wins within this fraction of the image size around the crosshair."""
    edit_ticks: int = 8
    """... for this many ticks from the action (the dynamics may show the edit late; there the decoder's frame is
    shown, not the fused one). Edits probe on held-out worlds (`--seeds 8 --seed 7`): 3 ticks 0.15, 5 0.24, 8 0.26;
    bench quality the same for 5 and 8."""
    walls: str = "pass"
    """Open loop, what a remembered real surface ahead does to a walk. 'pass' (default): nothing; the motion net,
    which sees the wall in the shown frame, slows by itself. 'slide': the body stops `body_radius` short of it and
    slides along it where it is one flat face (collide.py). 'stop': stops there dead. Measured on the loop probe
    (held-out worlds, `wm probe --suite loop --seed 1 --seeds 4`): pass 0.72, slide 0.64, stop 0.58 (seed 2:
    pass 0.77, stop 0.62): the pose estimate is not exact, and a rule that stops it where the true player slid past
    a corner or jumped onto a step keeps it stuck for the rest of the walk. Walking straight into a real wall, the
    final frame is as good with pass as with stop (docs/results.md, "Walls")."""
    body_radius: float = 0.35
    """With walls 'slide' or 'stop': how far (blocks) short of a remembered surface ahead the player stops."""
    sky_threshold: float = 0.5
    """A pixel whose sky probability exceeds this has no surface (stored as nothing)."""
    made_up_ahead: float = 1.0
    """Open loop, when less than this share of the view ahead of the body shows remembered real surfaces (the rest
    made up), the motion net reads a blurred frame and goes by the action (it was trained so, `motion_blur`)
    instead of slowing down in front of imagined walls. 1 (default): unless all of it is real; 0: never. On
    tuning seeds the walk-loop pose error went 0.74 -> 0.30 blocks (0.5: 0.46, always: 0.52)."""


    def __post_init__(self) -> None:
        if self.walls not in WALLS:
            raise ValueError(f"memory.walls must be one of {WALLS}, got {self.walls!r}")


@dataclass
class MemorySnapshot:
    """A WorldMemory's state: stored cells, poses, times, the newest frames, the last step's start."""

    cells: MemoryState
    imagined: MemoryState
    sky: tuple[Tensor, Tensor]
    pose: Tensor
    time: Tensor
    last: Tensor
    lost: Tensor
    before: tuple[Tensor, Tensor, Tensor] | None  # pose, frame, camera before the last open-loop step
    buttons: Tensor  # (B, 18) the buttons of the last open-loop step
    edit_left: Tensor  # (B,) ticks an edit may still show
    ahead: Tensor  # (B,) free distance in front of the body in the newest frame (blocks)
    seen_ahead: Tensor  # (B,) share of the view ahead of the body that the newest frame shows from real memory
    wall: Tensor  # (B, 2) direction (world x, z) of the nearest wall ahead in the newest frame (zeros: none clear)

    def copy(self) -> MemorySnapshot:
        """An independent copy."""
        before = None if self.before is None else tuple(x.clone() for x in self.before)
        return MemorySnapshot(self.cells.clone(), self.imagined.clone(), (self.sky[0].clone(), self.sky[1].clone()),
                              self.pose.clone(),
                              self.time.clone(), self.last.clone(), self.lost.clone(), before, self.buttons.clone(),
                              self.edit_left.clone(), self.ahead.clone(),
                              self.seen_ahead.clone(), self.wall.clone())  # type: ignore[arg-type]


def turn_pose(pose: Tensor, camera: Tensor) -> Tensor:
    """Poses (B, 5) turned by camera (B, 2) [delta pitch, delta yaw] degrees (pitch clamped like BlockWorld)."""
    out = pose.clone()
    out[:, 3] = torch.remainder(pose[:, 3] + camera[:, 1] + 180.0, 360.0) - 180.0
    out[:, 4] = (pose[:, 4] + camera[:, 0]).clamp(-90.0, 90.0)
    return out


def move_pose(pose: Tensor, move: Tensor) -> Tensor:
    """Poses (B, 5) whose feet moved by move (B, 3) = (forward, up, right) in the frame of the pose's yaw."""
    yaw = torch.deg2rad(pose[:, 3])
    out = pose.clone()
    out[:, 0] += -move[:, 0] * torch.sin(yaw) - move[:, 2] * torch.cos(yaw)
    out[:, 1] += move[:, 1]
    out[:, 2] += move[:, 0] * torch.cos(yaw) - move[:, 2] * torch.sin(yaw)
    return out


class WorldMemory:
    """Spatial memory of B worlds driven by a rollout (see the module docstring)."""

    def __init__(self, geometry: GeometryObjective, height: int, width: int, batch: int, device: torch.device,
                 cfg: MemoryConfig | None = None, ignore: Tensor | None = None) -> None:
        self.cfg = cfg or MemoryConfig()
        self.geometry = geometry.to(device).eval()
        self.camera = Camera(width, height, self.cfg.fov_deg)
        self.cells, self.imagined = (SpatialMemory(self.camera, batch, self.cfg.capacity, self.cfg.cell_size,
                                                   ignore=ignore, device=device) for _ in range(2))
        self.sky = SkyMap(self.camera, batch, device)
        self.batch, self.device = batch, device
        self.pose = torch.zeros(batch, 5, device=device)
        self.time = torch.zeros(batch, dtype=torch.int64, device=device)
        self.last = torch.zeros(batch, height, width, 3, dtype=torch.uint8, device=device)
        self.lost = torch.zeros(batch, dtype=torch.bool, device=device)
        self.before: tuple[Tensor, Tensor, Tensor] | None = None
        self.buttons = torch.zeros(batch, 18, device=device)
        self.edit_left = torch.zeros(batch, dtype=torch.int64, device=device)  # ticks an edit may still show
        self.ahead = torch.full((batch,), math.inf, device=device)  # free distance in front of the body
        self.seen_ahead = torch.ones(batch, device=device)  # share of the view ahead shown from real memory
        self.wall = torch.zeros(batch, 2, device=device)  # direction of the nearest wall ahead (collide.py)
        self.body = self._body_zone(height, width)
        self.wall_zone = self._body_zone(height, width, half_width=0.3)
        self.hud = self.cells.ignore
        self.edit_zone = self._edit_zone(height, width)
        self.dtype: torch.dtype | None = None  # autocast of the geometry heads (bf16 inference; None = fp32)

    def _body_zone(self, height: int, width: int, half_width: float = 0.12) -> Tensor:
        """Bool (H, W): the pixels straight ahead of the body, from eye level down to the feet (a wall there
        blocks a forward walk); half_width: of the image's width, either side of the centre."""
        rows = torch.arange(height, device=self.device)[:, None] / height
        cols = (torch.arange(width, device=self.device)[None, :] + 0.5) / width
        return (rows >= 0.45) & (rows <= 0.8) & ((cols - 0.5).abs() <= half_width)

    def _free_ahead(self, depth: Tensor) -> tuple[Tensor, Tensor]:
        """Free distance (B,) in front of the body from a view's depth (B, H, W) seen from `self.pose` (inf where
        unknown or sky), and the direction (B, 2) of the wall there (collide.py: a walk slides along it)."""
        wall = torch.zeros_like(self.wall)  # only 'slide' reads it: no work on the default path
        if self.cfg.walls == "slide":
            points = self.camera.unproject(torch.where(torch.isfinite(depth), depth, 0.0), self.pose)  # (B, H, W, 3)
            wall = wall_tangent(points, depth, self.wall_zone)
        return torch.where(self.body, depth, torch.inf).flatten(1).amin(1), wall

    def _edit_zone(self, height: int, width: int) -> Tensor:
        """Bool (H, W): the pixels around the crosshair an edit may change."""
        rows = (torch.arange(height, device=self.device) - (height - 1) / 2).abs()[:, None]
        cols = (torch.arange(width, device=self.device) - (width - 1) / 2).abs()[None, :]
        return torch.maximum(rows / height, cols / width) <= self.cfg.edit_radius

    # ------------------------------------------------------------------------------------------- geometry
    @torch.no_grad()
    def depth(self, frames: Tensor) -> Tensor:
        """Depth (B, H, W) of frames uint8 (B, H, W, 3) from the depth net (inf where it sees sky)."""
        with nets_autocast(self.device, self.dtype):
            depth, sky_logit = self.geometry.depth(frames.to(self.device))
        depth, sky_logit = depth.float(), sky_logit.float()
        sky = torch.sigmoid(sky_logit) > self.cfg.sky_threshold
        return torch.where(sky, math.inf, depth)

    def _odometry(self, before: Tensor, after: Tensor, action: Tensor) -> Tensor:
        """The move (B, 3) between two real frames (B, H, W, 3) under action features (B, 20), from the odometry net."""
        with nets_autocast(self.device, self.dtype):
            return self.geometry.odometry(before, after, action).float()

    def _write(self, frames: Tensor, pose: Tensor, worlds: Tensor | None = None, depth: Tensor | None = None,
               mask: Tensor | None = None, real: bool = True) -> Tensor:
        """Store frames (B, H, W, 3) seen from pose (B, 5) now, in the worlds where `worlds` (B,) bool. Real
        frames go into `cells` and clear what the model imagined along their rays; made-up ones into `imagined`.
        Returns the depth used (B, H, W)."""
        depth = self.depth(frames) if depth is None else depth
        use = ~self.hud.expand_as(depth) if mask is None else mask & ~self.hud
        if worlds is not None:
            use = use & worlds[:, None, None]
        if real:
            self.imagined.clear(depth, pose, use)
        # made-up content fills only pixels where nothing stored showed: nothing in front of it to carve (measured:
        # carving there removed no cell in 150 made-up writes), which saves a third of a step's memory work
        (self.cells if real else self.imagined).write(frames, depth, pose, self.time, use, carve=real)
        self.sky.write(frames, use & torch.isinf(depth), pose)
        return depth

    # ---------------------------------------------------------------------------------------------- start
    @torch.no_grad()
    def start(self, frames: Tensor, buttons: Tensor | None, camera: Tensor | None,
              worlds: Tensor | None = None) -> None:
        """Forget, then store every prompt frame uint8 (B, T, H, W, 3) at poses integrated from the T-1 actions
        buttons (B, T-1, 18) and camera (B, T-1, 2) (None = unknown: only the newest frame goes in). worlds (K,):
        restart only those worlds (frames, buttons, camera then have K rows)."""
        frames = frames.to(self.device)
        index = torch.arange(self.batch, device=self.device) if worlds is None else worlds.to(self.device)
        chosen = torch.zeros(self.batch, dtype=torch.bool, device=self.device)
        chosen[index] = True
        self.cells.reset_worlds(index)
        self.imagined.reset_worlds(index)
        self.sky.reset_worlds(index)
        self.time[index], self.lost[index], self.edit_left[index] = 0, False, 0
        self.pose[index] = 0.0
        if worlds is None:
            self.before = None
        t = frames.shape[1]
        if buttons is None or camera is None:
            frames, t = frames[:, -1:], 1
        pose = torch.zeros(index.numel(), 5, device=self.device)
        for i in range(t):
            if i:
                action = action_features(buttons[:, i - 1], camera[:, i - 1]).to(self.device)
                move = self._odometry(frames[:, i - 1], frames[:, i], action)
                pose = move_pose(turn_pose(pose, camera[:, i - 1].to(self.device)), move)
            self.pose[index] = pose
            self.last[index] = frames[:, i]
            ahead, wall = self._free_ahead(self._write(self.last, self.pose, chosen))
            self.ahead[index], self.wall[index] = ahead[index], wall[index]
            self.seen_ahead[index] = 1.0
            self.time[index] += 1

    def _recall(self) -> tuple[Recall, Tensor]:
        """What the worlds remember at their poses: real surfaces first, then the sky seen in that direction, then
        what the model made up earlier (made-up content never hides what was seen); and the depth (B, H, W) of
        the real surfaces alone (inf elsewhere)."""
        real = self.cells.render(self.pose, self.time)
        sky_rgb, sky_known = self.sky.render(self.pose)
        sky = ~real.valid & sky_known
        use_real = real.valid | sky
        if bool((use_real | self.hud).all()):  # everything in view was seen: nothing made up can show
            return real._replace(rgb=torch.where(sky[..., None], sky_rgb, real.rgb), valid=use_real,
                                 depth=torch.where(sky, torch.inf, real.depth)), real.depth
        made_up = self.imagined.render(self.pose, self.time)
        merged = Recall(*(torch.where(use_real[..., None] if x.ndim == 4 else use_real, x, y)
                          for x, y in zip(real, made_up)))
        return merged._replace(rgb=torch.where(sky[..., None], sky_rgb, merged.rgb), valid=merged.valid | sky,
                               depth=torch.where(sky, torch.inf, merged.depth)), real.depth

    # ----------------------------------------------------------------------------------------------- step
    @torch.no_grad()
    def step(self, predicted: Tensor, buttons: Tensor, camera: Tensor, known: Tensor,
             decoded: Tensor | None = None) -> Tensor:
        """One open-loop tick: move the poses by the action (buttons (B, 18), camera (B, 2), known (B,)), show
        the remembered surfaces over the predicted frames uint8 (B, H, W, 3), store what is new. decoded (B, 3, H,
        W) float in about [-1, 1]: the decoder's frame before frame fusion, shown instead of `predicted` where an
        edit may show (the fusion net carries the previous frame's pixels, which hides a break or placement: edits
        probe 0.04 -> 0.26 on held-out worlds). Returns the shown frames (B, H, W, 3)."""
        predicted, buttons, camera = predicted.to(self.device), buttons.to(self.device), camera.to(self.device)
        known = known.to(self.device)
        action = action_features(buttons, camera)
        self.buttons = buttons.float()
        self.before = (self.pose.clone(), self.last.clone(), camera.clone())
        self.lost |= ~known
        moving = buttons[:, MOVES].amax(1, keepdim=True) > 0  # (B, 1): standing still (turning) moves nothing
        moved = turn_pose(self.pose, camera)
        if bool(moving.any()):
            frame = self.last
            made_up = self.seen_ahead < self.cfg.made_up_ahead  # (B,)
            if bool(made_up.any()):
                frame = torch.where(made_up[:, None, None, None], blur_frames(self.last), self.last)
            with nets_autocast(self.device, self.dtype):
                move = self.geometry.motion(frame, action).float() * moving
            if self.cfg.walls != "pass":  # walls remembered ahead stop a walk or turn it along them
                room = (self.ahead - self.cfg.body_radius).clamp_min(0.0)
                wall = self.wall if self.cfg.walls == "slide" else torch.zeros_like(self.wall)
                move = slide(move, room, wall, moved[:, 3])
            moved = move_pose(moved, move)
        self.pose = torch.where(known[:, None], moved, self.pose)
        recall, real_depth = self._recall()
        pressed = (buttons[:, ATTACK] > 0) | (buttons[:, USE] > 0)  # (B,)
        self.edit_left = torch.where(pressed, self.cfg.edit_ticks, (self.edit_left - 1).clamp_min(0))
        editing = self.edit_left > 0  # an edit may show a few ticks after its action
        edited = editing[:, None, None] & self.edit_zone  # (B, H, W)
        trust = recall.valid & ~self.hud & ~edited & ~self.lost[:, None, None]
        if decoded is not None and bool(editing.any()):
            predicted = torch.where(edited[..., None], float_to_frames(decoded).to(self.device), predicted)
        shown = torch.where(trust[..., None], recall.rgb, predicted)
        new = (~recall.valid | edited) & ~self.hud  # what the model made up: stored so that it stays
        if bool((new & ~self.lost[:, None, None]).any()):
            depth = torch.where(recall.valid & ~edited, recall.depth, self.depth(shown))
            self._write(shown, self.pose, ~self.lost, depth, new & ~edited, real=False)
            if bool(editing.any()):  # an edit is news about the world: it overwrites what was seen (newest wins)
                self._write(shown, self.pose, ~self.lost & editing, depth, edited)
        self.last = shown
        self.ahead, self.wall = self._free_ahead(real_depth)  # made-up walls do not stop a walk
        real_ahead = torch.isfinite(real_depth) & self.body  # (B, H, W)
        self.seen_ahead = real_ahead.flatten(1).float().mean(1) / self.body.float().mean()
        self.time += 1
        return shown

    @torch.no_grad()
    def observe(self, frames: Tensor) -> None:
        """The newest frames were real, uint8 (B, H, W, 3): refine the last move from both frames and store them
        over what the step remembered (newest observation wins)."""
        frames = frames.to(self.device)
        if self.before is not None:
            pose, before, camera = self.before
            move = self._odometry(before, frames, action_features(self.buttons, camera))
            self.pose = torch.where(self.lost[:, None], self.pose, move_pose(turn_pose(pose, camera), move))
        self.time -= 1  # the observed frame replaces the step's frame at the same time
        self.last = frames
        self.ahead, self.wall = self._free_ahead(self._write(frames, self.pose, ~self.lost))
        self.seen_ahead = torch.ones_like(self.seen_ahead)
        self.time += 1

    def map(self, world: int = 0, size: int = 96, radius: float = 24.0) -> Tensor:
        """uint8 (size, size, 3): world's memory seen from above around the player (`top_down.py`)."""
        return top_down(self.cells.state, self.imagined.state, self.pose, world, size, radius)

    # ---------------------------------------------------------------------------------------------- state
    def snapshot(self) -> MemorySnapshot:
        """A copy of the state; `restore` it any number of times."""
        return MemorySnapshot(self.cells.snapshot(), self.imagined.snapshot(), self.sky.state(), self.pose,
                              self.time, self.last, self.lost, self.before, self.buttons, self.edit_left,
                              self.ahead, self.seen_ahead, self.wall).copy()

    def restore(self, snap: MemorySnapshot) -> None:
        """Return to a snapshot (which stays intact)."""
        snap = snap.copy()
        self.cells.restore(snap.cells)
        self.imagined.restore(snap.imagined)
        self.sky.load(snap.sky)
        self.pose, self.time, self.last, self.lost = snap.pose, snap.time, snap.last, snap.lost
        self.before, self.buttons, self.edit_left, self.ahead = snap.before, snap.buttons, snap.edit_left, snap.ahead
        self.seen_ahead, self.wall = snap.seen_ahead, snap.wall
