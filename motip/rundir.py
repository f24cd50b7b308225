"""A run folder's file names and its trainer lock (torch-free: the CLI, the TUI and the job/queue code use it).

One trainer per run folder: the trainer holds an exclusive ``fcntl.flock`` on ``<run>/train.lock`` (its pid written
inside) for the life of the training. The kernel drops the lock when the process dies, however it dies, so a killed
run never leaves a stale lock; a second trainer (``motip train --resume`` of a live run) is refused naming the pid.

A folder "holds a run" once a trainer wrote into it: ``train.log``, ``run.json`` or any ``*.pth``. ``job.json`` and
``output.log`` (written by ``motip train --detach`` before the trainer starts) do not count.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from motip.errors import MotipError

TRAIN_LOG = "train.log"
RUN_FILE = "run.json"
CONFIG_FILE = "config.yaml"
JOB_FILE = "job.json"  # motip.jobs.JOB_FILE
OUTPUT_LOG = "output.log"  # motip.jobs.OUTPUT_FILE
LOCK_FILE = "train.lock"
METRICS_FILE = "metrics.json"
LAST = "checkpoint_last.pth"
BEST_HOTA = "checkpoint_best_hota.pth"
BEST_IDF1 = "checkpoint_best_idf1.pth"


def epoch_checkpoint(number: int) -> str:
    """``checkpoint_epoch_<N>.pth`` (N 1-based, as in train.log)."""
    return f"checkpoint_epoch_{number}.pth"


def run_files(run_dir: Path) -> list[str]:
    """The names in ``run_dir`` that make it a run (train.log, run.json, *.pth), sorted; [] for a fresh folder."""
    if not run_dir.is_dir():
        return []
    found = [name for name in (TRAIN_LOG, RUN_FILE) if (run_dir / name).exists()]
    found += sorted(p.name for p in run_dir.glob("*.pth"))
    return found


def refuse_existing_run(run_dir: Path) -> None:
    """Raise (exit 2) when ``run_dir`` already holds a run: a new training would overwrite its checkpoints."""
    found = run_files(run_dir)
    if found:
        shown = ", ".join(found[:4]) + (f" and {len(found) - 4} more" if len(found) > 4 else "")
        other = "set another OUTPUT_DIR (or OUTPUT_DIR: null for a fresh timestamped folder)"
        if (run_dir / LAST).is_file():
            hint = f"continue it with `motip train --resume {run_dir}`, or {other}"
        else:  # ended before its first checkpoint: nothing to resume
            hint = (f"it has no {LAST}, so `motip train --resume {run_dir}` cannot continue it: {other}, or "
                    "delete the folder first")
        raise MotipError(f"the output folder already holds a run ({shown}); a new training would overwrite it",
                         path=run_dir, hint=hint)


def _read_pid(handle: IO[str]) -> int | None:
    handle.seek(0)
    text = handle.read(64).strip()
    return int(text) if text.isdigit() else None


class RunLock:
    """The held trainer lock of one run folder; ``release()`` (or process death) frees it."""

    def __init__(self, run_dir: Path, handle: IO[str]) -> None:
        self.run_dir = run_dir
        self._handle: IO[str] | None = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file drops the flock
            self._handle = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire_lock(run_dir: Path) -> RunLock:
    """Take ``run_dir``'s trainer lock or raise MotipError (exit 2) naming the pid of the trainer holding it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the life of the training; "a+" keeps
    try:                                          # the holder's pid readable until we own the lock
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _read_pid(handle)
        handle.close()
        who = f"pid {pid}" if pid else "another process"
        raise MotipError(f"another trainer ({who}) is running in this run folder", path=run_dir,
                         hint=f"wait for it to end, or stop it (motip-tui: Jobs view, `s`; or kill {pid or '<pid>'}); "
                              "two trainers would write the same train.log and checkpoints") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return RunLock(run_dir, handle)


def lock_holder(run_dir: Path) -> int | None:
    """The pid of the live trainer holding ``run_dir``'s lock (0 when its pid is unreadable), None when free."""
    path = Path(run_dir) / LOCK_FILE
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(handle) or 0
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None
