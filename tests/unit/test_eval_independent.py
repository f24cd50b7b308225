"""Our per-class evaluation against independent implementations on MOT17-style data with distractors.

1. TrackEval's own pipeline (MotChallenge2DBox dataset + Evaluator, as run_mot_challenge.py runs it) on the same
   files in the MOT17 layout: distractor classes (2, 7, 8, 12) in gt.txt there; in our layout they are moved to
   gt/ignore.txt (our coverage rule off, as MOTChallenge has none). Every metric must agree.
2. A from-scratch CLEAR (MOTA, IDSW) and IDF1 with scipy on the same data without distractors.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from motip.eval import metrics as M

from tests.helpers.eval_files import write_seq, write_tracker

DISTRACTORS = (2, 7, 8, 12)


def make_mot17_like(rng, length=40, n_obj=10, distractors=True):
    """GT rows (frame,id,x,y,w,h,conf,class,vis) and tracker rows for one sequence."""
    gt, trk = [], []
    next_tid = 1
    for g in range(1, n_obj + 1):
        cls = 1
        conf = 1
        if distractors and g % 5 == 0:
            cls = int(rng.choice(DISTRACTORS))
        elif distractors and g % 7 == 0:
            cls, conf = 3, 1                   # a car: not a distractor, not GT for pedestrians
        elif distractors and g % 9 == 0:
            conf = 0                           # a zero-marked pedestrian
        x0, y0, vx, vy = rng.uniform(0, 700), rng.uniform(0, 700), rng.normal(0, 4), rng.normal(0, 2)
        w, h = rng.uniform(30, 60), rng.uniform(70, 140)
        tid = next_tid
        next_tid += 1
        for t in range(1, length + 1):
            if rng.random() < 0.08:
                continue
            x, y = x0 + vx * t, y0 + vy * t
            gt.append((t, g, round(x, 2), round(y, 2), round(w, 2), round(h, 2), conf, cls, 1))
            if rng.random() < 0.12:
                continue                       # a miss
            if rng.random() < 0.04:
                tid = next_tid                 # an identity switch
                next_tid += 1
            jx, jy = rng.normal(0, 0.08 * w), rng.normal(0, 0.08 * h)
            trk.append((t, tid, round(x + jx, 2), round(y + jy, 2), round(w, 2), round(h, 2), 0.9, -1))
    for t in range(1, length + 1):            # false positives
        for _ in range(rng.poisson(0.7)):
            trk.append((t, next_tid, round(rng.uniform(0, 900), 2), round(rng.uniform(0, 900), 2), 40, 90, 0.4, -1))
            next_tid += 1
    return gt, trk


def trackeval_official(tmp_path, seqs):
    """Run TrackEval's MotChallenge2DBox + Evaluator exactly like scripts/run_mot_challenge.py."""
    import trackeval

    gt_root, trk_root = tmp_path / "official_gt", tmp_path / "official_trk"
    for name, (length, gt, trk) in seqs.items():
        write_seq(gt_root, name, length, gt)
        write_tracker(trk_root / "mytracker" / "data", name, trk)
    seqmap = tmp_path / "official_seqmap.txt"
    seqmap.write_text("name\n" + "".join(f"{n}\n" for n in seqs))
    evaluator = trackeval.Evaluator({"USE_PARALLEL": False, "PRINT_RESULTS": False, "PRINT_CONFIG": False,
                                     "TIME_PROGRESS": False, "OUTPUT_SUMMARY": False, "OUTPUT_DETAILED": False,
                                     "PLOT_CURVES": False, "DISPLAY_LESS_PROGRESS": True,
                                     "OUTPUT_EMPTY_CLASSES": False})
    dataset = trackeval.datasets.MotChallenge2DBox({
        "GT_FOLDER": str(gt_root), "TRACKERS_FOLDER": str(trk_root), "SEQMAP_FILE": str(seqmap),
        "SKIP_SPLIT_FOL": True, "BENCHMARK": "MOT17", "SPLIT_TO_EVAL": "train", "PRINT_CONFIG": False,
        "OUTPUT_FOLDER": str(tmp_path / "official_out")})
    metrics = [trackeval.metrics.HOTA({"PRINT_CONFIG": False}), trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
               trackeval.metrics.Identity({"PRINT_CONFIG": False})]
    results, _ = evaluator.evaluate([dataset], metrics)
    combined = results["MotChallenge2DBox"]["mytracker"]["COMBINED_SEQ"]["pedestrian"]
    flat = {}
    for part in ("HOTA", "CLEAR", "Identity"):
        flat.update(combined[part])
    return M.summarize(flat)


def ours(tmp_path, seqs):
    split = tmp_path / "ours" / "val"
    for name, (length, gt, trk) in seqs.items():
        real = [r for r in gt if r[7] not in DISTRACTORS]
        ignore = [(r[0], r[2], r[3], r[4], r[5]) for r in gt if r[7] in DISTRACTORS]
        write_seq(split, name, length, real, ignore=ignore)
        write_tracker(tmp_path / "ours" / "trk", name, trk)
    return M.evaluate(split, tmp_path / "ours" / "trk", classes={"pedestrian": 1}, ignore_cover=None)


def test_matches_trackeval_motchallenge_pipeline(tmp_path):
    rng = np.random.default_rng(17)
    seqs = {f"MOT17-{k:02d}-SYN": (40, *make_mot17_like(rng)) for k in (2, 4, 5)}
    official = trackeval_official(tmp_path, seqs)
    report = ours(tmp_path, seqs)
    mine = report["metrics"]
    assert report["ignored_tracker_boxes"]["pedestrian"] > 0            # distractor removal happened
    assert 20 < official["HOTA"] < 95 and official["IDSW"] > 0 and official["CLR_FP"] > 0
    for name in M.PERCENT_FIELDS + ("IDSW", "CLR_TP", "CLR_FN", "CLR_FP", "MT", "PT", "ML", "Frag",
                                    "IDTP", "IDFN", "IDFP"):
        assert mine[name] == pytest.approx(official[name], rel=1e-9, abs=1e-9), name


def scratch_clear_idf1(length, gt, trk):
    """From-scratch CLEAR MOT (Bernardin & Stiefelhagen 2008) and IDF1 (Ristani et al. 2016), IoU >= 0.5."""
    def iou(a, b):
        ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
        iw, ih = max(0.0, min(ax2, bx2) - max(a[0], b[0])), max(0.0, min(ay2, by2) - max(a[1], b[1]))
        inter = iw * ih
        return inter / (a[2] * a[3] + b[2] * b[3] - inter)

    tp = fp = fn = idsw = 0
    last_match: dict[int, int] = {}          # gt id -> tracker id it was last matched to
    prev_frame_match: dict[int, int] = {}    # matches of the previous frame (kept if still valid)
    co: dict[tuple[int, int], int] = {}
    for t in range(1, length + 1):
        g = [r for r in gt if r[0] == t]
        d = [r for r in trk if r[0] == t]
        sim = np.array([[iou(a[2:6], b[2:6]) for b in d] for a in g]).reshape(len(g), len(d))
        for i, a in enumerate(g):
            for j, b in enumerate(d):
                if sim[i, j] >= 0.5:
                    co[(a[1], b[1])] = co.get((a[1], b[1]), 0) + 1
        score = np.where(sim >= 0.5, sim, 0.0)
        for i, a in enumerate(g):              # prefer keeping last frame's pairs (CLEAR's continuity rule)
            for j, b in enumerate(d):
                if score[i, j] > 0 and prev_frame_match.get(a[1]) == b[1]:
                    score[i, j] += 1000
        rows, cols = linear_sum_assignment(-score)
        matched = [(i, j) for i, j in zip(rows, cols) if score[i, j] > 0]
        prev_frame_match = {}
        for i, j in matched:
            gid, tid = g[i][1], d[j][1]
            if gid in last_match and last_match[gid] != tid:
                idsw += 1
            last_match[gid] = tid
            prev_frame_match[gid] = tid
        tp += len(matched)
        fp += len(d) - len(matched)
        fn += len(g) - len(matched)
    gt_ids = sorted({r[1] for r in gt})
    tr_ids = sorted({r[1] for r in trk})
    weights = np.array([[co.get((gi, ti), 0) for ti in tr_ids] for gi in gt_ids])
    rows, cols = linear_sum_assignment(-weights)
    idtp = int(weights[rows, cols].sum())
    mota = 1 - (fn + fp + idsw) / len(gt)
    idf1 = 2 * idtp / (len(gt) + len(trk))
    return {"MOTA": 100 * mota, "IDSW": idsw, "CLR_FP": fp, "CLR_FN": fn, "CLR_TP": tp, "IDTP": idtp,
            "IDF1": 100 * idf1}


def test_matches_from_scratch_clear_and_idf1(tmp_path):
    rng = np.random.default_rng(5)
    gt, trk = make_mot17_like(rng, length=40, n_obj=8, distractors=False)
    write_seq(tmp_path / "val", "seqS", 40, gt)
    write_tracker(tmp_path / "trk", "seqS", trk)
    mine = M.evaluate(tmp_path / "val", tmp_path / "trk", classes={"pedestrian": 1})["metrics"]
    expected = scratch_clear_idf1(40, gt, trk)
    assert expected["IDSW"] > 0 and expected["CLR_FP"] > 0 and expected["CLR_FN"] > 0
    for name, value in expected.items():
        assert mine[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name
