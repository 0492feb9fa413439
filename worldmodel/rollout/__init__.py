"""The rollout engine (engine.py: `Engine.step`, `Engine.unroll`) and the one frame renderer (render.py).

Serving (`WorldModel`) and training (self-forcing, fusion training, logged rollouts) roll models out only here.
"""

from worldmodel.rollout.engine import Engine, EngineSnapshot, Prompt, Sampling, Step, sequence_actions
from worldmodel.rollout.render import Rendered, render

__all__ = ["Engine", "EngineSnapshot", "Prompt", "Rendered", "Sampling", "Step", "render", "sequence_actions"]
