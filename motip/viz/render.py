"""Drawing matched frames with cv2 primitives, encoding them to .mp4, and the worst-frames contact sheet.

Speed matters (a DanceTrack val sequence is ~1000 frames of 1920x1080): a reader thread decodes the next frames, the
main thread draws in place on the decoded image (no per-frame full-size copies or blends; faint ignore regions
and the HUD strip blend only their own small areas), and a writer thread encodes. cv2 releases the GIL in imread,
drawing and VideoWriter.write, so the three overlap on two cores.
"""

from __future__ import annotations

import contextlib
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from motip.atomic import atomic_write_bytes
from motip.errors import DataError, MotipError
from motip.viz.matching import Category, FrameResult

# BGR colours of the categories; the legend and docs/viz.md use the same names.
COLOURS: dict[Category, tuple[int, int, int]] = {
    Category.MATCHED: (0, 200, 0),       # green
    Category.SWITCHED: (0, 140, 255),    # orange
    Category.MISSED: (255, 0, 0),        # blue (dashed)
    Category.FP: (0, 0, 255),            # red
    Category.IGNORED: (170, 170, 170),   # faint grey
}
LEGEND: list[tuple[Category, str, str]] = [  # (category, label, short label for narrow frames)
    (Category.MATCHED, "matched, stable ID", "matched"),
    (Category.SWITCHED, "matched, ID switched", "ID switched"),
    (Category.MISSED, "missed GT (FN)", "missed (FN)"),
    (Category.FP, "false positive (FP)", "false pos. (FP)"),
    (Category.IGNORED, "on ignore region", "ignored"),
]
IGNORE_REGION_COLOUR = (220, 220, 220)
FONT = cv2.FONT_HERSHEY_SIMPLEX
HUD_MAX_FRACTION = 0.08   # the HUD strip covers at most this much of a frame; else it goes into a margin below
HUD_BACKGROUND = (30, 30, 30)
HUD_OPACITY = 0.8         # strip over the scene: the scene shows faintly through it


def count_texts(frame: int, length: int, this: tuple[int, int, int], cumulative: tuple[int, int, int]) -> list[str]:
    """The HUD's and the contact sheet captions' words for the counts: this frame's own FN/FP/IDSW, and the
    cumulative ones from the first frame up to and including this one."""
    return [f"frame {frame}/{length}",
            "this frame: FN {}  FP {}  IDSW {}".format(*this),
            "cumulative: FN {}  FP {}  IDSW {}".format(*cumulative)]


@dataclass(frozen=True)
class Style:
    """Sizes scaled to the frame height so a 640x360 and a 1920x1080 video look alike."""

    thickness: int
    font_scale: float
    font_thickness: int
    dash: int

    @staticmethod
    def for_height(height: int) -> Style:
        scale = height / 1080
        return Style(thickness=max(3, round(4 * scale)), font_scale=max(0.35, 0.75 * scale),
                     font_thickness=max(1, round(2 * scale)), dash=max(6, round(18 * scale)))


@dataclass
class _Item:
    """One piece of the HUD strip: a legend entry (swatch + words) or a counts slot (filled per frame)."""

    text: str
    width: int
    category: Category | None = None
    slot: int = -1          # index into count_texts() for a counts slot
    x: int = 0
    row: int = 0


@dataclass
class HudLayout:
    """Where the HUD goes: a strip of ``height`` px at the bottom edge of the frame (``margin`` 0), or, when that
    strip would cover more than HUD_MAX_FRACTION of the frame, the same strip in a margin added below it."""

    height: int
    margin: int
    font_scale: float
    thickness: int
    row_height: int
    text_height: int
    items: list[_Item]


def layout_hud(width: int, height: int, length: int) -> HudLayout:
    """Pack the counts and the legend into as few rows as the frame's width allows, text scaled to the frame."""
    font_scale = max(0.4, 0.6 * height / 1080)
    thickness = max(1, round(1.5 * height / 1080))
    plan = _pack(width, length, font_scale, thickness, short=False)
    rows = 1 + max(i.row for i in plan[0])
    if rows > 2:  # narrow frame: the short legend words may save a row
        short = _pack(width, length, font_scale, thickness, short=True)
        if 1 + max(i.row for i in short[0]) < rows:
            plan = short
    items, row_height, text_height = plan
    strip = (1 + max(i.row for i in items)) * row_height + max(4, row_height // 4)
    strip += strip % 2  # even sizes for H.264 (yuv420p)
    margin = strip if strip > HUD_MAX_FRACTION * height else 0
    return HudLayout(strip, margin, font_scale, thickness, row_height, text_height, items)


def _pack(width: int, length: int, font_scale: float, thickness: int,
          short: bool) -> tuple[list[_Item], int, int]:
    (_, text_h), base = cv2.getTextSize("Ag", FONT, font_scale, thickness)
    row_height = int((text_h + base) * 1.6)
    gap = max(8, text_h)
    swatch = int(text_h * 1.6)
    digits = max(3, len(str(length)))
    widest = count_texts(10 ** digits - 1, 10 ** digits - 1, (999, 999, 99), (999999, 999999, 9999))
    items = [_Item(text, cv2.getTextSize(text, FONT, font_scale, thickness)[0][0], slot=k)
             for k, text in enumerate(widest)]
    items += [_Item(words, swatch + gap // 2 + cv2.getTextSize(words, FONT, font_scale, thickness)[0][0],
                    category=category)
              for category, long_words, short_words in LEGEND
              for words in [short_words if short else long_words]]
    x, row, first_legend = gap, 0, True
    for item in items:
        if item.category is not None and first_legend:  # the legend starts a row of its own when it can
            first_legend = False
            if x > gap and x + sum(i.width + 2 * gap for i in items if i.category is not None) > width:
                x, row = gap, row + 1
        elif x > gap and x + item.width > width - gap:
            x, row = gap, row + 1
        item.x, item.row = x, row
        x += item.width + 2 * gap
    return items, row_height, text_h


class FrameDrawer:
    """Draws one sequence's frames; keeps the HUD strip's static part (built once) and the cumulative counts."""

    def __init__(self, width: int, height: int, length: int) -> None:
        self.width, self.height, self.length = width, height, length
        self.style = Style.for_height(height)
        self.fn = self.fp = self.idsw = 0
        self.hud = layout_hud(width, height, length)
        self._strip = self._make_strip()

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the drawn frames: the frame, plus the HUD margin on frames too small for a strip."""
        return self.width, self.height + self.hud.margin

    def _make_strip(self) -> np.ndarray:
        hud = self.hud
        strip = np.full((hud.height, self.width, 3), HUD_BACKGROUND, np.uint8)
        for item in hud.items:
            if item.category is None:
                continue
            y = self._baseline(item.row)
            size = int(hud.text_height * 1.6)
            x0, y0, x1, y1 = item.x, y - hud.text_height, item.x + size, y
            colour = COLOURS[item.category]
            line = max(2, hud.thickness + 1)
            if item.category == Category.MISSED:
                _dashed_rect(strip, x0, y0, x1, y1, colour, line, max(3, size // 4))
            else:
                cv2.rectangle(strip, (x0, y0), (x1, y1), colour, line if item.category != Category.IGNORED else 1)
            cv2.putText(strip, item.text, (x1 + max(4, hud.text_height // 2), y), FONT, hud.font_scale,
                        (225, 225, 225), hud.thickness, cv2.LINE_AA)
        return strip

    def _baseline(self, row: int) -> int:
        hud = self.hud
        return max(2, hud.row_height // 8) + row * hud.row_height + (hud.row_height + hud.text_height) // 2

    def texts(self, result: FrameResult) -> list[str]:
        """This frame's count texts (call after ``draw_boxes`` counted it)."""
        return count_texts(result.frame, self.length, (result.fn, result.fp, result.idsw),
                           (self.fn, self.fp, self.idsw))

    def draw(self, image: np.ndarray, result: FrameResult) -> np.ndarray:
        """Draw ``result`` and the HUD; returns the frame to write: ``image`` itself, drawn in place, or on frames
        too small for a strip a taller copy with the HUD in a margin below the scene."""
        self.draw_boxes(image, result)
        return self.draw_hud(image, result)

    def draw_boxes(self, image: np.ndarray, result: FrameResult) -> None:
        """The boxes and labels of ``result``, in place; adds the frame's counts to the cumulative ones."""
        s = self.style
        self.fn += result.fn
        self.fp += result.fp
        self.idsw += result.idsw
        for x, y, w, h in result.ignore_regions:
            _blend_rect(image, int(x), int(y), int(x + w), int(y + h), IGNORE_REGION_COLOUR, 0.25)
        # Faint first, then misses, then predictions, so the important boxes are on top.
        order = (Category.IGNORED, Category.MISSED, Category.FP, Category.MATCHED, Category.SWITCHED)
        for category in order:
            colour = COLOURS[category]
            for box in (b for b in result.boxes if b.category == category):
                x0, y0 = int(round(box.box[0])), int(round(box.box[1]))
                x1, y1 = int(round(box.box[0] + box.box[2])), int(round(box.box[1] + box.box[3]))
                if category == Category.MISSED:
                    _dashed_rect(image, x0, y0, x1, y1, colour, s.thickness, s.dash)
                elif category == Category.IGNORED:
                    cv2.rectangle(image, (x0, y0), (x1, y1), colour, 1)
                    continue
                else:
                    thick = s.thickness * 2 if box.switch_here else s.thickness
                    cv2.rectangle(image, (x0, y0), (x1, y1), colour, thick)
                label = f"IDSW {box.label}" if box.switch_here else box.label
                _label(image, label, x0, y0, colour, s)

    def draw_hud(self, image: np.ndarray, result: FrameResult) -> np.ndarray:
        hud = self.hud
        h = image.shape[0]
        if hud.margin:
            out = np.empty((h + hud.margin, image.shape[1], 3), np.uint8)
            out[:h] = image
            out[h:] = self._strip[:, : image.shape[1]]
            roi = out[h:]
        else:
            out = image
            roi = image[h - hud.height:]
            # Translucent over the scene, its own area only (a few % of the frame: cheap).
            cv2.addWeighted(roi, 1 - HUD_OPACITY, self._strip[:, : image.shape[1]], HUD_OPACITY, 0, dst=roi)
        for item, text in zip((i for i in hud.items if i.category is None), self.texts(result)):
            y = self._baseline(item.row)
            if item.slot == 1 and result.idsw:  # an ID switch in this frame: this frame's counts on orange
                (tw, th), base = cv2.getTextSize(text, FONT, hud.font_scale, hud.thickness)
                cv2.rectangle(roi, (item.x - 4, y - th - 4), (item.x + tw + 4, y + base + 2),
                              COLOURS[Category.SWITCHED], -1)
                ink = (0, 0, 0)
            else:
                ink = (255, 255, 255)
            cv2.putText(roi, text, (item.x, y), FONT, hud.font_scale, ink, hud.thickness, cv2.LINE_AA)
        return out


def _label(image: np.ndarray, text: str, x: int, y: int, colour: tuple[int, int, int], s: Style) -> None:
    (tw, th), base = cv2.getTextSize(text, FONT, s.font_scale * 0.8, s.font_thickness)
    top = y - th - base - 4 if y - th - base - 4 >= 0 else y  # inside the box when it touches the top edge
    cv2.rectangle(image, (x, top), (x + tw + 6, top + th + base + 4), colour, -1)
    ink = (0, 0, 0) if 0.114 * colour[0] + 0.587 * colour[1] + 0.299 * colour[2] > 110 else (255, 255, 255)
    cv2.putText(image, text, (x + 3, top + th + 2), FONT, s.font_scale * 0.8, ink, s.font_thickness,
                cv2.LINE_AA)


def _dashed_rect(image: np.ndarray, x0: int, y0: int, x1: int, y1: int, colour: tuple[int, int, int],
                 thickness: int, dash: int) -> None:
    """A dashed rectangle as one cv2.polylines call over all dash segments."""
    segments = []
    for (ax, ay), (bx, by) in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)),
                               ((x0, y1), (x0, y0))):
        length = max(abs(bx - ax), abs(by - ay))
        steps = np.arange(0, length, 2 * dash)
        if length == 0 or len(steps) == 0:
            continue
        ends = np.minimum(steps + dash, length)
        dx, dy = np.sign(bx - ax), np.sign(by - ay)
        starts_xy = np.stack([ax + dx * steps, ay + dy * steps], axis=1)
        ends_xy = np.stack([ax + dx * ends, ay + dy * ends], axis=1)
        segments.append(np.stack([starts_xy, ends_xy], axis=1))
    if segments:
        pts = np.concatenate(segments).astype(np.int32)
        cv2.polylines(image, list(pts), False, colour, thickness)


def _blend_rect(image: np.ndarray, x0: int, y0: int, x1: int, y1: int, colour: tuple[int, int, int],
                alpha: float) -> None:
    h, w = image.shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return
    roi = image[y0:y1, x0:x1]
    if colour[0] == colour[1] == colour[2]:  # grey: one scale-and-shift pass, no temporary image
        cv2.convertScaleAbs(roi, dst=roi, alpha=1 - alpha, beta=alpha * colour[0])
    else:
        cv2.addWeighted(roi, 1 - alpha, np.full_like(roi, colour), alpha, 0, dst=roi)
    cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), colour, 1)


# ------------------------------------------------------------------------------------------------- reading frames

def read_frame(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError("cannot read this image (missing, empty or not an image)", path=path,
                        hint="check the dataset's img1 folder (broken symlinks after moving the source data?)")
    return image


def prefetch(paths: list[Path], depth: int = 6) -> Iterator[np.ndarray]:
    """Decode ``paths`` in a background thread, ``depth`` frames ahead; errors surface in order."""
    slots: queue.Queue[tuple[np.ndarray | None, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        for path in paths:
            if stop.is_set():
                return
            try:
                slots.put((read_frame(path), None))
            except BaseException as err:  # noqa: BLE001 - handed to the consumer
                slots.put((None, err))
                return

    thread = threading.Thread(target=work, name="viz-reader", daemon=True)
    thread.start()
    try:
        for _ in paths:
            image, err = slots.get()
            if err is not None:
                raise err
            assert image is not None
            yield image
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                slots.get_nowait()
        thread.join(timeout=5)


# ------------------------------------------------------------------------------------------------- writing video

_FOURCC_CACHE: dict[tuple[int, int], str] = {}


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


class _H264Writer:
    """H.264 through PyAV's bundled libx264 (preset ultrafast): plays in every normal player (browsers and
    QuickTime included, unlike mp4v), encodes 1080p about twice as fast as OpenCV's mp4v, and the files are many
    times smaller. yuv420p needs even frame sizes."""

    codec = "h264"

    def __init__(self, path: Path, width: int, height: int, fps: float) -> None:
        import av  # noqa: PLC0415 - optional: the OpenCV writer is the fallback

        self._av = av
        self._container = av.open(str(path), "w", format="mp4")
        stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        stream.thread_count = os.cpu_count() or 2
        self._stream = stream

    def write(self, image: np.ndarray) -> None:
        for packet in self._stream.encode(self._av.VideoFrame.from_ndarray(image, format="bgr24")):
            self._container.mux(packet)

    def release(self) -> None:
        for packet in self._stream.encode():  # flush the encoder's delayed frames
            self._container.mux(packet)
        self._container.close()


class _OpenCvWriter:
    """cv2.VideoWriter (avc1 when this OpenCV can encode it, else mp4v): the fallback without PyAV."""

    def __init__(self, path: Path, width: int, height: int, fps: float) -> None:
        self.codec = pick_fourcc(width, height)
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*self.codec), fps, (width, height))
        if not self._writer.isOpened():
            raise MotipError(f"OpenCV cannot open a video writer ({self.codec}, {width}x{height})", path=path,
                             hint="check the output folder is writable; opencv-python must be built with FFmpeg")

    def write(self, image: np.ndarray) -> None:
        self._writer.write(image)

    def release(self) -> None:
        self._writer.release()


def open_video_writer(path: Path, width: int, height: int, fps: float) -> _H264Writer | _OpenCvWriter:
    if width % 2 == 0 and height % 2 == 0:
        try:
            return _H264Writer(path, width, height, fps)
        except (ImportError, ValueError, OSError):  # no PyAV, or no libx264 in its FFmpeg
            pass
    return _OpenCvWriter(path, width, height, fps)


class VideoSink:
    """An .mp4 written by a background thread; appears at ``path`` (renamed from a temp name) only when complete."""

    def __init__(self, path: Path, width: int, height: int, fps: float, depth: int = 6) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
        self._writer = open_video_writer(self._tmp, width, height, fps)
        self.codec = self._writer.codec
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="viz-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            image = self._queue.get()
            if image is None:
                return
            try:
                self._writer.write(image)
            except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
                self._error = err

    def write(self, image: np.ndarray) -> None:
        """Queue a frame; the caller must not modify ``image`` afterwards (hand over a fresh decode each time)."""
        if self._error is not None:
            raise self._error
        self._queue.put(image)

    def close(self, keep: bool = True) -> None:
        self._queue.put(None)
        self._thread.join()
        try:
            self._writer.release()
        except BaseException as err:  # noqa: BLE001
            self._error = self._error or err
        if self._error is not None:
            keep = False
        if keep:
            os.replace(self._tmp, self.path)
        else:
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()
        if self._error is not None:
            raise self._error


# ------------------------------------------------------------------------------------------------- contact sheet

def pick_worst_frames(results: list[FrameResult], count: int = 6) -> list[int]:
    """Frame numbers of the ``count`` worst frames (most FN + FP + 3 x IDSW), spread out: no two closer than
    1/(3*count) of the sequence, so one bad stretch does not fill the sheet."""
    gap = max(1, len(results) // (3 * count))
    ranked = sorted((r for r in results if r.badness > 0), key=lambda r: (-r.badness, r.frame))
    chosen: list[int] = []
    for r in ranked:
        if all(abs(r.frame - c) >= gap for c in chosen):
            chosen.append(r.frame)
            if len(chosen) == count:
                break
    return sorted(chosen)


def thumbnail(image: np.ndarray, width: int = 640) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


CAPTION_FONT = 0.55


def captioned(tile: np.ndarray, texts: list[str]) -> np.ndarray:
    """The tile with a caption strip under it: ``count_texts`` (the HUD's words), as many lines as the width needs."""
    lines: list[str] = []
    for text in texts:
        joined = f"{lines[-1]}   {text}" if lines else text
        if lines and cv2.getTextSize(joined, FONT, CAPTION_FONT, 1)[0][0] <= tile.shape[1] - 16:
            lines[-1] = joined
        else:
            lines.append(text)
    strip = np.full((8 + 24 * len(lines), tile.shape[1], 3), 45, np.uint8)
    for k, line in enumerate(lines):
        cv2.putText(strip, line, (8, 22 + 24 * k), FONT, CAPTION_FONT, (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([tile, strip])


def _sheet_legend(width: int) -> np.ndarray:
    """The colour legend once for the whole contact sheet (its tiles show the scene without the HUD strip)."""
    strip = np.full((34, width, 3), 25, np.uint8)
    x = 10
    for category, words, _ in LEGEND:
        colour = COLOURS[category]
        if category == Category.MISSED:
            _dashed_rect(strip, x, 8, x + 22, 26, colour, 2, 4)
        else:
            cv2.rectangle(strip, (x, 8), (x + 22, 26), colour, 2 if category != Category.IGNORED else 1)
        cv2.putText(strip, words, (x + 30, 24), FONT, CAPTION_FONT, (225, 225, 225), 1, cv2.LINE_AA)
        x += 30 + cv2.getTextSize(words, FONT, CAPTION_FONT, 1)[0][0] + 24
    return strip


def write_contact_sheet(path: Path, title: str, tiles: list[np.ndarray], columns: int = 3) -> None:
    """A PNG grid of ``tiles`` (same size) under a title bar and the colour legend; a 'no errors' card when there
    are none."""
    if tiles:
        th, tw = max(t.shape[0] for t in tiles), tiles[0].shape[1]
    else:
        th, tw = 360, 640
    rows = max(1, -(-len(tiles) // columns))
    cols = min(columns, max(1, len(tiles)))
    legend = _sheet_legend(cols * tw)
    bar = 50 + legend.shape[0]
    sheet = np.full((bar + rows * th, cols * tw, 3), 25, np.uint8)
    cv2.putText(sheet, title, (10, 34), FONT, 0.9, (255, 255, 255), 2, cv2.LINE_AA)
    sheet[50:bar] = legend
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        sheet[bar + r * th: bar + r * th + tile.shape[0], c * tw: (c + 1) * tw] = tile
    if not tiles:
        cv2.putText(sheet, "no FN / FP / IDSW in this sequence", (20, bar + th // 2), FONT, 0.9,
                    COLOURS[Category.MATCHED], 2, cv2.LINE_AA)
    ok, data = cv2.imencode(".png", sheet)
    if not ok:
        raise MotipError("cannot encode the contact sheet PNG", path=path)
    atomic_write_bytes(path, data.tobytes())


# ------------------------------------------------------------------------------------------------- one sequence

@dataclass
class RenderedSequence:
    video: Path
    contact_sheet: Path
    worst_frames: list[int]
    frames: int
    codec: str
    captions: list[list[str]]  # the contact sheet's caption lines per worst frame (count_texts)


def render_sequence(name: str, image_paths: list[Path], results: list[FrameResult], video_path: Path,
                    sheet_path: Path, fps: float, on_frame: Callable[[], None] | None = None,
                    worst_count: int = 6, scale: float = 1.0) -> RenderedSequence:
    """Draw every frame of one sequence into ``video_path`` and its worst frames into ``sheet_path``.
    ``scale`` < 1 shrinks the video after drawing (smaller files and faster encoding; boxes drawn at full size)."""
    first = read_frame(image_paths[0])
    height, width = first.shape[:2]
    drawer = FrameDrawer(width, height, len(results))
    worst = set(pick_worst_frames(results, worst_count))
    tiles: list[np.ndarray] = []
    captions: list[list[str]] = []
    drawn_w, drawn_h = drawer.output_size  # frames too small for a HUD strip get a margin below
    if scale == 1.0:
        out_size = (drawn_w, drawn_h)
    else:  # even sizes, so the H.264 writer (yuv420p) takes them
        out_size = (max(2, 2 * round(drawn_w * scale / 2)), max(2, 2 * round(drawn_h * scale / 2)))
    sink = VideoSink(video_path, out_size[0], out_size[1], fps if fps > 0 else 25.0)
    ok = False
    try:
        for result, image in zip(results, prefetch(image_paths)):
            if image.shape[:2] != (height, width):  # the encoder needs one size; rare mixed-size sequences
                image = cv2.resize(image, (width, height))
            drawer.draw_boxes(image, result)
            if result.frame in worst:  # the sheet shows the whole scene: its captions and legend replace the HUD
                captions.append(drawer.texts(result))
                tiles.append(captioned(thumbnail(image), captions[-1]))
            image = drawer.draw_hud(image, result)
            if out_size != (drawn_w, drawn_h):
                image = cv2.resize(image, out_size, interpolation=cv2.INTER_AREA)
            sink.write(image)
            if on_frame is not None:
                on_frame()
        ok = True
    finally:
        sink.close(keep=ok)
    title = (f"{name}: worst frames   sequence total: FN {drawer.fn}  FP {drawer.fp}  IDSW {drawer.idsw}  "
             f"over {len(results)} frames")
    write_contact_sheet(sheet_path, title, tiles)
    return RenderedSequence(video_path, sheet_path, sorted(worst), len(results), sink.codec, captions)
