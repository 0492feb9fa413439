"""Real environments: BlockWorld (a Minecraft-like ground-truth world) and wrappers. Depends on nothing of ours.

Importing this package registers the Gymnasium ids of the real worlds (`BlockWorld-v0`, `Crafter-v0`) only; a
learned world is registered by the package that makes it. Collection policies that need only the env: `envs.policies`.
"""

from gymnasium.envs.registration import register, registry

if "BlockWorld-v0" not in registry:
    register(id="BlockWorld-v0", entry_point="envs.blockworld.env:BlockWorldEnv")

if "Crafter-v0" not in registry:  # needs the optional `crafter` package, imported only when made
    register(id="Crafter-v0", entry_point="envs.crafter_env:CrafterEnv")
