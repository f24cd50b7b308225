"""Each bench script runs end to end at a tiny size and prints its figures as one JSON object on its last line, so
the benches cannot rot before anyone runs them at scale (docs/performance.md). Real subprocesses; no timing is
asserted, only that the figures are there and sane."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import REPO



def run_bench(script: str, *args: str, cwd: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(REPO / "bench" / script), *args, "--json"], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_dataloader_bench_smoke(tmp_path: Path) -> None:
    figures = run_bench("dataloader.py", "--config", str(REPO / "configs" / "tiny_cpu.yaml"), "--frames", "40",
                        "--frames-per-sequence", "20", "--width", "320", "--height", "180", "--objects", "3",
                        "--unique-images", "2", "--samples", "2", "--warmup", "1", "--workers", "1",
                        "--floor-samples", "2", "--workdir", str(tmp_path / "data"), cwd=REPO)
    for key in ("samples_per_s", "cpu_s_per_sample", "decode_floor_s_per_sample", "ratio", "pss_gb_start",
                "pss_gb_end"):
        assert figures[key] > 0, key
    assert figures["clips_made"] >= 3 and figures["workers"] == 1
    assert figures["first_clip_shape"][:3] == [1, 6, 3]  # tiny_cpu.yaml: 6-frame clips
    # The synthetic build is real: hard-linked frames, the built layout BuiltDataset reads.
    seq = tmp_path / "data" / "Bench" / "train" / "bench0000"
    assert (seq / "img1" / "00000020.jpg").stat().st_nlink > 1 and (seq / "gt" / "gt.txt").is_file()


def test_eval_bench_smoke() -> None:
    figures = run_bench("eval.py", "--sequences", "2", "--frames", "30", "--objects", "3", "--repeat", "1", cwd=REPO)
    for key in ("ours_s", "route_s", "ratio"):
        assert figures[key] > 0, key
    assert figures["max_abs_diff"] == 0.0  # the same numbers as TrackEval's own route
    assert 0 < figures["HOTA"] <= 100
    assert set(figures["ours_phases_s"]) >= {"read files", "HOTA", "CLEAR", "Identity"}


@pytest.mark.filterwarnings("ignore")
def test_gpu_report_cpu_tiny(tmp_path: Path) -> None:
    figures = run_bench("gpu_report.py", "--device", "cpu", "--tiny", "--official", str(tmp_path / "absent"),
                        "--out", str(tmp_path / "report"), cwd=tmp_path)
    rows = {(r["model"], r["MEMORY_EFFICIENT"], r["dtype"]): r for r in figures["train_step"]}
    for memory_efficient in (True, False):
        ours = rows[("ours", memory_efficient, "fp32")]
        assert ours["status"] == "ok" and ours["s_per_step"] > 0 and ours["peak_gib"] is None  # no CUDA here
        assert rows[("ours", memory_efficient, "bf16")]["status"] == "skipped"
        official = rows[("official", memory_efficient, "fp32")]
        assert official["status"] == "skipped" and "not found" in official["reason"]
    inference = {r["dtype"]: r for r in figures["inference"]}
    assert inference["fp32"]["frames_per_s"] > 0 and "CUDA only" in inference["fp16"]["reason"]
    assert figures["kernel"][0]["status"] == "skipped" and "CUDA" in figures["kernel"][0]["reason"]
    table = (tmp_path / "report.md").read_text()
    assert "| ours | True | fp32 |" in table and "skipped" in table
    assert json.loads((tmp_path / "report.json").read_text())["train_step"] == figures["train_step"]
