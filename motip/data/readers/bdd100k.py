"""BDD100K MOT 2020 box tracking release.

Layout: ``<root>/images/track/{train,val,test}/<video>/<video>-%07d.jpg`` and
``<root>/labels/box_track_20/{train,val}/<video>.json`` (the 2020 challenge kit's ``labels-20/box-track/`` is accepted
too). Each JSON file is a list of frames ``{name, videoName, frameIndex, labels: [{id, category, attributes:
{occluded, truncated, crowd}, box2d: {x1, y1, x2, y2}}]}``.

Quirks handled: ``frameIndex`` is 0-based while image names count from 1 (we go by ``name`` when it names an image);
the challenge kit spells it ``index`` and capitalises attribute keys (``Crowd``); frames without objects have no
``labels`` key (or null); some labels carry no ``box2d``; ids are strings; "other person", "other vehicle" and
"trailer" are distractors and crowd boxes are ignore regions (both go to the ignore sidecar). Older label files use
the toolkit's legacy names (``person``, ``bike``, ``motor``, ``van``, ``caravan``): mapped as the toolkit maps them
(``categories.BDD_ALIASES``). An unknown category becomes an ignore region and is counted in the build report.
JSON's NaN/Infinity literals (Python's json accepts them) are refused with their line. Frame rate: 5 fps.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from motip.data.categories import IGNORE, bdd_category
from motip.data.readers import image_size, list_images, require_dir
from motip.data.readers.checks import require_finite
from motip.data.video import Box, IgnoreBox, VideoAnnotations, VideoRef
from motip.errors import DataError

SOURCE = "bdd"
SPLITS = ("train", "val", "test")
FRAME_RATE = 5.0
LABEL_DIRS = ("labels/box_track_20", "labels-20/box-track")
LAYOUT_HINT = ("expected the BDD100K MOT layout <root>/images/track/<split>/<video>/<video>-%07d.jpg and "
               "<root>/labels/box_track_20/<split>/<video>.json")
_FRAME_NUMBER = re.compile(r"-(\d+)\.jpg$", re.IGNORECASE)
# A JSON string, or one of the non-finite literals Python's json accepts outside strings.
_NON_FINITE = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)')


def split_dir(root: Path, split: str) -> Path:
    return root / "images" / "track" / split


def label_dir(root: Path, split: str) -> Path | None:
    for candidate in LABEL_DIRS:
        if (root / candidate / split).is_dir():
            return root / candidate / split
    return None


def list_videos(root: Path, splits: tuple[str, ...] = SPLITS) -> list[VideoRef]:
    require_dir(root, "BDD100K root", LAYOUT_HINT)
    videos = []
    for split in splits:
        images = split_dir(root, split)
        require_dir(images, f"BDD100K image split {split!r}", LAYOUT_HINT)
        labels = label_dir(root, split)
        for video_dir in sorted(p for p in images.iterdir() if p.is_dir()):
            annotation = labels / f"{video_dir.name}.json" if labels is not None else None
            if annotation is not None and not annotation.exists():
                annotation = None
            videos.append(VideoRef(SOURCE, video_dir.name, split, video_dir, list_images(video_dir), annotation,
                                   FRAME_RATE))
    return videos


class _NonFinite(Exception):
    pass


def _refuse_constant(name: str) -> float:
    raise _NonFinite(name)


def _load_frames(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
        frames = json.loads(text, parse_constant=_refuse_constant)
    except _NonFinite as err:
        line = next((text.count("\n", 0, m.start()) + 1 for m in _NON_FINITE.finditer(text) if m.group(1)), None)
        raise DataError(f"{err} in a label file: not a finite number", path=path, line=line,
                        hint="a NaN or infinite box cannot be trained or scored; fix or delete this label") from None
    except json.JSONDecodeError as err:
        raise DataError(f"malformed JSON: {err.msg} (column {err.colno})", path=path, line=err.lineno) from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read label file: {err}", path=path) from None
    if not isinstance(frames, list):
        raise DataError("expected a JSON list of frame objects", path=path, line=1,
                        hint="BDD100K box_track_20 label files are lists of {name, frameIndex, labels}")
    return frames


def _frame_number(entry: dict[str, Any], position: dict[str, int], path: Path, index: int) -> int:
    name = entry.get("name")
    if isinstance(name, str):
        name = name.rsplit("/", 1)[-1]
        if name in position:
            return position[name] + 1
        match = _FRAME_NUMBER.search(name)
        if match:
            return int(match.group(1))
    for key in ("frameIndex", "index"):   # 0-based
        if isinstance(entry.get(key), int):
            return entry[key] + 1
    raise DataError(f"frame object #{index} has neither an image name nor a frameIndex", path=path)


def _attribute(attributes: Any, key: str) -> bool:
    if not isinstance(attributes, dict):
        return False
    return bool(attributes.get(key, attributes.get(key.capitalize(), False)))


def read_annotations(ref: VideoRef) -> VideoAnnotations:
    width, height = image_size(ref.image_path(1))
    annotations = VideoAnnotations(width, height)
    if ref.annotation is None:
        return annotations
    path = ref.annotation
    position = {name: k for k, name in enumerate(ref.image_names)}
    for index, entry in enumerate(_load_frames(path)):
        if not isinstance(entry, dict):
            raise DataError(f"frame object #{index} is not a JSON object", path=path)
        frame = _frame_number(entry, position, path, index)
        if not 1 <= frame <= ref.num_frames:
            raise DataError(f"frame object #{index} ({entry.get('name')}) is frame {frame}, outside the "
                            f"video's 1..{ref.num_frames} images", path=path)
        for label in entry.get("labels") or ():          # frames without objects: no "labels" key, or null
            if not isinstance(label, dict):
                raise DataError(f"a label of frame object #{index} is not a JSON object", path=path)
            box = label.get("box2d")
            if not isinstance(box, dict):
                annotations.skipped["bdd label without box2d"] += 1
                continue
            where = f"frame object #{index}, label {label.get('id')!r}"
            coords = [box.get(k) for k in ("x1", "y1", "x2", "y2")]
            require_finite(coords, ("x1", "y1", "x2", "y2"), path=path, line=None, where=where)
            try:
                x1, y1, x2, y2 = (float(box[k]) for k in ("x1", "y1", "x2", "y2"))
            except (KeyError, TypeError, ValueError):
                raise DataError(f"box2d of label {label.get('id')!r} in frame object #{index} lacks numeric "
                                "x1/y1/x2/y2", path=path) from None
            w, h = x2 - x1, y2 - y1
            if w <= 0 or h <= 0:
                annotations.skipped["bdd box with zero size"] += 1
                continue
            category = str(label.get("category", ""))
            cls = bdd_category(category)
            if cls is None:      # kept as an ignore region (never a miss nor a false positive) and counted
                annotations.skipped[f"bdd unknown category {category!r} (written as an ignore region)"] += 1
                cls = IGNORE
            if cls == IGNORE or _attribute(label.get("attributes"), "crowd"):
                annotations.ignores.append(IgnoreBox(frame, x1, y1, w, h, where=where))
                continue
            if label.get("id") is None:
                raise DataError(f"label without id in frame object #{index}", path=path)
            visibility = 0.5 if _attribute(label.get("attributes"), "occluded") else 1.0
            annotations.boxes.append(Box(frame, str(label["id"]), x1, y1, w, h, cls, visibility, where=where))
    return annotations
