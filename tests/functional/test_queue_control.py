"""The queue's control path without training: a real detached worker that pauses on a full disk, status, resume,
stop, and the errors a user can hit. (The full 1 -> 2 -> 3 run is in tests/e2e/test_e2e.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from motip.demo import create_demo
from motip.errors import MotipError
from motip.queue import queue_status, read_queue, resume_queue, start_queue, stop_queue


def motip(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "motip", *args], cwd=cwd, capture_output=True, text=True)


def wait_for_state(root: Path, states: set[str], timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queue = queue_status(root)
        if queue and queue["state"] in states and (queue["worker"] or {}).get("state") != "running":
            return queue
        time.sleep(0.2)
    raise AssertionError(f"queue never reached {states}: {read_queue(root)}")


@pytest.fixture()
def demo(tmp_path: Path) -> Path:
    return create_demo(tmp_path / "demo")


def test_full_disk_pauses_before_anything_runs_and_resume_rechecks(demo: Path) -> None:
    config = demo / "config.toml"
    before = config.read_text()
    start_queue(config, ["Refinement", "3"], min_free_gb=1e9, poll_s=0.2)
    queue = wait_for_state(demo, {"paused"})
    assert [s["name"] for s in queue["stages"]] == ["Refinement", "Aerial-Adaptation"]
    assert "disk nearly full" in queue["paused_reason"]
    assert queue["stages"][0]["state"] == "pending" and queue["stages"][0]["run_dir"] is None
    assert config.read_text() == before  # paused before applying the stage's budgets
    assert not (demo / "datasets").exists()
    job_dirs = sorted((demo / ".motip" / "jobs").iterdir())
    assert len(job_dirs) == 1 and json.loads((job_dirs[0] / "job.json").read_text())["exit_code"] == 0

    status = motip(demo, "queue", "status")
    assert status.returncode == 0, status.stderr
    assert "paused" in status.stdout and "disk nearly full" in status.stdout
    as_json = json.loads(motip(demo, "queue", "status", "--json").stdout)
    assert as_json["current"] == 0 and as_json["worker"]["state"] == "finished"

    resume_queue(demo)  # still no room: pauses again, through a second worker job
    queue = wait_for_state(demo, {"paused"})
    assert "disk nearly full" in queue["paused_reason"]
    assert len(list((demo / ".motip" / "jobs").iterdir())) == 2

    stopped = stop_queue(demo)
    assert stopped["state"] == "stopped"
    assert read_queue(demo)["state"] == "stopped"


def test_bad_requests_are_clear_errors(demo: Path) -> None:
    with pytest.raises(MotipError, match="no stage 'Nope'"):
        start_queue(demo / "config.toml", ["Nope"])
    with pytest.raises(MotipError, match="KEY=VALUE"):
        start_queue(demo / "config.toml", overrides=["EPOCHS"])
    out = motip(demo, "queue", "resume")
    assert out.returncode == 2 and "no queue" in out.stderr
    out = motip(demo, "queue", "status")
    assert out.returncode == 2 and "motip queue start" in out.stderr


def test_a_failed_build_pauses_the_queue_with_the_reason(demo: Path) -> None:
    # Break the BDD source: the build of Stage 1 fails, the queue pauses at it.
    import shutil

    shutil.rmtree(demo / "data" / "bdd100k")
    out = motip(demo, "queue", "start", "--stages", "1", "--poll", "0.2")
    assert out.returncode == 0, out.stderr
    queue = wait_for_state(demo, {"paused"})
    assert "`motip build` failed" in queue["paused_reason"]
    assert queue["stages"][0]["state"] == "failed" and queue["stages"][0]["build_exit"] not in (0, None)


@pytest.mark.slow
def test_stop_during_training_stops_the_run_and_resume_starts_the_stage_again(demo: Path) -> None:
    """`motip queue stop` while a stage trains: the worker and the detached training both end; `resume` with no
    checkpoint_last.pth yet retries the stage (a new build and run)."""
    import os

    from motip.jobs import read_job
    from motip.queue import run_state

    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-m", "motip", "queue", "start", "--stages", "1", "--poll", "0.5",
                          "--override", "MAX_STEPS_PER_EPOCH=500", "--override", "LOG_EVERY_STEPS=1"],
                         cwd=demo, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr

    def training_started() -> str | None:
        queue = read_queue(demo)
        run_dir = queue["stages"][0].get("run_dir")
        log = Path(run_dir) / "train.log" if run_dir else None
        if log is not None and log.is_file() and "[train]" in log.read_text():
            return run_dir
        return None

    deadline = time.monotonic() + 300
    run_dir = None
    while run_dir is None and time.monotonic() < deadline:
        run_dir = training_started()
        time.sleep(0.5)
    assert run_dir, read_queue(demo)

    out = motip(demo, "queue", "stop")
    assert out.returncode == 0, out.stderr
    queue = read_queue(demo)
    assert queue["state"] == "stopped" and queue["stages"][0]["state"] == "stopped"
    assert read_job(queue["job_dir"]).state != "running"
    assert run_state(run_dir)[0] == "stopped"
    assert read_job(run_dir).process() is None  # the training process tree is gone

    resume_queue(demo)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        queue = read_queue(demo)
        new_run = queue["stages"][0].get("run_dir")
        if new_run and new_run != run_dir:
            break
        time.sleep(0.5)
    assert new_run and new_run != run_dir, queue.get("history")  # no checkpoint_last.pth: the stage starts over
    stop_queue(demo)
    assert run_state(new_run)[0] in ("stopped", "failed")
