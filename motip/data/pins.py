"""Build pins: a training holds the builds it reads, so a rebuild or a prune can never pull them from under it.

Protocol (torch-free; the trainer pins, ``motip build --prune`` asks):

- A build folder (``<builds>/<output>-<time>-<seed>/``, the one holding ``build_report.json``) is pinned by
  holding a shared ``fcntl.flock`` on its ``.motip-pin.lock`` for the life of the process. The kernel drops the lock
  when the process dies, so a killed training never leaves a stale pin.
- ``pin_path(path)`` resolves a dataset path (e.g. the ``datasets/DanceTrack`` symlink or ``.../DanceTrack/val``)
  to the concrete folder it means now and pins the build that folder belongs to. The caller then reads only the
  resolved path: switching the link to a newer build does not change what it reads.
- ``build_in_use(build_dir)`` is True while any process holds a pin. ``exclusive(build_dir)`` holds the lock
  exclusively while a prune deletes the folder, so no training can pin it half-deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from motip.errors import DataError
from motip.records import BUILD_REPORT_FILE as REPORT_NAME  # the file that marks a finished build

PIN_FILE = ".motip-pin.lock"


def enclosing_build(path: Path) -> Path | None:
    """The build folder (holding build_report.json) that the real ``path`` lies in, or None."""
    for candidate in (path, *path.parents):
        if (candidate / REPORT_NAME).is_file():
            return candidate
    return None


@dataclass
class Pin:
    """``path`` as given, ``real`` the concrete folder it resolved to, ``build`` the pinned build (or None when the
    path is a plain folder that is not one of our builds)."""

    path: Path
    real: Path
    build: Path | None
    _handle: IO[str] | None = field(default=None, repr=False)

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file drops the flock
            self._handle = None


def pin_path(path: str | os.PathLike[str], timeout_s: float = 10.0) -> Pin:
    """Resolve ``path`` now and hold a shared lock on its build. Raises DataError when it does not exist."""
    given = Path(path)
    real = Path(os.path.realpath(given))
    if not real.exists():
        raise DataError("dataset path not found", path=given,
                        hint="build the dataset with `motip build` (or fix DATA_ROOT / val_config.GT_FOLDER)")
    build = enclosing_build(real)
    if build is None:
        return Pin(given, real, None)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            handle = open(build / PIN_FILE, "a")  # noqa: SIM115 - held for the life of the pin
        except FileNotFoundError:  # a prune renamed the build away (it deletes it next)
            raise DataError("the build was deleted while it was being pinned", path=build,
                            hint="rebuild with `motip build`, then start the training again") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # a prune holds it exclusively right now
            handle.close()
            if time.monotonic() > deadline:
                raise DataError("the build is being deleted (a prune holds it)", path=build,
                                hint="rebuild with `motip build`, then start the training again") from None
            time.sleep(0.1)
            continue
        if (build / REPORT_NAME).is_file() and real.exists():
            return Pin(given, real, build, handle)
        handle.close()
        raise DataError("the build was deleted while it was being pinned", path=build,
                        hint="rebuild with `motip build`, then start the training again")


def build_in_use(build_dir: Path) -> bool:
    """True while a live process (a training) holds a pin on ``build_dir``."""
    lock = build_dir / PIN_FILE
    if not lock.is_file():
        return False
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


@contextlib.contextmanager
def exclusive(build_dir: Path) -> Iterator[bool]:
    """Hold ``build_dir``'s pin lock exclusively (yields True), or yield False at once when a training holds it."""
    with open(build_dir / PIN_FILE, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
