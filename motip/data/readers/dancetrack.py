"""DanceTrack release: ``<root>/{train,val,test}/<seq>/{img1/%08d.jpg, gt/gt.txt, seqinfo.ini}``.

gt.txt is MOTChallenge style, ``frame,id,x,y,w,h,conf,class,visibility`` with 1-based frames; every box is a dancer
(person). Rows with conf 0 are MOTChallenge's "ignore" flag and go to the ignore sidecar. The test split has no gt.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from motip.data.categories import PERSON
from motip.data.readers import image_size, list_images, require_dir
from motip.data.video import Box, IgnoreBox, VideoAnnotations, VideoRef
from motip.errors import DataError

SOURCE = "dancetrack"
SPLITS = ("train", "val", "test")
LAYOUT_HINT = "expected the DanceTrack release layout <root>/{train,val,test}/<seq>/img1/%08d.jpg"


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
                info = read_seqinfo(seqinfo)
                try:
                    frame_rate = float(info.get("framerate", frame_rate))
                except ValueError:
                    raise DataError(f"frameRate is not a number: {info['framerate']!r}", path=seqinfo) from None
            gt = seq_dir / "gt" / "gt.txt"
            videos.append(VideoRef(SOURCE, seq_dir.name, split, seq_dir / "img1", list_images(seq_dir / "img1"),
                                   gt if gt.exists() else None, frame_rate))
    return videos


def read_annotations(ref: VideoRef) -> VideoAnnotations:
    seqinfo = ref.image_dir.parent / "seqinfo.ini"
    if seqinfo.exists():
        info = read_seqinfo(seqinfo)
        try:
            width, height = int(info["imwidth"]), int(info["imheight"])
        except (KeyError, ValueError):
            raise DataError("seqinfo.ini lacks integer imWidth/imHeight", path=seqinfo) from None
    else:
        width, height = image_size(ref.image_path(1))
    annotations = VideoAnnotations(width, height)
    if ref.annotation is None:
        return annotations
    for line_no, fields in _rows(ref.annotation):
        try:
            frame, track = int(float(fields[0])), int(float(fields[1]))
            x, y, w, h = (float(v) for v in fields[2:6])
            conf = float(fields[6]) if len(fields) > 6 else 1.0
            visibility = float(fields[8]) if len(fields) > 8 else 1.0
        except ValueError:
            raise DataError("malformed gt line: expected numbers frame,id,x,y,w,h,conf,class,visibility",
                            path=ref.annotation, line=line_no) from None
        if not 1 <= frame <= ref.num_frames:
            raise DataError(f"frame {frame} outside the video's 1..{ref.num_frames} images",
                            path=ref.annotation, line=line_no)
        if w <= 0 or h <= 0:
            annotations.skipped["dancetrack box with zero size"] += 1
        elif conf == 0:
            annotations.ignores.append(IgnoreBox(frame, x, y, w, h))
        else:
            annotations.boxes.append(Box(frame, str(track), x, y, w, h, PERSON, visibility))
    return annotations


def _rows(path: Path):  # noqa: ANN202 - generator of (line number, fields)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read annotation file: {err}", path=path) from None
    for line_no, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 6:
            raise DataError(f"malformed gt line: {len(fields)} fields, expected at least 6 "
                            "(frame,id,x,y,w,h,...)", path=path, line=line_no)
        yield line_no, fields
