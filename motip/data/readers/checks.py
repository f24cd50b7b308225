"""The checks every source's annotations pass before they reach a build: the one place for them, whatever the reader.

``read_video`` (in ``motip.data.readers``) runs a reader and then these, and it is how the builder reads every video,
so a new reader cannot skip them. A build must be something training and TrackEval accept as it is:

- image names number the frames 1..N without a gap (a missing image would shift every later frame's ground truth);
- the video has frames, a frame rate > 0 and an image size > 0;
- every number of a box is finite (a NaN would blow up the first evaluation, hours into a training);
- one row per (frame, id): an exact copy is dropped and counted, two different boxes are refused (TrackEval refuses
  a ground truth with an id twice in a frame);
- boxes are clipped to the image, so training, evaluation and videos see the same boxes; a box with nothing left
  inside the image is dropped and counted.

Each refusal is a ``DataError`` naming the file (and line); each drop is a count in ``VideoAnnotations.skipped``
(the build report's ``skipped``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from motip.data.video import Box, VideoAnnotations, VideoRef
from motip.errors import DataError

_FRAME_NUMBER = re.compile(r"(\d+)(\.[^.]+)$")
# Boxes are written with 2 decimals (mot_files.format_number): anything thinner than this would be written as 0.
MIN_SIZE = 0.005


def require_finite(fields: Sequence[str], names: Sequence[str], *, path: Path | str, line: int | None,
                   where: str = "") -> None:
    """Refuse a row with a NaN or infinite number in any column (``float`` accepts "nan", "inf", "1e999").

    Text that is not a number at all is left to the reader's own parse, which says what it expected."""
    for k, text in enumerate(fields):
        try:
            value = float(text)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(value):
            name = names[k] if k < len(names) else f"column {k + 1}"
            raise DataError(f"{where + ': ' if where else ''}{name} is {str(text).strip()!r}, not a finite number",
                            path=path, line=line,
                            hint="a NaN or infinite value cannot be trained or scored; fix or delete this row of "
                                 "the source annotations")


def check_frame_numbers(ref: VideoRef) -> None:
    """The k-th image (sorted by name) must be frame k: names end in the numbers 1..N, no gap, no extra file."""
    previous = None
    for k, name in enumerate(ref.image_names, 1):
        match = _FRAME_NUMBER.search(name)
        if match is None:
            raise DataError("image name without a frame number: frames are read in name order, so this file "
                            "would shift every later frame", path=ref.image_dir / name,
                            hint="move files that are not frames of the video out of the image folder")
        number = int(match.group(1))
        if number != k:
            digits = match.group(1)
            expected = name[:match.start(1)] + f"{k:0{len(digits)}d}" + match.group(2)
            if number > k:
                found = f"{previous} is followed by {name}" if previous else f"the first image is {name}"
                problem = f"missing image: {found}, so every later frame's ground truth would shift"
            else:
                problem = f"{name} repeats frame {number} (after {previous})"
            raise DataError(problem, path=ref.image_dir / expected,
                            hint="restore the missing image from the release archive (or remove the extra one); "
                                 "frames are numbered 1..N without gaps")
        previous = name


def check_video(ref: VideoRef, *, locked: bool) -> str | None:
    """Why the video's frames cannot be used, before any annotation is read: a refusal (``DataError``) for every
    video, or a reason to leave an unlocked (training) video out; None when it is usable."""
    if ref.num_frames == 0:
        if locked:
            raise DataError(f"{ref.source} video {ref.video_id!r} has no images, but the manifest locks it into "
                            "val/test", path=ref.image_dir,
                            hint="restore its images from the release archive, or take it out of the manifest")
        return "no images"
    check_frame_numbers(ref)
    if not (math.isfinite(ref.frame_rate) and ref.frame_rate > 0):
        raise DataError(f"frame rate {ref.frame_rate:g} of {ref.source} video {ref.video_id!r} must be > 0",
                        path=ref.image_dir, hint="fix frameRate in the video's seqinfo.ini")
    return None


def check_annotations(ref: VideoRef, annotations: VideoAnnotations, *, locked: bool) -> str | None:
    """Clean ``annotations`` in place (see the module doc). Returns why an unlocked video should be left out (no
    ground truth), None when it is usable; a locked video without ground truth is refused."""
    path = ref.annotation if ref.annotation is not None else ref.image_dir
    if not (annotations.width > 0 and annotations.height > 0):
        raise DataError(f"image size {annotations.width}x{annotations.height} of {ref.source} video "
                        f"{ref.video_id!r} must be > 0", path=path, hint="fix imWidth/imHeight in seqinfo.ini")
    for item in (*annotations.boxes, *annotations.ignores):
        values = (item.x, item.y, item.w, item.h) + ((item.visibility,) if isinstance(item, Box) else ())
        if not all(math.isfinite(v) for v in values):
            raise DataError(f"{item.where + ': ' if item.where else ''}box {values} is not finite", path=path,
                            line=item.line, hint="fix or delete this row of the source annotations")
    annotations.boxes = _one_row_per_frame_and_id(ref, annotations, path)
    annotations.boxes = _clipped(annotations.boxes, annotations, f"{ref.source} box outside the image "
                                 "(dropped after clipping)")
    annotations.ignores = _clipped(annotations.ignores, annotations, f"{ref.source} ignore region outside the "
                                   "image (dropped after clipping)")
    if ref.has_gt and not annotations.boxes:
        if locked:
            raise DataError(f"{ref.source} video {ref.video_id!r} has no ground-truth boxes, but the manifest locks "
                            "it into val/test", path=ref.annotation,
                            hint="evaluation on it would score nothing: pick another video for the manifest")
        return "no ground-truth boxes"
    return None


def _one_row_per_frame_and_id(ref: VideoRef, annotations: VideoAnnotations, path: Path) -> list[Box]:
    first: dict[tuple[int, str], Box] = {}
    kept: list[Box] = []
    for box in annotations.boxes:
        key = (box.frame, box.track)
        seen = first.get(key)
        if seen is None:
            first[key] = box
            kept.append(box)
        elif seen == box:             # an exact copy (real VisDrone files have them): harmless, dropped
            annotations.skipped[f"{ref.source} exact duplicate row (dropped)"] += 1
        else:
            at = f"line {seen.line}" if seen.line is not None else seen.where or "an earlier row"
            raise DataError(f"{box.where + ': ' if box.where else ''}id {box.track} appears twice in frame "
                            f"{box.frame} with different boxes (first at {at})", path=path, line=box.line,
                            hint="TrackEval refuses a ground truth with an id twice in a frame: delete or fix one "
                                 "of the two rows in the source annotations")
    return kept


def _clipped(items: list, annotations: VideoAnnotations, dropped: str) -> list:  # list[Box] or list[IgnoreBox]
    width, height = float(annotations.width), float(annotations.height)
    kept = []
    for item in items:
        x1, y1 = max(item.x, 0.0), max(item.y, 0.0)
        x2, y2 = min(item.x + item.w, width), min(item.y + item.h, height)
        if x2 - x1 < MIN_SIZE or y2 - y1 < MIN_SIZE:
            annotations.skipped[dropped] += 1
            continue
        if (x1, y1, x2, y2) != (item.x, item.y, item.x + item.w, item.y + item.h):
            item = replace(item, x=x1, y=y1, w=x2 - x1, h=y2 - y1)
        kept.append(item)
    return kept

