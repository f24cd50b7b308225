"""End to end through the CLI, as a newcomer would: demo -> build -> train -> eval -> viz -> dashboard, then the
overnight queue over Stages 1 -> 2 -> 3 unattended. Real subprocesses, real torch, real TrackEval; tiny data.

Marked slow (it still runs in CI). Budget: a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# Keep every train in this file short: the demo's 2 epochs of 10 steps, and validation on one of the three locked
# val videos (the BDD100K one: people and vehicles). Tracking is most of a CPU epoch's time.
STEPS = "10"
ONE_SEQMAP = "val_one_seqmap.txt"


def motip(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    # One OpenMP thread: on a shared 2-core CPU it is several times faster per step than spin-waiting threads
    # (docs/training.md). The queue's worker and its trainings inherit it.
    env = dict(os.environ, MOTIP_PROGRESS="plain", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-m", "motip", *args], cwd=cwd, capture_output=True, text=True,
                         timeout=timeout, env=env)
    assert out.returncode == 0, (f"motip {' '.join(args)} failed ({out.returncode}):\n"
                                 f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def decode_mp4(path: Path) -> int:
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        assert frame.ndim == 3 and frame.shape[2] == 3
        frames += 1
    capture.release()
    return frames


def load_checkpoint(path: Path) -> dict:
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    assert isinstance(checkpoint, dict) and "model" in checkpoint, sorted(checkpoint)
    assert all(torch.isfinite(v).all() for v in checkpoint["model"].values() if v.is_floating_point())
    return checkpoint


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("e2e") / "demo"
    out = motip(folder.parent, "demo", str(folder))
    assert str(folder) in out.stdout
    return folder


def one_val_sequence(demo: Path) -> str:
    """Write a seqmap naming the BDD100K val video only (the val set is locked: the same name in every build)."""
    names = (demo / "datasets/DanceTrack/val_seqmap.txt").read_text().split()[1:]
    assert len(names) == 3, names
    chosen = next(n for n in names if n.startswith("bdd"))
    (demo / ONE_SEQMAP).write_text(f"name\n{chosen}\n")
    return chosen


def test_stage1_demo_build_train_eval_viz_dashboard(demo: Path) -> None:
    from motip.trainlog import parse_log

    # build
    motip(demo, "build", "--config", "config.toml")
    report = json.loads((demo / "datasets" / "DanceTrack" / "build_report.json").read_text())
    assert report["val_fingerprint"]
    assert (demo / "datasets" / "DanceTrack" / "val_seqmap.txt").is_file()

    # train (foreground), 2 epochs of the tiny model
    config = demo / "configs" / "stage1_demo_foundation.yaml"
    yaml_before = sha(config)
    seq = one_val_sequence(demo)
    motip(demo, "train", "configs/stage1_demo_foundation.yaml", "--MAX_STEPS_PER_EPOCH", STEPS,
          "--val_config.SEQMAP_FILE", str(demo / ONE_SEQMAP))
    assert sha(config) == yaml_before
    runs = sorted((demo / "outputs").glob("stage1_demo_foundation_*"))
    assert len(runs) == 1, runs
    run = runs[0]
    log = parse_log(run / "train.log")
    assert log.status["state"] == "finished", log.status
    assert [row["epoch"] for row in log.eval] == [1, 2]
    assert len(log.train) > 0 and all(math.isfinite(row["loss"]) for row in log.train)
    for row in log.eval:
        for metric in ("HOTA", "IDF1", "MOTA"):
            assert math.isfinite(row[metric]), row
        assert set(row["per_class"]) >= {"pedestrian", "vehicle"}, row
    # A 2 x 20-step run of the tiny model may not detect anything yet (HOTA 0); the demo's full 2 x 60 steps are
    # what shows learning (docs/demo.md). Here: TrackEval ran on the locked val set and reported every class.
    assert all(0.0 <= row["HOTA"] <= 100.0 for row in log.eval)
    for name in ("checkpoint_best_hota.pth", "checkpoint_best_idf1.pth", "checkpoint_last.pth"):
        load_checkpoint(run / name)

    # eval: the best checkpoint on the val split, through TrackEval
    eval_dir = demo / "outputs" / "stage1_eval"
    motip(demo, "eval", "--config", "configs/stage1_demo_foundation.yaml", "--checkpoint",
          str(run / "checkpoint_best_hota.pth"), "--output_dir", str(eval_dir), "--seqmap", str(demo / ONE_SEQMAP))
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    assert "HOTA" in json.dumps(metrics)
    trackers = sorted(p for p in eval_dir.rglob("*.txt") if "seqmap" not in p.name)
    val_seqs = [seq]
    assert {p.stem for p in trackers} >= set(val_seqs), (trackers, val_seqs)

    # viz: GT vs prediction video, tracking again with the checkpoint. Low thresholds: a 20-step model's scores are
    # low, and an empty tracker file is refused by `motip viz` (nothing to compare).
    viz_dir = demo / "outputs" / "stage1_viz"
    motip(demo, "viz", "--config", "configs/stage1_demo_foundation.yaml", "--checkpoint",
          str(run / "checkpoint_best_hota.pth"), "--dataset_root", "datasets/DanceTrack/val",
          "--output_dir", str(viz_dir), "--seqs", seq, "--score_thresh", "0.02", "--NEWBORN_THRESH", "0.02")
    video = viz_dir / f"{seq}.mp4"
    assert decode_mp4(video) == 40
    assert (viz_dir / "summary.json").is_file()

    # dashboard
    motip(demo, "dashboard", str(run / "train.log"))
    import cv2

    image = cv2.imread(str(run / "dashboard.png"))
    assert image is not None and image.shape[0] > 300 and image.shape[1] > 300


def test_queue_runs_stages_1_2_3_unattended(demo: Path) -> None:
    from motip.queue import read_queue
    from motip.workspace import load_workspace

    yamls = {p.name: sha(p) for p in (demo / "configs").glob("stage*_demo_*.yaml")}
    out = motip(demo, "queue", "start", "--config", "config.toml", "--override", "EPOCHS=1",
                "--override", "MAX_STEPS_PER_EPOCH=5", "--override", f"val_config.SEQMAP_FILE={demo / ONE_SEQMAP}",
                "--margin", "1000", "--poll", "1")
    assert "Foundation -> Refinement -> Aerial-Adaptation" in out.stdout
    # The queue is a detached job: this test process is not its parent.
    queue = read_queue(demo)
    job = json.loads((Path(queue["job_dir"]) / "job.json").read_text())
    assert job["kind"] == "queue"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        queue = read_queue(demo)
        if queue["state"] != "running":
            break
        time.sleep(2)
    assert queue["state"] == "finished", (queue.get("paused_reason"), queue.get("history"))

    stages = queue["stages"]
    assert [s["state"] for s in stages] == ["done", "done", "done"]
    for index, stage in enumerate(stages):
        run = Path(stage["run_dir"])
        assert (run / "train.log").is_file()
        assert Path(stage["best_checkpoint"]) == run / "checkpoint_best_hota.pth"
        load_checkpoint(Path(stage["best_checkpoint"]))
        assert math.isfinite(stage["metrics"]["HOTA"])
        # each stage starts from the previous stage's best checkpoint (set for the run, not in the YAML)
        expected = stages[index - 1]["best_checkpoint"] if index else None
        assert stage["pretrain"] == expected
        if expected:
            resolved = (run / "config.yaml").read_text()
            assert expected in resolved, f"{run}/config.yaml does not name {expected}"
    assert {p.name: sha(p) for p in (demo / "configs").glob("stage*_demo_*.yaml")} == yamls
    # the last stage's budgets are the workspace's now (Stage 3: VisDrone on)
    ws = load_workspace(demo / "config.toml")
    assert ws.sources["visdrone"].enabled and ws.sources["visdrone"].frame_budget == 400
    status = motip(demo, "queue", "status")
    assert "finished" in status.stdout and "Aerial-Adaptation" in status.stdout


def test_queue_pauses_on_an_alert_and_resume_accepts_it(demo: Path) -> None:
    """A negative margin makes every comparison a regression: Stage 2 must pause the queue with the reason, keep
    its results, and `motip queue resume` must accept it and finish."""
    from motip.queue import read_queue

    motip(demo, "queue", "start", "--stages", "1,2", "--override", "EPOCHS=1", "--override", "MAX_STEPS_PER_EPOCH=2",
          "--override", f"val_config.SEQMAP_FILE={demo / ONE_SEQMAP}", "--margin", "-1000", "--poll", "1")

    def settle() -> dict:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            queue = read_queue(demo)
            if queue["state"] != "running":
                return queue
            time.sleep(2)
        raise AssertionError(read_queue(demo))

    queue = settle()
    assert queue["state"] == "paused", queue.get("history")
    assert queue["current"] == 1
    first, second = queue["stages"]
    assert first["state"] == "done" and first["alerts"] == []  # nothing to compare the first stage with
    assert second["state"] == "alert" and second["best_checkpoint"]
    assert second["pretrain"] == first["best_checkpoint"]
    assert {a["kind"] for a in second["alerts"]} >= {"regression"}
    reason = queue["paused_reason"]
    assert reason.startswith("Refinement: ") and "points below the previous stage" in reason
    status = motip(demo, "queue", "status")
    assert "paused" in status.stdout and "alert" in status.stdout

    motip(demo, "queue", "resume")
    queue = settle()
    assert queue["state"] == "finished", queue.get("history")
    assert [s["state"] for s in queue["stages"]] == ["done", "done"]
    assert any("accepted" in entry["msg"] for entry in queue["history"])
