"""Test-wide settings: headless pygame and matplotlib, and a quiet torch on 2 cores."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small ops on a shared 2-core machine run fastest and steadiest on one torch thread; restored after each
    test, so a test that sets threads (a Trainer with train.threads=2) does not leak them into the next."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
