"""motip.eval.metrics on constructed cases with known answers (real files, real TrackEval metric classes)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from motip.data.mot_files import read_gt, read_ignore, read_sequence, read_tracker_file
from motip.errors import DataError, MotipError
from motip.eval import metrics as M

from tests.helpers.eval_files import as_tracker, two_walkers, write_seq, write_seqmap, write_tracker

PED = {"pedestrian": 1}


@pytest.fixture
def split(tmp_path):
    split_dir = tmp_path / "val"
    write_seq(split_dir, "seqA", 10, two_walkers())
    write_seqmap(split_dir, ["seqA"])
    return split_dir


def score(split_dir, rows, tmp_path, classes=PED, **kw):
    write_tracker(tmp_path / "trk", "seqA", rows)
    return M.evaluate(split_dir, tmp_path / "trk", classes=classes, **kw)


def test_perfect_tracker_scores_100(split, tmp_path):
    report = score(split, as_tracker(two_walkers()), tmp_path, output_dir=tmp_path / "out")
    m = report["metrics"]
    for name in ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "MOTP", "IDP", "IDR"):
        assert m[name] == pytest.approx(100.0), name
    assert (m["IDSW"], m["FP"], m["FN"], m["TP"]) == (0, 0, 0, 20)
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert written["metrics"]["HOTA"] == pytest.approx(100.0)
    assert written["per_sequence"]["seqA"]["pedestrian"]["GT_Dets"] == 20
    # one class: the top level is that class's numbers
    assert written["metrics"]["IDF1"] == written["per_class"]["pedestrian"]["IDF1"]


def test_one_id_switch(split, tmp_path):
    switched = as_tracker(two_walkers(), id_map=lambda f, i: 3 if (i == 1 and f > 5) else i)
    m = score(split, switched, tmp_path)["metrics"]
    assert m["IDSW"] == 1
    assert m["MOTA"] == pytest.approx(100 * (1 - 1 / 20))
    assert m["IDF1"] == pytest.approx(100 * 15 / 20)          # IDTP 15, IDFP 5, IDFN 5
    assert m["DetA"] == pytest.approx(100.0) and m["AssA"] < 100.0


def test_one_false_positive(split, tmp_path):
    rows = as_tracker(two_walkers()) + [(1, 9, 800, 800, 40, 40, 0.9, 1)]
    m = score(split, rows, tmp_path)["metrics"]
    assert (m["FP"], m["FN"], m["IDSW"]) == (1, 0, 0)
    assert m["MOTA"] == pytest.approx(95.0)
    assert m["IDF1"] == pytest.approx(100 * 20 / 20.5)


def test_one_miss(split, tmp_path):
    rows = [r for r in as_tracker(two_walkers()) if not (r[0] == 10 and r[1] == 1)]
    m = score(split, rows, tmp_path)["metrics"]
    assert (m["FP"], m["FN"]) == (0, 1)
    assert m["MOTA"] == pytest.approx(95.0)
    assert m["IDF1"] == pytest.approx(100 * 19 / 19.5)


def test_ignore_region_suppresses_false_positives_and_is_never_gt(tmp_path):
    split_dir = tmp_path / "val"
    # an ignored object at (800,800,40,40) in frame 1, and a big ignore region covering (0..300, 600..1000) in frame 2
    write_seq(split_dir, "seqA", 10, two_walkers(), ignore=[(1, 800, 800, 40, 40), (2, 0, 600, 300, 400)])
    rows = as_tracker(two_walkers()) + [(1, 9, 802, 801, 40, 40, 0.9, 1),      # IoU >= 0.5 with the ignored object
                                        (2, 10, 100, 700, 30, 60, 0.9, 1)]     # small box inside the region
    report = score(split_dir, rows, tmp_path)
    m = report["metrics"]
    assert (m["FP"], m["FN"], m["TP"]) == (0, 0, 20)
    assert m["MOTA"] == pytest.approx(100.0)
    assert report["ignored_tracker_boxes"]["pedestrian"] == 2
    # without the coverage rule the box inside the big region counts as a false positive
    m2 = score(split_dir, rows, tmp_path, ignore_cover=None)["metrics"]
    assert m2["FP"] == 1
    # without the sidecar both boxes are false positives: the ignore rule is what removed them
    (split_dir / "seqA" / "gt" / "ignore.txt").unlink()
    assert score(split_dir, rows, tmp_path)["metrics"]["FP"] == 2


def test_vehicle_predictions_are_scored_not_deleted(tmp_path):
    split_dir = tmp_path / "val"
    gt = two_walkers() + [(t, 3, 300, 600, 200, 100, 1, 2, 1) for t in range(1, 11)]   # a vehicle, class 2
    write_seq(split_dir, "seqA", 10, gt)
    report = score(split_dir, as_tracker(gt), tmp_path, classes={"pedestrian": 1, "vehicle": 2})
    vehicle = report["per_class"]["vehicle"]
    assert vehicle["HOTA"] == pytest.approx(100.0) and vehicle["TP"] == 10 and vehicle["Dets"] == 10
    assert report["per_class"]["pedestrian"]["TP"] == 20
    assert report["metrics"]["HOTA"] == pytest.approx(100.0)

    # a pedestrian-labelled box on the vehicle is a pedestrian false positive (no distractor deletion)
    mislabeled = as_tracker(two_walkers()) + as_tracker(gt[20:], cls=1)
    report = score(split_dir, mislabeled, tmp_path, classes={"pedestrian": 1, "vehicle": 2})
    assert report["per_class"]["pedestrian"]["FP"] == 10
    assert report["per_class"]["vehicle"]["FN"] == 10
    # top level = mean over classes
    ped, veh = report["per_class"]["pedestrian"], report["per_class"]["vehicle"]
    assert report["metrics"]["HOTA"] == pytest.approx((ped["HOTA"] + veh["HOTA"]) / 2, abs=1e-3)


def test_class_minus_one_means_class_one(split, tmp_path):
    rows = as_tracker(two_walkers(), cls=-1)
    assert read_tracker_file(write_tracker(tmp_path / "x", "seqA", rows)).cls.tolist() == [1] * 20
    assert score(split, rows, tmp_path)["metrics"]["HOTA"] == pytest.approx(100.0)


def test_missing_tracker_file_is_scored_empty_with_warning(tmp_path):
    split_dir = tmp_path / "val"
    write_seq(split_dir, "seqA", 10, two_walkers())
    write_seq(split_dir, "seqB", 10, two_walkers())
    report = score(split_dir, as_tracker(two_walkers()), tmp_path)
    assert report["per_class"]["pedestrian"]["FN"] == 20 and report["sequences"] == ["seqA", "seqB"]
    assert any("seqB" in w for w in report["warnings"])


@pytest.mark.parametrize("line, needle", [("1,1,10,10,5", "at least 6"), ("1,1,a,10,5,5", "not a number"),
                                          ("0,1,10,10,5,5", "frame must be"), ("1,1,10,10,-5,5", "negative")])
def test_corrupt_tracker_line_names_file_and_line(split, tmp_path, line, needle):
    folder = tmp_path / "trk"
    folder.mkdir()
    (folder / "seqA.txt").write_text("1,1,100,100,50,100,1,1,-1,-1\n" + line + "\n")
    with pytest.raises(DataError) as err:
        M.evaluate(split, folder, classes=PED)
    assert err.value.line == 2 and err.value.path.endswith("seqA.txt") and needle in err.value.message


def test_frame_beyond_sequence_and_duplicate_ids_are_refused(split, tmp_path):
    with pytest.raises(DataError, match="beyond"):
        score(split, [(11, 1, 0, 0, 5, 5, 1, 1)], tmp_path)
    with pytest.raises(DataError, match="appears 2 times"):
        score(split, [(1, 1, 0, 0, 5, 5, 1, 1), (1, 1, 50, 0, 5, 5, 1, 1)], tmp_path)


def test_empty_results_score_zero_with_warning_or_are_refused(split, tmp_path):
    report = score(split, [], tmp_path)                    # an early-epoch model that detects nothing
    assert report["metrics"]["HOTA"] == 0.0 and report["metrics"]["FN"] == 20
    assert any("empty" in w for w in report["warnings"])
    with pytest.raises(DataError, match="empty"):
        score(split, [], tmp_path, require_detections=True)


def _random_case(rng, length=30, n_gt=6):
    """A jittery tracker with misses, false positives and id switches, as TrackEval data for one class."""
    gt, trk = [], []
    for g in range(1, n_gt + 1):
        x0, y0, vx = rng.uniform(0, 800), rng.uniform(0, 800), rng.uniform(-5, 5)
        for t in range(1, length + 1):
            if rng.random() < 0.1:
                continue
            box = (x0 + vx * t, y0, 40, 80)
            gt.append((t, g, *box, 1, 1, 1))
            if rng.random() < 0.85:
                tid = g + 100 * (t // 10) if g % 2 else g      # odd objects switch id every 10 frames
                trk.append((t, tid, box[0] + rng.normal(0, 4), box[1] + rng.normal(0, 4), 40, 80, 0.9, 1))
        for t in range(1, length + 1):
            if rng.random() < 0.2:
                trk.append((t, 1000 + len(trk), rng.uniform(0, 900), rng.uniform(0, 900), 40, 80, 0.5, 1))
    return gt, trk


def _class_data(tmp_path, gt, trk):
    split_dir = tmp_path / "val"
    seq_dir = write_seq(split_dir, "seqR", 30, gt)
    path = write_tracker(tmp_path / "trk", "seqR", trk)
    seq = read_sequence(seq_dir)
    return M.build_class_data(seq, read_gt(seq_dir), read_ignore(seq_dir), read_tracker_file(path), 1).data


def test_sparse_identity_and_hota_id_pruning_equal_trackeval_dense(tmp_path):
    from trackeval.metrics import HOTA, Identity

    rng = np.random.default_rng(0)
    for trial in range(3):
        data = _class_data(tmp_path / str(trial), *_random_case(rng))
        dense = Identity({"PRINT_CONFIG": False}).eval_sequence(data)
        sparse_res = M.sparse_identity(data)
        assert 0 < dense["IDTP"] < data["num_gt_dets"]
        assert {k: int(dense[k]) for k in ("IDTP", "IDFN", "IDFP")} == sparse_res
        hota = HOTA({"PRINT_CONFIG": False})
        pruned = M.merge_non_overlapping_tracker_ids(data)
        assert pruned["num_tracker_ids"] < data["num_tracker_ids"]
        a, b = hota.eval_sequence(data), hota.eval_sequence(pruned)
        for key in ("HOTA", "DetA", "AssA", "AssRe", "AssPr", "LocA", "HOTA_TP", "HOTA_FP", "HOTA_FN"):
            np.testing.assert_allclose(a[key], b[key], rtol=1e-12, err_msg=key)


def test_huge_number_of_tracker_ids_is_scored_sparsely(tmp_path):
    """200k tracker ids (a new id for every box) would need ~1 TB in TrackEval's dense Identity matrices."""
    length, per_frame = 2000, 100
    split_dir = tmp_path / "val"
    write_seq(split_dir, "seqA", length, two_walkers(length))
    lines = []
    next_id = 1
    for t in range(1, length + 1):
        boxes = [(100 + 10 * t, 100), (500 + 10 * t, 300)] + [(40 * (k % 20), 600 + 8 * (k // 20)) for k in range(98)]
        for x, y in boxes:
            w, h = (50, 100) if y < 600 else (10, 5)
            lines.append(f"{t},{next_id},{x},{y},{w},{h},0.9,1,-1,-1\n")
            next_id += 1
    (tmp_path / "trk").mkdir()
    (tmp_path / "trk" / "seqA.txt").write_text("".join(lines))
    assert next_id - 1 == length * per_frame
    m = M.evaluate(split_dir, tmp_path / "trk", classes=PED)["metrics"]
    assert (m["IDTP"], m["IDFN"], m["IDFP"]) == (2, 4000 - 2, 200_000 - 2)
    assert m["IDF1"] == pytest.approx(100 * 2 / (2 + 0.5 * 199_998 + 0.5 * 3998))
    assert (m["TP"], m["FP"], m["IDSW"]) == (4000, 196_000, 2 * (length - 1))


def test_hota_memory_bound_refuses_with_clear_message(split, tmp_path):
    write_tracker(tmp_path / "trk", "seqA", as_tracker(two_walkers()))
    with pytest.raises(MotipError, match="GiB"):
        M.evaluate(split, tmp_path / "trk", classes=PED, max_dense_bytes=10)
