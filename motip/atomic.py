"""Atomic file writes: write a temp file beside the target, fsync, then rename over it.

A crash mid-write leaves the old file intact, never a half-written one (configs, manifests, checkpoints, JSON).
The new file gets the mode a plain ``open(path, "w")`` would give: the replaced file's mode, or ``0666 & ~umask`` for
a new one (``mkstemp``'s 0600 would make a TUI-saved config.toml or a dashboard.png private). A symlinked ``path``
is written through: its target is replaced and the link stays a link.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from motip.errors import MotipError


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temp file next to ``path``; on clean exit it replaces ``path`` atomically, on error it is removed."""
    path = Path(path)
    if path.is_symlink():
        # Write the link's target (beside it, so the rename stays on one filesystem); the link stays a link.
        path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    binary = "b" in mode
    try:
        os.fchmod(fd, _plain_write_mode(path))
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        if disk_full(exc):  # the old file is intact (never renamed over); say which file and what to free
            raise DiskFullError.for_path(path) from exc
        raise


class DiskFullError(MotipError):
    """ENOSPC/EDQUOT while writing ``path``: the previous file (if any) is kept, nothing half-written is left."""

    @classmethod
    def for_path(cls, path: str | Path) -> DiskFullError:
        path = Path(path)
        try:
            free = f"{shutil.disk_usage(path.parent).free / 2 ** 20:.1f} MiB free"
        except OSError:
            free = "free space unknown"
        return cls(f"disk full while writing {path.name} ({free} on its filesystem); the previous version is kept",
                   path=path,
                   hint="free space, e.g. delete old checkpoint_epoch_*.pth of finished runs or old dataset builds "
                        "(`motip build --prune`), then `motip train --resume RUN_DIR` continues from the last "
                        "complete checkpoint")


def disk_full(exc: BaseException) -> bool:
    """True when ``exc`` or an exception it wraps (torch.save turns an OSError into a RuntimeError) is ENOSPC."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        current = current.__cause__ or current.__context__
    return False


def _umask() -> int:
    """The process umask, read without changing it where Linux says it (/proc), else by the set-and-restore dance."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _plain_write_mode(path: Path) -> int:
    """The permission bits ``open(path, "w")`` would leave: the existing file's, else 0666 & ~umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_json(path: str | Path, obj: Any, indent: int = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False, default=str) + "\n")
