"""DanceTrack release: ``<root>/{train,val,test}/<seq>/{img1/%08d.jpg, gt/gt.txt, seqinfo.ini}``.

gt.txt is MOTChallenge style, ``frame,id,x,y,w,h,conf,class,visibility`` with 1-based frames; every box is a dancer
(person). Rows with conf 0 are MOTChallenge's "ignore" flag and go to the ignore sidecar. The test split has no gt.
seqinfo.ini must make sense: frameRate > 0, imWidth/imHeight > 0 and equal to the first image's size.
"""

from __future__ import annotations

import configparser
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from motip.data.categories import PERSON
from motip.data.readers import image_size, list_images, require_dir
from motip.data.readers.checks import require_finite
from motip.data.video import Box, IgnoreBox, VideoAnnotations, VideoRef
from motip.errors import DataError

SOURCE = "dancetrack"
SPLITS = ("train", "val", "test")
LAYOUT_HINT = "expected the DanceTrack release layout <root>/{train,val,test}/<seq>/img1/%08d.jpg"
GT_COLUMNS = ("frame", "id", "x", "y", "w", "h", "conf", "class", "visibility")


def read_seqinfo(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser()
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read seqinfo.ini: {err}", path=path) from None
    except configparser.Error as err:
        raise DataError(f"malformed seqinfo.ini: {err.message.splitlines()[0]}", path=path,
                        line=getattr(err, "lineno", None)) from None
    if not parser.has_section("Sequence"):
        raise DataError("seqinfo.ini has no [Sequence] section", path=path)
    return dict(parser["Sequence"])


def seqinfo_line(path: Path, key: str) -> int | None:
    """The line of ``key=`` in a seqinfo.ini (configparser keeps no line numbers), for error messages."""
    pattern = re.compile(rf"\s*{re.escape(key)}\s*[=:]", re.IGNORECASE)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    return next((n for n, text in enumerate(lines, 1) if pattern.match(text)), None)


def _frame_rate(info: dict[str, str], path: Path, default: float = 20.0,
                hint: str = "DanceTrack videos are 20 fps: frameRate=20") -> float:
    text = info.get("framerate")
    if text is None:
        return default                 # DanceTrack's rate, for a seqinfo.ini without the key
    try:
        rate = float(text)
    except ValueError:
        rate = math.nan
    if not (math.isfinite(rate) and rate > 0):
        raise DataError(f"frameRate={text} must be a number > 0", path=path, line=seqinfo_line(path, "frameRate"),
                        hint=hint)
    return rate


def _image_size(info: dict[str, str], path: Path) -> tuple[int, int]:
    size = []
    for key in ("imWidth", "imHeight"):
        text = info.get(key.lower())
        try:
            value = int(text) if text is not None else None
        except ValueError:
            value = None
        if value is None or value <= 0:
            raise DataError(f"{key}={text} must be a whole number > 0", path=path, line=seqinfo_line(path, key),
                            hint="set it to the size of the video's images in pixels")
        size.append(value)
    return size[0], size[1]


def split_dir(root: Path, split: str) -> Path:
    return root / split


def list_videos(root: Path, splits: tuple[str, ...] = SPLITS) -> list[VideoRef]:
    require_dir(root, "DanceTrack root", LAYOUT_HINT)
    videos = []
    for split in splits:
        split_dir = root / split
        require_dir(split_dir, f"DanceTrack split {split!r}", LAYOUT_HINT)
        for seq_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            frame_rate = 20.0
            seqinfo = seq_dir / "seqinfo.ini"
            if seqinfo.exists():
                frame_rate = _frame_rate(read_seqinfo(seqinfo), seqinfo)
            gt = seq_dir / "gt" / "gt.txt"
            videos.append(VideoRef(SOURCE, seq_dir.name, split, seq_dir / "img1", list_images(seq_dir / "img1"),
                                   gt if gt.exists() else None, frame_rate))
    return videos


def video_size(ref: VideoRef, *, size_optional: bool = False) -> tuple[int, int]:
    """(width, height): seqinfo.ini's imWidth/imHeight, which must equal the first image's size; the image's size
    when the video has no seqinfo.ini, or (``size_optional``) one without either key (shared with the MOTChallenge
    reader, ``motip.data.readers.mot``)."""
    seqinfo = ref.image_dir.parent / "seqinfo.ini"
    info = read_seqinfo(seqinfo) if seqinfo.exists() else None
    if info is not None and size_optional and "imwidth" not in info and "imheight" not in info:
        info = None
    if info is not None:
        width, height = _image_size(info, seqinfo)
        actual = image_size(ref.image_path(1))     # a header read: cheap
        if (width, height) != actual:
            raise DataError(f"imWidth x imHeight = {width}x{height} but the images are {actual[0]}x{actual[1]} "
                            f"({ref.image_path(1).name})", path=seqinfo, line=seqinfo_line(seqinfo, "imWidth"),
                            hint="set imWidth/imHeight to the images' size (boxes are clipped to it)")
        return width, height
    return image_size(ref.image_path(1))


@dataclass(frozen=True)
class GtRow:
    """One parsed row of a MOTChallenge gt.txt (frame checked against the video's images)."""

    line: int
    frame: int
    track: int
    x: float
    y: float
    w: float
    h: float
    conf: float             # 1.0 when the column is absent
    cls: int | None         # None when the column is absent
    visibility: float       # 1.0 when the column is absent


def gt_rows(ref: VideoRef, min_fields: int = 6) -> Iterator[GtRow]:
    """The rows of ``ref``'s gt.txt: numbers parsed and finite, frames within the video; DataError naming the line
    otherwise. Shared by the DanceTrack and MOTChallenge (``motip.data.readers.mot``) readers."""
    assert ref.annotation is not None
    for line_no, fields in _rows(ref.annotation, min_fields):
        require_finite(fields, GT_COLUMNS, path=ref.annotation, line=line_no)
        try:
            frame, track = int(float(fields[0])), int(float(fields[1]))
            x, y, w, h = (float(v) for v in fields[2:6])
            conf = float(fields[6]) if len(fields) > 6 else 1.0
            cls = int(float(fields[7])) if len(fields) > 7 else None
            visibility = float(fields[8]) if len(fields) > 8 else 1.0
        except ValueError:
            raise DataError("malformed gt line: expected numbers frame,id,x,y,w,h,conf,class,visibility",
                            path=ref.annotation, line=line_no) from None
        if not 1 <= frame <= ref.num_frames:
            raise DataError(f"frame {frame} outside the video's 1..{ref.num_frames} images",
                            path=ref.annotation, line=line_no)
        yield GtRow(line_no, frame, track, x, y, w, h, conf, cls, visibility)


def read_annotations(ref: VideoRef) -> VideoAnnotations:
    annotations = VideoAnnotations(*video_size(ref))
    if ref.annotation is None:
        return annotations
    for row in gt_rows(ref):
        if row.w <= 0 or row.h <= 0:
            annotations.skipped["dancetrack box with zero size"] += 1
        elif row.conf == 0:
            annotations.ignores.append(IgnoreBox(row.frame, row.x, row.y, row.w, row.h, row.line))
        else:
            annotations.boxes.append(Box(row.frame, str(row.track), row.x, row.y, row.w, row.h, PERSON,
                                         row.visibility, row.line))
    return annotations


def _rows(path: Path, min_fields: int = 6):  # noqa: ANN202 - generator of (line number, fields)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read annotation file: {err}", path=path) from None
    for line_no, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < min_fields:
            names = ",".join(GT_COLUMNS[:min_fields])
            raise DataError(f"malformed gt line: {len(fields)} fields, expected at least {min_fields} "
                            f"({names},...)", path=path, line=line_no)
        yield line_no, fields
