"""The video's per-frame counts must tell the same story as `motip eval`: on random multi-class data with ID
switches, misses, false positives, jitter around the IoU threshold and an ignore region, the CLEAR counts of
motip.viz.matching equal TrackEval's (through motip.eval.metrics.evaluate)."""

from __future__ import annotations

from pathlib import Path

import pytest

from motip.data import mot_files
from motip.eval.metrics import evaluate
from motip.viz.matching import match_sequence

from bench.viz import make_sequence  # bench/viz.py's generator: real files, small frames here


@pytest.mark.parametrize("seed", [0, 1])
def test_counts_equal_trackeval(tmp_path: Path, seed: int) -> None:
    split, results = make_sequence(tmp_path, frames=40, objects=12, width=320, height=240, seed=seed)
    seq = mot_files.read_sequence(split / "bench01")
    _, counts = match_sequence(mot_files.read_gt(seq.path), mot_files.read_ignore(seq.path),
                               mot_files.read_tracker_file(results / "bench01.txt"), seq.length)
    report = evaluate(split, results, classes={"pedestrian": 1, "vehicle": 2}, check_fingerprint=False)
    per_class = report["per_class"].values()
    assert counts.idsw > 0 and counts.fp > 0 and counts.fn > 0  # the data exercises every case
    assert counts.tp == sum(c["CLR_TP"] for c in per_class)
    assert counts.fn == sum(c["CLR_FN"] for c in per_class)
    assert counts.fp == sum(c["CLR_FP"] for c in per_class)
    assert counts.idsw == sum(c["IDSW"] for c in per_class)
    assert counts.ignored > 0 and counts.ignored == sum(report["ignored_tracker_boxes"].values())
