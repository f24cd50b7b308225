"""Drawing matched frames with cv2 primitives, encoding them to .mp4, and the worst-frames contact sheet.

Speed matters (a DanceTrack val sequence is ~1000 frames of 1920x1080): a reader thread decodes the next frames
(``motip.viz.pipeline.ReadAhead``), the caller's thread draws in place on the decoded image (no per-frame full-size
copies or blends; faint ignore regions and the HUD strip blend only their own small areas), and the encoder thread
(``motip.viz.video.VideoSink``) encodes with libx264's own threads. OpenCV and FFmpeg release the GIL while they
work, so the stages overlap on two cores. ``draw_frames`` is the one drawing loop; ``render_sequence`` runs it on the
read-ahead frames, a test runs it on frames read one by one and gets the same pixels.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from motip.atomic import atomic_write_bytes
from motip.errors import DataError, MotipError
from motip.viz.matching import Category, FrameResult
from motip.viz.pipeline import FramePool, ReadAhead
from motip.viz.video import VideoSink

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

# The last pixels of a reused buffer before a decode into it: a decode that fails (cv2.imread then returns the
# buffer untouched) or stops part-way never writes the last row, so they survive.
_UNDECODED = np.array([7, 250, 3, 251, 5, 249, 9, 2, 247, 253, 11, 4], np.uint8)


def read_frame(path: Path, into: np.ndarray | None = None) -> np.ndarray:
    """Decode an image as BGR; into ``into`` (a C-contiguous buffer of the image's shape, reused) when given, else
    into a new array. Raises ``DataError`` for a missing or undecodable file either way."""
    if into is not None:
        tail = into.reshape(-1)[-_UNDECODED.size:]
        tail[:] = _UNDECODED
        try:
            image = cv2.imread(str(path), into, cv2.IMREAD_COLOR)
        except cv2.error:  # an image of another size than the buffer
            image = None
        if image is into and not np.array_equal(tail, _UNDECODED):
            return image
        # Not decoded into the buffer (or, about once in 2^96 frames, the image ends in those very pixels):
        # a plain decode says which.
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError("cannot read this image (missing, empty or not an image)", path=path,
                        hint="check the dataset's img1 folder (broken symlinks after moving the source data?)")
    return image


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


def contact_sheet_png(path: Path, title: str, tiles: list[np.ndarray], columns: int = 3) -> bytes:
    """A PNG grid of ``tiles`` (same size) under a title bar and the colour legend; a 'no errors' card when there
    are none. ``path`` only names the file in an error."""
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
    return data.tobytes()


# ------------------------------------------------------------------------------------------------- one sequence

@dataclass
class RenderedSequence:
    video: Path
    contact_sheet: Path
    worst_frames: list[int]
    frames: int
    codec: str
    captions: list[list[str]]  # the contact sheet's caption lines per worst frame (count_texts)


@dataclass
class DrawnSequence:
    """What ``draw_frames`` collects besides the frames: the contact sheet's tiles and captions, the totals."""

    tiles: list[np.ndarray]
    captions: list[list[str]]  # the contact sheet's caption lines per worst frame (count_texts)
    drawer: FrameDrawer


def output_size(drawer: FrameDrawer, scale: float) -> tuple[int, int]:
    """(width, height) of the video: the drawn frame's, or ``scale`` times it in even sizes (yuv420p needs them)."""
    drawn_w, drawn_h = drawer.output_size  # frames too small for a HUD strip get a margin below
    if scale == 1.0:
        return drawn_w, drawn_h
    return max(2, 2 * round(drawn_w * scale / 2)), max(2, 2 * round(drawn_h * scale / 2))


def draw_frames(images: Iterable[np.ndarray], results: list[FrameResult], drawer: FrameDrawer, worst: set[int],
                scale: float, collected: DrawnSequence) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The drawing loop: yields (drawn frame, decoded image) pairs. The drawn frame is the decoded image itself,
    drawn in place, or a new array (a HUD margin, ``scale``, a frame of another size); the worst frames' thumbnails
    (whole scene, no HUD) and captions go into ``collected``."""
    width, height = drawer.width, drawer.height
    out_size = output_size(drawer, scale)
    for result, decoded in zip(results, images):
        image = decoded
        if image.shape[:2] != (height, width):  # the encoder needs one size; rare mixed-size sequences
            image = cv2.resize(image, (width, height))
        drawer.draw_boxes(image, result)
        if result.frame in worst:  # the sheet shows the whole scene: its captions and legend replace the HUD
            collected.captions.append(drawer.texts(result))
            collected.tiles.append(captioned(thumbnail(image), collected.captions[-1]))
        image = drawer.draw_hud(image, result)
        if out_size != drawer.output_size:
            image = cv2.resize(image, out_size, interpolation=cv2.INTER_AREA)
        yield image, decoded


READ_AHEAD = 4  # decoded frames waiting for the drawer (and as many drawn frames waiting for the encoder): ~6 MB each


def render_sequence(name: str, image_paths: list[Path], results: list[FrameResult], video_path: Path,
                    sheet_path: Path, fps: float, on_frame: Callable[[], None] | None = None,
                    worst_count: int = 6, scale: float = 1.0) -> RenderedSequence:
    """Draw every frame of one sequence into ``video_path`` and its worst frames into ``sheet_path``.
    ``scale`` < 1 shrinks the video after drawing (smaller files and faster encoding; boxes drawn at full size).

    Reading, drawing and encoding overlap (module docstring); an error in any of them stops all three and is raised
    here with its original message, and no video is left at ``video_path`` (a previous one stays)."""
    first = read_frame(image_paths[0])
    height, width = first.shape[:2]
    drawer = FrameDrawer(width, height, len(results))
    worst = set(pick_worst_frames(results, worst_count))
    collected = DrawnSequence([], [], drawer)
    out_w, out_h = output_size(drawer, scale)
    # Buffers in flight: READ_AHEAD decoded + one being decoded + one being drawn + READ_AHEAD drawn + one encoding.
    pool = FramePool(2 * READ_AHEAD + 3, first.shape)

    def decode(path: Path) -> np.ndarray:
        buffer = pool.take()
        image = read_frame(path, buffer)
        if image is not buffer:
            pool.give(buffer)
        return image

    with contextlib.ExitStack() as stages:  # left in reverse: the encoder, then the pool, then the reader
        decoded_frames = stages.enter_context(ReadAhead(image_paths, decode, depth=READ_AHEAD))
        stages.callback(pool.close)  # wakes a reader waiting for a free buffer, so it ends at once
        sink = stages.enter_context(VideoSink(video_path, out_w, out_h, fps if fps > 0 else 25.0, depth=READ_AHEAD))
        for drawn, decoded in draw_frames(decoded_frames, results, drawer, worst, scale, collected):
            if drawn is decoded:  # back to the pool once encoded
                sink.write(drawn, done=lambda buffer=decoded: pool.give(buffer))
            else:
                pool.give(decoded)
                sink.write(drawn)
            if on_frame is not None:
                on_frame()
        # Every frame is drawn: build the sheet while the encoder finishes its queued frames; write it only once the
        # video is complete, so a failed video never comes with a new sheet.
        title = (f"{name}: worst frames   sequence total: FN {drawer.fn}  FP {drawer.fp}  IDSW {drawer.idsw}  "
                 f"over {len(results)} frames")
        sheet_png = contact_sheet_png(sheet_path, title, collected.tiles)
    atomic_write_bytes(sheet_path, sheet_png)
    return RenderedSequence(video_path, sheet_path, sorted(worst), len(results), sink.codec, collected.captions)
