"""VisDrone2019-MOT release: ``<root>/VisDrone2019-MOT-{train,val,test-dev}/{sequences/<seq>/%07d.jpg,
annotations/<seq>.txt}``.

Annotation rows: ``frame,target_id,left,top,width,height,score,category,truncation,occlusion`` with 1-based frames.
In ground truth, score 0 means "ignored in evaluation"; category 0 is an ignored region (its target_id is 0) and 11 is
"others"; both, like bicycle/tricycle/awning-tricycle/motor and every score-0 row, go to the ignore sidecar.
Occlusion 0/1/2 (none / 1-50% / 50-100%) becomes visibility 1.0/0.75/0.25. Some files end rows with a trailing comma,
and some repeat a row exactly (``motip.data.readers.checks`` drops and counts those copies).
No frame rate is stored; we write 30.
"""

from __future__ import annotations

from pathlib import Path

from motip.data.categories import IGNORE, VISDRONE_CATEGORIES
from motip.data.readers import image_size, list_images, require_dir
from motip.data.readers.checks import require_finite
from motip.data.video import Box, IgnoreBox, VideoAnnotations, VideoRef
from motip.errors import DataError

SOURCE = "visdrone"
SPLITS = ("train", "val", "test-dev")
FRAME_RATE = 30.0
VISIBILITY = {0: 1.0, 1: 0.75, 2: 0.25}
COLUMNS = ("frame", "target_id", "left", "top", "width", "height", "score", "category", "truncation", "occlusion")
LAYOUT_HINT = ("expected the VisDrone2019-MOT layout <root>/VisDrone2019-MOT-<split>/sequences/<seq>/%07d.jpg and "
               "<root>/VisDrone2019-MOT-<split>/annotations/<seq>.txt")


def split_dir(root: Path, split: str) -> Path:
    return root / f"VisDrone2019-MOT-{split}"


def list_videos(root: Path, splits: tuple[str, ...] = SPLITS) -> list[VideoRef]:
    require_dir(root, "VisDrone root", LAYOUT_HINT)
    videos = []
    for split in splits:
        base = split_dir(root, split)
        require_dir(base / "sequences", f"VisDrone split {split!r}", LAYOUT_HINT)
        for seq_dir in sorted(p for p in (base / "sequences").iterdir() if p.is_dir()):
            annotation = base / "annotations" / f"{seq_dir.name}.txt"
            videos.append(VideoRef(SOURCE, seq_dir.name, split, seq_dir, list_images(seq_dir),
                                   annotation if annotation.exists() else None, FRAME_RATE))
    return videos


def read_annotations(ref: VideoRef) -> VideoAnnotations:
    width, height = image_size(ref.image_path(1))
    annotations = VideoAnnotations(width, height)
    if ref.annotation is None:
        return annotations
    path = ref.annotation
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read annotation file: {err}", path=path) from None
    for line_no, line in enumerate(text.splitlines(), 1):
        fields = [f.strip() for f in line.strip().split(",")]
        if fields and fields[-1] == "":
            fields.pop()                     # trailing comma
        if not fields:
            continue
        if len(fields) < 8:
            raise DataError(f"malformed annotation line: {len(fields)} fields, expected 10 "
                            "(frame,target_id,left,top,width,height,score,category,truncation,occlusion)",
                            path=path, line=line_no)
        require_finite(fields, COLUMNS, path=path, line=line_no)
        try:
            frame, track = int(fields[0]), int(fields[1])
            x, y, w, h = (float(v) for v in fields[2:6])
            score, category = float(fields[6]), int(fields[7])
            occlusion = int(fields[9]) if len(fields) > 9 else 0
        except ValueError:
            raise DataError("malformed annotation line: expected integers frame,target_id,category and numbers "
                            "for the box and score", path=path, line=line_no) from None
        if category not in VISDRONE_CATEGORIES:
            raise DataError(f"unknown VisDrone category {category} (valid: 0..11)", path=path, line=line_no)
        if not 1 <= frame <= ref.num_frames:
            raise DataError(f"frame {frame} outside the video's 1..{ref.num_frames} images", path=path,
                            line=line_no)
        if w <= 0 or h <= 0:
            annotations.skipped["visdrone box with zero size"] += 1
            continue
        cls = VISDRONE_CATEGORIES[category]
        if cls == IGNORE or score == 0 or track <= 0:
            annotations.ignores.append(IgnoreBox(frame, x, y, w, h, line_no))
            continue
        annotations.boxes.append(Box(frame, str(track), x, y, w, h, cls, VISIBILITY.get(occlusion, 1.0), line_no))
    return annotations
