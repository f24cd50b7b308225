"""A view's background reader: one daemon thread per view that reads files or samples processes every
``period_s`` (and at once on ``wake()``) and posts what it found as a message. One long-lived thread instead of a
Textual worker per tick: no thread start and no worker state messages every few seconds (idle CPU stays low)."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Periodic:
    def __init__(self, name: str, job: Callable[[], None], period_s: float,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self.name, self.job, self.period_s, self.on_error = name, job, period_s, on_error
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Periodic:
        self._thread.start()
        return self

    def wake(self) -> None:
        """Run the job now (once, however often this is called before it runs)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.clear()
            try:
                self.job()
            except Exception as err:  # noqa: BLE001 -- a failed read is said, and tried again next period
                if self.on_error is not None and not self._stopped.is_set():
                    self.on_error(err)
            self._wake.wait(self.period_s)
