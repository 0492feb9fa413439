"""Spatial memory: what was shown, placed in 3D, rendered into any new view with visibility and age.

    camera.py    Camera (BlockWorld's pinhole camera on a [x, y, z, yaw, pitch] pose), blockworld_camera/hud
    pointmap.py  SpatialMemory: per world a bounded voxel-hashed point map; write (carve + insert), render,
                 snapshot/restore/copy, reset_worlds
    splat.py     splat: depth-sized square splats, z-buffer, nearest centre within a surface -> Recall

No learning: it stores what it is given (frames with depth and pose). The rollout engine
(worldmodel/rollout/) is where it is driven, once, for serving and training.
"""

from worldmodel.memory.camera import Camera, blockworld_camera, blockworld_hud
from worldmodel.memory.pointmap import MemoryState, SpatialMemory
from worldmodel.memory.splat import Recall

__all__ = ["Camera", "MemoryState", "Recall", "SpatialMemory", "blockworld_camera", "blockworld_hud"]
