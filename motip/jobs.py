"""Detached jobs: subprocesses that survive the TUI quitting and the SSH session dropping.

A job lives in a folder (a training run folder, or ``.motip/jobs/<time>-<name>/`` for builds, viz...) holding:

- ``job.json``: the typed record ``motip.records.JobRecord`` (``name``, ``kind``, ``argv``, ``cwd``, ``run_dir``,
  ``pid``, ``create_time``, ``boot_id``, ``started_at``, ``child_pid``, ``child_create_time``, ``exit_code``,
  ``ended_at``, ``signal``, ``stopped``...; one reader, one writer, versioned; fields in docs/formats.md).
  ``run_dir`` is the training run folder the job writes (a train job's folder is its run folder), recorded before
  anything starts, so job control never parses a path out of printed text.
- ``output.log``: the job's stdout and stderr.

A launcher that runs a command which itself calls ``start_job`` (``motip train --detach``) learns the job without
parsing its output: it sets ``MOTIP_LAUNCH_RECORD=<file>`` in that command's environment and ``start_job`` writes
``{"job_dir", "run_dir", "pid", "create_time", "boot_id"}`` there (``launch_record_env``, ``read_launch_record``).

``start_job`` launches ``python -m motip.jobs <job_dir>`` in a new session (``start_new_session``, stdin from
/dev/null, output to the file: a hang-up or a vanished TUI cannot reach it). That small supervisor starts the real
command, waits, and records its exit status, so even a ``kill -9`` of the job is reported. A pid is only ours when
boot id and process create time match what job.json recorded (pids get reused); the same proof holds for the
command the supervisor started (``child_pid`` + ``child_create_time``), so ``stop_job`` still stops a training whose
supervisor was killed, and never signals a process it cannot prove it started.

A job.json that cannot be used (not JSON, truncated, a list, wrong types) gives a ``JobInfo`` whose ``state`` is
``unreadable`` and whose ``error`` names the file: listings show it, nothing crashes, nothing is signalled.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from motip.atomic import atomic_write_json, atomic_write_text
from motip.errors import MotipError
from motip.records import JOB_FILE, JobRecord

OUTPUT_FILE = "output.log"
LAUNCH_RECORD_ENV = "MOTIP_LAUNCH_RECORD"
_CREATE_TIME_TOLERANCE_S = 0.05


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return str(psutil.boot_time())


def _same_process(pid: Any, create_time: Any, recorded_boot: Any) -> psutil.Process | None:
    """The live process ``pid`` if it is provably the one recorded: same boot, same create time, not a zombie."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or not isinstance(create_time, (int, float)):
        return None
    if recorded_boot != boot_id():
        return None
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - float(create_time)) > _CREATE_TIME_TOLERANCE_S:
            return None  # the pid was reused by another process
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


@dataclass
class JobInfo:
    """A job folder and its job.json (``record``: the typed ``motip.records.JobRecord``)."""

    dir: Path
    record: JobRecord = field(default_factory=JobRecord)
    error: MotipError | None = None  # job.json could not be used: the job shows as unreadable

    @property
    def data(self) -> dict[str, Any]:
        """job.json's known fields as a dict, without the null ones (``"child_pid" in job.data``: recorded); {}
        when unreadable. Prefer ``record`` (typed)."""
        if self.error is not None:
            return {}
        return {k: v for k, v in self.record.to_json().items() if v is not None}

    @property
    def path(self) -> Path:
        return self.dir / JOB_FILE

    @property
    def name(self) -> str:
        return str(self.record.name or self.dir.name)

    @property
    def kind(self) -> str:
        return str(self.record.kind or ("?" if self.error else "job"))

    @property
    def run_dir(self) -> Path | None:
        """The training run folder this job writes (recorded at launch), else None."""
        value = self.record.run_dir
        return Path(value) if value else None

    @property
    def child_pid(self) -> int | None:
        return self.record.child_pid

    @property
    def pid(self) -> int | None:
        return self.record.pid

    @property
    def exit_code(self) -> int | None:
        return self.record.exit_code

    @property
    def output_path(self) -> Path:
        return self.dir / OUTPUT_FILE

    @property
    def started_at(self) -> float:
        return float(self.record.started_at_epoch or 0.0)

    def process(self) -> psutil.Process | None:
        """The supervisor process, if it is still alive and really this job's (boot id + create time match)."""
        if self.error is not None:
            return None
        return _same_process(self.pid, self.record.create_time, self.record.boot_id)

    def child_process(self) -> psutil.Process | None:
        """The command the supervisor started, if alive and provably it (child pid + create time + boot id)."""
        if self.error is not None:
            return None
        return _same_process(self.record.child_pid, self.record.child_create_time, self.record.boot_id)

    @property
    def state(self) -> str:
        """running, finished (exit 0), failed (non-zero exit), stopped (by signal/stop_job), lost (gone unrecorded)
        or unreadable (job.json cannot be used: see ``error``). A command that outlived its killed supervisor is
        still running."""
        if self.error is not None:
            return "unreadable"
        if self.exit_code is not None:
            if self.record.stopped:
                return "stopped"
            return "finished" if self.exit_code == 0 else "failed"
        if self.process() is not None or self.child_process() is not None:
            return "running"
        return "stopped" if self.record.stopped else "lost"

    @property
    def elapsed_s(self) -> float:
        if not self.started_at:
            return 0.0  # unknown (an unreadable job.json), not "since 1970"
        end = self.record.ended_at_epoch or time.time()
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
    """The job in ``job_dir``; None when there is no job.json, a JobInfo with ``error`` set (state ``unreadable``)
    when it cannot be used (read by job.json's one reader, ``motip.records.JobRecord.read``)."""
    job_dir = Path(job_dir)
    path = job_dir / JOB_FILE
    if not path.exists() and not path.is_symlink():
        return None
    record, error = JobRecord.try_read(path)
    if record is None:
        return JobInfo(job_dir, JobRecord(), error)
    return JobInfo(job_dir, record)


def find_jobs(*roots: str | os.PathLike[str]) -> list[JobInfo]:
    """Jobs in ``root/*/job.json`` for each root (run folders, .motip/jobs), oldest first; a damaged job.json is
    listed too (state ``unreadable``)."""
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


def write_output(job_dir: str | os.PathLike[str], text: str) -> None:
    """Write a job folder's whole output.log (``text``, ending in a newline) atomically: for a launch recorded as a
    job that never started a process (``motip.job_results.record_failed_launch``). A started job's output.log is
    its supervisor's stdout and stderr (``start_job``)."""
    atomic_write_text(Path(job_dir) / OUTPUT_FILE, text if not text or text.endswith("\n") else text + "\n")


def start_job(argv: list[str], job_dir: str | os.PathLike[str], *, kind: str, name: str | None = None,
              cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None,
              run_dir: str | os.PathLike[str] | None = None) -> JobInfo:
    """Start ``argv`` detached under a supervisor; return once job.json names the supervisor's pid.

    ``run_dir``: the training run folder the command writes (default for ``kind="train"``: ``job_dir`` itself),
    recorded in job.json before the command starts."""
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    cwd = str(Path(cwd or os.getcwd()).resolve())
    if run_dir is None and kind == "train":
        run_dir = job_dir
    record = JobRecord(name=name or job_dir.name, kind=kind, argv=[str(a) for a in argv], cwd=cwd,
                       run_dir=None if run_dir is None else str(Path(cwd, run_dir).absolute()),
                       started_at=datetime.now().isoformat(timespec="seconds"), started_at_epoch=time.time(),
                       boot_id=boot_id())
    record.write(job_dir / JOB_FILE)
    child_env = dict(os.environ if env is None else env)
    child_env.pop(LAUNCH_RECORD_ENV, None)  # meant for this launch only, not for jobs the command starts
    child_env.setdefault("MOTIP_PROGRESS", "plain")  # the TUI reads PROGRESS lines from output.log
    child_env["PYTHONUNBUFFERED"] = "1"
    with open(job_dir / OUTPUT_FILE, "ab") as output, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen([sys.executable, "-m", "motip.jobs", str(job_dir)], cwd=cwd, env=child_env,
                                stdin=devnull, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
                                close_fds=True)
    record.pid = proc.pid
    record.create_time = psutil.Process(proc.pid).create_time()
    record.write(job_dir / JOB_FILE)
    launch_record = os.environ.pop(LAUNCH_RECORD_ENV, None)
    if launch_record:
        atomic_write_json(Path(launch_record), {"job_dir": str(job_dir.absolute()), "run_dir": record.run_dir,
                                                "pid": record.pid, "create_time": record.create_time,
                                                "boot_id": record.boot_id})
    return JobInfo(job_dir, record)


def launch_record_env(record: str | os.PathLike[str], env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a command that will call ``start_job`` (e.g. ``motip train --detach``): it writes the
    job it started to ``record`` (read it back with ``read_launch_record``)."""
    out = dict(os.environ if env is None else env)
    out[LAUNCH_RECORD_ENV] = str(Path(record).absolute())
    return out


def read_launch_record(record: str | os.PathLike[str]) -> JobInfo:
    """The job a launched command started (see ``launch_record_env``); MotipError when it wrote none or a bad one."""
    from motip.jsonfile import read_json

    facts = read_json(record, what="launch record", hint="the command did not start a job; see its output")
    job_dir = facts.get("job_dir")
    if not isinstance(job_dir, str) or not job_dir:
        raise MotipError("launch record names no job folder", path=record, hint="see the command's output")
    job = read_job(job_dir)
    if job is None:
        raise MotipError("the launched job has no job.json", path=Path(job_dir) / JOB_FILE,
                         hint="see the command's output")
    if job.error is not None:
        raise job.error
    return job


def launch(argv: list[str], cwd: str | os.PathLike[str], *, timeout_s: float | None = None
           ) -> tuple[subprocess.CompletedProcess[str], JobInfo | None, str | None]:
    """Run a command that starts a detached job (``motip train --detach``) and return ``(its result, the job it
    started, None)``, or ``(result, None, why not)``. The job comes from a launch record file the command's
    ``start_job`` writes, never from parsing its printed text (paths may hold spaces)."""
    import tempfile

    handle, record = tempfile.mkstemp(prefix="motip-launch-", suffix=".json")
    os.close(handle)
    os.unlink(record)  # start_job writes it; still absent afterwards = no job started
    try:
        proc = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              env=launch_record_env(record), timeout=timeout_s)
        if proc.returncode != 0:
            tail = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-3:]
            return proc, None, f"exit {proc.returncode}: {' '.join(tail)}"
        try:
            return proc, read_launch_record(record), None
        except MotipError as err:
            return proc, None, err.render()
    finally:
        try:
            os.unlink(record)
        except FileNotFoundError:
            pass


def _update(job_dir: Path, fallback: JobRecord | None = None, **fields: Any) -> JobRecord:
    """Set ``fields`` in job.json, read afresh (stop_job and the supervisor both write it); a file that can no
    longer be read is rebuilt from ``fallback`` (what the writer knows) rather than from nothing."""
    job = read_job(job_dir)
    base = job.record if job is not None and job.error is None else (fallback or JobRecord())
    updated = dataclasses.replace(base, **fields)
    updated.write(job_dir / JOB_FILE)
    return updated


def _supervise(job_dir: Path) -> int:
    """Run the job's command (we are already detached), forward SIGTERM/SIGINT, record the exit status."""
    # SIGTERM/SIGINT are forwarded to the command. One that arrives before the command exists (stop_job in the
    # first instant of a job) is kept: the command is then never started, and the stop is recorded.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    child: subprocess.Popen[bytes] | None = None
    pending: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        if child is None:
            pending.append(signum)
            return
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    # Wait until start_job has recorded our pid so our final write does not race with it.
    for _ in range(100):
        job = read_job(job_dir)
        if job is not None and job.pid == os.getpid():
            break
        time.sleep(0.02)
    job = read_job(job_dir)
    if job is None or job.error is not None or not job.record.argv:
        why = "vanished" if job is None else (job.error.render() if job.error else "names no command (argv)")
        print(f"motip.jobs: {job_dir / JOB_FILE}: {why}; nothing started", file=sys.stderr, flush=True)
        return 2
    if pending or job.record.stopped:  # stop_job came first: start nothing, record the stop
        number = pending[0] if pending else signal.SIGTERM
        name = signal.Signals(number).name
        print("motip.jobs: stopped before the command started; nothing started", flush=True)
        _update(job_dir, job.record, exit_code=128 + number, signal=name,
                ended_at=datetime.now().isoformat(timespec="seconds"), ended_at_epoch=time.time())
        return 0
    child = subprocess.Popen(job.record.argv, cwd=job.record.cwd, stdin=subprocess.DEVNULL)
    try:
        child_create_time: float | None = psutil.Process(child.pid).create_time()
    except psutil.NoSuchProcess:  # already gone (and reaped by nobody yet: only if it exited at once)
        child_create_time = None
    # pid + create time (+ the job's boot id): what lets stop_job find the command if this supervisor is killed.
    known = _update(job_dir, job.record, child_pid=child.pid, child_create_time=child_create_time)
    if pending:  # a stop that came while the command was being started
        forward(pending[0], None)
    code = child.wait()
    fields: dict[str, Any] = {"exit_code": code if code >= 0 else 128 - code,
                              "ended_at": datetime.now().isoformat(timespec="seconds"), "ended_at_epoch": time.time()}
    if code < 0:
        fields["signal"] = signal.Signals(-code).name
    _update(job_dir, known, **fields)
    return 0


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _terminate_then_kill(members: list[psutil.Process], grace_s: float) -> list[psutil.Process]:
    """SIGTERM each, wait ``grace_s``, SIGKILL the rest; returns the ones that needed SIGKILL."""
    for member in members:
        try:
            member.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(members, timeout=grace_s)
    for member in alive:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
    return alive


def stop_job(job: JobInfo, grace_s: float = 10.0) -> str:
    """Graceful, then forced: SIGTERM the whole process tree (torch launchers start workers in sessions of their
    own, so signalling a process group is not enough), wait ``grace_s``, SIGKILL what is left.

    Only processes proven to be this job's are signalled: the supervisor and the command it started, each by pid +
    create time + boot id, and their descendants. With the supervisor gone (kill -9), the recorded command is
    stopped directly and job.json says so (its exit status is then unknown)."""
    if job.error is not None:
        return "unreadable job.json: nothing signalled"
    proc = job.process()
    child = job.child_process()
    if proc is None and child is None:
        return "not running"
    _update(job.dir, job.record, stopped=True)
    if proc is not None:
        members = _tree(proc)[1:]
        if child is not None and all(m.pid != child.pid for m in members):
            members += _tree(child)
    else:
        members = _tree(child)  # type: ignore[arg-type]
    if proc is not None and not members:
        # The supervisor has not started the command yet. It reads `stopped` (written above) before it starts
        # anything, then records the stop and exits; if it read job.json just before, the command appears in a
        # moment and is stopped below. Signalling the supervisor now could kill it before it can record anything.
        deadline = time.monotonic() + grace_s
        while not members and time.monotonic() < deadline:
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    return "terminated"
            except psutil.NoSuchProcess:
                return "terminated"
            time.sleep(0.05)
            members = _tree(proc)[1:]
    # Signal the command first (a live supervisor stays to record the exit status).
    alive = _terminate_then_kill(members, grace_s)
    if proc is not None:
        try:
            proc.wait(timeout=5)
        except (psutil.TimeoutExpired, psutil.NoSuchProcess):
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
    else:
        _update(job.dir, job.record, stopped=True, signal="SIGKILL" if alive else "SIGTERM",
                ended_at=datetime.now().isoformat(timespec="seconds"), ended_at_epoch=time.time(),
                supervisor_lost=True)  # nobody is left to record an exit code: it stays null (unknown)
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
