"""The readers of the original release layouts, on synthetic releases and hand-written quirky files."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from motip.data.categories import PERSON, VEHICLE
from motip.data.readers import bdd100k, dancetrack, visdrone
from motip.data.synthetic import write_synthetic_sources
from motip.errors import DataError


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_synthetic_sources(tmp_path_factory.mktemp("src"), frames_per_video=12)


def _jpeg(path: Path, size: tuple[int, int] = (64, 48)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((size[1], size[0], 3), 128, np.uint8))


def test_dancetrack_lists_splits_and_test_has_no_gt(sources: dict[str, Path]) -> None:
    videos = dancetrack.list_videos(sources["dancetrack"])
    assert {v.split for v in videos} == {"train", "val", "test"}
    assert all(v.has_gt == (v.split != "test") for v in videos)
    assert all(v.num_frames == 12 and v.frame_rate == 20 for v in videos)
    train = next(v for v in videos if v.split == "train")
    ann = dancetrack.read_annotations(train)
    assert (ann.width, ann.height) == (320, 192)
    assert ann.boxes and all(b.cls == PERSON and 1 <= b.frame <= 12 for b in ann.boxes)


def test_bdd_quirks_frames_without_labels_missing_box2d_crowd_string_ids(sources: dict[str, Path]) -> None:
    videos = bdd100k.list_videos(sources["bdd"])
    assert not any(v.has_gt for v in videos if v.split == "test")     # test: images only
    video = next(v for v in videos if v.split == "train")
    ann = bdd100k.read_annotations(video)
    assert ann.skipped["bdd label without box2d"] == 1
    assert {b.cls for b in ann.boxes} <= {PERSON, VEHICLE}
    assert min(b.frame for b in ann.boxes) == 2        # frame 1 has no labels (absent key or null)
    raw = json.loads(video.annotation.read_text())
    assert "labels" not in raw[0] or raw[0]["labels"] is None
    ignored_categories = {"bicycle", "motorcycle", "other person", "other vehicle", "trailer"}
    expected_ignores = sum(1 for f in raw for lab in f.get("labels") or () if "box2d" in lab and
                           (lab["category"] in ignored_categories or lab["attributes"].get("crowd")))
    assert len(ann.ignores) == expected_ignores


def test_bdd_frame_index_is_zero_based_and_names_win(tmp_path: Path) -> None:
    root = tmp_path / "bdd"
    video = "aaaa0000-bbbb1111"
    for k in (1, 2, 3):
        _jpeg(root / "images/track/train" / video / f"{video}-{k:07d}.jpg")
    frames = [
        {"name": f"{video}-0000001.jpg", "videoName": video, "frameIndex": 0,
         "labels": [{"id": "007", "category": "car", "attributes": {"Crowd": False},
                     "box2d": {"x1": 1.5, "y1": 2, "x2": 11.5, "y2": 7}}]},
        {"videoName": video, "frameIndex": 2,    # no name: frameIndex 2 is the third image
         "labels": [{"id": "7", "category": "rider", "box2d": {"x1": 0, "y1": 0, "x2": 4, "y2": 10}},
                    {"id": "8", "category": "pedestrian", "attributes": {"Crowd": True},
                     "box2d": {"x1": 0, "y1": 0, "x2": 30, "y2": 30}}]},
        {"name": f"{video}-0000002.jpg", "videoName": video, "frameIndex": 1},
    ]
    (root / "labels/box_track_20/train").mkdir(parents=True)
    (root / "labels/box_track_20/train" / f"{video}.json").write_text(json.dumps(frames))
    (ref,) = bdd100k.list_videos(root, ("train",))
    ann = bdd100k.read_annotations(ref)
    assert [(b.frame, b.track, b.cls, b.w, b.h) for b in ann.boxes] == [(1, "007", VEHICLE, 10, 5),
                                                                        (3, "7", PERSON, 4, 10)]
    assert [(g.frame, g.w) for g in ann.ignores] == [(3, 30)]     # capitalised Crowd attribute -> ignore


def test_visdrone_category_table_and_ignores(tmp_path: Path) -> None:
    base = tmp_path / "vd/VisDrone2019-MOT-train"
    for k in (1, 2):
        _jpeg(base / "sequences/uav0000001_00000_v" / f"{k:07d}.jpg")
    rows = ["1,0,5,5,10,10,0,0,0,0",        # ignored region
            "1,1,1,1,4,9,1,1,0,0",          # pedestrian
            "1,2,1,1,4,9,1,2,0,1",          # people, partly occluded
            "1,3,1,1,9,4,1,5,0,2",          # van, heavily occluded
            "2,3,2,1,9,4,1,9,0,0,",         # bus, trailing comma
            "2,4,1,1,4,4,1,11,0,0",         # others
            "2,5,1,1,4,4,1,3,0,0",          # bicycle
            "2,6,1,1,9,4,0,4,0,0",          # car with score 0
            ""]
    (base / "annotations").mkdir()
    (base / "annotations/uav0000001_00000_v.txt").write_text("\n".join(rows))
    (ref,) = visdrone.list_videos(tmp_path / "vd", ("train",))
    ann = visdrone.read_annotations(ref)
    assert [(b.frame, b.track, b.cls, b.visibility) for b in ann.boxes] == [
        (1, "1", PERSON, 1.0), (1, "2", PERSON, 0.75), (1, "3", VEHICLE, 0.25), (2, "3", VEHICLE, 1.0)]
    assert len(ann.ignores) == 4


@pytest.mark.parametrize(("line", "needle"), [("1,2,abc,4,5,6,1,1,1", "expected numbers"),
                                             ("1,2,3", "at least 6"),
                                             ("99,2,3,4,5,6,1,1,1", "outside the video")])
def test_dancetrack_malformed_gt_line_names_file_and_line(sources: dict[str, Path], tmp_path: Path,
                                                          line: str, needle: str) -> None:
    seq = tmp_path / "dt/train/dancetrack0001"
    for k in (1, 2):
        _jpeg(seq / "img1" / f"{k:08d}.jpg")
    (seq / "gt").mkdir()
    (seq / "gt/gt.txt").write_text(f"1,1,1,1,5,5,1,1,1\n{line}\n")
    (ref,) = dancetrack.list_videos(tmp_path / "dt", ("train",))
    with pytest.raises(DataError) as err:
        dancetrack.read_annotations(ref)
    assert err.value.line == 2 and err.value.path.endswith("gt.txt") and needle in err.value.message


def test_visdrone_unknown_category_and_bdd_bad_json(tmp_path: Path) -> None:
    base = tmp_path / "vd/VisDrone2019-MOT-train"
    _jpeg(base / "sequences/uav1/0000001.jpg")
    (base / "annotations").mkdir()
    (base / "annotations/uav1.txt").write_text("1,1,1,1,4,9,1,1,0,0\n1,2,1,1,4,9,1,12,0,0\n")
    (ref,) = visdrone.list_videos(tmp_path / "vd", ("train",))
    with pytest.raises(DataError, match="unknown VisDrone category 12") as err:
        visdrone.read_annotations(ref)
    assert err.value.line == 2

    video = "v1"
    _jpeg(tmp_path / "bdd/images/track/train" / video / f"{video}-0000001.jpg")
    (tmp_path / "bdd/labels/box_track_20/train").mkdir(parents=True)
    (tmp_path / "bdd/labels/box_track_20/train/v1.json").write_text('[\n {"name": "v1-0000001.jpg",\n "labels": [}\n]')
    (ref,) = bdd100k.list_videos(tmp_path / "bdd", ("train",))
    with pytest.raises(DataError, match="malformed JSON") as err:
        bdd100k.read_annotations(ref)
    assert err.value.line == 3 and err.value.path.endswith("v1.json")


def test_missing_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist") as err:
        dancetrack.list_videos(tmp_path / "nope")
    assert err.value.path == str(tmp_path / "nope") and "DanceTrack release layout" in err.value.hint
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="is not a folder"):
        visdrone.list_videos(tmp_path / "file")
