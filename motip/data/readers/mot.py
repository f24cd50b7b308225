"""Custom sources in the MOTChallenge layout: ``[sources.NAME]`` with ``format = "mot"`` in config.toml.

Layout, as MOT17/MOT20 ship it (and as a CVAT "MOT 1.1" export is, once each export is put in a split folder)::

    <root>/<split>/<seq>/img1/000001.jpg ...     the frames, numbered 1..N without a gap
    <root>/<split>/<seq>/gt/gt.txt               frame,id,x,y,w,h,conf,class,visibility (no gt: a test video)
    <root>/<split>/<seq>/seqinfo.ini             optional: frameRate, seqLength, imWidth, imHeight, imDir, imExt

Every folder under ``<root>`` is a split and every folder of a split a sequence; the video id (what the manifest names)
is the sequence folder's name, unique across the splits. seqinfo.ini's ``imDir``/``imExt`` are honoured (default
``img1``/``.jpg``), ``seqLength`` must equal the number of images, ``imWidth``/``imHeight`` the images' size; without
it the frame rate is the source's ``frame_rate`` (default 30).

gt.txt rows (parsed by the DanceTrack reader's ``gt_rows``: finite numbers, frames within the video, file:line on any
fault), with the source's ``classes`` table mapping column 8:

- ``conf`` (MOT17's "mark") 0: an ignore region (``gt/ignore.txt``) whatever the class, as MOTChallenge's own
  evaluation and the DanceTrack reader treat it;
- a class mapped to ``person`` / ``vehicle``: a box of that class, ``visibility`` kept;
- a class mapped to ``ignore``: an ignore region (neither trained nor scored, e.g. MOT17's static persons);
- a class the table does not name: an ignore region too, counted in the build report's ``skipped`` -- never trained
  as an object, never dropped silently (as BDD100K's unknown categories);
- a box with width or height <= 0: dropped and counted; fewer than 8 columns: refused (the class is what
  ``classes`` maps).

The checks every source passes (``motip.data.readers.checks``: frame numbering, finite numbers, one row per
(frame, id), clipping) run on top of this reader, as for the built-in sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from motip.data.categories import IGNORE
from motip.data.readers import list_images, require_dir
from motip.data.readers.dancetrack import _frame_rate, gt_rows, read_seqinfo, seqinfo_line, video_size
from motip.data.video import Box, IgnoreBox, VideoAnnotations, VideoRef
from motip.errors import DataError

if TYPE_CHECKING:
    from motip.data.settings import SourceSettings

FORMAT = "mot"
DEFAULT_FRAME_RATE = 30.0
LAYOUT_HINT = ("expected the MOTChallenge layout <root>/<split>/<seq>/img1/000001.jpg with <seq>/gt/gt.txt (and "
               "optionally <seq>/seqinfo.ini), as MOT17/MOT20 ship it; see docs/data.md, 'Custom sources'")


@dataclass(frozen=True)
class MotVideoRef(VideoRef):
    """A video of a custom source: carries its source's class table, so ``read_video`` needs nothing else."""

    format: str = FORMAT
    classes: tuple[tuple[int, int], ...] = field(default=())     # class id -> PERSON / VEHICLE / IGNORE


class MotSource:
    """The reader of one ``[sources.NAME]`` source: the built-in readers' module interface (``SPLITS``,
    ``LAYOUT_HINT``, ``split_dir``, ``list_videos``, ``read_annotations``) bound to the source's settings."""

    LAYOUT_HINT = LAYOUT_HINT

    def __init__(self, settings: SourceSettings) -> None:
        self.settings = settings
        self.name = settings.name

    @property
    def SPLITS(self) -> tuple[str, ...]:  # noqa: N802 - the built-in readers' constant
        """Every folder under the root (the layout has no fixed split names)."""
        root = self.settings.root
        if root is None or not root.is_dir():
            return ()
        return tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")))

    def split_dir(self, root: Path, split: str) -> Path:
        return root / split

    def check_layout(self, root: Path, splits: tuple[str, ...]) -> None:
        """Refuse a root that is not a MOTChallenge tree, saying what it looks like instead."""
        where = f"[sources.{self.name}]"
        require_dir(root, f"{where} root", LAYOUT_HINT)
        if (root / "img1").is_dir() or (root / "gt" / "gt.txt").is_file():
            raise DataError(f"{where} root is a single sequence (img1/ and gt/ directly under it, as a CVAT "
                            "'MOT 1.1' export is), not a tree of splits", path=root,
                            hint=f"move it one level down, to <root>/train/<sequence name>/, and keep root = "
                                 f"{str(root)!r}; {LAYOUT_HINT}")
        if not any((seq / "img1").is_dir() or (seq / "seqinfo.ini").is_file()
                   for split in self.SPLITS for seq in (root / split).iterdir()):
            raise DataError(f"{where} root holds no sequence: no <split>/<seq>/img1/ folder under it", path=root,
                            hint=LAYOUT_HINT)
        for split in splits:
            require_dir(root / split, f"{where} split {split!r} (from {where} splits)", LAYOUT_HINT)

    def list_videos(self, root: Path, splits: tuple[str, ...]) -> list[VideoRef]:
        require_dir(root, f"[sources.{self.name}] root", LAYOUT_HINT)
        videos: list[VideoRef] = []
        seen: dict[str, Path] = {}
        for split in splits:
            split_dir = root / split
            require_dir(split_dir, f"[sources.{self.name}] split {split!r}", LAYOUT_HINT)
            for seq_dir in sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
                if seq_dir.name in seen:
                    raise DataError(f"sequence {seq_dir.name!r} is in two splits ({seen[seq_dir.name]} and "
                                    f"{seq_dir}): the manifest names videos by their folder name",
                                    path=seq_dir, hint="rename one of the two sequence folders")
                seen[seq_dir.name] = seq_dir
                videos.append(self._video(split, seq_dir))
        return videos

    def _video(self, split: str, seq_dir: Path) -> MotVideoRef:
        seqinfo = seq_dir / "seqinfo.ini"
        info = read_seqinfo(seqinfo) if seqinfo.is_file() else {}
        image_dir = seq_dir / info.get("imdir", "img1")
        if not image_dir.is_dir():
            raise DataError(f"not a MOTChallenge sequence: no {image_dir.name}/ image folder", path=seq_dir,
                            hint=LAYOUT_HINT + "; move other folders out of the split folder")
        names = list_images(image_dir, info.get("imext", ".jpg").lower())
        if "seqlength" in info and names:
            try:
                length = int(info["seqlength"])
            except ValueError:
                length = -1
            if length != len(names):
                raise DataError(f"seqLength={info['seqlength']} but {image_dir.name}/ holds {len(names)} images",
                                path=seqinfo, line=seqinfo_line(seqinfo, "seqLength"),
                                hint="restore the missing images, or set seqLength to the number of frames")
        default_rate = self.settings.frame_rate or DEFAULT_FRAME_RATE
        rate = _frame_rate(info, seqinfo, default_rate, hint="frameRate is the video's frames per second, > 0")
        gt = seq_dir / "gt" / "gt.txt"
        return MotVideoRef(self.name, seq_dir.name, split, image_dir, names, gt if gt.is_file() else None, rate,
                           FORMAT, self.settings.classes)

    def read_annotations(self, ref: VideoRef) -> VideoAnnotations:
        return read_annotations(ref)


def source_reader(settings: SourceSettings) -> MotSource:
    """The reader of a ``format = "mot"`` source (``motip.data.readers.reader_for``)."""
    return MotSource(settings)


def read_annotations(ref: VideoRef) -> VideoAnnotations:
    """A custom MOT source's video: boxes of the mapped classes, ignore regions (see the module doc)."""
    classes = dict(getattr(ref, "classes", ()))
    annotations = VideoAnnotations(*video_size(ref, size_optional=True))
    if ref.annotation is None:
        return annotations
    for row in gt_rows(ref, min_fields=8):
        assert row.cls is not None      # min_fields=8: the class column is there
        cls = classes.get(row.cls)
        ignore = IgnoreBox(row.frame, row.x, row.y, row.w, row.h, row.line)
        if row.w <= 0 or row.h <= 0:
            annotations.skipped[f"{ref.source} box with zero size"] += 1
        elif row.conf == 0:
            annotations.ignores.append(ignore)
        elif cls is None:
            # no brackets: the build's rich table would read "[sources.x]" as markup
            annotations.skipped[f"{ref.source} class {row.cls} not in sources.{ref.source}.classes (written as an "
                                "ignore region)"] += 1
            annotations.ignores.append(ignore)
        elif cls == IGNORE:
            annotations.ignores.append(ignore)
        else:
            annotations.boxes.append(Box(row.frame, str(row.track), row.x, row.y, row.w, row.h, cls,
                                         row.visibility, row.line))
    return annotations
