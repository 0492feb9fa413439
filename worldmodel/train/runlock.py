"""The Trainer's run-dir lock, released in forked children (DataLoader workers) so they never hold it.

worldmodel.checkpoint.RunLock takes an flock on RUN_DIR/train.lock. A flock belongs to the open file, which a
fork shares: DataLoader workers forked while it is held would keep it after their parent is killed (they notice
the death only seconds later), and a re-run started at once is refused naming the dead pid. ForkSafeRunLock
closes the lock file in every forked child right after the fork, so only the process that took it holds it.
"""

from __future__ import annotations

import os
import weakref

from worldmodel.checkpoint import RunLock

_HELD: weakref.WeakSet[ForkSafeRunLock] = weakref.WeakSet()


def _close_in_child() -> None:
    """After a fork, in the child: drop the child's copy of every held lock file (the parent keeps the lock)."""
    for lock in list(_HELD):
        handle = lock._handle
        lock._handle = None
        if handle is not None:
            try:
                handle.close()  # the child's copy of the fd (its buffer is empty: the pid was flushed)
            except OSError:
                pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_child)


class ForkSafeRunLock(RunLock):
    """RunLock whose lock file forked children close at once (see the module docstring)."""

    def acquire(self) -> None:
        """Take the lock or raise ValueError naming the run dir and the holder's pid."""
        super().acquire()
        _HELD.add(self)

    def release(self) -> None:
        """Release the lock (also happens automatically when the process exits)."""
        _HELD.discard(self)
        super().release()
