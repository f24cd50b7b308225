"""`motip eval` as a user runs it (a real subprocess), and the val-set fingerprint check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from motip.data.mot_format import fingerprint_split
from motip.eval.fingerprint import check_val_fingerprint

from tests.helpers.eval_files import as_tracker, two_walkers, write_seq, write_seqmap, write_tracker


def motip(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, MOTIP_PROGRESS="plain")
    return subprocess.run([sys.executable, "-m", "motip", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def dataset(tmp_path):
    """datasets/DanceTrack/{val, val_seqmap.txt, build_report.json} with one pedestrian+vehicle sequence."""
    root = tmp_path / "datasets" / "DanceTrack"
    split = root / "val"
    gt = two_walkers() + [(t, 3, 300, 600, 200, 100, 1, 2, 1) for t in range(1, 11)]
    seq = write_seq(split, "seqA", 10, gt)
    (seq / "img1").mkdir()
    for t in range(1, 11):
        (seq / "img1" / f"{t:08d}.jpg").write_bytes(b"jpg" * t)
    write_seqmap(split, ["seqA"])
    (root / "build_report.json").write_text(json.dumps({"val_fingerprint": fingerprint_split(root, "val")}))
    write_tracker(tmp_path / "results", "seqA", as_tracker(gt))
    return root


def test_results_mode_json_and_metrics_file(dataset, tmp_path):
    out = motip("eval", "--results", "results", "--dataset_root", "datasets/DanceTrack/val", "--classes",
                "pedestrian,vehicle", "--output_dir", "evalout", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["per_class"]["vehicle"]["HOTA"] == pytest.approx(100.0)
    assert report["metrics"]["IDF1"] == pytest.approx(100.0)
    assert report["warnings"] == []
    assert json.loads((tmp_path / "evalout" / "metrics.json").read_text())["classes"] == {"pedestrian": 1,
                                                                                           "vehicle": 2}


def test_results_mode_table_with_dataset_folder_and_default_class(dataset, tmp_path):
    out = motip("eval", "--results", "results", "--dataset_root", "datasets/DanceTrack", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "pedestrian" in out.stdout and "100.00" in out.stdout and "vehicle" not in out.stdout
    assert "PROGRESS eval" in out.stderr


def test_changed_val_set_warns(dataset, tmp_path):
    split = dataset / "val"
    assert check_val_fingerprint(split) is None
    gt_file = split / "seqA" / "gt" / "gt.txt"
    gt_file.write_text(gt_file.read_text().replace("1,1,110,", "1,1,111,", 1))
    warning = check_val_fingerprint(split)
    assert warning and "changed since it was built" in warning
    out = motip("eval", "--results", "results", "--dataset_root", str(split), "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert any("changed since it was built" in w for w in json.loads(out.stdout)["warnings"])


@pytest.mark.parametrize("args, needle", [
    (["--results", "nowhere", "--dataset_root", "datasets/DanceTrack/val"], "tracker results folder not found"),
    (["--results", "results", "--dataset_root", "missing"], "dataset folder not found"),
    (["--results", "empty", "--dataset_root", "datasets/DanceTrack/val"], "no tracker file"),
    (["--results", "results", "--dataset_root", "datasets/DanceTrack/val", "--classes", "dog"], "unknown class"),
    (["--results", "results"], "--dataset_root"),
    (["--results", "blank", "--dataset_root", "datasets/DanceTrack/val"], "every tracker file is empty"),
    (["--results", "results", "--dataset_root", "datasets/DanceTrack/val", "--LR", "1"], "only work with --config"),
    (["--config", "nope.yaml", "--checkpoint", "nope.pth"], "checkpoint not found"),
])
def test_bad_input_exits_2_with_a_clear_message(dataset, tmp_path, args, needle):
    (tmp_path / "empty").mkdir()
    (tmp_path / "blank").mkdir()
    (tmp_path / "blank" / "seqA.txt").write_text("")
    out = motip("eval", *args, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert needle in out.stderr and "Traceback" not in out.stderr


def test_corrupt_line_exits_2_naming_file_and_line(dataset, tmp_path):
    bad = tmp_path / "results" / "seqA.txt"
    bad.write_text(bad.read_text() + "3,7,10,10\n")
    out = motip("eval", "--results", "results", "--dataset_root", "datasets/DanceTrack/val", cwd=tmp_path)
    assert out.returncode == 2
    assert "seqA.txt:31:" in out.stderr


def test_help(tmp_path):
    out = motip("eval", "--help", cwd=tmp_path)
    assert out.returncode == 0 and "--results" in out.stdout and "--checkpoint" in out.stdout
