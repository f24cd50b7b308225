"""Readers of the original release layouts. Each module offers the same three things:

- ``SPLITS``: the release's split folder names;
- ``list_videos(root, splits) -> list[VideoRef]``: folder listing only (cheap, run over the whole release);
- ``read_annotations(ref) -> VideoAnnotations``: parse one video's ground truth (run only for chosen videos).

Custom sources (``[sources.NAME]`` in config.toml) are read by the module of their ``format`` (``FORMATS``:
``motip.data.readers.mot``): ``reader_for(name, settings)`` returns a reader object with the same interface, bound to
the source's settings, and the videos it lists carry their format, so ``read_video`` needs nothing else.

Bad input raises ``DataError`` naming the file (and line). The builder reads every video through ``read_video``,
which adds the checks every source shares (``motip.data.readers.checks``): frame numbering, finite numbers, one row
per (frame, id), boxes clipped to the image, videos without frames or ground truth.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from motip.data.video import VideoAnnotations, VideoRef
from motip.errors import DataError

if TYPE_CHECKING:
    from motip.data.settings import SourceSettings

SOURCES = ("dancetrack", "bdd", "visdrone")
FORMATS = ("mot",)     # custom-source formats: the module motip.data.readers.<format> (motip.workspace.CUSTOM_FORMATS)


def format_module(fmt: str) -> ModuleType:
    import importlib

    if fmt not in FORMATS:
        raise DataError(f"unknown source format {fmt!r}", hint=f"known formats: {', '.join(FORMATS)}")
    return importlib.import_module(f"motip.data.readers.{fmt}")


def reader_for(source: str, settings: SourceSettings | None = None) -> Any:
    """The reader of ``source``: a built-in source's module, or for a custom source (``settings.custom``) its
    format's reader bound to ``settings`` (the format module's ``source_reader``, e.g. ``mot.MotSource``)."""
    from motip.data.readers import bdd100k, dancetrack, visdrone

    if settings is not None and settings.custom:
        return format_module(settings.format).source_reader(settings)
    readers = {"dancetrack": dancetrack, "bdd": bdd100k, "visdrone": visdrone}
    try:
        return readers[source]
    except KeyError:
        raise DataError(f"unknown source {source!r}",
                        hint=f"use one of {', '.join(SOURCES)}, or declare it as [sources.{source}] in "
                             "config.toml (docs/data.md)") from None


def read_video(ref: VideoRef, *, locked: bool = False) -> tuple[VideoAnnotations, str | None]:
    """A video's annotations, checked and cleaned for a build (see ``motip.data.readers.checks``).

    ``locked``: the manifest puts the video in val/test, so a video without images or ground truth is refused;
    otherwise the second value says why the video should be left out (None: usable)."""
    from motip.data.readers.checks import check_annotations, check_video

    empty = check_video(ref, locked=locked)
    if empty is not None:
        return VideoAnnotations(0, 0), empty
    fmt = getattr(ref, "format", "")      # a custom source's video (e.g. mot.MotVideoRef) names its format
    reader = format_module(fmt) if fmt else reader_for(ref.source)
    annotations = reader.read_annotations(ref)
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
