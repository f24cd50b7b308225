"""train.log lines for the test fixtures, written by motip.trainlog.TrainLogWriter (the one writer: the fixtures go
through the format contract too) at fixed times, so what a test sees never depends on the clock."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import motip.trainlog
from motip.trainlog import TrainLogWriter


@contextmanager
def _clock_at(stamp: str) -> Iterator[None]:
    """TrainLogWriter stamps each line with ``datetime.now()``; here that is ``stamp``. Nothing else in
    motip.trainlog reads the clock, so a TUI running meanwhile is not affected."""
    fixed = datetime.fromisoformat(stamp)

    class FixedClock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:
            return fixed

    saved = motip.trainlog.datetime
    motip.trainlog.datetime = FixedClock
    try:
        yield
    finally:
        motip.trainlog.datetime = saved


def written(stamp: str, write: Callable[[TrainLogWriter], object]) -> str:
    """The text TrainLogWriter appends to a train.log for the events ``write`` makes, each line stamped ``stamp``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.log"
        with _clock_at(stamp), TrainLogWriter(path) as log:
            write(log)
        return path.read_text(encoding="utf-8")


def start_line(run: str, config: str, *, epochs: int = 10, pid: int = 1,
               stamp: str = "2026-11-24T10:00:00") -> str:
    # run_start would record this test process's pid; a fixture's run names its own (pid 1: no trainer of ours).
    return written(stamp, lambda log: log.event("start", run=run, config=config, epochs=epochs, pid=pid))


def end_line(status: str, epoch: int | None = None, msg: str = "", *, stamp: str = "2026-11-24T12:00:00") -> str:
    return written(stamp, lambda log: log.run_end(status=status, epoch=epoch, msg=msg))
