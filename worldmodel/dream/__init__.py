"""The dream: a learned world behind the Gymnasium API (single env, batched vector env, SB3 adapter).

    import worldmodel.dream                        # registers WorldModel-v0 (`import envs` does not)
    env = gymnasium.make("WorldModel-v0")           # bundled model, prompted by BlockWorld
    venv = gymnasium.make_vec("WorldModel-v0", num_envs=8, model="runs/wm")

Modules: `config` (DreamConfig kwargs), `loading` (model resolution), `prompts` (reset contexts), `env`
(WorldModelEnv), `vector` (WorldModelVectorEnv), `sb3` (stable-baselines3 VecEnv adapter). Classes are imported
lazily, so importing this package (and registering the id) does not load torch.
"""

from typing import Any

from gymnasium.envs.registration import register, registry

ENV_ID = "WorldModel-v0"
ENTRY_POINT = "worldmodel.dream.env:WorldModelEnv"
VECTOR_ENTRY_POINT = "worldmodel.dream.vector:WorldModelVectorEnv"

# the one place WorldModel-v0 is registered; re-register if someone registered the id without the vector entry
if ENV_ID not in registry or registry[ENV_ID].vector_entry_point != VECTOR_ENTRY_POINT:
    registry.pop(ENV_ID, None)
    register(id=ENV_ID, entry_point=ENTRY_POINT, vector_entry_point=VECTOR_ENTRY_POINT)

__all__ = ["ENV_ID", "WorldModelEnv", "WorldModelVectorEnv", "DreamVecEnv", "DreamConfig"]

_LAZY = {"WorldModelEnv": "worldmodel.dream.env", "WorldModelVectorEnv": "worldmodel.dream.vector",
         "DreamVecEnv": "worldmodel.dream.sb3", "DreamConfig": "worldmodel.dream.config"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'worldmodel.dream' has no attribute {name!r}")
