"""Safe, atomic checkpoint files: safetensors weights, JSON configs, and the Trainer's step directories.

Nothing here unpickles arbitrary objects: weights are safetensors, configs JSON, and the optimizer state is read
with `torch.load(weights_only=True)` (tensors and plain containers only). Every failure to read a file becomes a
ValueError that names the file (and the missing or mis-shaped key).

Trainer checkpoint layout (one directory per saved step; the newest complete one is "latest"):

    RUN_DIR/checkpoints/step_00001000/
        model.safetensors   full state_dict (parameters + persistent buffers) of the trained module
        trainer.pt          {"optimizer": state_dict, "step", "epoch", "batch_in_epoch"} (weights_only)
        meta.json           {"format": "worldmodel-checkpoint/1", "step", "module", "config"}

A step directory is written as RUN_DIR/checkpoints/.tmp-step_XXXXXXXX and renamed in one os.replace, so a
killed process leaves either a complete checkpoint or an ignored temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

CHECKPOINT_FORMAT = "worldmodel-checkpoint/1"
MODEL_FILE, TRAINER_FILE, META_FILE = "model.safetensors", "trainer.pt", "meta.json"
_STEP_DIR = re.compile(r"^step_(\d+)$")


def atomic_target(path: Path, suffix: str = ".tmp") -> tuple[int, str]:
    """A temporary file beside `path` (same filesystem, so os.replace is atomic), with the permissions a plain
    `open(path, "w")` would give (mkstemp makes 0600 files, which other users of a shared run dir cannot read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())
    return fd, tmp


def publish(tmp: str | Path, path: Path) -> None:
    """Give a finished temporary file normal permissions (a writer may have recreated it as 0600) and move it
    into place atomically."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def _umask() -> int:
    """The process umask (read by setting and restoring it: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: str | Path, data: Any) -> None:
    """Write `data` as indented JSON atomically."""
    write_atomic_text(path, json.dumps(data, indent=2) + "\n")


def write_atomic_text(path: str | Path, text: str) -> None:
    """Write a text file atomically."""
    path = Path(path)
    fd, tmp = atomic_target(path)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: str | Path) -> Any:
    """Read a JSON file; a missing or malformed file -> ValueError naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as error:
        raise ValueError(f"{path}: file not found") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error


def read_json_section(path: str | Path, section: str, context: str = "") -> dict[str, Any]:
    """The dict under key `section` of the JSON object in `path`; ValueError naming the file when there is none
    (its message starts with `context`, e.g. "init_from=bundled: ")."""
    config = read_json(path)
    value = config.get(section) if isinstance(config, dict) else None
    if not isinstance(value, dict):
        raise ValueError(f"{context}{path} has no '{section}' section")  # noqa: TRY004 - a bad file: ValueError
    return value


def module_state(module: nn.Module) -> dict[str, Tensor]:
    """Full state_dict as contiguous CPU copies (copies also untie shared tensors, which safetensors rejects)."""
    return {key: value.detach().to("cpu").contiguous().clone() for key, value in module.state_dict().items()}


def save_safetensors(tensors: dict[str, Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write a dict of tensors as safetensors atomically."""
    path = Path(path)
    fd, tmp = atomic_target(path)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_safetensors(path: str | Path) -> dict[str, Tensor]:
    """Read a safetensors file onto the CPU; missing, truncated or corrupt -> ValueError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, RuntimeError, ValueError) as error:
        raise ValueError(f"{path}: not a valid safetensors file ({error})") from error


def load_state_into(module: nn.Module, state: dict[str, Tensor], source: str | Path) -> None:
    """Copy `state` into `module` after checking every key and shape; mismatch -> ValueError naming `source`."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        raise ValueError(f"{source}: does not match {type(module).__name__}: {'; '.join(parts)}")
    for key, value in expected.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise ValueError(
                f"{source}: key '{key}' has shape {tuple(state[key].shape)}, "
                f"{type(module).__name__} expects {tuple(value.shape)}"
            )
    module.load_state_dict(state, strict=True)


def load_module(module: nn.Module, path: str | Path) -> None:
    """Load a safetensors file written by `save_safetensors(module_state(m), path)` into `module`."""
    load_state_into(module, load_safetensors(path), path)


class RunLock:
    """Exclusive lock on RUN_DIR/train.lock, so two trainers never write into one run dir.

    Uses flock: the OS releases it when the process dies (even by SIGKILL), so no stale locks. No-op where
    fcntl is unavailable (Windows).
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / "train.lock"
        self._handle: Any = None

    def acquire(self) -> None:
        """Take the lock or raise ValueError naming the run dir and the holder's pid."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise ValueError(
                f"{self.path.parent}: another training process (pid {holder}) is using this run dir"
            ) from error
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        """Release the lock (also happens automatically when the process exits)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def step_dir_name(step: int) -> str:
    """Directory name of the checkpoint of `step`."""
    return f"step_{step:08d}"


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints in RUN_DIR/checkpoints as (step, path), oldest first (temporary dirs ignored)."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = _STEP_DIR.match(child.name)
        if match and child.is_dir() and (child / META_FILE).is_file():
            found.append((int(match.group(1)), child))
    return sorted(found)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint directory of a run, or None."""
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    module: nn.Module,
    trainer_state: dict[str, Any],
    config: dict[str, Any] | None = None,
    keep_last: int = 1,
) -> Path:
    """Write RUN_DIR/checkpoints/step_N atomically, then delete all but the newest `keep_last` checkpoints."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / step_dir_name(step)
    tmp = root / f".tmp-{final.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(module_state(module), str(tmp / MODEL_FILE), metadata={"format": CHECKPOINT_FORMAT, "step": str(step)})
    os.chmod(tmp / MODEL_FILE, 0o666 & ~_umask())  # safetensors writes 0600 files
    torch.save({**trainer_state, "step": step}, tmp / TRAINER_FILE)
    meta = {"format": CHECKPOINT_FORMAT, "step": step, "module": type(module).__name__, "config": config or {}}
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    if final.exists():  # re-saving a step (e.g. after a resume): swap the old one out first
        shutil.rmtree(final)
    os.replace(tmp, final)
    for _, old in list_checkpoints(run_dir)[: -max(1, keep_last)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: str | Path, module: nn.Module) -> dict[str, Any]:
    """Load a step directory's weights into `module` and return its trainer state (optimizer, step, ...)."""
    path = Path(path)
    meta = read_json(path / META_FILE)
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path / META_FILE}: not a {CHECKPOINT_FORMAT} checkpoint")
    load_module(module, path / MODEL_FILE)
    trainer_file = path / TRAINER_FILE
    try:
        state = torch.load(trainer_file, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise ValueError(f"{trainer_file}: file not found") from error
    except Exception as error:  # torch raises many types for corrupt pickles
        raise ValueError(f"{trainer_file}: cannot be read as a trainer state ({error})") from error
    if not isinstance(state, dict) or not isinstance(state.get("step"), int) or "optimizer" not in state:
        raise ValueError(f"{trainer_file}: missing 'step' or 'optimizer'")
    return state
