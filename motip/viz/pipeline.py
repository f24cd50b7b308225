"""Threads of the viz export: a reader thread that decodes ahead, and the hand-off rules every stage follows.

The export is three stages on two cores: a reader thread decodes frames into a bounded queue, the caller's thread
draws, and the encoder thread (``motip.viz.video.VideoSink``) takes drawn frames from a second bounded queue and
hands them to libx264, which encodes on threads of its own. OpenCV and FFmpeg release the GIL while they work, so
the stages overlap. The queues are bounded (memory stays a few frames per stage) and every wait on them is a short
poll that also looks at the other side's state, so a failed or stopped stage never leaves another one blocked: an
error in any thread is raised in the caller's thread, with its original message, at the caller's next step.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

import numpy as np

Item = TypeVar("Item")
Result = TypeVar("Result")

POLL_S = 0.1  # how often a blocked put/get looks at the other side's state (stop, error, thread alive)
_END = object()


def put_unless(slots: queue.Queue[object], item: object, give_up: Callable[[], bool]) -> bool:
    """Put ``item`` into a bounded queue, waiting while it is full; False (item not put) as soon as ``give_up()``."""
    while not give_up():
        try:
            slots.put(item, timeout=POLL_S)
            return True
        except queue.Full:
            continue
    return False


class ReadAhead(Generic[Item, Result]):
    """``produce(item)`` for every item, in a background thread, at most ``depth`` results ahead of the consumer.

    Iterate to get the results in order. An exception in the thread is raised by the iteration at its next step,
    ahead of results still queued (fail fast); ``close()`` (also on leaving a ``with`` block) stops the thread and
    frees the queued results.
    """

    def __init__(self, items: Sequence[Item], produce: Callable[[Item], Result], depth: int = 4,
                 name: str = "viz-reader") -> None:
        self._items = items
        self._produce = produce
        self._slots: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            for item in self._items:
                if self._stop.is_set():
                    return
                if not put_unless(self._slots, self._produce(item), self._stop.is_set):
                    return
        except BaseException as err:  # noqa: BLE001 - handed to the consumer's thread
            self._error = err
        finally:
            put_unless(self._slots, _END, self._stop.is_set)

    def __iter__(self) -> Iterator[Result]:
        while True:
            if self._error is not None:
                raise self._error
            try:
                result = self._slots.get(timeout=POLL_S)
            except queue.Empty:
                if not self._thread.is_alive() and self._slots.empty():  # ended without a word: never wait forever
                    if self._error is not None:
                        raise self._error from None
                    return
                continue
            if result is _END:
                if self._error is not None:
                    raise self._error
                return
            yield result  # type: ignore[misc]

    def close(self) -> None:
        self._stop.set()
        while True:  # free the queued results now (a few full-size frames)
            try:
                self._slots.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=10)

    def __enter__(self) -> ReadAhead[Item, Result]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PoolClosed(Exception):
    """``FramePool.take`` after ``close()``: the export stopped, the reader thread ends."""


class FramePool:
    """A fixed number of frame buffers, recycled from the encoder stage back to the reader.

    It bounds the frames in flight (memory: ``count`` frames), and it spares a fresh allocation per decoded frame:
    on the development VM the page faults of a new 1080p array (6 MB) cost as much as a third of its JPEG decode
    (``cv2.imread`` 11-16 ms CPU into a new array, 7.7 ms into a reused one). ``take`` waits while every buffer is in
    use, which is the back-pressure between the encoder and the reader.
    """

    def __init__(self, count: int, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self._free: queue.Queue[np.ndarray | None] = queue.Queue()
        for _ in range(count):
            self._free.put(None)  # allocated on first use
        self._closed = threading.Event()

    def take(self) -> np.ndarray:
        while not self._closed.is_set():
            try:
                buffer = self._free.get(timeout=POLL_S)
            except queue.Empty:
                continue
            return np.empty(self.shape, np.uint8) if buffer is None else buffer
        raise PoolClosed

    def give(self, buffer: np.ndarray) -> None:
        """Return a buffer (or, for a frame of another size, its slot) once nothing reads it any more."""
        self._free.put(buffer if buffer.shape == self.shape and buffer.flags.c_contiguous else None)

    def close(self) -> None:
        self._closed.set()
