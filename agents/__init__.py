"""Policies: scripted explorers for data collection, actor-critic trained in the dream, evaluation in real envs."""
