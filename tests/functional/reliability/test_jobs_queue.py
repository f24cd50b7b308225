"""Reliability drill, section D of issue 11: jobs and the queue always act on the right process.

16. The run folder of a detached training is recorded in its job.json at launch and read from there (a launch
    record file hands the job back to the launcher), never parsed out of printed text: a queue in a workspace whose
    path holds a space reaches "training" with the right folder and finishes.
17. Stopping follows the recorded child: with the supervisor killed (kill -9), ``stop_job`` / ``motip queue stop``
    still stop the training, proven by pid + create time + boot id; a pid that cannot be proven ours (run.json's pid,
    a reused pid in job.json) is never signalled.
18. Malformed job.json / queue.json / run.json never crash the CLI or the TUI: the entry shows as unreadable with
    its path.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from motip.jobs import boot_id, read_job, start_job, stop_job

from tests.helpers.processes import wait_until

SLEEPER = [sys.executable, "-c", "import time\nwhile True: time.sleep(0.2)"]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def motip_cli(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "motip", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=timeout)


def queue_json(run_dir: Path | None, job_dir: Path | None = None, state: str = "running") -> dict:
    """A well-formed queue.json (schema of motip/queue.py) whose current stage trains in ``run_dir``."""
    return {"version": 1, "config": "config.toml", "state": state, "paused_reason": None, "current": 0,
            "job_dir": None if job_dir is None else str(job_dir), "overrides": [],
            "options": {"min_free_gb": 0, "floor": 50, "margin": 2, "forgetting_margin": 1, "pretrain": None,
                        "poll_s": 0.2},
            "stages": [{"name": "Foundation", "config": "configs/x.yaml", "state": "training",
                        "run_dir": None if run_dir is None else str(run_dir), "build_exit": 0, "pretrain": None,
                        "best_checkpoint": None, "metrics": None, "alerts": [], "started_at": None,
                        "ended_at": None}],
            "history": [], "created_at": "2026-01-01T00:00:00"}


def write_queue_json(root: Path, queue: dict) -> Path:
    path = root / ".motip" / "queue.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(queue), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------- item 16


def test_item16_launch_reads_the_job_not_the_printed_text(tmp_path: Path) -> None:
    """A command that starts a job and prints a misleading (space-split) path: the launcher gets the job's own
    folder and run_dir from the launch record, whatever was printed."""
    from motip.jobs import launch
    from motip_tui.launch import start_training

    run_dir = tmp_path / "my runs" / "stage 1_20260101_000000"
    script = ("import sys; from motip.jobs import start_job; "
              f"job = start_job(['true'], {str(run_dir)!r}, kind='train'); "
              "print(f'run_dir={job.run_dir} pid={job.pid}')")
    proc, job, why = launch([sys.executable, "-c", script], tmp_path)
    assert why is None and job is not None, proc.stderr
    assert job.run_dir == run_dir and job.dir == run_dir
    assert json.loads((run_dir / "job.json").read_text())["run_dir"] == str(run_dir)
    assert "MOTIP_LAUNCH_RECORD" not in os.environ  # the record is for that one launch

    # The TUI's path: the same answer (the old regex gave ".../my").
    run_dir2 = tmp_path / "my runs" / "second"
    script2 = script.replace(repr(str(run_dir)), repr(str(run_dir2)))
    found, _message = start_training(tmp_path, [sys.executable, "-c", script2])
    assert found == run_dir2
    # A command that starts no job is a clear failure, not a hang or a guess.
    found, message = start_training(tmp_path, [sys.executable, "-c", "print('run_dir=/tmp/x pid=1')"])
    assert found is None and "launch record" in message


@pytest.mark.slow
def test_item16_queue_in_a_workspace_path_with_a_space_trains_and_finishes(tmp_path: Path) -> None:
    from motip.demo import create_demo
    from motip.queue import read_queue

    demo = create_demo(tmp_path / "my runs" / "demo")
    out = motip_cli(demo, "queue", "start", "--stages", "1", "--poll", "0.3", "--min-free-gb", "0",
                    "--override", "EPOCHS=1", "--override", "MAX_STEPS_PER_EPOCH=3")
    assert out.returncode == 0, out.stderr

    def training_folder() -> str | None:
        stage = read_queue(demo)["stages"][0]
        return stage["run_dir"] if stage["state"] == "training" and stage["run_dir"] else None

    run_dir = Path(wait_until(training_folder, 300, "the queue to reach training"))
    assert run_dir.parent == demo / "outputs" and run_dir.is_dir(), run_dir
    assert read_job(run_dir).run_dir == run_dir  # recorded at launch, in the run's own job.json

    def settled() -> dict | None:
        queue = read_queue(demo)
        return queue if queue["state"] != "running" else None

    queue = wait_until(settled, 600, "the queue to finish", poll=0.5)
    assert queue["state"] == "finished", (queue.get("paused_reason"), queue.get("history"))
    assert queue["stages"][0]["state"] == "done" and queue["stages"][0]["run_dir"] == str(run_dir)
    assert queue["stages"][0]["best_checkpoint"] == str(run_dir / "checkpoint_best_hota.pth")


# ------------------------------------------------------------------------------------------------- item 17


def test_item17_stop_after_kill9_of_the_supervisor_stops_the_child(tmp_path: Path) -> None:
    job = start_job(SLEEPER, tmp_path / "run", kind="train")
    child_pid = wait_until(lambda: read_job(job.dir).data.get("child_pid"), 20, "the child's pid")
    try:
        data = read_job(job.dir).data
        assert data["child_create_time"] == pytest.approx(psutil.Process(child_pid).create_time(), abs=0.05)
        os.kill(job.pid, signal.SIGKILL)
        wait_until(lambda: gone(job.pid), 10, "the supervisor to die")
        orphan = read_job(job.dir)
        assert orphan.process() is None and orphan.child_process() is not None
        assert orphan.state == "running"  # the training goes on without its supervisor
        assert stop_job(orphan, grace_s=5) == "terminated"
        wait_until(lambda: gone(child_pid), 10, "the child to end")
        after = read_job(job.dir)
        assert after.state == "stopped" and after.data["supervisor_lost"] is True
    finally:
        if not gone(child_pid):
            os.kill(child_pid, signal.SIGKILL)


def test_item17_queue_stop_after_kill9_of_the_run_supervisor(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("", encoding="utf-8")
    run_dir = tmp_path / "outputs" / "run"
    job = start_job(SLEEPER, run_dir, kind="train")
    child_pid = wait_until(lambda: read_job(job.dir).data.get("child_pid"), 20, "the child's pid")
    try:
        write_queue_json(tmp_path, queue_json(run_dir, state="paused"))
        os.kill(job.pid, signal.SIGKILL)
        wait_until(lambda: gone(job.pid), 10, "the supervisor to die")
        out = motip_cli(tmp_path, "queue", "stop")
        assert out.returncode == 0, out.stderr
        wait_until(lambda: gone(child_pid), 15, "the training child to end")
        queue = json.loads((tmp_path / ".motip" / "queue.json").read_text())
        assert queue["state"] == "stopped" and queue["stages"][0]["state"] == "stopped"
    finally:
        if not gone(child_pid):
            os.kill(child_pid, signal.SIGKILL)


def test_item17_a_pid_we_cannot_prove_is_never_signalled(tmp_path: Path) -> None:
    from motip.queue import run_state

    (tmp_path / "config.toml").write_text("", encoding="utf-8")
    run_a = tmp_path / "outputs" / "a"
    run_a.mkdir(parents=True)
    # A live process we did not start as a job: a trainer-like process holding run a's lock (motip.rundir).
    bystander = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from motip.rundir import acquire_lock; "
        f"lock = acquire_lock(Path({str(run_a)!r})); print('locked', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert bystander.stdout.readline().strip() == "locked"
        # (a) run.json's pid alone: no job.json, so no proof. Today's queue stop terminated it.
        (run_a / "run.json").write_text(json.dumps({"pid": bystander.pid, "status": "running"}))
        assert run_state(run_a)[0] == "running"  # the lock says a trainer lives; that is no licence to signal it
        write_queue_json(tmp_path, queue_json(run_a, state="paused"))
        out = motip_cli(tmp_path, "queue", "stop")
        assert out.returncode == 0, out.stderr
        history = (tmp_path / ".motip" / "queue.json").read_text()
        assert "not signalled" in history and f"held by pid {bystander.pid}" in history

        # (b) job.json naming the bystander as its child, but with another create time (a reused pid).
        run_b = tmp_path / "outputs" / "b"
        run_b.mkdir(parents=True)
        created = psutil.Process(bystander.pid).create_time()
        (run_b / "job.json").write_text(json.dumps({
            "name": "b", "kind": "train", "argv": ["x"], "pid": 999_999_999, "create_time": 1.0,
            "boot_id": boot_id(), "child_pid": bystander.pid, "child_create_time": created - 50, "exit_code": None}))
        job = read_job(run_b)
        assert job.child_process() is None and job.state == "lost"
        assert stop_job(job, grace_s=1) == "not running"
        write_queue_json(tmp_path, queue_json(run_b, state="paused"))
        assert motip_cli(tmp_path, "queue", "stop").returncode == 0

        time.sleep(0.3)
        assert bystander.poll() is None, "an unproven pid was signalled"
    finally:
        bystander.kill()
        bystander.wait()


# ------------------------------------------------------------------------------------------------- item 18

MALFORMED: dict[str, bytes] = {
    "truncated": b'{"name": "x", "pid": 12',
    "empty": b"",
    "list": b"[1, 2, 3]",
    "null": b"null",
    "wrong_types": json.dumps({"name": 5, "pid": "12", "create_time": [], "exit_code": "0", "stages": 3,
                               "current": "0", "state": 7, "status": [], "argv": "python"}).encode(),
    "nulls": json.dumps({"name": None, "pid": None, "stages": None, "current": None, "state": None,
                         "status": None, "exit_code": None}).encode(),
    "deeply_nested": b"[" * 100_000 + b"]" * 100_000,
    "not_utf8": b'{"name": "\xff\xfe"}',
    "bool_pid": json.dumps({"pid": True, "create_time": 1.0, "boot_id": "x", "exit_code": None}).encode(),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_item18_malformed_queue_json_is_a_clear_cli_error(tmp_path: Path, kind: str) -> None:
    from motip.cli import main
    from motip.errors import MotipError
    from motip.queue import queue_status, read_queue

    path = tmp_path / ".motip" / "queue.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(MALFORMED[kind])
    if kind == "nulls":
        path.write_text(json.dumps({**queue_json(None), "stages": None}))
    with pytest.raises(MotipError) as err:
        read_queue(tmp_path)
    assert err.value.path == str(path)
    with pytest.raises(MotipError):
        queue_status(tmp_path)
    config = str(tmp_path / "config.toml")
    for action in ("status", "stop", "resume"):
        assert main(["queue", action, "--config", config]) == 2  # a message and exit 2, no traceback


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_item18_malformed_job_and_run_json_in_queue_status_and_stop(tmp_path: Path, kind: str,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from motip.cli import main
    from motip.jobs import find_jobs
    from motip.queue import run_state

    worker = tmp_path / ".motip" / "jobs" / "w"
    run_dir = tmp_path / "outputs" / "run"
    for folder in (worker, run_dir):
        folder.mkdir(parents=True)
        (folder / "job.json").write_bytes(MALFORMED[kind])
    (run_dir / "run.json").write_bytes(MALFORMED[kind])
    (run_dir / "train.log").write_text("", encoding="utf-8")
    write_queue_json(tmp_path, queue_json(run_dir, worker))

    job = read_job(worker)
    if kind != "nulls":  # all-null fields are a job.json written before its pid: readable, "lost"
        assert job.state == "unreadable" and job.error is not None and job.error.path == str(worker / "job.json")
        assert stop_job(job) == "unreadable job.json: nothing signalled"
    assert [j.dir for j in find_jobs(tmp_path / "outputs", tmp_path / ".motip" / "jobs")] == [run_dir, worker]
    assert run_state(run_dir)[0] in ("lost", "running")

    config = str(tmp_path / "config.toml")
    assert main(["queue", "status", "--config", config]) == 0
    shown = capsys.readouterr().out
    if kind != "nulls":
        assert "unreadable" in shown and "job.json" in shown
    assert main(["queue", "status", "--json", "--config", config]) == 0
    capsys.readouterr()
    assert main(["queue", "stop", "--config", config]) == 0


@pytest.mark.parametrize("kind", ["list", "wrong_types"])
async def test_item18_tui_starts_and_shows_malformed_entries_as_unreadable(tmp_path: Path, kind: str) -> None:
    from textual.widgets import DataTable, Static

    from motip_tui.app import MotipApp
    from tests.helpers.tui import make_workspace, wait_for

    config = make_workspace(tmp_path / "ws")
    root = config.parent
    bad_job = root / ".motip" / "jobs" / "20260101_000000_000000-build"
    bad_run = root / "outputs" / "stage1_universal_foundation_20260101_000000"
    bad_run_json = root / "outputs" / "stage1_universal_foundation_20260101_000001"
    for folder in (bad_job, bad_run, bad_run_json):
        folder.mkdir(parents=True, exist_ok=True)
    (bad_job / "job.json").write_bytes(MALFORMED[kind])
    (bad_run / "job.json").write_bytes(MALFORMED[kind])
    (bad_run_json / "run.json").write_bytes(MALFORMED[kind])
    (root / ".motip" / "queue.json").write_bytes(MALFORMED[kind])

    app = MotipApp(config, refresh_s=0.05, poll_s=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        runs = app.query_one("#run-table", DataTable)
        assert await wait_for(pilot, lambda: runs.row_count == 2, timeout=30)
        notes = {str(runs.get_row_at(i)[0]): str(runs.get_row_at(i)[-1]) for i in range(runs.row_count)}
        assert "run.json unreadable" in notes[bad_run_json.name] and str(bad_run_json) in notes[bad_run_json.name]
        assert "job.json unreadable" in notes[bad_run.name] and str(bad_run) in notes[bad_run.name]
        await pilot.press("4")
        table = app.query_one("#job-table", DataTable)
        assert await wait_for(pilot, lambda: table.row_count == 2)
        assert [str(table.get_row_at(i)[2]) for i in range(2)] == ["unreadable", "unreadable"]
        tail = str(app.query_one("#job-tail", Static).render())
        assert "unreadable" in tail and "job.json" in tail
        queue = str(app.query_one("#queue-status", Static).render())
        assert "queue: unreadable" in queue and "queue.json" in queue
        await pilot.press("s")  # stop on an unreadable job: a warning, nothing signalled, no crash
        await pilot.pause(0.2)
    assert app.return_code in (0, None)
