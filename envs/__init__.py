"""Real environments: BlockWorld (a Minecraft-like ground-truth world) and wrappers. Depends on nothing of ours.

Importing this package registers the Gymnasium ids (`BlockWorld-v0`, ...).
"""

from gymnasium.envs.registration import register, registry

if "BlockWorld-v0" not in registry:
    register(id="BlockWorld-v0", entry_point="envs.blockworld.env:BlockWorldEnv")

if "Crafter-v0" not in registry:  # needs the optional `crafter` package, imported only when made
    register(id="Crafter-v0", entry_point="envs.crafter_env:CrafterEnv")

if "WorldModel-v0" not in registry:  # the learned world (worldmodel.dream); strings only: envs imports nothing of ours
    register(id="WorldModel-v0", entry_point="worldmodel.dream.env:WorldModelEnv",
             vector_entry_point="worldmodel.dream.vector:WorldModelVectorEnv")
