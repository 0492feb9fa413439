"""Importers into the episode store: MineRL v0.4, VPT contractor recordings, plain video, Crafter Recorder npz."""
