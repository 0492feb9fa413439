"""Agents: actor-critic trained in the dream, evaluation in real envs; `agents.policies` names every policy
(the env-only collection policies live in `envs.policies`)."""
