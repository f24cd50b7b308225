"""What every reader yields: a cheap listing of a video (`VideoRef`) and, on demand, its parsed boxes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class VideoRef:
    """One video of a source release, found by listing folders only (no annotation parsed yet).

    ``image_names[k]`` is the image of frame ``k + 1`` (frames are 1-based everywhere in this package).
    """

    source: str                 # "dancetrack" | "bdd" | "visdrone"
    video_id: str               # as the source names it: dancetrack0004, b1c66a42-6f7d68ca, uav0000086_00000_v
    split: str                  # the source's own split folder: train, val, test, test-dev
    image_dir: Path
    image_names: tuple[str, ...]
    annotation: Path | None     # None: the release has no ground truth for this video (e.g. DanceTrack test)
    frame_rate: float

    @property
    def num_frames(self) -> int:
        return len(self.image_names)

    @property
    def has_gt(self) -> bool:
        return self.annotation is not None

    def image_path(self, frame: int) -> Path:
        return self.image_dir / self.image_names[frame - 1]


@dataclass(frozen=True)
class Box:
    frame: int            # 1-based frame of the source video
    track: str            # the source's track id as text; the writer renumbers ids 1..N per sequence
    x: float
    y: float
    w: float
    h: float
    cls: int              # categories.PERSON or categories.VEHICLE
    visibility: float
    # Where the row came from, for error messages; not part of the box (two rows with equal boxes are equal).
    line: int | None = field(default=None, compare=False)     # 1-based line of a text annotation file
    where: str = field(default="", compare=False)             # e.g. "frame object #3" of a JSON file


@dataclass(frozen=True)
class IgnoreBox:
    frame: int
    x: float
    y: float
    w: float
    h: float
    line: int | None = field(default=None, compare=False)
    where: str = field(default="", compare=False)


@dataclass
class VideoAnnotations:
    width: int
    height: int
    boxes: list[Box] = field(default_factory=list)
    ignores: list[IgnoreBox] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)   # quirks met and dropped, e.g. "bdd label without box2d"
