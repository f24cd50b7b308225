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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from motip.trainlog import TrainLog, TrainLogParser, parse_value
from motip_tui.runs import RunSummary, summarize_run
from motip_tui.tailer import FileTailer

SERIES = ("loss", "grad_norm", "lr")
PARSED_TRAIN_TAIL = 300  # alerts look at the last 200 steps
KEYS = ("global_step", *SERIES)
_KEYS_RE = re.compile(r" (global_step|loss|grad_norm|lr)=([^ \n]*)")


def _to_floats(raw: list[str]) -> list[float]:
    try:
        return list(map(float, raw))  # accepts nan/inf
    except ValueError:
        values = [parse_value(v) for v in raw]
        return [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else float("nan") for v in values]


class RunWatch:
    """``version`` grows whenever new data arrived; readers compare it with what they drew last."""

    def __init__(self, run_dir: Path, *, poll_s: float = 0.5, use_watchdog: bool = True,
                 on_change: Callable[[], None] | None = None) -> None:
        self.run_dir = run_dir
        self.on_change = on_change  # called from the reader thread after new data (must be thread-safe)
        self.path = run_dir / "train.log"
        self.version = 0
        self.lock = threading.Lock()
        self._parser = TrainLogParser()
        self.steps: list[float] = []
        self.series: dict[str, list[float]] = {name: [] for name in SERIES}
        self.tailer = FileTailer(self.path, self._on_lines, poll_s=poll_s, use_watchdog=use_watchdog)
        self._arrays: dict[str, Any] | None = None

    @property
    def log(self) -> TrainLog:
        return self._parser.log

    def start(self) -> RunWatch:
        self.tailer.start()
        return self

    def stop(self) -> None:
        self.tailer.stop()

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

    def _extract(self, train_lines: list[str]) -> dict[str, list[float]] | None:
        """Chart values of step lines, one regex pass per key; None when some line lacks a key."""
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

    def _on_lines(self, lines: list[str], reset: bool) -> None:
        train_lines: list[str] = []
        others: list[str] = []
        for line in lines:
            (train_lines if " [train] " in line[:40] else others).append(line)
        columns = self._extract(train_lines) if train_lines else {}
        with self.lock:
            if reset:
                self._parser = TrainLogParser()
                self.steps = []
                self.series = {name: [] for name in SERIES}
            if columns is None:  # unusual lines: the exact parser for everything
                before = len(self._parser.log.train)
                self._parser.feed(lines)
                rows = self._parser.log.train[before:]
                columns = {key: [_row_float(row, key) for row in rows] for key in KEYS}
            else:
                self._parser.feed(others)
                self._parser.feed(train_lines[-PARSED_TRAIN_TAIL:])
            if columns:
                self.steps.extend(columns["global_step"])
                for name in SERIES:
                    self.series[name].extend(columns[name])
            self.version += 1
        if self.on_change is not None:
            self.on_change()


def _row_float(row: dict, key: str) -> float:
    value = row.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")
