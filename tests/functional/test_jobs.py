"""Detached jobs: survive their launcher, record exit status (also after kill -9), stop gracefully then by force."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from motip.jobs import find_jobs, read_job, start_job, stop_job


def _wait(predicate, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_job_records_exit_status_and_output(tmp_path: Path) -> None:
    job = start_job(["bash", "-c", "echo hello; echo oops >&2; exit 3"], tmp_path / "j", kind="test")
    _wait(lambda: read_job(job.dir).exit_code is not None)
    done = read_job(job.dir)
    assert done.state == "failed" and done.exit_code == 3
    assert done.tail() == ["hello", "oops"]
    assert [j.name for j in find_jobs(tmp_path)] == ["j"]


def test_job_survives_launcher_hangup(tmp_path: Path) -> None:
    # The launcher (standing in for the TUI) starts a job and then dies of SIGHUP, as on an SSH drop.
    launcher = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from motip.jobs import start_job; "
        f"start_job(['sleep', '3'], {str(tmp_path / 'j')!r}, kind='test'); "
        "print('started', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    assert launcher.stdout.readline().strip() == "started"
    launcher.send_signal(signal.SIGHUP)
    launcher.wait(timeout=10)
    job = read_job(tmp_path / "j")
    assert job.state == "running"
    _wait(lambda: read_job(tmp_path / "j").exit_code is not None)
    assert read_job(tmp_path / "j").state == "finished"


def test_kill_9_of_the_command_is_recorded(tmp_path: Path) -> None:
    job = start_job(["sleep", "30"], tmp_path / "j", kind="test")
    _wait(lambda: "child_pid" in read_job(job.dir).data)
    os.kill(read_job(job.dir).data["child_pid"], signal.SIGKILL)
    _wait(lambda: read_job(job.dir).exit_code is not None)
    done = read_job(job.dir)
    assert done.state == "failed" and done.data["signal"] == "SIGKILL" and done.exit_code == 137


def test_stop_terminates_whole_tree_then_kills(tmp_path: Path) -> None:
    # A child in its own session that ignores SIGTERM, as torch launchers' workers may: only SIGKILL ends it.
    script = ("import signal, subprocess, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              "subprocess.Popen(['python3', '-c', 'import signal,time; "
              "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'], start_new_session=True); "
              "time.sleep(60)")
    job = start_job([sys.executable, "-c", script], tmp_path / "j", kind="test")
    _wait(lambda: len(psutil.Process(job.pid).children(recursive=True)) >= 2)
    tree = psutil.Process(job.pid).children(recursive=True)
    assert stop_job(read_job(job.dir), grace_s=1.0) == "killed"
    _wait(lambda: read_job(job.dir).exit_code is not None)
    assert read_job(job.dir).state == "stopped"
    assert not [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_reused_pid_is_not_mistaken_for_the_job(tmp_path: Path) -> None:
    job_dir = tmp_path / "j"
    job_dir.mkdir()
    me = psutil.Process()
    # A job.json naming a live pid (ours) with another create time: not our job, so "lost", not "running".
    (job_dir / "job.json").write_text(json.dumps({"pid": me.pid, "create_time": me.create_time() - 100,
                                                  "boot_id": read_job.__globals__["boot_id"](), "exit_code": None}))
    assert read_job(job_dir).state == "lost"


def test_stop_in_the_first_instant_never_leaves_the_command_running(tmp_path: Path) -> None:
    # stop_job right after start_job: the supervisor has not started the command yet (it first waits to see its pid
    # in job.json). The stop must still reach the command, and the exit must be recorded.
    token = f"motip-first-instant-{os.getpid()}"
    job = start_job([sys.executable, "-c", "import time, sys; time.sleep(60)", token], tmp_path / "j", kind="test")
    assert read_job(job.dir).data.get("child_pid") is None  # really the first instant
    stop_job(read_job(job.dir), grace_s=5.0)
    _wait(lambda: read_job(job.dir).exit_code is not None)
    assert read_job(job.dir).state == "stopped"
    time.sleep(0.5)
    left = [p for p in psutil.process_iter(["cmdline"]) if token in (p.info["cmdline"] or [])
            and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, left
