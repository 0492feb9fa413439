"""BlockWorld: a small Minecraft-like voxel world (numpy + numba) with exact ground truth.

Modules: `blocks` (ids, solidity), `textures` (procedural 8x8 face textures), `worldgen` (seeded terrain,
spawn point), `render` (numba voxel ray casting), `env` (the Gymnasium env). Kept import-free so that
importing a submodule does not pull in the env or compile numba code.
"""
