"""Detached jobs: subprocesses that survive the TUI quitting and the SSH session dropping.

A job lives in a folder (a training run folder, or ``.motip/jobs/<time>-<name>/`` for builds, viz...) holding:

- ``job.json``: ``{"name", "kind", "argv", "cwd", "pid", "create_time", "boot_id", "started_at",
  "exit_code", "ended_at", "signal"}``; the last three are filled when the job ends (written atomically).
- ``output.log``: the job's stdout and stderr.

``start_job`` launches ``python -m motip.jobs <job_dir>`` in a new session (``start_new_session``, stdin from
/dev/null, output to the file: a hang-up or a vanished TUI cannot reach it). That small supervisor starts the real
command, waits, and records its exit status, so even a ``kill -9`` of the job is reported. A pid is only ours when
boot id and process create time match what job.json recorded (pids get reused).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from motip.atomic import atomic_write_json

JOB_FILE = "job.json"
OUTPUT_FILE = "output.log"


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return str(psutil.boot_time())


@dataclass
class JobInfo:
    dir: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.data.get("name") or self.dir.name)

    @property
    def kind(self) -> str:
        return str(self.data.get("kind") or "job")

    @property
    def pid(self) -> int | None:
        return self.data.get("pid")

    @property
    def exit_code(self) -> int | None:
        return self.data.get("exit_code")

    @property
    def output_path(self) -> Path:
        return self.dir / OUTPUT_FILE

    @property
    def started_at(self) -> float:
        return float(self.data.get("started_at_epoch") or 0.0)

    def process(self) -> psutil.Process | None:
        """The supervisor process, if it is still alive and really this job's (boot id + create time match)."""
        pid = self.pid
        if not pid or self.data.get("boot_id") != boot_id():
            return None
        try:
            proc = psutil.Process(pid)
            if abs(proc.create_time() - float(self.data.get("create_time", -1))) > 0.05:
                return None  # the pid was reused by another process
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None

    @property
    def state(self) -> str:
        """running, finished (exit 0), failed (non-zero exit), stopped (by signal/stop_job), or lost (gone unrecorded)."""
        if self.exit_code is not None:
            if self.data.get("stopped"):
                return "stopped"
            return "finished" if self.exit_code == 0 else "failed"
        return "running" if self.process() is not None else "lost"

    @property
    def elapsed_s(self) -> float:
        end = self.data.get("ended_at_epoch") or time.time()
        return max(0.0, float(end) - self.started_at)

    def tail(self, lines: int = 20, max_bytes: int = 64_000) -> list[str]:
        try:
            with open(self.output_path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - max_bytes))
                text = handle.read().decode("utf-8", errors="replace")
        except OSError:
            return []
        # Rich bars rewrite one line with carriage returns: keep the last state of each line.
        return [line.split("\r")[-1] for line in text.splitlines()][-lines:]


def read_job(job_dir: str | os.PathLike[str]) -> JobInfo | None:
    path = Path(job_dir) / JOB_FILE
    try:
        return JobInfo(Path(job_dir), json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError):
        return None


def find_jobs(*roots: str | os.PathLike[str]) -> list[JobInfo]:
    """Jobs in ``root/*/job.json`` for each root (run folders, .motip/jobs), oldest first."""
    jobs: list[JobInfo] = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        for job_file in root.glob(f"*/{JOB_FILE}"):
            job = read_job(job_file.parent)
            if job is not None:
                jobs.append(job)
    jobs.sort(key=lambda j: j.started_at)
    return jobs


def jobs_dir(workspace_root: str | os.PathLike[str]) -> Path:
    return Path(workspace_root) / ".motip" / "jobs"


def new_job_dir(workspace_root: str | os.PathLike[str], name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S_%f")
    path = jobs_dir(workspace_root) / f"{stamp}-{name}"
    path.mkdir(parents=True, exist_ok=False)
    return path


def start_job(argv: list[str], job_dir: str | os.PathLike[str], *, kind: str, name: str | None = None,
              cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> JobInfo:
    """Start ``argv`` detached under a supervisor; return once job.json names the supervisor's pid."""
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    cwd = str(Path(cwd or os.getcwd()).resolve())
    data: dict[str, Any] = {"name": name or job_dir.name, "kind": kind, "argv": list(argv), "cwd": cwd,
                            "started_at": datetime.now().isoformat(timespec="seconds"),
                            "started_at_epoch": time.time(), "boot_id": boot_id(),
                            "pid": None, "create_time": None, "exit_code": None}
    atomic_write_json(job_dir / JOB_FILE, data)
    child_env = dict(os.environ if env is None else env)
    child_env.setdefault("MOTIP_PROGRESS", "plain")  # the TUI reads PROGRESS lines from output.log
    child_env["PYTHONUNBUFFERED"] = "1"
    with open(job_dir / OUTPUT_FILE, "ab") as output, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen([sys.executable, "-m", "motip.jobs", str(job_dir)], cwd=cwd, env=child_env,
                                stdin=devnull, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
                                close_fds=True)
    data["pid"] = proc.pid
    data["create_time"] = psutil.Process(proc.pid).create_time()
    atomic_write_json(job_dir / JOB_FILE, data)
    return JobInfo(job_dir, data)


def _update(job_dir: Path, **fields: Any) -> None:
    job = read_job(job_dir)
    data = job.data if job else {}
    data.update(fields)
    atomic_write_json(job_dir / JOB_FILE, data)


def _supervise(job_dir: Path) -> int:
    """Run the job's command (we are already detached), forward SIGTERM/SIGINT, record the exit status."""
    # Wait until start_job has recorded our pid so our final write does not race with it.
    for _ in range(100):
        job = read_job(job_dir)
        if job is not None and job.pid == os.getpid():
            break
        time.sleep(0.02)
    job = read_job(job_dir)
    assert job is not None, f"{job_dir}/{JOB_FILE} vanished"
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    child = subprocess.Popen(job.data["argv"], cwd=job.data.get("cwd"), stdin=subprocess.DEVNULL)
    _update(job_dir, child_pid=child.pid)

    def forward(signum: int, _frame: object) -> None:
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = child.wait()
    fields: dict[str, Any] = {"exit_code": code if code >= 0 else 128 - code,
                              "ended_at": datetime.now().isoformat(timespec="seconds"), "ended_at_epoch": time.time()}
    if code < 0:
        fields["signal"] = signal.Signals(-code).name
    _update(job_dir, **fields)
    return 0


def stop_job(job: JobInfo, grace_s: float = 10.0) -> str:
    """Graceful, then forced: SIGTERM the whole process tree (torch launchers start workers in sessions of their
    own, so signalling a process group is not enough), wait ``grace_s``, SIGKILL what is left."""
    proc = job.process()
    if proc is None:
        return "not running"
    _update(job.dir, stopped=True)
    try:
        tree = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return "not running"
    # Signal the command first (the supervisor stays to record the exit status).
    for member in tree[1:]:
        try:
            member.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(tree[1:], timeout=grace_s)
    for member in alive:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
    try:
        proc.wait(timeout=5)
    except (psutil.TimeoutExpired, psutil.NoSuchProcess):
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    return "killed" if alive else "terminated"


def logout_kills_processes() -> bool:
    """True where systemd-logind is set to kill user processes at logout (then even detached jobs die)."""
    for conf in [Path("/etc/systemd/logind.conf"), *Path("/etc/systemd/logind.conf.d").glob("*.conf")]:
        try:
            for line in conf.read_text().splitlines():
                if line.strip().replace(" ", "").lower() == "killuserprocesses=yes":
                    return True
        except OSError:
            continue
    return False


if __name__ == "__main__":
    raise SystemExit(_supervise(Path(sys.argv[1])))
