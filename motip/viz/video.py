"""Encoding drawn frames to .mp4 in a thread of its own, written atomically.

``VideoSink`` is the encoder stage of the viz export (``motip.viz.pipeline``): the caller hands it drawn BGR frames
through a bounded queue, its thread hands them to the encoder, and the file appears at its path only when complete
(``motip.atomic.atomic_open``: temp file beside it, fsync, rename; a failed export removes the temp file and leaves a
previous video in place).

The encoder is H.264 through PyAV's bundled libx264: preset ultrafast, crf 23, yuv420p. ultrafast because this is a
preview video for looking at boxes: the next preset (superfast) costs ~2.3x the CPU per 1080p frame for a file ~30%
smaller, at the same crf (same visual quality target). libx264 runs its own frame threads (thread_type AUTO: frame
threading, so the encode call returns while earlier frames are still being encoded; thread_count = the CPU count).
The encoder thread converts each BGR frame to yuv420p with OpenCV into reused buffers (``bgr_to_yuv420p``: BT.601
limited range with each chroma sample the mean of its 2x2 block, as FFmpeg's swscale does it: within 2 levels of
swscale's output) and hands it to FFmpeg without a copy (``VideoFrame.from_numpy_buffer``; libx264 copies the
picture before ``encode`` returns). On a 1080p frame that is ~3.8 ms of CPU with the GIL released, where PyAV's
``from_ndarray`` (two copies with the GIL held, ~6 ms) plus swscale into a new frame (~6 ms) cost three times as much.
Without PyAV, or for odd frame sizes (yuv420p needs even
ones), OpenCV's writer is the fallback: 'avc1' when this OpenCV can encode it, else 'mp4v' (MPEG-4 part 2).
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from motip.atomic import atomic_open
from motip.errors import MotipError
from motip.viz.pipeline import POLL_S, put_unless

H264_PRESET = "ultrafast"
H264_CRF = 23
H264_THREAD_TYPE = "AUTO"  # frame and slice threads: libx264 then runs frame threads
_FOURCC_CACHE: dict[tuple[int, int], str] = {}
_END = None


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence fd 2 while probing codecs: FFmpeg prints errors for encoders it lacks (openh264 for avc1)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def pick_fourcc(width: int, height: int) -> str:
    """'avc1' (H.264, plays everywhere) when this OpenCV can encode it, else 'mp4v' (MPEG-4 part 2)."""
    key = (width, height)
    if key not in _FOURCC_CACHE:
        chosen = "mp4v"
        with tempfile.TemporaryDirectory() as tmp, _quiet_stderr():
            probe = cv2.VideoWriter(str(Path(tmp) / "probe.mp4"), cv2.VideoWriter_fourcc(*"avc1"), 25,
                                    (width, height))
            if probe.isOpened():
                probe.write(np.zeros((height, width, 3), np.uint8))
                chosen = "avc1"
            probe.release()
        _FOURCC_CACHE[key] = chosen
    return _FOURCC_CACHE[key]


# OpenCV's YCrCb chroma is full range (0..255 around 128); H.264's yuv420p wants BT.601 limited range (16..240).
_LIMITED_CHROMA = np.clip(np.round(128 + (np.arange(256) - 128) * 224 / 255), 0, 255).astype(np.uint8)


class Yuv420Converter:
    """BGR frames of one size to I420 (yuv420p: the Y plane, then U, then V) in buffers allocated once.

    Y comes from ``COLOR_BGR2YUV_I420`` (BT.601 limited range, as swscale); its chroma samples one pixel of each
    2x2 block (thin coloured lines and text edges would lose or gain colour), so U and V are replaced by the chroma
    of the block means: a 2x2 area downscale, YCrCb, and a table to limited range.
    """

    def __init__(self, width: int, height: int) -> None:
        self.yuv = np.empty((height * 3 // 2, width), np.uint8)
        self._half = np.empty((height // 2, width // 2, 3), np.uint8)
        self._ycrcb = np.empty_like(self._half)
        chroma = self.yuv[height:].reshape(2, height // 2, width // 2)
        self._u, self._v = chroma[0], chroma[1]

    def convert(self, image: np.ndarray) -> np.ndarray:
        """``image`` (BGR, the converter's size) as I420 in ``self.yuv`` (overwritten by the next call)."""
        height, width = image.shape[:2]
        yuv = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420, dst=self.yuv)
        if yuv is not self.yuv:
            raise MotipError(f"frame of {width}x{height} does not fit the video's "
                             f"{self.yuv.shape[1]}x{self.yuv.shape[0] * 2 // 3} (yuv420p)")
        cv2.resize(image, (width // 2, height // 2), dst=self._half, interpolation=cv2.INTER_AREA)
        cv2.cvtColor(self._half, cv2.COLOR_BGR2YCrCb, dst=self._ycrcb)
        cv2.LUT(self._ycrcb, _LIMITED_CHROMA, dst=self._ycrcb)
        cv2.mixChannels([self._ycrcb], [self._u, self._v], [2, 0, 1, 1])  # Cb -> U, Cr -> V
        return self.yuv


class H264Writer:
    """H.264 (yuv420p) into an open binary file, through PyAV's libx264; see the module docstring for the settings."""

    codec = "h264"

    def __init__(self, handle: IO[bytes], width: int, height: int, fps: float) -> None:
        import av  # noqa: PLC0415 - optional: the OpenCV writer is the fallback

        self._av = av
        self._container = av.open(handle, "w", format="mp4")
        try:
            stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"preset": H264_PRESET, "crf": str(H264_CRF)}
            stream.thread_type = H264_THREAD_TYPE
            stream.thread_count = os.cpu_count() or 2
        except BaseException:
            self._container.close()
            raise
        self._stream = stream
        self._converter = Yuv420Converter(width, height)
        # PyAV's from_numpy_buffer reads the height of a yuv420p array as rows // 6 * 4: right when it is a
        # multiple of 4 (1080, 720...); other even heights take from_ndarray, which copies.
        self._wrap = av.VideoFrame.from_numpy_buffer if height % 4 == 0 else av.VideoFrame.from_ndarray

    def write(self, image: np.ndarray) -> None:
        frame = self._wrap(self._converter.convert(image), format="yuv420p")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def release(self) -> None:
        for packet in self._stream.encode():  # flush the encoder's delayed frames
            self._container.mux(packet)
        self._container.close()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._container.close()


class OpenCvWriter:
    """cv2.VideoWriter (avc1 when this OpenCV can encode it, else mp4v) into a temp file, copied into ``handle`` at
    the end (OpenCV writes only to a path): the fallback without PyAV."""

    def __init__(self, handle: IO[bytes], width: int, height: int, fps: float, directory: Path) -> None:
        self.codec = pick_fourcc(width, height)
        self._handle = handle
        fd, name = tempfile.mkstemp(prefix=".viz-opencv.", suffix=".mp4", dir=directory)
        os.close(fd)
        self._tmp = Path(name)
        self._writer = cv2.VideoWriter(name, cv2.VideoWriter_fourcc(*self.codec), fps, (width, height))
        if not self._writer.isOpened():
            self._tmp.unlink(missing_ok=True)
            raise MotipError(f"OpenCV cannot open a video writer ({self.codec}, {width}x{height})", path=directory,
                             hint="check the output folder is writable; opencv-python must be built with FFmpeg")

    def write(self, image: np.ndarray) -> None:
        self._writer.write(image)

    def release(self) -> None:
        self._writer.release()
        try:
            with open(self._tmp, "rb") as written:
                shutil.copyfileobj(written, self._handle, 1 << 20)
        finally:
            self._tmp.unlink(missing_ok=True)

    def abort(self) -> None:
        self._writer.release()
        self._tmp.unlink(missing_ok=True)


def open_video_writer(handle: IO[bytes], width: int, height: int, fps: float,
                      directory: Path) -> H264Writer | OpenCvWriter:
    if width % 2 == 0 and height % 2 == 0:
        try:
            return H264Writer(handle, width, height, fps)
        except (ImportError, ValueError, OSError):  # no PyAV, or no libx264 in its FFmpeg
            handle.seek(0)
            handle.truncate()
    return OpenCvWriter(handle, width, height, fps, directory)


class VideoSink:
    """An .mp4 encoded by a background thread from a bounded queue of frames; it appears at ``path`` only when
    ``close()`` finishes cleanly (see the module docstring).

    ``write`` raises the encoder thread's error (the original exception) as soon as there is one; ``close(keep=False)``
    or any error discards the temp file. Use as a context manager: an exception in the block discards the video.
    """

    def __init__(self, path: Path, width: int, height: int, fps: float, depth: int = 4) -> None:
        self.path = path
        self._file = atomic_open(path, "wb")
        self._handle: IO[Any] = self._file.__enter__()
        try:
            self._writer = open_video_writer(self._handle, width, height, fps, path.parent)
        except BaseException as err:
            self._file.__exit__(type(err), err, err.__traceback__)
            raise
        self.codec = self._writer.codec
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._discard = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="viz-encoder", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            while not self._discard.is_set():
                try:
                    image = self._queue.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if image is _END:
                    self._writer.release()
                    return
                frame, done = image  # type: ignore[misc]
                self._writer.write(frame)
                if done is not None:
                    done()
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            self._error = err

    def _stopped(self) -> bool:
        return self._error is not None or not self._thread.is_alive()

    def write(self, image: np.ndarray, done: Callable[[], None] | None = None) -> None:
        """Queue a frame. The caller must not modify ``image`` until ``done`` is called (in the encoder thread, once
        the frame is encoded and the array is free for reuse); without ``done``, never."""
        if self._error is not None:
            raise self._error
        if not put_unless(self._queue, (image, done), self._stopped):
            raise self._error or MotipError("the video encoder thread stopped", path=self.path)

    def close(self, keep: bool = True) -> None:
        """Finish the video (flush the encoder, fsync, rename into place) or, with ``keep=False``, discard it."""
        if self._closed:
            return
        self._closed = True
        if keep and self._error is None:
            put_unless(self._queue, _END, self._stopped)
        else:
            self._discard.set()
        self._thread.join()
        if keep and self._error is None:
            self._file.__exit__(None, None, None)  # fsync + rename
            return
        self._writer.abort()
        error = self._error or _Discarded()
        self._file.__exit__(type(error), error, error.__traceback__)  # removes the temp file
        if self._error is not None:
            raise self._error

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self.close(keep=exc_type is None)


class _Discarded(Exception):
    """What ``atomic_open`` is told when the caller discards the video (``close(keep=False)``): remove the temp file."""
