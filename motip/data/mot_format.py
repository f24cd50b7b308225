"""Writing one output sequence in the MOTChallenge layout the trainer and TrackEval read, and fingerprinting splits.

``<split>/<seq>/img1/%08d.jpg``  symlinks to the source images, renumbered from 1
``<split>/<seq>/gt/gt.txt``      ``frame,id,x,y,w,h,1,class,visibility`` (class 1 person, 2 vehicle; ids 1..N)
``<split>/<seq>/gt/ignore.txt``  ``frame,-1,x,y,w,h,0,-1,-1`` ignore regions / ignored objects (may be empty)
``<split>/<seq>/seqinfo.ini``    MOTChallenge [Sequence] plus ``source=``
``<split>_seqmap.txt``           ``name`` then one sequence per line

The format itself (file names, the readers, number formatting) lives in ``motip.data.mot_files``.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from motip.data.categories import CLASS_NAMES
from motip.data.mot_files import GT_FILE, IGNORE_FILE, SEQINFO_FILE, default_seqmap
from motip.data.mot_files import format_number as _num
from motip.data.selection import Clip
from motip.data.video import VideoAnnotations


@dataclass
class SequenceStats:
    name: str
    split: str
    source: str
    video: str
    source_split: str
    first_frame: int
    last_frame: int
    stride: int
    frames: int
    boxes: Counter[str] = field(default_factory=Counter)     # class name -> boxes
    tracks: int = 0
    ignored: int = 0
    has_gt: bool = True


def write_sequence(split_dir: Path, clip: Clip, annotations: VideoAnnotations) -> SequenceStats:
    video = clip.video
    frames = clip.frames
    new_index = {src: k for k, src in enumerate(frames, 1)}
    seq_dir = split_dir / clip.sequence_name
    img_dir = seq_dir / "img1"
    img_dir.mkdir(parents=True)
    # The hot loop of a build (one link per frame): plain strings and a directory fd keep it near `cp -rs` speed.
    src_dir, names = f"{video.image_dir}/", video.image_names
    dir_fd = os.open(img_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for k, src in enumerate(frames, 1):
            os.symlink(src_dir + names[src - 1], f"{k:08d}.jpg", dir_fd=dir_fd)
    finally:
        os.close(dir_fd)

    stats = SequenceStats(clip.sequence_name, split_dir.name, video.source, video.video_id, video.split,
                          frames[0], frames[-1], clip.stride, len(frames), has_gt=video.has_gt)
    if video.has_gt:
        boxes = sorted((b for b in annotations.boxes if b.frame in new_index), key=lambda b: b.frame)
        track_ids: dict[str, int] = {}
        rows = []
        for box in boxes:                     # ids 1..N in order of first appearance in the sequence
            track = track_ids.setdefault(box.track, len(track_ids) + 1)
            rows.append((new_index[box.frame], track, box))
            stats.boxes[CLASS_NAMES[box.cls]] += 1
        rows.sort(key=lambda r: (r[0], r[1]))
        gt_lines = [f"{f},{t},{_num(b.x)},{_num(b.y)},{_num(b.w)},{_num(b.h)},1,{b.cls},{_num(b.visibility)}\n"
                    for f, t, b in rows]
        ignore_rows = sorted(((new_index[g.frame], g) for g in annotations.ignores if g.frame in new_index),
                             key=lambda r: r[0])
        ignore_lines = [f"{f},-1,{_num(g.x)},{_num(g.y)},{_num(g.w)},{_num(g.h)},0,-1,-1\n" for f, g in ignore_rows]
        (seq_dir / GT_FILE).parent.mkdir()
        (seq_dir / GT_FILE).write_text("".join(gt_lines), encoding="utf-8")
        (seq_dir / IGNORE_FILE).write_text("".join(ignore_lines), encoding="utf-8")
        stats.tracks = len(track_ids)
        stats.ignored = len(ignore_lines)
    (seq_dir / SEQINFO_FILE).write_text(seqinfo_text(clip, annotations), encoding="utf-8")
    return stats


def seqinfo_text(clip: Clip, annotations: VideoAnnotations) -> str:
    frame_rate = clip.video.frame_rate / clip.stride
    return ("[Sequence]\n"
            f"name={clip.sequence_name}\n"
            "imDir=img1\n"
            f"frameRate={_num(frame_rate)}\n"
            f"seqLength={len(clip.frames)}\n"
            f"imWidth={annotations.width}\n"
            f"imHeight={annotations.height}\n"
            "imExt=.jpg\n"
            f"source={clip.video.source}\n")


def write_seqmap(path: Path, names: list[str]) -> None:
    path.write_text("name\n" + "".join(f"{n}\n" for n in names), encoding="utf-8")


def fingerprint_split(build_dir: Path, split: str) -> str:
    """sha256 over a split as written: its seqmap, every seqinfo.ini/gt.txt/ignore.txt byte, and for each image link
    its name, the linked file's name and size. Independent of where the source roots live and of build time."""
    digest = hashlib.sha256()
    split_dir = build_dir / split
    seqmap = default_seqmap(split_dir)
    digest.update(b"seqmap\0" + (seqmap.read_bytes() if seqmap.exists() else b""))
    if not split_dir.is_dir():
        return digest.hexdigest()
    for seq_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        for rel in (SEQINFO_FILE, GT_FILE, IGNORE_FILE):
            path = seq_dir / rel
            if path.exists():
                digest.update(f"\0{seq_dir.name}/{rel}\0".encode() + path.read_bytes())
        with os.scandir(seq_dir / "img1") as entries:
            names = sorted(e.name for e in entries)
        for name in names:
            link = seq_dir / "img1" / name
            target = os.readlink(link) if link.is_symlink() else name
            size = link.stat().st_size
            digest.update(f"\0{seq_dir.name}/img1/{name}>{os.path.basename(target)}:{size}".encode())
    return digest.hexdigest()
