"""THE home of the built dataset's MOTChallenge file format: GT sequence folders, ignore sidecars, tracker files,
seqmaps. Everything that reads these files reads them here: training clips (``motip.data.dataset``), evaluation
(``motip.eval.metrics``), videos (``motip.viz``); the builder (``motip.data.mot_format``) writes them with this
module's file names and number formatting.

Formats (one box per line, comma separated; see docs/eval.md):

``<seq>/gt/gt.txt``      ``frame,id,x,y,w,h,conf,class,visibility``  (class 1 person, 2 vehicle)
``<seq>/gt/ignore.txt``  ``frame,-1,x,y,w,h,0,-1,-1``  ignore regions / ignored objects (file may be absent)
``<seq>/seqinfo.ini``    MOTChallenge ``[Sequence]`` section (name, imDir, frameRate, seqLength, imWidth, imHeight,
                         imExt); frames are ``<imDir>/%08d<imExt>``, numbered from 1
``<tracker>/<seq>.txt``  ``frame,id,x,y,w,h,score,class,-1,-1``; class -1 (other tools' MOT files) means class 1
``<split>_seqmap.txt``   first line ``name``, then one sequence name per line

Everything here is torch-free and returns numpy arrays in a small ``MotBoxes`` table. A line that cannot be read
raises ``motip.errors.DataError`` naming the file and the line.
"""

from __future__ import annotations

import configparser
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motip.atomic import atomic_write_text
from motip.errors import DataError

GT_FILE = "gt/gt.txt"
IGNORE_FILE = "gt/ignore.txt"
SEQINFO_FILE = "seqinfo.ini"


@dataclass(frozen=True)
class Sequence:
    """One sequence folder as described by its seqinfo.ini."""

    name: str
    length: int          # number of frames; frames are numbered 1..length
    width: int
    height: int
    frame_rate: float
    img_dir: Path        # absolute folder of the frames (seqinfo ``imDir``, default img1)
    path: Path           # the sequence folder
    img_ext: str = ".jpg"

    @property
    def has_gt(self) -> bool:
        return (self.path / GT_FILE).is_file()

    def frame_path(self, frame: int) -> Path:
        """The image of frame ``frame`` (1-based): ``<imDir>/%08d<imExt>``."""
        return self.img_dir / f"{frame:08d}{self.img_ext}"


@dataclass(frozen=True)
class MotBoxes:
    """A table of boxes, one row per file line. Boxes are ``x, y, w, h`` (top-left corner, size) in pixels.

    ``score`` is the tracker score (tracker files) or the ``conf`` column (gt.txt: 0 marks a row to ignore in
    MOTChallenge GT). ``visibility`` is 1 where a file has no such column. ``line`` is the 1-based file line of
    each row, for error messages.
    """

    frame: np.ndarray        # int64 (N,)
    id: np.ndarray           # int64 (N,)
    xywh: np.ndarray         # float64 (N, 4)
    score: np.ndarray        # float64 (N,)
    cls: np.ndarray          # int64 (N,)
    visibility: np.ndarray   # float64 (N,)
    line: np.ndarray         # int64 (N,)
    source: Path | None = None

    def __len__(self) -> int:
        return int(self.frame.shape[0])

    def select(self, mask: np.ndarray) -> MotBoxes:
        """The rows where ``mask`` (bool array or index array) selects."""
        return MotBoxes(self.frame[mask], self.id[mask], self.xywh[mask], self.score[mask], self.cls[mask],
                        self.visibility[mask], self.line[mask], self.source)

    def boxes_by_frame(self, length: int | None = None) -> dict[int, MotBoxes]:
        """frame -> the rows of that frame, for every frame 1..length (empty tables included) when ``length`` is
        given, else only for the frames that have rows."""
        order = np.argsort(self.frame, kind="stable")
        ordered = self.select(order)
        frames, starts = np.unique(ordered.frame, return_index=True)
        ends = np.append(starts[1:], len(ordered)) if len(starts) else starts
        result = {int(f): ordered.select(slice(s, e)) for f, s, e in zip(frames, starts, ends, strict=True)}
        if length is not None:
            empty = self.select(np.zeros(len(self), dtype=bool))
            result = {t: result.get(t, empty) for t in range(1, length + 1)}
        return result

    @staticmethod
    def empty(source: Path | None = None) -> MotBoxes:
        return MotBoxes(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0),
                        np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64), source)


# ---------------------------------------------------------------------------------------------------------- parsing

# The fast path reads files made only of these bytes: plain decimals ([+-]digits[.digits]), commas and newlines --
# every file our writer, the builder and TrackEval's MOTChallenge files produce. Anything else (spaces, exponents,
# blank-looking lines with spaces, bad values) goes through the line-by-line parser, which also words the errors.
_PLAIN_BYTES = b"0123456789.,-+\n"
# At most 15 digits, so a number's digits form an integer m < 2**53 and 10**d (d <= 15) is exact: m / 10**d is then
# the correctly rounded value of the decimal, the same double Python's float() gives (Clinger's exact case).
_MAX_DIGITS = 15
_POW10_INT = np.array([10**i for i in range(_MAX_DIGITS + 1)], dtype=np.int64)
_POW10 = _POW10_INT.astype(np.float64)
_BLOCK_BYTES = 1 << 22  # parse in blocks of whole lines, bounding the per-byte index arrays (~20 bytes a byte)


def _parse_plain_block(data: bytes) -> np.ndarray | None:
    """The numbers of ``data`` (whole non-empty lines of plain decimals, each ending in a newline) as a (lines,
    columns) table; None when a number is not plain (empty, two dots, a misplaced sign, more than 15 digits) or the
    lines differ in their number of columns."""
    buf = np.frombuffer(data, dtype=np.uint8)
    is_sep = (buf == ord(",")) | (buf == ord("\n"))                 # a separator ends each number
    sep_pos = np.flatnonzero(is_sep)
    is_digit = (buf - np.uint8(ord("0"))) < 10
    digits_upto = np.cumsum(is_digit, dtype=np.int32)               # digits at or before each byte
    digits_end = digits_upto[sep_pos]                               # ... at the end of each number
    n_digits = np.diff(digits_end, prepend=0)
    if n_digits.min() == 0 or n_digits.max() > _MAX_DIGITS:
        return None
    digits = buf[is_digit] - np.uint8(ord("0"))
    place = np.repeat(digits_end, n_digits) - np.arange(1, len(digits) + 1, dtype=np.int32)  # digits after each
    mantissa = np.add.reduceat(digits * _POW10_INT[place], digits_end - n_digits)         # exact: < 10**15
    number_of = np.cumsum(is_sep, dtype=np.int32)                   # the number a non-separator byte belongs to
    dot_pos = np.flatnonzero(buf == ord("."))
    dot_number = number_of[dot_pos]
    if len(dot_number) > 1 and (np.diff(dot_number) == 0).any():   # two dots in one number
        return None
    decimals = np.zeros(len(sep_pos), dtype=np.intp)
    decimals[dot_number] = digits_end[dot_number] - digits_upto[dot_pos]
    values = mantissa / _POW10[decimals]
    minus_pos = np.flatnonzero(buf == ord("-"))
    for sign_pos in (minus_pos, np.flatnonzero(buf == ord("+"))):
        if len(sign_pos) and not ((sign_pos == 0) | is_sep[sign_pos - 1]).all():  # a sign only opens a number
            return None
    negative = number_of[minus_pos]
    values[negative] = -values[negative]
    line_ends = np.flatnonzero(buf[sep_pos] == ord("\n"))          # the number ending each line
    per_line = np.diff(line_ends, prepend=-1)
    if (per_line != per_line[0]).any():
        return None
    return values.reshape(len(line_ends), int(per_line[0]))


def _parse_plain(data: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """(numbers as a (rows, columns) table, 1-based line of each row) of a file of plain decimals, commas and
    newlines, blank lines skipped; None when the file holds anything else (see ``_PLAIN_BYTES``)."""
    if b"\r" in data:
        if data.count(b"\r") != data.count(b"\r\n"):
            return None
        data = data.replace(b"\r\n", b"\n")
    if data.translate(None, _PLAIN_BYTES):
        return None
    if not data.endswith(b"\n"):
        data += b"\n"
    lines: np.ndarray | None = None
    if data.startswith(b"\n") or b"\n\n" in data:
        texts = data.split(b"\n")[:-1]
        lines = np.asarray([number for number, text in enumerate(texts, 1) if text], dtype=np.int64)
        data = b"".join(text + b"\n" for text in texts if text)
        if not data:
            return np.zeros((0, 0)), lines
    blocks = []
    start = 0
    while start < len(data):
        end = data.find(b"\n", start + _BLOCK_BYTES) + 1 or len(data)
        block = _parse_plain_block(data[start:end])
        if block is None or (blocks and block.shape[1] != blocks[0].shape[1]):
            return None
        blocks.append(block)
        start = end
    table = np.concatenate(blocks)
    return table, (np.arange(1, len(table) + 1, dtype=np.int64) if lines is None else lines)


def _boxes_from_table(table: np.ndarray, lines: np.ndarray, path: Path) -> MotBoxes:
    """A ``MotBoxes`` from rows of ``frame,id,x,y,w,h,score,class,visibility`` (missing columns filled in)."""
    return MotBoxes(frame=table[:, 0].astype(np.int64), id=table[:, 1].astype(np.int64), xywh=table[:, 2:6].copy(),
                    score=table[:, 6].copy(), cls=table[:, 7].astype(np.int64), visibility=table[:, 8].copy(),
                    line=lines, source=path)


def _plain_values_valid(table: np.ndarray) -> bool:
    """Whether every row passes ``_parse_lines``'s value checks (whole frames >= 1, whole ids, w and h >= 0); plain
    decimals of at most 15 digits are always finite."""
    frame, ident, wh = table[:, 0], table[:, 1], table[:, 4:6]
    return bool((frame >= 1).all() and (frame == np.trunc(frame)).all() and (ident == np.trunc(ident)).all()
                and (wh >= 0).all())


def _parse_rows(path: Path, *, kind: str, defaults: tuple[float, float, float]) -> MotBoxes:
    """Parse ``frame,id,x,y,w,h[,score[,class[,visibility]]]`` lines. ``defaults`` fill missing score/class/vis.

    kind is "gt", "ignore" or "tracker"; it only changes what the error messages say. A file of plain decimals with
    valid values is read in bulk (``_parse_plain``); any other file line by line (``_parse_lines``), which gives the
    same table or names the first bad line.
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {kind} file: {err.strerror}", path=path) from None
    plain = _parse_plain(data)
    if plain is not None:
        table, lines = plain
        if len(table) == 0:
            return MotBoxes.empty(path)
        columns = table.shape[1]
        if columns >= 6 and _plain_values_valid(table):
            table = table[:, :9]
            if columns < 9:
                table = np.hstack([table, np.tile(np.asarray(defaults[columns - 6:]), (len(table), 1))])
            return _boxes_from_table(table, lines, path)
    return _parse_lines(path, kind=kind, defaults=defaults)


def _parse_lines(path: Path, *, kind: str, defaults: tuple[float, float, float]) -> MotBoxes:
    """``_parse_rows`` line by line: any file, every value checked, the first bad line named in a ``DataError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{kind} file is not UTF-8 text ({err.reason})", path=path) from None
    except OSError as err:
        raise DataError(f"cannot read {kind} file: {err.strerror}", path=path) from None
    rows: list[tuple[float, ...]] = []
    lines: list[int] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        parts = line.split(",") if "," in line else line.split()   # some tools write spaces instead of commas
        if len(parts) < 6:
            raise DataError(f"expected at least 6 comma-separated values (frame,id,x,y,w,h,...), got {len(parts)}: "
                            f"{line[:80]!r}", path=path, line=number,
                            hint="MOTChallenge lines are frame,id,x,y,w,h,score,class,...")
        try:
            values = [float(p) for p in parts[:9]]
        except ValueError:
            raise DataError(f"not a number in {line[:80]!r}", path=path, line=number,
                            hint="every column of a MOTChallenge file is a number") from None
        values += list(defaults[len(values) - 6:])
        frame, ident, x, y, w, h = values[:6]
        if not all(math.isfinite(v) for v in values[:9]):
            raise DataError(f"NaN or infinite value in {line[:80]!r}", path=path, line=number)
        if frame != int(frame) or frame < 1:
            raise DataError(f"frame must be a whole number >= 1, got {parts[0].strip()!r}", path=path, line=number,
                            hint="MOTChallenge frames are numbered from 1")
        if ident != int(ident):
            raise DataError(f"id must be a whole number, got {parts[1].strip()!r}", path=path, line=number)
        if w < 0 or h < 0:
            raise DataError(f"negative box size w={w:g} h={h:g}", path=path, line=number)
        rows.append(tuple(values[:9]))
        lines.append(number)
    if not rows:
        return MotBoxes.empty(path)
    return _boxes_from_table(np.asarray(rows, dtype=np.float64), np.asarray(lines, dtype=np.int64), path)


def read_gt(seq_dir: str | Path) -> MotBoxes:
    """``<seq>/gt/gt.txt``: ``frame,id,x,y,w,h,conf,class,visibility`` (missing conf/class/visibility = 1)."""
    path = Path(seq_dir) / GT_FILE
    if not path.is_file():
        raise DataError("ground-truth file not found", path=path,
                        hint="a GT sequence folder holds gt/gt.txt (the test split has none: it cannot be scored)")
    return _parse_rows(path, kind="gt", defaults=(1.0, 1.0, 1.0))


def read_ignore(seq_dir: str | Path) -> MotBoxes:
    """``<seq>/gt/ignore.txt``: ignore regions and ignored objects; an empty table when the file is absent."""
    path = Path(seq_dir) / IGNORE_FILE
    if not path.is_file():
        return MotBoxes.empty(path)
    return _parse_rows(path, kind="ignore", defaults=(0.0, -1.0, -1.0))


def read_tracker_file(path: str | Path) -> MotBoxes:
    """``<seq>.txt`` tracker results: ``frame,id,x,y,w,h,score,class,-1,-1``. Class -1 (or a missing class
    column) means class 1, as in other tools' MOT files. ``visibility`` is unused (1)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("tracker file not found", path=path)
    boxes = _parse_rows(path, kind="tracker", defaults=(1.0, -1.0, 1.0))
    cls = np.where(boxes.cls == -1, 1, boxes.cls)
    return MotBoxes(boxes.frame, boxes.id, boxes.xywh, boxes.score, cls, np.ones(len(boxes)), boxes.line, path)


def format_number(value: float) -> str:
    """Compact, deterministic number text of every written MOT file: 12.0 -> "12", 12.5 -> "12.5", 1/3 -> "0.33"."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def format_tracker_lines(boxes: MotBoxes) -> str:
    """Tracker file text, rows sorted by frame then id: boxes with ``format_number`` (0.01 px, as TrackEval's
    MOTChallenge files), score with 4 decimals, the class column (1 person, 2 vehicle), then ``-1,-1``."""
    order = np.lexsort((boxes.id, boxes.frame))
    out = []
    for i in order:
        x, y, w, h = (format_number(v) for v in boxes.xywh[i])
        out.append(f"{boxes.frame[i]},{boxes.id[i]},{x},{y},{w},{h},"
                   f"{boxes.score[i]:.4f},{boxes.cls[i]},-1,-1\n")
    return "".join(out)


def write_tracker_file(path: str | Path, boxes: MotBoxes) -> None:
    """Write (atomically) a tracker file ``frame,id,x,y,w,h,score,class,-1,-1``: THE writer of tracker files (the
    runtime tracker, validation and ``motip track`` all end here)."""
    atomic_write_text(path, format_tracker_lines(boxes))


def concat_boxes(tables: Iterable[MotBoxes], source: Path | None = None) -> MotBoxes:
    """The rows of ``tables`` one after the other (``line`` renumbered 1..N); an empty table when there are none."""
    tables = [t for t in tables if len(t)]
    if not tables:
        return MotBoxes.empty(source)
    return MotBoxes(np.concatenate([t.frame for t in tables]), np.concatenate([t.id for t in tables]),
                    np.concatenate([t.xywh for t in tables]), np.concatenate([t.score for t in tables]),
                    np.concatenate([t.cls for t in tables]), np.concatenate([t.visibility for t in tables]),
                    np.arange(1, sum(len(t) for t in tables) + 1, dtype=np.int64), source)


def make_boxes(frame: Iterable[int], ids: Iterable[int], xywh: Iterable[Iterable[float]], *,
               score: Iterable[float] | None = None, cls: Iterable[int] | None = None) -> MotBoxes:
    """Build a ``MotBoxes`` table from plain sequences (score defaults to 1, class to 1)."""
    frame_a = np.asarray(list(frame), dtype=np.int64)
    n = len(frame_a)
    xywh_a = np.asarray(list(xywh), dtype=np.float64).reshape(n, 4)
    return MotBoxes(frame_a, np.asarray(list(ids), dtype=np.int64), xywh_a,
                    np.ones(n) if score is None else np.asarray(list(score), dtype=np.float64),
                    np.ones(n, np.int64) if cls is None else np.asarray(list(cls), dtype=np.int64),
                    np.ones(n), np.arange(1, n + 1, dtype=np.int64))


# ---------------------------------------------------------------------------------------------- sequences and splits

def read_sequence(seq_dir: str | Path) -> Sequence:
    """A sequence folder's seqinfo.ini as a ``Sequence``."""
    seq_dir = Path(seq_dir).absolute()
    path = seq_dir / SEQINFO_FILE
    if not path.is_file():
        raise DataError("seqinfo.ini not found", path=path,
                        hint="every MOTChallenge sequence folder has a seqinfo.ini with seqLength, imWidth, imHeight")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except (configparser.Error, UnicodeDecodeError) as err:
        raise DataError(f"cannot parse seqinfo.ini: {err}", path=path) from None
    if not parser.has_section("Sequence"):
        raise DataError("seqinfo.ini has no [Sequence] section", path=path)
    section = parser["Sequence"]

    def number(key: str, cast: type, default: float | None = None) -> float:
        if key not in section:
            if default is not None:
                return cast(default)
            raise DataError(f"seqinfo.ini lacks {key}=", path=path)
        try:
            return cast(float(section[key]))
        except ValueError:
            raise DataError(f"seqinfo.ini {key}={section[key]!r} is not a number", path=path) from None

    length = int(number("seqLength", int))
    if length < 1:
        raise DataError(f"seqinfo.ini seqLength={length} must be >= 1", path=path)
    return Sequence(name=section.get("name", seq_dir.name), length=length,
                    width=int(number("imWidth", int, 0)), height=int(number("imHeight", int, 0)),
                    frame_rate=float(number("frameRate", float, 0)),
                    img_dir=seq_dir / section.get("imDir", "img1"), path=seq_dir,
                    img_ext=section.get("imExt", ".jpg"))


def read_seqmap(path: str | Path) -> list[str]:
    """Sequence names of a seqmap: first line ``name`` (header), then one name per line (first column)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("seqmap file not found", path=path)
    names: list[str] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = raw.replace(",", " ").split()
        name = fields[0] if fields else ""
        if not name or (number == 1 and name.lower() == "name"):
            continue
        names.append(name)
    return names


def default_seqmap(split_dir: Path) -> Path:
    """``<root>/<split>_seqmap.txt`` next to the split folder ``<root>/<split>``."""
    return split_dir.parent / f"{split_dir.name}_seqmap.txt"


def list_sequences(split_dir: str | Path, seqmap: str | Path | None = None) -> list[str]:
    """Names of the sequences of a split: those of ``seqmap`` when given, else of ``<split>_seqmap.txt`` beside the
    split folder when it exists, else every sub-folder holding a seqinfo.ini (sorted)."""
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise DataError("split folder not found", path=split_dir,
                        hint="pass the folder holding the sequence folders, e.g. datasets/DanceTrack/val")
    if seqmap is None and default_seqmap(split_dir).is_file():
        seqmap = default_seqmap(split_dir)
    if seqmap is not None:
        names = read_seqmap(seqmap)
        missing = [n for n in names if not (split_dir / n).is_dir()]
        if missing:
            raise DataError(f"{len(missing)} sequence(s) of the seqmap are not in {split_dir}: "
                            f"{', '.join(missing[:5])}", path=seqmap,
                            hint="the seqmap and the split folder disagree; rebuild the dataset or pass --seqmap")
        return names
    return sorted(p.name for p in split_dir.iterdir() if (p / SEQINFO_FILE).is_file())


def read_split(split_dir: str | Path, seqmap: str | Path | None = None) -> list[Sequence]:
    """Every ``Sequence`` of a split (see ``list_sequences``)."""
    split_dir = Path(split_dir)
    return [read_sequence(split_dir / name) for name in list_sequences(split_dir, seqmap)]
