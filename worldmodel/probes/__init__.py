"""Probe suites: scripted BlockWorld scenarios run in truth and in a world model, scored against ground truth.

Families: A permanence, B lookback, C loop, D edits, E actions, F drift (see `wm probe --help`).
"""
