"""Progress for long work: a rich progress bar on a terminal, plain parseable lines otherwise.

Plain line format (one per update, at most ~2 per second per task, always the final one):

    PROGRESS <task> <done>/<total> <percent>% <rate>/s eta=<seconds>s [message]

e.g. ``PROGRESS build 1200/30000 4.0% 850.2/s eta=33.9s dancetrack``. The task may have spaces
(``train epoch 3``): the first ``<done>/<total>`` ends it. The TUI's jobs view parses these with
``parse_progress_line``. Set ``MOTIP_PROGRESS=plain`` to force plain lines on a terminal.
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass
from types import TracebackType
from typing import TextIO

PROGRESS_RE = re.compile(
    r"^PROGRESS (?P<task>\S.*?) (?P<done>\d+)/(?P<total>\d+) (?P<percent>[\d.]+)% (?P<rate>[\d.]+)/s "
    r"eta=(?P<eta>[\d.]+|\?)s(?: (?P<message>.*))?$"
)


@dataclass(frozen=True)
class ProgressUpdate:
    task: str
    done: int
    total: int
    percent: float
    rate: float
    eta_s: float | None
    message: str


def parse_progress_line(line: str) -> ProgressUpdate | None:
    """Parse one plain progress line; None when the line is something else."""
    match = PROGRESS_RE.match(line.strip())
    if not match:
        return None
    eta = match["eta"]
    return ProgressUpdate(match["task"], int(match["done"]), int(match["total"]), float(match["percent"]),
                          float(match["rate"]), None if eta == "?" else float(eta), match["message"] or "")


def use_rich(stream: TextIO | None = None) -> bool:
    if os.environ.get("MOTIP_PROGRESS", "").lower() == "plain":
        return False
    stream = stream or sys.stderr
    return hasattr(stream, "isatty") and stream.isatty()


class Progress:
    """``with Progress("build", total) as p: p.advance(n, message)`` -- rich bar or plain lines."""

    def __init__(self, task: str, total: int, *, stream: TextIO | None = None, min_interval_s: float = 0.5,
                 rich: bool | None = None) -> None:
        self.task = task
        self.total = max(int(total), 0)
        self.done = 0
        self.stream = stream or sys.stderr
        self.min_interval_s = min_interval_s
        self.rich = use_rich(self.stream) if rich is None else rich
        self._start = time.monotonic()
        self._last_emit = 0.0
        self._emitted_done = -1  # the `done` of the last plain line, so the final state is printed exactly once
        self._message = ""
        self._bar = None
        self._bar_task = None

    def __enter__(self) -> Progress:
        if self.rich:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self._bar = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[msg]}"),
                                     console=Console(file=self.stream), transient=False)
            self._bar.__enter__()
            self._bar_task = self._bar.add_task(self.task, total=self.total or None, msg="")
        return self

    def advance(self, n: int = 1, message: str | None = None) -> None:
        self.update(self.done + n, message)

    def update(self, done: int, message: str | None = None) -> None:
        self.done = done
        if message is not None:
            self._message = message
        if self._bar is not None:
            self._bar.update(self._bar_task, completed=done, msg=self._message)
            return
        now = time.monotonic()
        if now - self._last_emit >= self.min_interval_s or (self.total and done >= self.total):
            self._emit(now)

    def _emit(self, now: float) -> None:
        self._last_emit = now
        self._emitted_done = self.done
        elapsed = max(now - self._start, 1e-9)
        rate = self.done / elapsed
        percent = 100.0 * self.done / self.total if self.total else 0.0
        eta = f"{(self.total - self.done) / rate:.1f}" if rate > 0 and self.total else "?"
        msg = f" {self._message}" if self._message else ""
        self.stream.write(
            f"PROGRESS {self.task} {self.done}/{self.total} {percent:.1f}% {rate:.1f}/s eta={eta}s{msg}\n")
        self.stream.flush()

    @property
    def rate(self) -> float:
        return self.done / max(time.monotonic() - self._start, 1e-9)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, tb)
        elif exc_type is None and self._emitted_done != self.done:
            self._emit(time.monotonic())
