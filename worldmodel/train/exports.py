"""Leftovers of exports that a killed run never finished: `.NAME.tmp-PID` / `.NAME.old-PID` folders in a run dir.

save_world_model writes RUN_DIR/.world_model.tmp-PID and renames it into place (swapping an old export out as
.world_model.old-PID), so a run killed mid-export leaves such a folder behind; the re-run exports again and
removes the ones whose writer is gone.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?:tmp|old)-(?P<pid>\d+)$")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (on this machine)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale_exports(run_dir: str | Path) -> list[Path]:
    """Delete the half-written export folders of RUN_DIR whose writing process is gone; returns what was removed."""
    root = Path(run_dir)
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for child in sorted(root.iterdir()):
        match = _LEFTOVER.match(child.name)
        if match and child.is_dir() and int(match["pid"]) != os.getpid() and not pid_alive(int(match["pid"])):
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child)
    return removed
