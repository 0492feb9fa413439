"""The episode store: one on-disk format for episodes, the clip sampler, recording (`wm collect`) and importers.

    from worldmodel.data import load_episode, open_dataset
    episode = load_episode("data/bw/episodes/ep_000000.npz")   # frames (T,H,W,3) uint8, actions, rewards, ...
    clips = open_dataset("data/bw").clips(16)                    # a torch Dataset of 16-frame clips
    held_out = open_dataset("data/bw", split="held_out")         # after `wm data split data/bw --held-out 0.1`
"""

from worldmodel.data.index import episode_path, read_index, update_index
from worldmodel.data.store import EpisodeReader, EpisodeWriter, load_episode, write_episode

__all__ = ["load_episode", "open_dataset", "EpisodeDataset", "ClipDataset", "EpisodeReader", "EpisodeWriter",
           "write_episode", "read_index", "update_index", "episode_path"]


def __getattr__(name: str):  # torch loads only when the dataset classes are used
    if name in ("open_dataset", "EpisodeDataset", "ClipDataset"):
        from worldmodel.data import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'worldmodel.data' has no attribute {name!r}")
