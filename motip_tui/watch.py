"""A watched run: its train.log tailed in a thread, parsed incrementally, step series kept ready for the charts.

Speed matters (a 500,000-line train.log must open in under 2 s): the core's parser is exact but costs ~20 us a
line, so step lines take a fast path: their chart values (global_step, loss, grad_norm, lr) are pulled out of a
whole chunk at once with one regex per key, and only the last ``PARSED_TRAIN_TAIL`` step lines of a chunk go
through the full parser (for status and alerts). Every other event (start, eval, end, ...) is parsed in full.
A chunk where a key is missing on some step line falls back to the full parser for all its lines.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path
from typing import Any

from motip.trainlog import TrainLog, TrainLogParser, parse_value
from motip_tui.runs import RunSummary, summarize_run
from motip_tui.tailer import FileTailer

SERIES = ("loss", "grad_norm", "lr")
PREVIEW_FROM_BYTES = 16 << 20  # ~80,000 lines
PREVIEW_TAIL_BYTES = 4 << 20
PARSED_TRAIN_TAIL = 300  # alerts look at the last 200 steps
KEYS = ("global_step", *SERIES)
_KEYS_RE = re.compile(r" (global_step|loss|grad_norm|lr)=([^ \n]*)")


def _to_floats(raw: list[str]) -> list[float]:
    try:
        return list(map(float, raw))  # accepts nan/inf
    except ValueError:
        values = [parse_value(v) for v in raw]
        return [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else float("nan") for v in values]


@dataclass
class _State:
    parser: TrainLogParser = field(default_factory=TrainLogParser)
    steps: list[float] = field(default_factory=list)
    series: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in SERIES})


class RunWatch:
    """``version`` grows whenever new data arrived; readers compare it with what they drew last.

    A big train.log (> ``PREVIEW_FROM_BYTES``) opens in two steps: first a preview (every eval line and the last
    ``PREVIEW_TAIL_BYTES`` of steps, found without parsing the rest), then the full history, parsed aside and swapped
    in at once. ``loading`` is True in between.
    """

    def __init__(self, run_dir: Path, *, poll_s: float = 0.5, use_watchdog: bool = True,
                 on_change: Callable[[], None] | None = None) -> None:
        self.run_dir = run_dir
        self.on_change = on_change  # called from the reader thread after new data (must be thread-safe)
        self.path = run_dir / "train.log"
        self.version = 0
        self.lock = threading.Lock()
        self.loading = False
        self._live = _State()
        self._staging: _State | None = None
        self._stopped = False
        self.tailer = FileTailer(self.path, self._on_lines, poll_s=poll_s, use_watchdog=use_watchdog)
        self._arrays: dict[str, Any] | None = None

    @property
    def log(self) -> TrainLog:
        return self._live.parser.log

    @property
    def steps(self) -> list[float]:
        return self._live.steps

    @property
    def series(self) -> dict[str, list[float]]:
        return self._live.series

    def start(self) -> RunWatch:
        threading.Thread(target=self._initial_load, name=f"load:{self.run_dir.name}", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped = True
        self.tailer.stop()

    def _changed(self) -> None:
        if self.on_change is not None and not self._stopped:
            self.on_change()

    def _initial_load(self) -> None:
        try:
            size = self.path.stat().st_size
        except OSError:
            size = 0
        if size > PREVIEW_FROM_BYTES:
            self.loading = True
            try:
                preview = _State()
                _ingest(preview, _preview_lines(self.path, size))
                with self.lock:
                    self._live = preview
                    self.version += 1
                self._changed()
                self._staging = _State()
                self.tailer.read_available()  # the whole file, into the staging state
            except OSError:
                pass
            with self.lock:
                if self._staging is not None:
                    self._live, self._staging = self._staging, None
                self.version += 1
            self.loading = False
            self._changed()
        if not self._stopped:
            self.tailer.start()

    def _on_lines(self, lines: list[str], reset: bool) -> None:
        staging = self._staging
        if staging is not None:  # nobody reads it yet: no lock while parsing megabytes
            if reset:
                staging = self._staging = _State()
            _ingest(staging, lines)
            return
        with self.lock:
            if reset:
                self._live = _State()
            _ingest(self._live, lines)
            self.version += 1
        self._changed()

    def summary(self) -> RunSummary:
        with self.lock:
            return summarize_run(self.run_dir, self.log, self.log.train[-200:])

    def arrays(self) -> dict[str, Any]:
        """steps and SERIES as numpy arrays, converted incrementally (a redraw of a 500k-step run converts only
        what arrived since the last one). Lists only grow between resets, and a reset replaces them."""
        import numpy as np

        with self.lock:
            steps, series, count = self.steps, self.series, len(self.steps)
        cache = self._arrays
        if cache is None or cache["source"] is not steps:
            cache = {"source": steps, "count": 0, "steps": np.empty(0), **{name: np.empty(0) for name in SERIES}}
        done = cache["count"]
        if count > done:
            cache["steps"] = np.concatenate([cache["steps"], np.asarray(steps[done:count], dtype=float)])
            for name in SERIES:
                cache[name] = np.concatenate([cache[name], np.asarray(series[name][done:count], dtype=float)])
            cache["count"] = count
        self._arrays = cache
        return cache


def _extract(train_lines: list[str]) -> dict[str, list[float]] | None:
    """Chart values of step lines, one regex pass; None when some line lacks a key or has them out of order."""
    found = _KEYS_RE.findall("\n".join(train_lines))
    count = len(train_lines)
    if len(found) != len(KEYS) * count:
        return None
    keys = [key for key, _ in found]
    values = [value for _, value in found]
    columns = {}
    for offset, key in enumerate(KEYS):
        # The writer's order is fixed (global_step, loss, ..., grad_norm, lr): check it, else the slow path.
        if keys[offset::len(KEYS)].count(key) != count:
            return None
        columns[key] = _to_floats(values[offset::len(KEYS)])
    return columns


def _ingest(state: _State, lines: list[str]) -> None:
    train_lines: list[str] = []
    others: list[str] = []
    for line in lines:
        (train_lines if " [train] " in line[:40] else others).append(line)
    columns = _extract(train_lines) if train_lines else {}
    if columns is None:  # unusual lines: the exact parser for everything
        before = len(state.parser.log.train)
        state.parser.feed(lines)
        rows = state.parser.log.train[before:]
        columns = {key: [_row_float(row, key) for row in rows] for key in KEYS}
    else:
        state.parser.feed(others)
        state.parser.feed(train_lines[-PARSED_TRAIN_TAIL:])
    if columns:
        state.steps.extend(columns["global_step"])
        for name in SERIES:
            state.series[name].extend(columns[name])


def _preview_lines(path: Path, size: int) -> list[str]:
    """Every line before the tail that is not a step (found by byte search, no parsing), then the tail's lines."""
    with open(path, "rb") as handle:
        data = handle.read(size)
    tail_start = data.find(b"\n", max(0, len(data) - PREVIEW_TAIL_BYTES)) + 1
    found: dict[int, bytes] = {}
    for tag in (b" [start] ", b" [resume] ", b" [eval] ", b" [end] ", b" [error] ", b" [warning] "):
        position = data.find(tag, 0, tail_start)
        while position >= 0:
            begin = data.rfind(b"\n", 0, position) + 1
            finish = data.find(b"\n", position)
            finish = len(data) if finish < 0 else finish
            if position - begin < 40:  # the tag is the event, not text inside a message
                found[begin] = data[begin:finish]
            position = data.find(tag, finish, tail_start)
    head = [found[begin].decode("utf-8", errors="replace") for begin in sorted(found)]
    tail = data[tail_start:data.rfind(b"\n") + 1].decode("utf-8", errors="replace").split("\n")[:-1]
    return head + tail


def _row_float(row: dict, key: str) -> float:
    value = row.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")
