"""Synthetic DanceTrack / BDD100K / VisDrone releases: small, fast to write, learnable, with each format's quirks.

Every video is a plain noisy background with moving solid textured shapes: **people** are tall warm-coloured bodies
with a head, **vehicles** are wide cool-coloured bodies with windows and wheels, objects the table ignores (bicycles,
motors, "others") are small yellow diamonds. Objects have different sizes, enter and leave the view, and occlude one
another (nearer = lower in the image = drawn last). Quirks written on purpose:

- DanceTrack: MOTChallenge ``gt.txt`` + ``seqinfo.ini``; the test split has no ``gt`` folder.
- BDD100K: string ids, 0-based ``frameIndex`` with 1-based image names, frames without objects have no ``labels``
  key, a label without ``box2d`` per video, crowd boxes, distractors ("other person", "other vehicle", "trailer"),
  bicycles/motorcycles; the test split has images but no labels.
- VisDrone: an ignored region (category 0, target id 0, score 0), score-0 rows, "others" (11), bicycles/motors.

Split sizes per source (``n`` videos): DanceTrack train n-3 / val 2 / test 1 (n >= 4); BDD100K train n-3 / val 2 /
test 1 (n >= 4); VisDrone train n-2 / val 1 / test-dev 1 (n >= 3).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from collections.abc import Callable
from pathlib import Path

import numpy as np

from motip.errors import DataError

PERSON, VEHICLE, OTHER = "person", "vehicle", "other"
BDD_LABELS = {PERSON: ["pedestrian", "pedestrian", "rider"], VEHICLE: ["car", "car", "truck", "bus"],
              OTHER: ["bicycle", "motorcycle", "other person", "other vehicle", "trailer"]}
VISDRONE_LABELS = {PERSON: [1, 1, 2], VEHICLE: [4, 4, 5, 6, 9], OTHER: [3, 10, 11]}


@dataclass
class Mover:
    """One object moving linearly between ``t0`` and ``t1`` (1-based frames, inclusive)."""

    kind: str
    label: str | int
    track: int
    w: float
    h: float
    x0: float
    y0: float
    vx: float
    vy: float
    t0: int
    t1: int
    color: tuple[int, int, int]
    ignored: bool = False      # VisDrone score 0 / BDD crowd: drawn, annotated as ignore

    def box(self, t: int) -> tuple[float, float, float, float]:
        dt = t - self.t0
        return self.x0 + self.vx * dt, self.y0 + self.vy * dt, self.w, self.h


def _clip_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int] | None:
    """Box clipped to the image; None when less than a third of it is inside."""
    x, y, w, h = box
    x1, y1, x2, y2 = max(x, 0.0), max(y, 0.0), min(x + w, width - 1.0), min(y + h, height - 1.0)
    if x2 <= x1 or y2 <= y1 or (x2 - x1) * (y2 - y1) < (w * h) / 3:
        return None
    return round(x1), round(y1), round(x2 - x1), round(y2 - y1)


def _random_color(rng: random.Random, kind: str) -> tuple[int, int, int]:
    # BGR. People warm (reds/oranges/magentas), vehicles cool (blues/greens/cyans): clearly apart.
    if kind == PERSON:
        return rng.randint(20, 90), rng.randint(30, 140), rng.randint(170, 255)
    if kind == VEHICLE:
        return rng.randint(160, 255), rng.randint(90, 210), rng.randint(0, 60)
    return 0, 220, 230


def _make_movers(rng: random.Random, frames: int, width: int, height: int, *, people: int, vehicles: int,
                 others: int, scale: float, labels: dict[str, list]) -> list[Mover]:
    movers: list[Mover] = []
    for kind, count in ((PERSON, people), (VEHICLE, vehicles), (OTHER, others)):
        for _ in range(count):
            if kind == PERSON:
                h = rng.uniform(0.22, 0.5) * height * scale
                w = h * rng.uniform(0.3, 0.45)
            elif kind == VEHICLE:
                w = rng.uniform(0.16, 0.32) * width * scale
                h = w * rng.uniform(0.42, 0.6)
            else:
                w = h = rng.uniform(0.05, 0.09) * height * scale + 4
            speed = rng.uniform(0.6, 2.5) * (2.0 if kind == VEHICLE else 1.0)
            vx, vy = rng.choice((-1, 1)) * speed, rng.uniform(-0.4, 0.4)
            enters = rng.random() < 0.5         # half of the objects walk in from the side during the video
            t0 = rng.randint(1, max(1, frames // 2)) if enters else 1
            t1 = frames if rng.random() < 0.7 else rng.randint(t0 + max(1, frames // 4), frames + frames // 4)
            x0 = (-w * 0.6 if vx > 0 else width - w * 0.4) if enters else rng.uniform(0, max(1.0, width - w))
            y0 = rng.uniform(0.05 * height, max(0.06 * height, height - h - 2))
            movers.append(Mover(kind, rng.choice(labels[kind]), 0, w, h, x0, y0, vx, vy, t0, min(t1, frames),
                                _random_color(rng, kind)))
    rng.shuffle(movers)
    for track, mover in enumerate(movers, 1):
        mover.track = track
    return movers


def _draw(image: np.ndarray, mover: Mover, box: tuple[float, float, float, float]) -> None:
    import cv2

    x, y, w, h = (int(round(v)) for v in box)
    color = mover.color
    dark = tuple(int(c * 0.45) for c in color)
    if mover.kind == PERSON:
        head = max(2, int(w * 0.38))
        cv2.ellipse(image, (x + w // 2, y + head + (h - head) // 2), (max(1, w // 2), max(1, (h - head) // 2)), 0,
                    0, 360, color, -1)
        for stripe in range(y + head + 3, y + h - 2, max(3, h // 8)):      # texture: horizontal stripes
            cv2.line(image, (x + w // 5, stripe), (x + w - w // 5, stripe), dark, 1)
        cv2.circle(image, (x + w // 2, y + head // 2 + 1), max(1, head // 2 + 1), (140, 180, 230), -1)
    elif mover.kind == VEHICLE:
        cv2.rectangle(image, (x, y + h // 5), (x + w, y + h - h // 5), color, -1)
        cv2.rectangle(image, (x + w // 5, y), (x + w - w // 5, y + h // 5 + 1), color, -1)
        cv2.rectangle(image, (x + w // 4, y + 1), (x + w - w // 4, y + h // 5), (60, 50, 40), -1)  # window
        wheel = max(2, h // 5)
        for cx in (x + w // 4, x + w - w // 4):
            cv2.circle(image, (cx, y + h - wheel), wheel, (20, 20, 20), -1)
    else:
        pts = np.array([[x + w // 2, y], [x + w, y + h // 2], [x + w // 2, y + h], [x, y + h // 2]], np.int32)
        cv2.fillConvexPoly(image, pts, color)


def _background(rng: random.Random, width: int, height: int) -> np.ndarray:
    gen = np.random.default_rng(rng.randint(0, 2**31))
    base = np.array([rng.randint(90, 150)] * 3, dtype=np.int16) + np.array([rng.randint(-10, 10) for _ in range(3)])
    noise = gen.normal(0, 9, size=(height, width, 1)).astype(np.int16)
    return np.clip(base[None, None, :] + noise, 0, 255).astype(np.uint8)


def _render_video(rng: random.Random, movers: list[Mover], frames: int, width: int, height: int,
                  image_path: Callable[[int], Path], regions: list[tuple[int, int, int, int]] = (),
                  ) -> list[list[tuple[Mover, tuple[float, float, float, float], float]]]:
    """Write the frames; return per frame the visible (mover, clipped box, visibility) triples."""
    import cv2

    background = _background(rng, width, height)
    for rx, ry, rw, rh in regions:              # ignored regions: cluttered dark patches
        patch = np.random.default_rng(rx * 7 + ry).integers(0, 80, size=(rh, rw, 3), dtype=np.uint8)
        background[ry:ry + rh, rx:rx + rw] = patch
    visible_per_frame = []
    for t in range(1, frames + 1):
        image = background.copy()
        alive = [(m, m.box(t)) for m in movers if m.t0 <= t <= m.t1]
        alive.sort(key=lambda mb: mb[1][1] + mb[1][3])    # far (higher in the image) first, near last
        visible = []
        for i, (mover, box) in enumerate(alive):
            _draw(image, mover, box)
            clipped = _clip_box(box, width, height)
            if clipped is None:
                continue
            covered = sum(_overlap(clipped, other) for _, other in alive[i + 1:])
            visibility = max(0.0, 1.0 - covered / float(clipped[2] * clipped[3]))
            if visibility > 0.1:
                visible.append((mover, clipped, round(visibility, 2)))
        cv2.imwrite(str(image_path(t)), image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        visible_per_frame.append(visible)
    return visible_per_frame


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    return max(0.0, x2 - x1) * max(0.0, y2 - y1)


def _split_names(n: int, splits: tuple[str, ...], held_out: tuple[int, ...], source: str) -> list[str]:
    minimum = sum(held_out) + 1
    if n < minimum:
        raise DataError(f"synthetic {source}: at least {minimum} videos are needed, got {n}")
    counts = (n - sum(held_out), *held_out)
    return [split for split, count in zip(splits, counts) for _ in range(count)]


# ---------------------------------------------------------------- DanceTrack

def _write_dancetrack(root: Path, rng: random.Random, videos: int, frames: int, size: tuple[int, int]) -> None:
    width, height = size
    for index, split in enumerate(_split_names(videos, ("train", "val", "test"), (2, 1), "dancetrack"), 1):
        seq = root / split / f"dancetrack{index:04d}"
        (seq / "img1").mkdir(parents=True)
        movers = _make_movers(rng, frames, width, height, people=rng.randint(3, 6), vehicles=0, others=0,
                              scale=1.0, labels={PERSON: [1]})
        visible = _render_video(rng, movers, frames, width, height, lambda t, seq=seq: seq / "img1" / f"{t:08d}.jpg")
        (seq / "seqinfo.ini").write_text(
            f"[Sequence]\nname={seq.name}\nimDir=img1\nframeRate=20\nseqLength={frames}\nimWidth={width}\n"
            f"imHeight={height}\nimExt=.jpg\n", encoding="utf-8")
        if split == "test":
            continue                                   # DanceTrack test: no ground truth released
        rows = sorted((mover.track, t, box) for t, items in enumerate(visible, 1) for mover, box, _ in items)
        (seq / "gt").mkdir()
        (seq / "gt" / "gt.txt").write_text(
            "".join(f"{t},{track},{x},{y},{w},{h},1,1,1\n" for track, t, (x, y, w, h) in rows), encoding="utf-8")


# ---------------------------------------------------------------- BDD100K

def _write_bdd(root: Path, rng: random.Random, videos: int, frames: int, size: tuple[int, int]) -> None:
    width, height = size
    for split in _split_names(videos, ("train", "val", "test"), (2, 1), "bdd"):
        name = f"{rng.getrandbits(32):08x}-{rng.getrandbits(32):08x}"
        img_dir = root / "images" / "track" / split / name
        img_dir.mkdir(parents=True)
        movers = _make_movers(rng, frames, width, height, people=rng.randint(1, 3), vehicles=rng.randint(2, 4),
                              others=rng.randint(1, 2), scale=0.8, labels=BDD_LABELS)
        for mover in movers:                            # frame 1 shows no object: a frame without labels
            mover.x0, mover.y0 = mover.box(max(mover.t0, 2))[:2]
            mover.t0 = max(mover.t0, 2)
        crowd = movers[0] if len(movers) > 1 and rng.random() < 0.5 else None
        if crowd is not None:
            crowd.ignored = True
        visible = _render_video(rng, movers, frames, width, height, lambda t, d=img_dir, n=name: d / f"{n}-{t:07d}.jpg")
        if split == "test":
            continue                                   # BDD100K test: images only
        uid = {m.track: f"{rng.randint(10**7, 10**8 - 1)}" for m in movers}       # ids are strings
        entries = []
        for t, items in enumerate(visible, 1):
            entry: dict = {"name": f"{name}-{t:07d}.jpg", "videoName": name, "frameIndex": t - 1}
            labels = [{"id": uid[m.track], "category": "pedestrian" if m is crowd else m.label,
                       "attributes": {"occluded": vis < 0.7, "truncated": False, "crowd": m is crowd},
                       "box2d": {"x1": float(x), "y1": float(y), "x2": float(x + w), "y2": float(y + h)}}
                      for m, (x, y, w, h), vis in items]
            if t == 2:
                labels.append({"id": "99999999", "category": "car", "attributes": {},   # a label without box2d
                               "poly2d": [{"vertices": [[1, 1], [5, 1], [5, 5]], "types": "LLL", "closed": True}]})
            if labels:
                entry["labels"] = labels
            elif rng.random() < 0.5:
                entry["labels"] = None                 # frames without objects: null, or no "labels" key at all
            entries.append(entry)
        label_dir = root / "labels" / "box_track_20" / split
        label_dir.mkdir(parents=True, exist_ok=True)
        (label_dir / f"{name}.json").write_text(json.dumps(entries), encoding="utf-8")


# ---------------------------------------------------------------- VisDrone

def _write_visdrone(root: Path, rng: random.Random, videos: int, frames: int, size: tuple[int, int]) -> None:
    width, height = size
    for index, split in enumerate(_split_names(videos, ("train", "val", "test-dev"), (1, 1), "visdrone"), 1):
        name = f"uav{index * 7:07d}_{rng.randint(0, 9999) * 100:05d}_v"
        base = root / f"VisDrone2019-MOT-{split}"
        seq_dir = base / "sequences" / name
        seq_dir.mkdir(parents=True)
        (base / "annotations").mkdir(exist_ok=True)
        rw, rh = width // 6, height // 5
        region = (rng.randint(0, width - rw - 1), rng.randint(0, height - rh - 1), rw, rh)
        movers = _make_movers(rng, frames, width, height, people=rng.randint(2, 5), vehicles=rng.randint(2, 5),
                              others=rng.randint(1, 2), scale=0.45, labels=VISDRONE_LABELS)
        movers[-1].ignored = True                       # a score-0 object
        visible = _render_video(rng, movers, frames, width, height, lambda t, d=seq_dir: d / f"{t:07d}.jpg", [region])
        rows = []
        for t, items in enumerate(visible, 1):
            rows.append(f"{t},0,{region[0]},{region[1]},{region[2]},{region[3]},0,0,0,0\n")   # ignored region
            for m, (x, y, w, h), vis in items:
                occlusion = 0 if vis > 0.95 else 1 if vis > 0.5 else 2
                score = 0 if m.ignored else 1
                rows.append(f"{t},{m.track},{x},{y},{w},{h},{score},{m.label},0,{occlusion}\n")
        (base / "annotations" / f"{name}.txt").write_text("".join(rows), encoding="utf-8")


def write_synthetic_sources(root: Path, *, seed: int = 0, dancetrack_videos: int = 6, bdd_videos: int = 6,
                            visdrone_videos: int = 5, frames_per_video: int = 40,
                            image_size: tuple[int, int] = (320, 192)) -> dict[str, Path]:
    """Write ``root/dancetrack``, ``root/bdd100k`` and ``root/visdrone`` in their original release layouts.

    A source whose video count is 0 is not written. Returns source name ("dancetrack", "bdd", "visdrone") -> root.
    Defaults write 17 videos x 40 frames of 320x192 in about a second or two.
    """
    root = Path(root)
    if frames_per_video < 2:
        raise DataError(f"frames_per_video must be >= 2, got {frames_per_video}")
    written: dict[str, Path] = {}
    for source, folder, count, writer in (("dancetrack", "dancetrack", dancetrack_videos, _write_dancetrack),
                                          ("bdd", "bdd100k", bdd_videos, _write_bdd),
                                          ("visdrone", "visdrone", visdrone_videos, _write_visdrone)):
        if count <= 0:
            continue
        if (root / folder).exists():
            raise DataError("refusing to write synthetic data into an existing folder", path=root / folder)
        writer(root / folder, random.Random(f"{seed}:{source}"), count, frames_per_video, image_size)
        written[source] = root / folder
    return written


def write_synthetic_manifest(sources: dict[str, Path], path: Path) -> dict[str, dict[str, list[str]]]:
    """Lock val/test ids from the synthetic releases: DanceTrack and BDD100K val+test from their val splits (both
    with ground truth), VisDrone val from val and test from test-dev. Writes ``path`` through the manifest's one
    writer (``motip.data.manifest.write_manifest``: read back before it replaces anything) and returns the dict."""
    from motip.data.manifest import write_manifest
    from motip.data.readers import reader_for

    manifest: dict[str, dict[str, list[str]]] = {"val": {}, "test": {}}
    for source, src_root in sources.items():
        reader = reader_for(source)
        splits = tuple(s for s in reader.SPLITS if reader.split_dir(src_root, s).is_dir())
        videos = [v for v in reader.list_videos(src_root, splits) if v.has_gt]
        held = [v.video_id for v in videos if v.split == "val"]
        test = [v.video_id for v in videos if v.split == "test-dev"]
        if not test and len(held) >= 2:
            held, test = held[:-1], held[-1:]
        manifest["val"][source] = held
        manifest["test"][source] = test
    write_manifest(path, manifest)
    return manifest
