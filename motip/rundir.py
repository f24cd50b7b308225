"""A run folder's file names and its trainer lock (torch-free: the CLI, the TUI and the job/queue code use it).

One trainer per run folder: the trainer holds an exclusive ``fcntl.flock`` on ``<run>/train.lock`` (its pid written
inside) for the life of the training. The kernel drops the lock when the process dies, however it dies, so a killed
run never leaves a stale lock; a second trainer (``motip train --resume`` of a live run) is refused naming the pid.

Two questions about a folder, one definition each: ``run_files`` (what a trainer wrote there: ``train.log``,
``run.json``, any ``*.pth``; a new training refuses such a folder) and ``holds_run`` (a run folder to list: those,
or a ``job.json``, which ``motip train --detach`` writes before the trainer starts, so a run being started counts).
A job folder's ``output.log`` is ``motip.jobs``' (``OUTPUT_FILE``).

``run_state(run_dir)`` is the one answer to "what is this run doing": the queue, the TUI's run table and charts
header, and ``motip log`` all call it (see its doc for the rules, docs/formats.md for the table).
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from motip.errors import MotipError
from motip.records import JOB_FILE, METRICS_FILE, RUN_FILE, RunRecord  # noqa: F401 - METRICS_FILE: re-exported

# run.json, job.json and metrics.json are typed records: their names, fields, reader and writer live in
# motip.records; they are re-exported here with the run folder's other names.

OUTPUTS = "outputs"  # run folders' default parent: <workspace>/outputs/<config stem>_<YYYYmmdd_HHMMSS>/
TRAIN_LOG = "train.log"
CONFIG_FILE = "config.yaml"  # the resolved, standalone config the run trained with
LOCK_FILE = "train.lock"
LAST = "checkpoint_last.pth"
CHECKPOINT_GLOB = "*.pth"


def best_checkpoint(metric: str) -> str:
    """``checkpoint_best_<metric>.pth``: the checkpoint of the best ``metric`` (HOTA, IDF1) so far."""
    return f"checkpoint_best_{metric.lower()}.pth"


BEST_HOTA = best_checkpoint("HOTA")
BEST_IDF1 = best_checkpoint("IDF1")

DASHBOARD_FILE = "dashboard.png"  # `motip dashboard RUN/train.log` writes it beside the log
VIZ_DIR = "viz"  # the TUI's `motip viz --output_dir RUN/viz`
# What `motip viz` writes into its --output_dir (any folder; RUN/viz from the TUI): summary.json, contact sheets.
VIZ_SUMMARY = "summary.json"
CONTACT_SHEET_SUFFIX = "_worst.png"


def contact_sheet_name(sequence: str) -> str:
    """``<sequence>_worst.png``: a viz output folder's contact sheet of the sequence's worst frames."""
    return f"{sequence}{CONTACT_SHEET_SUFFIX}"


def dashboard_png(run_dir: Path) -> Path:
    """Where a run's dashboard.png lives by default (``motip dashboard``'s default ``--out``, the TUI's picture)."""
    return Path(run_dir) / DASHBOARD_FILE


def viz_dir(run_dir: Path) -> Path:
    """The run's viz output folder, as the TUI launches ``motip viz`` (``--output_dir RUN/viz``)."""
    return Path(run_dir) / VIZ_DIR


@dataclass(frozen=True)
class VizSummary:
    """What the readers of a viz output folder's summary.json use (``motip.viz.runner.run_viz`` writes it, fields
    in docs/viz.md): the total counts, and the contact sheets it names (``folder / name``, in its order, whether or
    not they exist)."""

    total: dict[str, Any]
    contact_sheets: list[Path]


def read_viz_summary(folder: Path) -> tuple[VizSummary | None, MotipError | None]:
    """The summary.json of the viz output ``folder``: ``(summary, None)``, or ``(None, error)`` when it is absent or
    not a JSON object (the error names the file). Entries of the wrong type are skipped."""
    from motip.jsonfile import try_read_json

    folder = Path(folder)
    data, error = try_read_json(folder / VIZ_SUMMARY, what="viz summary.json")
    if error is not None:
        return None, error
    if not isinstance(data, dict):
        return None, MotipError("the viz summary.json is not a JSON object", path=folder / VIZ_SUMMARY)
    total = data.get("total") if isinstance(data.get("total"), dict) else {}
    sequences = data.get("sequences") if isinstance(data.get("sequences"), dict) else {}
    sheets = [folder / row["contact_sheet"] for row in sequences.values()
              if isinstance(row, dict) and isinstance(row.get("contact_sheet"), str)]
    return VizSummary(total, sheets), None


def contact_sheets(run_dir: Path) -> list[Path]:
    """The existing contact sheets (worst frames) of the run's viz folder: the ones its summary.json names, in its
    order, else every ``<seq>_worst.png`` there sorted by name; [] when there is no viz yet."""
    folder = viz_dir(run_dir)
    summary, _ = read_viz_summary(folder)
    found = [path for path in summary.contact_sheets if path.is_file()] if summary is not None else []
    return found if found else sorted(folder.glob(f"*{CONTACT_SHEET_SUFFIX}")) if folder.is_dir() else []


def epoch_checkpoint(number: int) -> str:
    """``checkpoint_epoch_<N>.pth`` (N 1-based, as in train.log)."""
    return f"checkpoint_epoch_{number}.pth"


def epoch_checkpoints(run_dir: Path) -> list[Path]:
    """The run's ``checkpoint_epoch_<N>.pth`` files, oldest epoch first."""
    return sorted(run_dir.glob(epoch_checkpoint("*")), key=lambda path: int(path.stem.rsplit("_", 1)[-1]))


EVAL_DIR = "eval"


def epoch_eval_dir(run_dir: Path, number: int) -> Path:
    """``<run>/eval/epoch_<N>/``: epoch N's validation (``tracker/<seq>.txt``, ``metrics.json``)."""
    return Path(run_dir) / EVAL_DIR / f"epoch_{number}"


TRAINER_FILES = (TRAIN_LOG, RUN_FILE)  # with any *.pth: what a trainer writes into a run folder


def run_files(run_dir: Path) -> list[str]:
    """What a trainer wrote in ``run_dir`` (train.log, run.json, then the *.pth sorted); [] for a fresh folder or
    one a job was only launched into (job.json, output.log). A new training refuses a folder where this is not []."""
    if not run_dir.is_dir():
        return []
    found = [name for name in TRAINER_FILES if (run_dir / name).exists()]
    found += sorted(p.name for p in run_dir.glob(CHECKPOINT_GLOB))
    return found


def holds_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` is a run folder to list: a trainer wrote into it (``run_files``), or a training job was
    launched into it (``job.json``: ``motip train --detach`` writes it before its trainer starts, so a run being
    started counts)."""
    run_dir = Path(run_dir)
    if any((run_dir / name).exists() for name in (*TRAINER_FILES, JOB_FILE)):
        return True
    return run_dir.is_dir() and next(run_dir.glob(CHECKPOINT_GLOB), None) is not None


def refuse_existing_run(run_dir: Path) -> None:
    """Raise (exit 2) when ``run_dir`` already holds a run: a new training would overwrite its checkpoints."""
    found = run_files(run_dir)
    if found:
        shown = ", ".join(found[:4]) + (f" and {len(found) - 4} more" if len(found) > 4 else "")
        other = "set another OUTPUT_DIR (or OUTPUT_DIR: null for a fresh timestamped folder)"
        if (run_dir / LAST).is_file():
            hint = f"continue it with `motip train --resume {run_dir}`, or {other}"
        else:  # ended before its first checkpoint: nothing to resume
            hint = (f"it has no {LAST}, so `motip train --resume {run_dir}` cannot continue it: {other}, or "
                    "delete the folder first")
        raise MotipError(f"the output folder already holds a run ({shown}); a new training would overwrite it",
                         path=run_dir, hint=hint)


def _read_pid(handle: IO[str]) -> int | None:
    handle.seek(0)
    text = handle.read(64).strip()
    return int(text) if text.isdigit() else None


class RunLock:
    """The held trainer lock of one run folder; ``release()`` (or process death) frees it."""

    def __init__(self, run_dir: Path, handle: IO[str]) -> None:
        self.run_dir = run_dir
        self._handle: IO[str] | None = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file drops the flock
            self._handle = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire_lock(run_dir: Path) -> RunLock:
    """Take ``run_dir``'s trainer lock or raise MotipError (exit 2) naming the pid of the trainer holding it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the life of the training; "a+" keeps
    try:                                          # the holder's pid readable until we own the lock
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _read_pid(handle)
        handle.close()
        who = f"pid {pid}" if pid else "another process"
        raise MotipError(f"another trainer ({who}) is running in this run folder", path=run_dir,
                         hint=f"wait for it to end, or stop it (motip-tui: Jobs view, `s`; or kill {pid or '<pid>'}); "
                              "two trainers would write the same train.log and checkpoints") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return RunLock(run_dir, handle)


def lock_holder(run_dir: Path) -> int | None:
    """The pid of the live trainer holding ``run_dir``'s lock (0 when its pid is unreadable), None when free."""
    path = Path(run_dir) / LOCK_FILE
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - only the open's OSError means "no lock"; `with handle` below closes it
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(handle) or 0
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None


# ------------------------------------------------------------------------------------------------- run state

RUN_STATES = ("running", "starting", "finished", "failed", "stopped", "dead", "unknown", "unreadable")
ENDED_STATES = ("finished", "failed", "stopped")
TAIL_BYTES = 64 * 1024  # run_state reads at most this much of train.log's end, however long the log
_REUSE_SLACK_S = 2.0  # run.json's times have 1 s resolution


@dataclass(frozen=True)
class RunState:
    """What a run folder's training is doing, and which file said so.

    ``state``: one of RUN_STATES. ``source``: the file that decided (``train.lock``, ``job.json``, ``run.json``,
    ``train.log``) or ``none``. ``pid``: the live trainer (running) or the live job process (starting).
    ``problems``: damaged records noticed on the way (``"run.json unreadable: <path>: why"``), even when another
    file decided; for ``unreadable`` the first one is the reason and ``path`` names the damaged file."""

    state: str
    source: str = "none"
    pid: int | None = None
    exit_code: int | None = None
    message: str = ""
    ended_at: str | None = None
    path: Path | None = None
    problems: tuple[str, ...] = ()

    @property
    def live(self) -> bool:
        """A process of this run is alive (its trainer, or the job about to start it)."""
        return self.state in ("running", "starting")

    @property
    def ended(self) -> bool:
        return self.state in ENDED_STATES

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "source": self.source, "pid": self.pid, "exit_code": self.exit_code,
                "message": self.message, "ended_at": self.ended_at,
                "path": None if self.path is None else str(self.path), "problems": list(self.problems)}


def _read_run_json(run_dir: Path) -> tuple[RunRecord | None, str | None]:
    """(run.json's record, None); (None, None) when absent; (None, "run.json unreadable: ...") when damaged."""
    path = run_dir / RUN_FILE
    if not path.exists() and not path.is_symlink():
        return None, None
    record, error = RunRecord.try_read(path)
    if error is not None:
        return None, f"run.json unreadable: {error.render().splitlines()[0]}"
    return record, None


@dataclass(frozen=True)
class _LogTail:
    exists: bool = False
    end: dict[str, Any] | None = None  # the [end] line closing the last training segment, else None
    pid: int | None = None  # of the last [start] line seen
    since: str | None = None  # time of the last [start]/[resume] line seen


def _log_tail(path: Path, tail_bytes: int = TAIL_BYTES) -> _LogTail:
    """What the last ``tail_bytes`` of train.log say about the end of the run.

    [end] is the last line a trainer writes, so an [end] that closes the log lies within the tail; lines older
    than the tail cannot change the answer (a [resume] after an older [end] re-opens the run)."""
    from motip.trainlog import LineSplitter, parse_lines

    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(max(0, size - tail_bytes))
            data = handle.read(tail_bytes)
    except FileNotFoundError:
        return _LogTail()
    except OSError:
        return _LogTail(exists=True)
    if size > tail_bytes:  # the first line is cut: drop it
        cut = data.find(b"\n")
        data = data[cut + 1:] if cut >= 0 else b""
    lines = LineSplitter().feed(data)  # complete lines only: a half-written [end] is not an end yet
    marks = [line for line in lines if any(tag in line[:40] for tag in (" [start] ", " [resume] ", " [end] "))]
    events = parse_lines(marks).events
    if not events:
        return _LogTail(exists=True)
    pid = next((e.get("pid") for e in reversed(events) if e["event"] == "start"), None)
    since = next((e.get("time") for e in reversed(events) if e["event"] in ("start", "resume")), None)
    return _LogTail(exists=True, end=events[-1] if events[-1]["event"] == "end" else None,
                    pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None, since=since)


def _epoch(iso: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(iso)).timestamp()
    except (TypeError, ValueError):
        return None


def _unproven_pid_gone(pid: Any, since: float | None) -> bool:
    """True when the trainer recorded as ``pid`` (started at ``since``) is provably gone: no such pid, the machine
    booted after it started, or the pid now belongs to a process created after it. False proves nothing."""
    import psutil

    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if since is not None and psutil.boot_time() > since + _REUSE_SLACK_S:
        return True
    try:
        proc = psutil.Process(pid)
        created = proc.create_time()
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False
    return since is not None and created > since + _REUSE_SLACK_S


def run_state(run_dir: str | os.PathLike[str]) -> RunState:
    """The one answer to "is this run running, ended, or dead", from the kernel and the run's files, in this order:

    1. ``train.lock`` held: a live trainer -> ``running`` (pid from the lock). The kernel drops the lock when the
       trainer dies however it dies, so this is proof, not a guess.
    2. ``job.json``'s command is alive (pid + create time + boot id; or its supervisor, before it started the
       command) but no trainer holds the lock yet -> ``starting`` (a detached run loading data; a trainer between
       releasing the lock and exiting shows as ``starting`` for that instant too).
    3. ``run.json`` damaged -> ``unreadable`` (path and error). Else run.json says finished/failed/stopped ->
       that, with its exit code, message and ended_at.
    4. train.log's last training segment ends with an ``[end]`` line -> its status (the trainer wrote it but died
       before updating run.json). Only the last 64 KB of the log are read.
    5. ``job.json`` damaged -> ``unreadable``. A job that ended without any trainer record (refused before the
       trainer started) -> the job's own state; a job stopped by ``stop_job`` -> ``stopped``. A job.json that
       ended before the run's last segment started (a later ``--resume`` by hand) is an older launch's: ignored.
    6. Nobody alive and no end recorded: run.json says "running" or train.log has no [end]:
       - with a ``train.lock`` file (every run since the lock exists) or a job.json: ``dead`` (killed with -9,
         OOM-killed, machine rebooted), with the job's exit code/signal when the supervisor recorded one;
       - runs from before the lock, without job.json: run.json's (or the [start] line's) pid proves nothing when
         alive (pids get reused), but proves death when gone, when the machine booted after the run started, or
         when the pid now belongs to a younger process -> ``dead``; otherwise ``unknown``.
    7. Nothing written at all -> ``unknown`` (an empty folder).
    """
    run_dir = Path(run_dir)
    from motip.jobs import read_job

    holder = lock_holder(run_dir)
    if holder is not None:
        return RunState("running", "train.lock", pid=holder or None, path=run_dir / LOCK_FILE,
                        message=f"a trainer holds {LOCK_FILE}" + (f" (pid {holder})" if holder else ""))
    problems: list[str] = []
    job = read_job(run_dir)
    job_path = run_dir / JOB_FILE
    if job is not None and job.error is not None:
        problems.append(f"job.json unreadable: {job.error.render().splitlines()[0]}")
    elif job is not None and job.exit_code is None:
        # The command alive, or not started yet by a live supervisor. (A supervisor outliving its command is
        # only recording the exit: that is no longer a start.)
        job_alive = job.child_process() or (job.process() if job.child_pid is None else None)
        if job_alive is not None:
            return RunState("starting", JOB_FILE, pid=job_alive.pid, path=job_path,
                            message="the job is alive; its trainer has not taken the run's lock yet")
    info, run_problem = _read_run_json(run_dir)
    if run_problem is not None:
        problems.insert(0, run_problem)
        return RunState("unreadable", RUN_FILE, path=run_dir / RUN_FILE, message=run_problem,
                        problems=tuple(problems))
    status = info.status if info is not None else None
    if info is not None and status in ENDED_STATES:
        return RunState(status, RUN_FILE, exit_code=info.exit_code, message=info.message or "",
                        ended_at=info.ended_at, path=run_dir / RUN_FILE, problems=tuple(problems))
    tail = _log_tail(run_dir / TRAIN_LOG)
    end = tail.end
    if end is not None:
        end_status = end.get("status")
        return RunState(end_status if end_status in ENDED_STATES else "finished", "train.log",
                        message=str(end.get("msg") or ""), ended_at=end.get("time"), path=run_dir / TRAIN_LOG,
                        problems=tuple(problems))
    if job is not None and job.error is not None:
        return RunState("unreadable", JOB_FILE, path=job_path, message=problems[0], problems=tuple(problems))
    trainer_wrote = status == "running" or tail.exists
    since = _epoch((info.resumed_at or info.started_at if info is not None else None) or tail.since)
    job_ended = job.record.ended_at_epoch if job is not None else None
    if since is not None and isinstance(job_ended, (int, float)) and since > job_ended:
        job = None  # an older launch's job.json: the last segment (e.g. a `--resume` by hand) is not its doing
    # A job killed by a signal after its trainer took the lock (before it wrote run.json) was killed, not a failed
    # start: it falls through to "stopped" or "dead" below.
    killed_after_lock = job is not None and job.record.signal is not None and (run_dir / LOCK_FILE).exists()
    if job is not None and job.exit_code is not None and not trainer_wrote and not killed_after_lock:
        state = job.state if job.state in ENDED_STATES else "failed"
        return RunState(state, JOB_FILE, exit_code=job.exit_code, ended_at=job.record.ended_at,
                        path=job_path, message=f"the job ended (exit {job.exit_code}) before its trainer started")
    if job is not None and job.record.stopped:
        return RunState("stopped", JOB_FILE, exit_code=job.exit_code, ended_at=job.record.ended_at,
                        path=job_path, message="stopped by `stop_job` before the trainer wrote its end")
    killed = "no live trainer and no end recorded: killed (kill -9), OOM-killed, or the machine rebooted"
    if job is not None:
        signal_name = job.record.signal
        how = f" (the job recorded exit {job.exit_code}{', ' + signal_name if signal_name else ''})" \
            if job.exit_code is not None else ""
        return RunState("dead", JOB_FILE, exit_code=job.exit_code, ended_at=job.record.ended_at,
                        path=job_path, message=killed + how)
    if (run_dir / LOCK_FILE).exists():
        return RunState("dead", LOCK_FILE, exit_code=info.exit_code if info is not None else None,
                        path=run_dir / LOCK_FILE,
                        message=killed)
    if not trainer_wrote:
        return RunState("unknown", "none", message="no run recorded here yet (no run.json, train.log or job.json)")
    pid = info.pid if info is not None and info.pid is not None else tail.pid
    source = RUN_FILE if info is not None else TRAIN_LOG
    if _unproven_pid_gone(pid, since):
        return RunState("dead", source, path=run_dir / (RUN_FILE if info is not None else TRAIN_LOG),
                        message=f"trainer pid {pid} is gone and no end was recorded: killed, OOM-killed, or the "
                                "machine rebooted")
    return RunState("unknown", source, pid=None, path=run_dir / (RUN_FILE if info is not None else TRAIN_LOG),
                    message=f"a run from before {LOCK_FILE}: no end recorded, and its pid "
                            f"{pid if pid is not None else '(none recorded)'} proves nothing (pids get reused)")
