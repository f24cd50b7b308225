"""A watched run: its train.log tailed in a thread, parsed incrementally, step series kept ready for the charts.

Speed matters (a 500,000-line train.log must open in under 2 s): lines go through the core parser's charting
fast path (``motip.trainlog.feed_charting``: step-line chart columns in one pass, the exact parser for events and
the last ``PARSED_TRAIN_TAIL`` steps). Big logs open with ``motip.trainlog.preview_lines`` first.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path
from typing import Any

from motip.rundir import TRAIN_LOG
from motip.trainlog import TrainLog, TrainLogParser, feed_charting, preview_lines
from motip_tui.runs import RunSummary, summarize_run
from motip_tui.tailer import FileTailer

SERIES = ("loss", "grad_norm", "lr")
PREVIEW_FROM_BYTES = 16 << 20  # ~80,000 lines
PREVIEW_TAIL_BYTES = 256 << 10  # ~1,300 steps: the recent curve at once, the full history seconds later
PARSED_TRAIN_TAIL = 300  # alerts look at the last 200 steps
CHUNK_LINES = 20_000
PREVIEW_DRAW_WAIT_S = 0.5  # at most; the charts view may not be visible
PREVIEW_RENDER_S = 0.3  # measured: without it the preview reached the screen only after the full load (2.2 s vs 0.9 s)


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
        self.path = run_dir / TRAIN_LOG
        self.version = 0
        self.lock = threading.Lock()
        self.loading = False
        self._live = _State()
        self._staging: _State | None = None
        self._stopped = False
        self.tailer = FileTailer(self.path, self._on_lines, poll_s=poll_s, use_watchdog=use_watchdog)
        self._arrays: dict[str, Any] | None = None
        # Set by the app once it drew the data: a big log's full history waits for the preview to be drawn and
        # rendered, since parsing beside the UI thread starves the event loop that puts it on screen.
        self.drawn = threading.Event()

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
                _ingest(preview, preview_lines(self.path, size, PREVIEW_TAIL_BYTES))
                with self.lock:
                    self._live = preview
                    self.version += 1
                self.drawn.clear()
                self._changed()
                self.drawn.wait(timeout=PREVIEW_DRAW_WAIT_S)
                time.sleep(PREVIEW_RENDER_S)  # the event loop puts the drawn charts on screen
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


def _ingest(state: _State, lines: list[str]) -> None:
    # In chunks: one regex pass over a whole big log holds the GIL for most of a second, and the UI thread could
    # not draw the preview meanwhile. Chunks of CHUNK_LINES keep each pass to a few tens of milliseconds.
    # The short chunk comes first, so the last one (whose latest steps get the exact parser) is a full one.
    edges = [0, *range(len(lines) % CHUNK_LINES or CHUNK_LINES, len(lines), CHUNK_LINES), len(lines)]
    for start, end in zip(edges, edges[1:]):
        tail = PARSED_TRAIN_TAIL if end == len(lines) else 0
        columns = feed_charting(state.parser, lines[start:end], tail)
        state.steps.extend(columns["global_step"])
        for name in SERIES:
            state.series[name].extend(columns[name])
