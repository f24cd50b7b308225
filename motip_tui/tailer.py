"""Follow a growing file (train.log, a job's output.log) from a byte offset in a reader thread.

Why not watchdog alone: its events are not lines (2,000 appended lines gave 4 "modified" events), truncation shows
only as "modified", and network filesystems deliver no events at all. So a thread reads from a byte offset, keeps
the partial last line until its newline arrives, detects truncation (size shrank or the first bytes changed) and
rotation (inode changed), and polls every ``poll_s``; watchdog, when it works, only wakes the thread early.

Memory stays bounded whatever the file holds: it is read in ``CHUNK_BYTES`` chunks and split by the core's
``motip.trainlog.LineSplitter``, which never holds a line over ``MAX_LINE_BYTES`` (1 MB; a corrupted write): such a
line is delivered as ``SKIPPED_LINE`` and counted in ``long_lines``.

``from_end_bytes``: start near the end of a file that is already there (only its last bytes are read, from the
first line that starts in them), for readers that want the latest lines only (a job's PROGRESS lines).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from motip.trainlog import LineSplitter

if TYPE_CHECKING:
    from watchdog.events import FileSystemEvent

HEAD_BYTES = 64  # compared on every read to notice a file rewritten in place with the same or larger size
CHUNK_BYTES = 16 << 20

WAKING_EVENTS = frozenset({"modified", "created", "moved", "deleted", "closed"})

# on_lines(lines, reset): complete lines (no newline) in order; reset=True means "start over, the file was replaced".
LinesCallback = Callable[[list[str], bool], None]


class FileTailer:
    def __init__(self, path: str | os.PathLike[str], on_lines: LinesCallback, *, poll_s: float = 0.5,
                 use_watchdog: bool = True, from_end_bytes: int | None = None) -> None:
        self.path = Path(path)
        self.from_end_bytes = from_end_bytes
        self.on_lines = on_lines
        self.poll_s = poll_s
        self.use_watchdog = use_watchdog
        self.offset = 0
        self.resets = 0
        self._splitter = LineSplitter()
        self._inode: int | None = None
        self._mtime_ns: int | None = None
        self._head = b""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> FileTailer:
        if self._stop.is_set():  # stopped before it started (a watch dropped while loading)
            return self
        thread = threading.Thread(target=self._run, name=f"tail:{self.path.name}", daemon=True)
        thread.start()
        self._thread = thread
        if self.use_watchdog:
            self._start_watchdog()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._observer is not None:
            try:
                self._observer.stop()
                self._observer.join(timeout=2)
            except Exception:  # noqa: BLE001 -- a watchdog that fails to stop must not block quitting
                pass
            self._observer = None
        if self._thread is not None:
            self._thread.join(timeout=2)

    def wake(self) -> None:
        self._wake.set()

    def _start_watchdog(self) -> None:
        # watchdog logs harmless errors when an observer stops mid-event; keep them off the user's terminal.
        logging.getLogger("watchdog").addHandler(logging.NullHandler())
        logging.getLogger("watchdog").propagate = False
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            return
        target = str(self.path.resolve()) if self.path.exists() else str(self.path.absolute())
        wake = self._wake

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                # Only changes: our own reads raise "opened"/"closed_no_write" events, which would loop.
                if event.event_type not in WAKING_EVENTS:
                    return
                paths = {getattr(event, "src_path", ""), getattr(event, "dest_path", "")}
                if target in {os.fsdecode(p) for p in paths if p}:
                    wake.set()

        folder = self.path.absolute().parent
        if not folder.is_dir():
            return
        try:
            observer = Observer()
            observer.schedule(Handler(), str(folder), recursive=False)
            observer.daemon = True
            observer.start()
            self._observer = observer
        except Exception:  # noqa: BLE001 -- out of inotify watches etc.: the poll still runs
            self._observer = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.read_available()
            except OSError:
                pass
            self._wake.wait(self.poll_s)
            self._wake.clear()

    # -- reading ---------------------------------------------------------------------------------------------
    @property
    def long_lines(self) -> int:
        """Lines over MAX_LINE_BYTES skipped since the file was (re)opened."""
        return self._splitter.long_lines

    def _reset(self) -> None:
        self.offset = 0
        self._splitter = LineSplitter()
        self._head = b""
        self.resets += 1

    def read_available(self) -> int:
        """Read what was appended since the last call; return the number of complete lines delivered."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            if self.offset:
                self._reset()
                self._inode = None
                self.on_lines([], True)
            return 0
        if (stat.st_ino, stat.st_size, stat.st_mtime_ns) == (self._inode, self.offset, self._mtime_ns):
            return 0  # nothing new: do not even open the file
        self._mtime_ns = stat.st_mtime_ns
        reset = False
        if self._inode is not None and stat.st_ino != self._inode:
            reset = True  # rotated: a new file under the same name
        elif stat.st_size < self.offset:
            reset = True  # truncated
        self._inode = stat.st_ino
        with open(self.path, "rb") as handle:
            if not reset and self._head:
                if handle.read(len(self._head)) != self._head:
                    reset = True  # rewritten in place
            if reset:
                self._reset()
            if stat.st_size == self.offset and not reset:
                return 0
            if not self._head:
                handle.seek(0)
                self._head = handle.read(HEAD_BYTES)
                if len(self._head) < HEAD_BYTES:
                    self._head = b""  # too short to be a fingerprint yet; take it again next time
            if self.from_end_bytes is not None and self.offset == 0 and self.resets == 0 \
                    and stat.st_size > self.from_end_bytes:
                self._start_near_end(handle, stat.st_size - self.from_end_bytes)
            handle.seek(self.offset)
            delivered = 0
            first = True
            while True:
                data = handle.read(CHUNK_BYTES)
                if not data:
                    break
                self.offset += len(data)
                lines = self._splitter.feed(data)
                if not lines:
                    continue
                self.on_lines(lines, reset and first)
                first = False
                delivered += len(lines)
            if reset and first:
                self.on_lines([], True)
        return delivered

    def _start_near_end(self, handle: BinaryIO, start: int) -> None:
        """Begin at the first line that starts at or after ``start`` (the bytes before it are never delivered)."""
        handle.seek(start - 1)
        data = handle.read(self.from_end_bytes + 1)
        newline = data.find(b"\n")
        self.offset = start - 1 + (newline + 1 if newline >= 0 else len(data))
