"""Issue 11 C (items 10-15): whatever the source annotations hold, a build is something training and TrackEval accept.

Reader-level tests build tiny hand-written releases (a few 64x48 JPEGs) and read them the way the builder does
(``motip.data.readers.read_video``); the end-to-end ones run ``motip build`` on the synthetic releases.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from motip.cli import main
from motip.data.categories import BDD_ALIASES, IGNORE, PERSON, VEHICLE
from motip.data.readers import bdd100k, dancetrack, read_video, visdrone
from motip.data.video import VideoRef
from motip.errors import DataError

from tests.helpers.data import make_workspace, manifest_ids, write_config
from tests.helpers.paths import DATA_DIR

W, H = 64, 48


def _jpeg(path: Path, size: tuple[int, int] = (W, H)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((size[1], size[0], 3), 128, np.uint8))


def _dancetrack(tmp_path: Path, gt: list[str], *, frames: tuple[int, ...] = (1, 2, 3),
                seqinfo: str | None = None) -> VideoRef:
    seq = tmp_path / "dt/train/dancetrack0001"
    (seq / "img1").mkdir(parents=True)
    for k in frames:
        _jpeg(seq / "img1" / f"{k:08d}.jpg")
    (seq / "gt").mkdir()
    (seq / "gt/gt.txt").write_text("".join(f"{row}\n" for row in gt))
    if seqinfo is not None:
        (seq / "seqinfo.ini").write_text(seqinfo)
    (ref,) = dancetrack.list_videos(tmp_path / "dt", ("train",))
    return ref


def _visdrone(tmp_path: Path, rows: list[str], frames: tuple[int, ...] = (1, 2)) -> VideoRef:
    base = tmp_path / "vd/VisDrone2019-MOT-train"
    for k in frames:
        _jpeg(base / "sequences/uav0000001_00000_v" / f"{k:07d}.jpg")
    (base / "annotations").mkdir(parents=True, exist_ok=True)
    (base / "annotations/uav0000001_00000_v.txt").write_text("".join(f"{row}\n" for row in rows))
    (ref,) = visdrone.list_videos(tmp_path / "vd", ("train",))
    return ref


def _bdd(tmp_path: Path, labels: list[list[dict]] | str, frames: int = 2) -> VideoRef:
    root, video = tmp_path / "bdd", "aaaa0000-bbbb1111"
    for k in range(1, frames + 1):
        _jpeg(root / "images/track/train" / video / f"{video}-{k:07d}.jpg")
    if not isinstance(labels, str):
        labels = json.dumps([{"name": f"{video}-{k:07d}.jpg", "videoName": video, "frameIndex": k - 1,
                              "labels": frame_labels} for k, frame_labels in enumerate(labels, 1)], indent=1)
    (root / "labels/box_track_20/train").mkdir(parents=True)
    (root / "labels/box_track_20/train" / f"{video}.json").write_text(labels)
    (ref,) = bdd100k.list_videos(root, ("train",))
    return ref


def _label(ident: str, category: str, x1: float = 1, y1: float = 1, x2: float = 9, y2: float = 20) -> dict:
    return {"id": ident, "category": category, "attributes": {"occluded": False, "crowd": False},
            "box2d": {"x1": x1, "y1": y1, "x2": x2, "y2": y2}}


# ---------------------------------------------------------------- item 10: non-finite numbers

@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999", "NaN"])
def test_item10_nonfinite_box_refused_with_file_and_line_dancetrack(tmp_path: Path, value: str) -> None:
    ref = _dancetrack(tmp_path, ["1,1,1,1,5,5,1,1,1", f"2,1,1,{value},5,5,1,1,1"])
    with pytest.raises(DataError, match="not a finite number") as err:
        read_video(ref)
    assert err.value.path == str(ref.annotation) and err.value.line == 2 and "y" in err.value.message


def test_item10_nonfinite_visibility_and_score_refused_visdrone(tmp_path: Path) -> None:
    ref = _visdrone(tmp_path, ["1,1,1,1,4,9,1,1,0,0", "2,1,1,1,4,9,nan,1,0,0"])
    with pytest.raises(DataError, match="score is 'nan'") as err:
        read_video(ref)
    assert err.value.path == str(ref.annotation) and err.value.line == 2
    ref = _dancetrack(tmp_path / "b", ["1,1,1,1,5,5,1,1,inf"])
    with pytest.raises(DataError, match="visibility is 'inf'") as err:
        read_video(ref)
    assert err.value.line == 1


def test_item10_nonfinite_bdd_json_literal_and_string(tmp_path: Path) -> None:
    ref = _bdd(tmp_path / "a", [[_label("1", "car")], [_label("2", "car", x2=float("nan"))]])
    text = ref.annotation.read_text()
    assert "NaN" in text                          # json.dumps writes the literal Python's json reads back
    with pytest.raises(DataError, match="NaN") as err:
        read_video(ref)
    assert err.value.path == str(ref.annotation)
    assert err.value.line == next(n for n, line in enumerate(text.splitlines(), 1) if "NaN" in line)
    ref = _bdd(tmp_path / "b", [[_label("1", "car", y1="inf")]])        # a string float() accepts
    with pytest.raises(DataError, match="y1 is 'inf'") as err:
        read_video(ref)
    assert err.value.path == str(ref.annotation) and "frame object #0" in err.value.message


# ---------------------------------------------------------------- item 11: one row per (frame, id)

def test_item11_exact_duplicate_rows_dropped_and_counted(tmp_path: Path) -> None:
    row = "1,3,1,1,9,4,1,4,0,0"
    ref = _visdrone(tmp_path, [row, "1,4,2,2,9,4,1,4,0,0", row + ",", "2,3,2,1,9,4,1,4,0,0"])
    annotations, unusable = read_video(ref)
    assert unusable is None
    assert [(b.frame, b.track) for b in annotations.boxes] == [(1, "3"), (1, "4"), (2, "3")]
    assert annotations.skipped["visdrone exact duplicate row (dropped)"] == 1


@pytest.mark.parametrize("source", ["dancetrack", "visdrone", "bdd"])
def test_item11_conflicting_duplicate_refused_with_file_and_line(tmp_path: Path, source: str) -> None:
    if source == "dancetrack":
        ref = _dancetrack(tmp_path, ["1,1,1,1,5,5,1,1,1", "1,2,1,1,5,5,1,1,1", "1,1,2,1,5,5,1,1,1"])
    elif source == "visdrone":
        ref = _visdrone(tmp_path, ["1,1,1,1,4,9,1,1,0,0", "2,1,1,1,4,9,1,1,0,0", "2,1,1,1,4,8,1,1,0,0"])
    else:
        ref = _bdd(tmp_path, [[_label("7", "car"), _label("7", "car", x1=2)]])
    with pytest.raises(DataError, match="appears twice in frame") as err:
        read_video(ref)
    assert err.value.path == str(ref.annotation)
    if source == "bdd":
        assert "frame object #0" in err.value.message
    else:
        assert err.value.line == 3 and "first at line" in err.value.message
    assert "TrackEval" in err.value.hint


# ---------------------------------------------------------------- item 12: frames keep their numbers

@pytest.mark.parametrize("source", ["dancetrack", "visdrone", "bdd"])
def test_item12_missing_middle_image_refused_naming_it(tmp_path: Path, source: str) -> None:
    if source == "dancetrack":
        ref = _dancetrack(tmp_path, ["1,1,1,1,5,5,1,1,1", "3,1,1,1,5,5,1,1,1"], frames=(1, 3))
        missing = "00000002.jpg"
    elif source == "visdrone":
        ref = _visdrone(tmp_path, ["1,1,1,1,4,9,1,1,0,0"], frames=(1, 3, 4))
        missing = "0000002.jpg"
    else:
        ref = _bdd(tmp_path, [[_label("1", "car")]] * 3, frames=3)
        (ref.image_dir / ref.image_names[1]).unlink()
        (ref,) = bdd100k.list_videos(tmp_path / "bdd", ("train",))
        missing = "aaaa0000-bbbb1111-0000002.jpg"
    with pytest.raises(DataError, match="missing image") as err:
        read_video(ref)
    assert err.value.path == str(ref.image_dir / missing)


def test_item12_video_without_frames_or_gt_refused_if_locked_else_left_out(tmp_path: Path) -> None:
    empty_gt = _dancetrack(tmp_path / "a", ["1,1,1,1,5,5,0,1,1"])       # one row, and it is an ignore (conf 0)
    with pytest.raises(DataError, match="no ground-truth boxes") as err:
        read_video(empty_gt, locked=True)
    assert err.value.path == str(empty_gt.annotation)
    annotations, unusable = read_video(empty_gt, locked=False)
    assert unusable == "no ground-truth boxes" and not annotations.boxes

    no_frames = _dancetrack(tmp_path / "b", [], frames=())
    assert no_frames.num_frames == 0
    with pytest.raises(DataError, match="has no images") as err:
        read_video(no_frames, locked=True)
    assert err.value.path == str(no_frames.image_dir)
    assert read_video(no_frames, locked=False)[1] == "no images"


# ---------------------------------------------------------------- item 13: clipped to the image

def test_item13_boxes_clipped_to_the_image_and_vanished_ones_counted(tmp_path: Path) -> None:
    ref = _visdrone(tmp_path, ["1,1,-10,-5,20,20,1,1,0,0",         # top-left corner outside
                               f"1,2,{W - 4},{H - 8},30,30,1,4,0,0",  # bottom-right outside
                               f"1,3,{W + 5},10,10,10,1,4,0,0",       # entirely right of the image
                               f"1,4,5,{H},10,10,1,4,0,0",            # touches the bottom edge only
                               "1,5,2,3,4,5,1,1,0,0",                 # inside: untouched
                               f"2,0,{W - 2},0,50,50,0,0,0,0"])       # ignore region, clipped too
    annotations, _ = read_video(ref)
    assert [(b.track, b.x, b.y, b.w, b.h) for b in annotations.boxes] == [
        ("1", 0, 0, 10, 15), ("2", W - 4, H - 8, 4, 8), ("5", 2, 3, 4, 5)]
    assert annotations.skipped["visdrone box outside the image (dropped after clipping)"] == 2
    assert [(g.x, g.y, g.w, g.h) for g in annotations.ignores] == [(W - 2, 0, 2, H)]


# ---------------------------------------------------------------- item 14: BDD100K aliases (from the toolkit)

def _toolkit_aliases() -> dict[str, str]:
    """The [name_mapping] table as copied (with its source) into tests/data/bdd100k_aliases.md."""
    text = (DATA_DIR / "bdd100k_aliases.md").read_text()
    assert "bdd100k/configs/box_track.toml" in text and "9ac17c6c7c51d2fc83065fccd707cd5b1882a293" in text
    table = text.split("\n[name_mapping]\n", 1)[1].split("```", 1)[0]
    return dict(re.findall(r'^(\w+) = "([^"]+)"$', table, re.MULTILINE))


def test_item14_bdd_legacy_aliases_from_the_toolkit(tmp_path: Path) -> None:
    aliases = _toolkit_aliases()
    assert aliases == {"bike": "bicycle", "caravan": "car", "motor": "motorcycle", "person": "pedestrian",
                       "van": "car"}
    assert BDD_ALIASES == aliases
    labels = [_label("1", "person", 1, 1, 5, 20), _label("2", "van", 10, 1, 30, 12),
              _label("3", "caravan", 31, 1, 50, 12), _label("4", "bike", 1, 30, 8, 40),
              _label("5", "motor", 10, 30, 20, 40), _label("6", "pedestrian", 40, 20, 44, 40)]
    ref = _bdd(tmp_path, [labels])
    annotations, _ = read_video(ref)
    assert [(b.track, b.cls) for b in annotations.boxes] == [("1", PERSON), ("2", VEHICLE), ("3", VEHICLE),
                                                            ("6", PERSON)]
    assert sorted((g.x, g.y) for g in annotations.ignores) == [(1, 30), (10, 30)]      # bicycle, motorcycle
    assert not any("unknown" in quirk for quirk in annotations.skipped)
    assert IGNORE not in {b.cls for b in annotations.boxes}


def test_item14_bdd_unknown_category_counted_not_silently_dropped(tmp_path: Path) -> None:
    ref = _bdd(tmp_path, [[_label("1", "car"), _label("2", "hovercraft", 20, 1, 30, 10)]])
    annotations, _ = read_video(ref)
    assert [b.track for b in annotations.boxes] == ["1"]
    assert len(annotations.ignores) == 1         # kept as an ignore region: never a miss nor a false positive
    assert annotations.skipped["bdd unknown category 'hovercraft' (written as an ignore region)"] == 1


# ---------------------------------------------------------------- item 15: seqinfo that makes sense

SEQINFO = "[Sequence]\nname=dancetrack0001\nimDir=img1\nframeRate={rate}\nseqLength=3\nimWidth={w}\nimHeight={h}\n" \
          "imExt=.jpg\n"


@pytest.mark.parametrize(("rate", "w", "h", "key", "line"), [(0, W, H, "frameRate", 4), (-20, W, H, "frameRate", 4),
                                                            ("nan", W, H, "frameRate", 4), (20, 0, H, "imWidth", 6),
                                                            (20, W, -1, "imHeight", 7),
                                                            (20, W * 2, H, "imWidth", 6)])
def test_item15_seqinfo_nonsense_refused_with_file_and_line(tmp_path: Path, rate: object, w: int, h: int,
                                                             key: str, line: int) -> None:
    seq = tmp_path / "dt/train/dancetrack0001"
    seqinfo = seq / "seqinfo.ini"
    with pytest.raises(DataError) as err:
        ref = _dancetrack(tmp_path, ["1,1,1,1,5,5,1,1,1"], seqinfo=SEQINFO.format(rate=rate, w=w, h=h))
        read_video(ref)
    assert err.value.path == str(seqinfo) and err.value.line == line and key in err.value.message
    if w == W * 2:
        assert f"{W}x{H}" in err.value.message         # the images' real size


# ---------------------------------------------------------------- end to end: motip build

def _build(root: Path) -> int:
    return main(["build", "--config", str(root / "config.toml")])


def test_item11_item13_build_report_counts_and_gt_is_trackeval_clean(tmp_path: Path) -> None:
    make_workspace(tmp_path, frames=8, videos=4)
    write_config(tmp_path, dancetrack=8, bdd=8, visdrone=8)
    val_id = manifest_ids(tmp_path)["val"]["visdrone"][0]
    ann = tmp_path / "src/visdrone/VisDrone2019-MOT-val/annotations" / f"{val_id}.txt"
    rows = ann.read_text().splitlines()
    person = next(r for r in rows if r.split(",")[1] != "0" and r.split(",")[6] == "1")
    ann.write_text("\n".join([*rows, person, "1,999,300,150,100,100,1,4,0,0", "1,998,400,10,5,5,1,4,0,0"]) + "\n")
    assert _build(tmp_path) == 0
    out = tmp_path / "datasets/DanceTrack"
    report = json.loads((out / "build_report.json").read_text())
    assert report["skipped"]["visdrone exact duplicate row (dropped)"] == 1
    assert report["skipped"]["visdrone box outside the image (dropped after clipping)"] == 1     # 400 > 320
    for seq in (p for split in ("train", "val", "test") for p in (out / split).iterdir() if (p / "gt").is_dir()):
        info = (seq / "seqinfo.ini").read_text()
        width, height = (int(info.split(f"{k}=")[1].split()[0]) for k in ("imWidth", "imHeight"))
        keys = set()
        for line in (seq / "gt/gt.txt").read_text().splitlines():
            frame, ident, x, y, w, h = (float(v) for v in line.split(",")[:6])
            assert (frame, ident) not in keys, (seq, line)          # TrackEval: an id once per frame
            keys.add((frame, ident))
            assert 0 <= x and 0 <= y and x + w <= width + 0.01 and y + h <= height + 0.01 and w > 0 and h > 0


@pytest.mark.parametrize("fault", ["nan", "conflict", "missing_image", "frame_rate"])
def test_item10_to_15_motip_build_refuses_exit_2_and_keeps_the_link(tmp_path: Path, fault: str,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    make_workspace(tmp_path, frames=8, videos=4)
    write_config(tmp_path, dancetrack=8, bdd=8, visdrone=8)
    assert _build(tmp_path) == 0
    previous = os.readlink(tmp_path / "datasets/DanceTrack")
    val_id = manifest_ids(tmp_path)["val"]["dancetrack"][0]
    seq = tmp_path / "src/dancetrack/val" / val_id
    gt = seq / "gt/gt.txt"
    line = None
    if fault == "nan":
        gt.write_text(gt.read_text() + "2,1,nan,4,5,6,1,1,1\n")
        path, line = gt, len(gt.read_text().splitlines())
    elif fault == "conflict":
        first = gt.read_text().splitlines()[0].split(",")
        first[2] = str(float(first[2]) + 3)
        gt.write_text(gt.read_text() + ",".join(first) + "\n")
        path, line = gt, len(gt.read_text().splitlines())
    elif fault == "missing_image":
        (seq / "img1/00000002.jpg").unlink()
        path = seq / "img1/00000002.jpg"
    else:
        info = seq / "seqinfo.ini"
        info.write_text(re.sub(r"frameRate=\S+", "frameRate=0", info.read_text()))
        path = info
        line = next(n for n, text in enumerate(info.read_text().splitlines(), 1) if text.startswith("frameRate"))
    write_config(tmp_path, dancetrack=4, bdd=8, visdrone=8, seed=3)
    assert _build(tmp_path) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "hint:" in err
    assert f"{path}:{line}:" in err if line is not None else f"{path}:" in err
    assert os.readlink(tmp_path / "datasets/DanceTrack") == previous
    assert not list((tmp_path / "datasets/builds").glob(".tmp-*"))


def test_item12_build_leaves_out_a_training_video_without_gt_with_a_warning(tmp_path: Path) -> None:
    make_workspace(tmp_path, frames=8, videos=4)
    # Every DanceTrack training video has a gt.txt with no boxes: left out with a warning, not a failed build.
    for gt in (tmp_path / "src/dancetrack/train").glob("*/gt/gt.txt"):
        gt.write_text("")
    write_config(tmp_path, dancetrack=8, bdd=8, visdrone=8)
    assert _build(tmp_path) == 0
    report = json.loads((tmp_path / "datasets/DanceTrack/build_report.json").read_text())
    assert any("no ground-truth boxes; left out of train" in w for w in report["warnings"])
    assert not [s for s in report["sequences"] if s["split"] == "train" and s["source"] == "dancetrack"]
    assert report["splits"]["train"]["frames"] == 16


def test_item12_build_refused_when_no_training_video_has_gt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_workspace(tmp_path, frames=8, videos=4)
    for gt in (tmp_path / "src/dancetrack/train").glob("*/gt/gt.txt"):
        gt.write_text("")
    write_config(tmp_path, dancetrack=8, bdd=0, visdrone=0)
    assert _build(tmp_path) == 2
    err = capsys.readouterr().err
    assert "0 train frames" in err and "no ground-truth boxes" in err and "Traceback" not in err
    assert not (tmp_path / "datasets/DanceTrack").exists()


def test_item12_motip_build_subprocess_refuses_a_gap_in_a_val_video(tmp_path: Path) -> None:
    """The real command line (a child process): exit 2, the missing file named, no traceback, nothing switched."""
    config = make_workspace(tmp_path, frames=8, videos=4)
    write_config(tmp_path, dancetrack=4, bdd=4, visdrone=4)
    val_id = manifest_ids(tmp_path)["val"]["visdrone"][0]
    missing = tmp_path / "src/visdrone/VisDrone2019-MOT-val/sequences" / val_id / "0000004.jpg"
    missing.unlink()
    result = subprocess.run([sys.executable, "-m", "motip", "build", "--config", str(config)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert f"{missing}: missing image" in result.stderr and "hint:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "datasets/DanceTrack").exists()


if __name__ == "__main__":   # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
