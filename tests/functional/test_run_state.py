"""motip.rundir.run_state: one answer to "what is this run doing", from real files and real processes.

A trainer is stood in for by a small subprocess that takes the run's lock with motip.rundir.acquire_lock and writes
run.json and train.log the way the trainer does (TrainLogWriter); killing it with -9 is the field failure the old
readers got wrong (the TUI kept showing "running" from train.log alone).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from motip.atomic import atomic_write_json
from motip.rundir import LOCK_FILE, TAIL_BYTES, run_state
from motip.trainlog import TrainLogWriter

# A trainer stand-in: takes the lock, writes run.json and train.log like motip.engine.train, then waits.
TRAINER = """
import os, sys, time
from datetime import datetime
from pathlib import Path
from motip.atomic import atomic_write_json
from motip.rundir import acquire_lock
from motip.trainlog import TrainLogWriter
run = Path(sys.argv[1])
lock = acquire_lock(run)
atomic_write_json(run / "run.json", {"pid": os.getpid(), "status": "running", "exit_code": None, "ended_at": None,
                                     "started_at": datetime.now().isoformat(timespec="seconds")})
writer = TrainLogWriter(run / "train.log")
writer.run_start(run=str(run), config="configs/stage1_universal_foundation.yaml", epochs=2)
writer.train_step(epoch=1, step=1, total_steps=10, global_step=1, loss=2.0, grad_norm=1.0, lr=2e-5, s_per_step=1.5)
writer.close()
print("locked", flush=True)
time.sleep(120)
"""


def start_trainer(run_dir: Path) -> subprocess.Popen[str]:
    run_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", TRAINER, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def kill9(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def write_log(run_dir: Path, *, end: str | None = None, resume_after_end: bool = False, steps: int = 2,
              steps_after_resume: int = 1) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    with TrainLogWriter(run_dir / "train.log") as writer:
        writer.run_start(run=str(run_dir), config="c.yaml", epochs=1)
        for step in range(1, steps + 1):
            writer.train_step(epoch=1, step=step, total_steps=steps, global_step=step, loss=1.0, grad_norm=1.0,
                              lr=1e-4, s_per_step=0.5)
        if end is not None:
            writer.run_end(status=end, epoch=1, msg=f"the run {end}")
        if resume_after_end:
            writer.resume(checkpoint="checkpoint_last.pth", epoch=1, global_step=steps)
            for step in range(1, steps_after_resume + 1):
                writer.train_step(epoch=2, step=step, total_steps=steps, global_step=steps + step, loss=1.0,
                                  grad_norm=1.0, lr=1e-4, s_per_step=0.5)


def test_live_trainer_is_running_and_dead_after_kill9(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    trainer = start_trainer(run_dir)
    try:
        state = run_state(run_dir)
        assert (state.state, state.source, state.pid) == ("running", "train.lock", trainer.pid)
        assert state.live and not state.ended
    finally:
        kill9(trainer)
    # run.json still says "running" and train.log has no [end]: only the lock knows the trainer is gone.
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    assert "[end]" not in (run_dir / "train.log").read_text()
    state = run_state(run_dir)
    assert (state.state, state.source, state.pid) == ("dead", LOCK_FILE, None)
    assert "kill -9" in state.message and not state.live


@pytest.mark.parametrize("status", ["finished", "failed", "stopped"])
def test_end_line_decides_when_run_json_was_not_updated(tmp_path: Path, status: str) -> None:
    """The trainer wrote its [end] line, then died before run.json said so (or could not write it: disk full)."""
    run_dir = tmp_path / "run"
    write_log(run_dir, end=status)
    atomic_write_json(run_dir / "run.json", {"pid": 1, "status": "running", "exit_code": None})
    (run_dir / LOCK_FILE).write_text("1\n")
    state = run_state(run_dir)
    assert (state.state, state.source, state.message) == (status, "train.log", f"the run {status}")
    assert state.ended_at is not None and state.ended


@pytest.mark.parametrize(("status", "code"), [("finished", 0), ("failed", 2), ("stopped", 130)])
def test_run_json_end_gives_exit_code_and_time(tmp_path: Path, status: str, code: int) -> None:
    run_dir = tmp_path / "run"
    write_log(run_dir, end=status)
    atomic_write_json(run_dir / "run.json", {"pid": 1, "status": status, "exit_code": code, "message": "why",
                                             "ended_at": "2026-01-01T00:00:00"})
    state = run_state(run_dir)
    assert (state.state, state.source, state.exit_code, state.ended_at, state.message) == \
        (status, "run.json", code, "2026-01-01T00:00:00", "why")


def test_resume_after_an_end_reopens_the_run_even_past_the_tail(tmp_path: Path) -> None:
    """An [end] followed by a [resume] is not the run's end; the [end] far back (beyond the bounded tail read) of a
    big log neither. With the lock free and no new [end], the resumed trainer is dead."""
    run_dir = tmp_path / "run"
    write_log(run_dir, end="stopped", resume_after_end=True)
    (run_dir / LOCK_FILE).write_text("")
    assert run_state(run_dir).state == "dead"

    big = tmp_path / "big"
    write_log(big, end="stopped", resume_after_end=True, steps_after_resume=1500)  # ~120 bytes a step
    assert (big / "train.log").stat().st_size > 2 * TAIL_BYTES  # the old [end] lies before the tail read
    (big / LOCK_FILE).write_text("")
    assert run_state(big).state == "dead"

    ended = tmp_path / "ended"
    write_log(ended, end="finished", steps=1500)  # a big log whose [end] closes it
    assert (run_state(ended).state, run_state(ended).source) == ("finished", "train.log")


def test_damaged_run_json_is_unreadable_naming_it(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    write_log(run_dir, end="finished")
    (run_dir / "run.json").write_text('{"status": "finish', encoding="utf-8")
    state = run_state(run_dir)
    assert (state.state, state.source, state.path) == ("unreadable", "run.json", run_dir / "run.json")
    assert "run.json unreadable" in state.message and str(run_dir / "run.json") in state.message
    (run_dir / "run.json").write_text('{"status": 3}', encoding="utf-8")  # JSON, but not what we write
    assert run_state(run_dir).state == "unreadable" and "'status'" in run_state(run_dir).message


def test_damaged_job_json_is_noted_but_a_recorded_end_still_decides(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    write_log(run_dir)
    (run_dir / "job.json").write_text("[1, 2]", encoding="utf-8")
    (run_dir / LOCK_FILE).write_text("")
    state = run_state(run_dir)  # no end recorded, and the job's process cannot be checked
    assert (state.state, state.source, state.path) == ("unreadable", "job.json", run_dir / "job.json")
    atomic_write_json(run_dir / "run.json", {"status": "finished", "exit_code": 0})
    state = run_state(run_dir)
    assert state.state == "finished" and state.problems and "job.json unreadable" in state.problems[0]


def test_detached_job_before_the_lock_is_starting_then_stopped(tmp_path: Path) -> None:
    """The window at start: the job's supervisor and command live, no trainer holds the lock yet. Not dead."""
    from motip.jobs import read_job, start_job, stop_job

    run_dir = tmp_path / "run"
    job = start_job([sys.executable, "-c", "import time; time.sleep(60)"], run_dir, kind="train")
    try:
        state = run_state(run_dir)
        assert (state.state, state.source) == ("starting", "job.json") and state.live
        deadline = time.monotonic() + 20
        while read_job(run_dir).child_pid is None and time.monotonic() < deadline:
            time.sleep(0.05)  # (stop_job before the supervisor started its command would miss the command)
        state = run_state(run_dir)
        assert (state.state, state.source) == ("starting", "job.json") and state.live
        assert state.pid in (job.pid, read_job(run_dir).child_pid)
    finally:
        assert stop_job(read_job(run_dir), grace_s=5) in ("terminated", "killed")
    state = run_state(run_dir)  # stopped before the trainer wrote anything: the job's own record decides
    assert (state.state, state.source) == ("stopped", "job.json")


def test_job_whose_trainer_was_killed_is_dead_with_the_recorded_exit(tmp_path: Path) -> None:
    from motip.jobs import read_job, start_job

    run_dir = tmp_path / "run"
    start_job([sys.executable, "-c", TRAINER, str(run_dir)], run_dir, kind="train")
    deadline = time.monotonic() + 30
    # The trainer can take the lock before its supervisor has recorded child_pid in job.json: wait for both.
    while (run_state(run_dir).source != "train.lock" or read_job(run_dir).child_pid is None) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.05)
    state = run_state(run_dir)
    assert state.state == "running" and state.pid == read_job(run_dir).child_pid
    os.kill(state.pid, signal.SIGKILL)
    while read_job(run_dir).exit_code is None and time.monotonic() < deadline:
        time.sleep(0.05)  # the supervisor records the exit
    state = run_state(run_dir)
    assert (state.state, state.source, state.exit_code) == ("dead", "job.json", 137)
    assert "SIGKILL" in state.message


def test_a_trainer_killed_right_after_taking_the_lock_is_dead(tmp_path: Path) -> None:
    """kill -9 in the window between the lock and the trainer's first write (run.json, train.log): dead, not a
    failed start."""
    from motip.jobs import read_job, start_job

    run_dir = tmp_path / "run"
    only_lock = ("import sys, time\nfrom pathlib import Path\nfrom motip.rundir import acquire_lock\n"
                 "lock = acquire_lock(Path(sys.argv[1]))\ntime.sleep(120)\n")
    start_job([sys.executable, "-c", only_lock, str(run_dir)], run_dir, kind="train")
    deadline = time.monotonic() + 30
    while (run_state(run_dir).source != LOCK_FILE or read_job(run_dir).child_pid is None) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert not (run_dir / "run.json").exists() and not (run_dir / "train.log").exists()
    os.kill(read_job(run_dir).child_pid, signal.SIGKILL)
    while read_job(run_dir).exit_code is None and time.monotonic() < deadline:
        time.sleep(0.05)
    state = run_state(run_dir)
    assert (state.state, state.source, state.exit_code) == ("dead", "job.json", 137), state


def test_an_older_jobs_record_does_not_decide_a_later_segment(tmp_path: Path) -> None:
    """Launched detached and stopped (job.json: stopped), then resumed by hand in a terminal and killed -9: the
    run is dead, not "stopped" by the old job."""
    from motip.jobs import read_job, start_job, stop_job

    run_dir = tmp_path / "run"
    start_job([sys.executable, "-c", "import time; time.sleep(60)"], run_dir, kind="train")
    deadline = time.monotonic() + 20
    while read_job(run_dir).child_pid is None and time.monotonic() < deadline:
        time.sleep(0.05)
    stop_job(read_job(run_dir), grace_s=5)
    ended = read_job(run_dir).data["ended_at_epoch"]
    assert run_state(run_dir).state == "stopped"
    trainer = subprocess.Popen([sys.executable, "-c", TRAINER.replace(
        "datetime.now()", f"datetime.fromtimestamp({ended + 5})"), str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert trainer.stdout is not None and trainer.stdout.readline().strip() == "locked"
    kill9(trainer)
    state = run_state(run_dir)
    assert (state.state, state.source) == ("dead", LOCK_FILE), state


def test_runs_from_before_the_lock(tmp_path: Path) -> None:
    """No train.lock and no job.json: a gone pid proves death; a live one proves nothing ("unknown")."""
    run_dir = tmp_path / "run"
    write_log(run_dir)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    now = datetime.now().isoformat(timespec="seconds")
    atomic_write_json(run_dir / "run.json", {"pid": gone.pid, "status": "running", "started_at": now})
    assert (run_state(run_dir).state, run_state(run_dir).source) == ("dead", "run.json")
    atomic_write_json(run_dir / "run.json", {"pid": os.getpid(), "status": "running", "started_at": now})
    state = run_state(run_dir)
    assert (state.state, state.pid) == ("unknown", None) and "proves nothing" in state.message
    assert run_state(tmp_path / "empty").state == "unknown"


def test_queue_and_motip_log_use_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from motip.cli import main
    from motip.queue import run_state as queue_run_state

    run_dir = tmp_path / "run"
    kill9(start_trainer(run_dir))
    assert queue_run_state(run_dir) == ("lost", None)  # the queue pauses the stage as failed
    assert main(["log", "--json", str(run_dir)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["state"] == "dead" and data["run_state"]["source"] == LOCK_FILE
    assert data["status"]["state"] == "running"  # what train.log alone says; run_state (above) knows better
    assert main(["log", str(run_dir / "train.log")]) == 0
    shown = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "train.log: dead (no live trainer" in shown


async def test_tui_run_table_shows_a_killed_run_as_dead(tmp_path: Path) -> None:
    from textual.widgets import DataTable

    from motip_tui.app import MotipApp
    from tests.helpers.tui import make_workspace, wait_for

    config = make_workspace(tmp_path / "ws")
    run_dir = config.parent / "outputs" / "stage1_universal_foundation_20260101_000000"
    trainer = start_trainer(run_dir)
    try:
        app = MotipApp(config, refresh_s=0.05, poll_s=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            table = app.query_one("#run-table", DataTable)
            assert await wait_for(pilot, lambda: table.row_count == 1 and table.get_row_at(0)[1] == "running")
            kill9(trainer)
            assert await wait_for(pilot, lambda: table.get_row_at(0)[1] == "dead"), table.get_row_at(0)
    finally:
        if trainer.poll() is None:
            kill9(trainer)
