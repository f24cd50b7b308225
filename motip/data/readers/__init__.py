"""Readers of the original release layouts. Each module offers the same three things:

- ``SPLITS``: the release's split folder names;
- ``list_videos(root, splits) -> list[VideoRef]``: folder listing only (cheap, run over the whole release);
- ``read_annotations(ref) -> VideoAnnotations``: parse one video's ground truth (run only for chosen videos).

Bad input raises ``DataError`` naming the file (and line). The builder reads every video through ``read_video``,
which adds the checks every source shares (``motip.data.readers.checks``): frame numbering, finite numbers, one row
per (frame, id), boxes clipped to the image, videos without frames or ground truth.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

from motip.data.video import VideoAnnotations, VideoRef
from motip.errors import DataError

SOURCES = ("dancetrack", "bdd", "visdrone")


def reader_for(source: str) -> ModuleType:
    from motip.data.readers import bdd100k, dancetrack, visdrone

    readers = {"dancetrack": dancetrack, "bdd": bdd100k, "visdrone": visdrone}
    try:
        return readers[source]
    except KeyError:
        raise DataError(f"unknown source {source!r}", hint=f"use one of {', '.join(SOURCES)}") from None


def read_video(ref: VideoRef, *, locked: bool = False) -> tuple[VideoAnnotations, str | None]:
    """A video's annotations, checked and cleaned for a build (see ``motip.data.readers.checks``).

    ``locked``: the manifest puts the video in val/test, so a video without images or ground truth is refused;
    otherwise the second value says why the video should be left out (None: usable)."""
    from motip.data.readers.checks import check_annotations, check_video

    empty = check_video(ref, locked=locked)
    if empty is not None:
        return VideoAnnotations(0, 0), empty
    annotations = reader_for(ref.source).read_annotations(ref)
    return annotations, check_annotations(ref, annotations, locked=locked)


def list_images(folder: Path, suffix: str = ".jpg") -> tuple[str, ...]:
    """Sorted image file names in ``folder`` (one scandir, no stat per file)."""
    try:
        with os.scandir(folder) as entries:
            return tuple(sorted(e.name for e in entries if e.name.lower().endswith(suffix)))
    except OSError as err:
        raise DataError(f"cannot list images: {err.strerror}", path=folder) from None


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image header, without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, UnidentifiedImageError) as err:
        raise DataError(f"unreadable image: {err}", path=path) from None


def require_dir(path: Path, what: str, hint: str) -> None:
    if not path.is_dir():
        problem = "is not a folder" if path.exists() else "does not exist"
        raise DataError(f"{what} {problem}", path=path, hint=hint)
    if not os.access(path, os.R_OK | os.X_OK):
        raise DataError(f"{what} is not readable", path=path, hint="check the folder's permissions")
