"""The camera a spatial memory sees through: BlockWorld's pinhole camera on a player pose, in torch.

Pose (B, 5) = [x, y, z, yaw_deg, pitch_deg] as `BlockWorldEnv.ground_truth()["pose"]`: the feet position, the eye
`eye_height` above it; yaw 0 looks along +z, positive yaw turns right, positive pitch looks down
(`worldmodel.geometry.camera_basis`). `fov_deg` is the vertical field of view; depth is the euclidean distance
from the eye along a pixel's unit ray (BlockWorld's depth; inf where the ray sees sky).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from worldmodel.geometry import camera_basis, pixel_rays, project

EYE_HEIGHT = 1.62  # envs.blockworld.state.EYE_HEIGHT (a test checks they agree; the model does not import envs)
MAX_DEPTH = 64.0  # envs.blockworld.render.MAX_DIST: rays farther than this show sky


@dataclass(frozen=True)
class Camera:
    """Image size, vertical field of view, eye height above the pose's feet and the farthest depth a ray sees."""

    width: int
    height: int
    fov_deg: float = 70.0
    eye_height: float = EYE_HEIGHT
    max_depth: float = MAX_DEPTH

    @property
    def focal(self) -> float:
        """Pixels per unit of image-plane tangent (a point of size s at view depth z spans s * focal / z px)."""
        return self.height / (2.0 * math.tan(math.radians(self.fov_deg) / 2.0))

    def eye(self, pose: Tensor) -> Tensor:
        """Eye positions (B, 3) of poses (B, 5)."""
        eye = pose[:, :3].clone()
        eye[:, 1] += self.eye_height
        return eye

    def basis(self, pose: Tensor) -> Tensor:
        """Camera axes (B, 3, 3), rows forward, right, up, of poses (B, 5)."""
        return camera_basis(pose[:, 3], pose[:, 4])

    def rays(self, pose: Tensor) -> Tensor:
        """Unit world ray of every pixel (B, H, W, 3)."""
        return pixel_rays(self.basis(pose), self.height, self.width, self.fov_deg)

    def unproject(self, depth: Tensor, pose: Tensor) -> Tensor:
        """World points (B, H, W, 3) of every pixel at its depth (B, H, W) (inf depth gives inf points)."""
        return self.eye(pose)[:, None, None] + depth[..., None] * self.rays(pose)

    def project(self, points: Tensor, pose: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """World points (B, 3, N) (channels first) -> (row, col, z) (B, N): continuous pixel coordinates (centres
        at integers) and view-axis depth (<= 0 behind the camera)."""
        return project(points, self.eye(pose), self.basis(pose), self.height, self.width, self.fov_deg)


def blockworld_camera(width: int, height: int, fov_deg: float = 70.0) -> Camera:
    """The camera of `BlockWorldEnv(width=..., height=..., fov_deg=...)`."""
    return Camera(width, height, float(fov_deg))


def blockworld_hud(width: int, height: int) -> Tensor:
    """Bool (H, W): the pixels BlockWorld's HUD paints (crosshair, hotbar); a memory must not store them."""
    from envs.blockworld.hud import hud_mask  # the only BlockWorld import, for its overlay layout

    return torch.from_numpy(hud_mask(width, height))
