"""The queue's control path without training: a real detached worker that pauses on a full disk, status, resume,
stop, and the errors a user can hit. (The full 1 -> 2 -> 3 run is in tests/test_e2e.py.)"""

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
