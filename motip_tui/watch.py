"""A watched run: its train.log tailed in a thread, parsed incrementally, step series kept ready for the charts."""

from __future__ import annotations

import threading
from pathlib import Path

from motip.trainlog import TrainLog, TrainLogParser
from motip_tui.tailer import FileTailer

SERIES = ("loss", "grad_norm", "lr")


class RunWatch:
    """``version`` grows whenever new data arrived; readers compare it with what they drew last."""

    def __init__(self, run_dir: Path, *, poll_s: float = 0.5, use_watchdog: bool = True) -> None:
        self.run_dir = run_dir
        self.path = run_dir / "train.log"
        self.version = 0
        self.lock = threading.Lock()
        self._parser = TrainLogParser()
        self.steps: list[float] = []
        self.series: dict[str, list[float]] = {name: [] for name in SERIES}
        self._extracted = 0
        self.tailer = FileTailer(self.path, self._on_lines, poll_s=poll_s, use_watchdog=use_watchdog)

    @property
    def log(self) -> TrainLog:
        return self._parser.log

    def start(self) -> RunWatch:
        self.tailer.start()
        return self

    def stop(self) -> None:
        self.tailer.stop()

    def _on_lines(self, lines: list[str], reset: bool) -> None:
        with self.lock:
            if reset:
                self._parser = TrainLogParser()
                self.steps = []
                self.series = {name: [] for name in SERIES}
                self._extracted = 0
            self._parser.feed(lines)
            rows = self._parser.log.train
            for row in rows[self._extracted:]:
                step = row.get("global_step")
                self.steps.append(float(step) if isinstance(step, (int, float)) else float(len(self.steps) + 1))
                for name in SERIES:
                    value = row.get(name)
                    self.series[name].append(float(value) if isinstance(value, (int, float)) else float("nan"))
            self._extracted = len(rows)
            self.version += 1
