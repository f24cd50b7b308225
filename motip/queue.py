"""The overnight queue (TRAIN.md's "sleeping compute"): run stages one after another, unattended.

The queue is itself a detached job (``motip.jobs.start_job``, in ``.motip/jobs/<time>-queue/``): it survives the TUI
quitting and the SSH session dropping. For each queued stage the worker

1. checks free disk space (below ``min_free_gb`` pauses the queue),
2. applies the stage's budgets to config.toml (``motip.workspace.apply_stage``) and runs ``motip build``,
3. starts ``motip train <stage config> --detach --DETR_PRETRAIN <previous stage's best checkpoint>`` (the YAML file
   itself is never edited; ``overrides`` are added to every train) and waits for that run to end. The run folder
   comes from the job ``motip train --detach`` started (its job.json's ``run_dir``, handed back through a launch
   record file: ``motip.jobs.launch_record_env``), never from parsing printed text (a path may hold spaces),
4. reads the run's train.log: the best eval becomes the stage's metrics, ``checkpoint_best_hota.pth`` its best
   checkpoint; the shared rules of ``motip.alerts`` compare them with the previous stage's.

A failed build or run, a missing eval or checkpoint, an alert (regression, forgetting, non-finite loss) or a full disk
pauses the queue with a one-line reason. ``resume_queue`` goes on: a stage paused by an alert is accepted as is (its
checkpoint feeds the next stage); a stopped or failed run with a ``checkpoint_last.pth`` is resumed with
``motip train --resume``; anything else is retried from its build.

State lives in ``<workspace>/.motip/queue.json``, the typed record ``motip.records.QueueRecord`` (one reader, one
writer: validated, versioned, written atomically; fields in docs/formats.md)::

    {"version": 1, "config": "/abs/config.toml", "state": "running|paused|stopped|finished",
     "paused_reason": str|null, "current": int, "job_dir": str|null, "overrides": ["KEY=VALUE"],
     "options": {"min_free_gb", "floor", "margin", "forgetting_margin", "pretrain", "poll_s"},
     "stages": [{"name", "config", "state": "pending|building|training|done|alert|failed|stopped", "run_dir",
                 "build_exit", "pretrain", "best_checkpoint", "metrics": {"HOTA", "IDF1", "epoch", "per_class"},
                 "alerts": [...], "started_at", "ended_at"}],
     "history": [{"time", "msg"}], "created_at", "updated_at"}
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motip.errors import ConfigError, MotipError
from motip.records import QUEUE_FILE as QUEUE_NAME
from motip.records import QUEUE_STATES, STAGE_STATES, QueueRecord  # noqa: F401 - the states, for callers
from motip.rundir import BEST_HOTA, LAST, TRAIN_LOG

if TYPE_CHECKING:
    from motip.jobs import JobInfo

QUEUE_FILE = Path(".motip") / QUEUE_NAME
DEFAULT_MIN_FREE_GB = 5.0
DEFAULT_POLL_S = 2.0


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")


# ----------------------------------------------------------------------------------------------- queue.json


def queue_path(workspace_root: str | os.PathLike[str]) -> Path:
    return Path(workspace_root) / QUEUE_FILE


def read_queue(workspace_root: str | os.PathLike[str]) -> dict[str, Any] | None:
    """queue.json as a dict (``QueueRecord.to_json()``: every field present, defaults filled in), checked by its
    one reader ``motip.records.QueueRecord.read``: None when there is none, MotipError naming the file and the
    field when it cannot be used (not JSON, truncated, a list, a field of the wrong type, a newer version), so no
    caller meets a KeyError/TypeError later. ``read_queue_record`` gives the typed record."""
    record = read_queue_record(workspace_root)
    return None if record is None else record.to_json()


def read_queue_record(workspace_root: str | os.PathLike[str]) -> QueueRecord | None:
    """The typed queue.json (``motip.records.QueueRecord``); None when there is none; MotipError when damaged."""
    path = queue_path(workspace_root)
    if not path.exists() and not path.is_symlink():
        return None
    return QueueRecord.read(path)


def try_read_queue(workspace_root: str | os.PathLike[str]) -> tuple[dict[str, Any] | None, MotipError | None]:
    """``(queue or None, None)``, or ``(None, error)`` for a damaged queue.json (listings show it as unreadable)."""
    try:
        return read_queue(workspace_root), None
    except MotipError as err:
        return None, err


def write_queue(workspace_root: str | os.PathLike[str], queue: dict[str, Any] | QueueRecord) -> None:
    """Write queue.json through its one writer (``QueueRecord.write``: validated, atomic), stamping
    ``updated_at``; a dict (the worker's working copy) is checked as the reader would check it."""
    path = queue_path(workspace_root)
    if isinstance(queue, QueueRecord):
        queue.updated_at = _now()
        record = queue
    else:
        queue["updated_at"] = _now()
        record = QueueRecord.from_json(queue, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record.write(path)


_IN_WORKER = False  # the worker also echoes its notes to its output.log


def _note(queue: dict[str, Any], msg: str) -> None:
    queue.setdefault("history", []).append({"time": _now(), "msg": msg})
    if _IN_WORKER:
        print(f"[queue] {msg}", flush=True)


# ----------------------------------------------------------------------------------------------- control


def _workspace_root(config_path: str | os.PathLike[str]) -> Path:
    return Path(config_path).absolute().parent


def _pick_stages(workspace: Any, wanted: list[str] | None) -> list[Any]:
    stages = list(workspace.stages)
    if not stages:
        raise ConfigError("config.toml has no [[stages]] to queue", path=workspace.path,
                          hint="add [[stages]] tables (see TRAIN.md) or create a demo with `motip demo DIR`")
    if not wanted:
        return stages
    picked = []
    for token in wanted:
        token = token.strip()
        if token.isdigit() and 1 <= int(token) <= len(stages):
            picked.append(stages[int(token) - 1])
            continue
        match = [s for s in stages if s.name.lower() == token.lower()]
        if not match:
            names = ", ".join(f"{i}={s.name}" for i, s in enumerate(stages, 1))
            raise ConfigError(f"--stages: no stage {token!r} (stages: {names})", path=workspace.path)
        picked.append(match[0])
    return picked


def worker_job(queue: dict[str, Any] | None) -> JobInfo | None:
    from motip.jobs import read_job

    if not queue or not queue.get("job_dir"):
        return None
    return read_job(queue["job_dir"])


def _worker_alive(queue: dict[str, Any] | None) -> bool:
    job = worker_job(queue)
    return job is not None and job.state == "running"


def _launch_worker(root: Path, queue: dict[str, Any]) -> dict[str, Any]:
    from motip.jobs import new_job_dir, start_job

    job_dir = new_job_dir(root, "queue")
    queue["job_dir"] = str(job_dir)
    queue["state"] = "running"
    queue["paused_reason"] = None
    write_queue(root, queue)
    start_job([sys.executable, "-m", "motip.queue", "run", queue["config"]], job_dir, kind="queue", name="queue",
              cwd=root)
    return queue


def start_queue(config_path: str | os.PathLike[str], stages: list[str] | None = None, *,
                overrides: list[str] | None = None, min_free_gb: float = DEFAULT_MIN_FREE_GB,
                floor: float | None = None, margin: float | None = None, forgetting_margin: float | None = None,
                pretrain: str | None = None, poll_s: float = DEFAULT_POLL_S) -> dict[str, Any]:
    """Write a new queue.json and start the detached worker; refuses while another queue worker is alive."""
    from motip.alerts import FORGETTING_MARGIN, REGRESSION_FLOOR, REGRESSION_MARGIN
    from motip.workspace import load_workspace

    config_path = Path(config_path).absolute()
    workspace = load_workspace(config_path)
    root = _workspace_root(config_path)
    previous = read_queue(root)
    if _worker_alive(previous):
        raise MotipError("a queue is already running in this workspace", path=queue_path(root),
                         hint="see `motip queue status`; stop it with `motip queue stop`")
    for token in overrides or []:
        if "=" not in token:
            raise MotipError(f"--override {token!r}: expected KEY=VALUE (e.g. EPOCHS=1)")
    queue: dict[str, Any] = {
        "version": 1, "config": str(config_path), "state": "running", "paused_reason": None, "current": 0,
        "job_dir": None, "overrides": list(overrides or []),
        "options": {"min_free_gb": min_free_gb, "floor": REGRESSION_FLOOR if floor is None else floor,
                    "margin": REGRESSION_MARGIN if margin is None else margin,
                    "forgetting_margin": FORGETTING_MARGIN if forgetting_margin is None else forgetting_margin,
                    "pretrain": None if pretrain is None else str(Path(pretrain).absolute()), "poll_s": poll_s},
        "stages": [{"name": s.name, "config": str(s.config), "state": "pending", "run_dir": None, "build_exit": None,
                    "pretrain": None, "best_checkpoint": None, "metrics": None, "alerts": [], "started_at": None,
                    "ended_at": None} for s in _pick_stages(workspace, stages)],
        "history": [], "created_at": _now(),
    }
    _note(queue, "queued " + " -> ".join(s["name"] for s in queue["stages"]))
    return _launch_worker(root, queue)


def _stop_run(run_dir: str | None) -> str | None:
    """Stop a stage's training through its job.json: the supervisor, or the recorded training process when the
    supervisor is gone, each proven by pid + create time + boot id. A pid we cannot prove we started (run.json's
    pid alone: pids get reused) is never signalled. Returns a note for the history, or None when nothing ran."""
    from motip.jobs import read_job, stop_job

    if not run_dir:
        return None
    job = read_job(run_dir)
    if job is None:
        from motip.rundir import lock_holder

        holder = lock_holder(Path(run_dir))
        held = f" (its trainer lock is held by pid {holder}: stop that yourself)" if holder else ""
        return f"{run_dir} has no job.json: its training was not started by the queue and was not signalled{held}"
    if job.error is not None:
        return f"not signalled: {job.error.message} ({job.path})"
    if job.state != "running":
        return None
    return f"training in {run_dir}: {stop_job(job)}"


def stop_queue(workspace_root: str | os.PathLike[str]) -> dict[str, Any]:
    """Stop the worker, then the stage's training run (gracefully, then by force); the queue can be resumed."""
    from motip.jobs import stop_job

    root = Path(workspace_root)
    queue = read_queue(root)
    if queue is None:
        raise MotipError("no queue in this workspace", path=queue_path(root), hint="start one with `motip queue start`")
    job = worker_job(queue)
    if job is not None and job.state == "running":
        stop_job(job, grace_s=5.0)
    queue = read_queue(root) or queue  # the worker may have written last
    current = queue["current"]
    if current < len(queue["stages"]):
        stage = queue["stages"][current]
        note = _stop_run(stage.get("run_dir"))
        if note:
            _note(queue, note)
        if stage["state"] in ("building", "training", "pending"):
            stage["state"] = "stopped"
    if queue["state"] in ("running", "paused"):
        queue["state"] = "stopped"
        queue["paused_reason"] = "stopped by the user"
    _note(queue, "stopped by the user")
    write_queue(root, queue)
    return queue


def resume_queue(workspace_root: str | os.PathLike[str]) -> dict[str, Any]:
    """Go on after a pause or a stop (see the module doc for what happens to the paused stage)."""
    root = Path(workspace_root)
    queue = read_queue(root)
    if queue is None:
        raise MotipError("no queue in this workspace", path=queue_path(root), hint="start one with `motip queue start`")
    if _worker_alive(queue):
        raise MotipError("the queue is running already", path=queue_path(root), hint="see `motip queue status`")
    if queue["state"] == "finished":
        raise MotipError("the queue has finished every stage", path=queue_path(root),
                         hint="start a new one with `motip queue start`")
    current = queue["current"]
    if current < len(queue["stages"]):
        stage = queue["stages"][current]
        if stage["state"] == "alert":
            stage["state"] = "done"
            _note(queue, f"{stage['name']}: alert accepted by the user, going on from its best checkpoint")
            queue["current"] = current + 1
    _note(queue, "resumed")
    return _launch_worker(root, queue)


def queue_status(workspace_root: str | os.PathLike[str]) -> dict[str, Any] | None:
    """queue.json plus live facts for display: ``worker`` (job state) and, for the current stage's run, ``run``
    (train.log progress: epoch, step, last eval; ``status.state`` and ``state``: ``motip.rundir.run_state``).
    None when the workspace has no queue."""
    from motip.trainlog import parse_log

    queue = read_queue(workspace_root)
    if queue is None:
        return None
    job = worker_job(queue)
    queue["worker"] = None if job is None else {"state": job.state, "pid": job.pid, "dir": str(job.dir),
                                               "output": str(job.output_path)}
    if job is not None and job.error is not None:
        queue["worker"]["error"] = job.error.render()
    if queue["state"] == "running" and (job is None or job.state != "running"):
        queue["worker_lost"] = True  # the worker died without writing a pause: `motip queue resume` goes on
    current = queue.get("current", 0)
    if current < len(queue["stages"]):
        run_dir = queue["stages"][current].get("run_dir")
        log_path = Path(run_dir) / TRAIN_LOG if run_dir else None
        if log_path is not None and log_path.is_file():
            from motip.rundir import run_state as decide

            log = parse_log(log_path)
            state = decide(run_dir)
            # train.log gives progress (epoch, step); whether the run lives comes from run_state alone.
            queue["run"] = {"status": {**log.status, "state": state.state}, "state": state.to_json(),
                            "last_eval": log.eval[-1] if log.eval else None}
    return queue


# ----------------------------------------------------------------------------------------------- the worker


class Paused(Exception):
    """Raised inside the worker to pause the queue with a reason."""


def _check_disk(root: Path, min_free_gb: float) -> None:
    free_gb = shutil.disk_usage(root).free / 1e9
    if free_gb < min_free_gb:
        raise Paused(f"disk nearly full: {free_gb:.1f} GB free under {root}, the queue needs {min_free_gb:g} GB "
                     f"(free space, then `motip queue resume`)")


def _motip(*args: str) -> list[str]:
    return [sys.executable, "-m", "motip", *args]


def _build(root: Path, queue: dict[str, Any], stage: dict[str, Any]) -> None:
    from motip.workspace import apply_stage

    apply_stage(queue["config"], stage["name"])
    _note(queue, f"{stage['name']}: budgets applied, building")
    proc = subprocess.run(_motip("build", "--config", queue["config"]), cwd=root, stdin=subprocess.DEVNULL)
    stage["build_exit"] = proc.returncode
    if proc.returncode != 0:
        stage["state"] = "failed"
        raise Paused(f"{stage['name']}: `motip build` failed (exit {proc.returncode}); see the queue output log")


def _start_training(root: Path, queue: dict[str, Any], stage: dict[str, Any], resume_run: str | None) -> None:
    if resume_run:
        argv = _motip("train", "--resume", resume_run, "--detach")
    else:
        argv = _motip("train", stage["config"], "--detach")
        if stage.get("pretrain"):
            argv += [f"--DETR_PRETRAIN={stage['pretrain']}"]
    argv += [f"--{token}" for token in queue.get("overrides", [])]
    stage["run_dir"] = str(start_detached_training(root, argv, on_output=sys.stdout.write,
                                                   fail=lambda msg: _failed_start(stage, msg)))


def _failed_start(stage: dict[str, Any], message: str) -> None:
    stage["state"] = "failed"
    raise Paused(f"{stage['name']}: `motip train` did not start: {message}")


def start_detached_training(cwd: str | os.PathLike[str], argv: list[str], *, timeout_s: float | None = None,
                            on_output: Any = None, fail: Any = None) -> Path:
    """Run ``motip train ... --detach`` and return the run folder of the job it started, read from that job's
    job.json (``motip.jobs.launch``: never parsed from printed text). ``fail(message)`` is called (and must raise)
    when no job started; default: raise MotipError."""
    from motip.jobs import launch

    proc, job, why = launch(argv, cwd, timeout_s=timeout_s)
    if on_output is not None:
        on_output(proc.stdout)
        on_output(proc.stderr)
    if job is not None and job.run_dir is None:
        job, why = None, f"its job {job.path} records no run_dir"
    if job is None:
        if fail is not None:
            fail(why)
        raise MotipError(f"`motip train` did not start: {why}", hint="fix what the message says and retry")
    return job.run_dir  # type: ignore[return-value]


# The queue's words for motip.rundir.run_state's states: a run that is dead, unknown or unreadable did not finish
# and pauses the stage as failed; one that is starting is waited for like a running one.
_QUEUE_STATE = {"starting": "running", "dead": "lost", "unknown": "lost", "unreadable": "lost"}


def run_state(run_dir: str | os.PathLike[str]) -> tuple[str, int | None]:
    """(state, exit code) of a training run as the queue acts on it: ``motip.rundir.run_state`` (the one home of
    that decision) mapped to running, finished, failed, stopped or lost."""
    from motip.rundir import run_state as decide

    state = decide(run_dir)
    return _QUEUE_STATE.get(state.state, state.state), state.exit_code


def _wait_for_run(root: Path, queue: dict[str, Any], stage: dict[str, Any]) -> None:
    run_dir = Path(stage["run_dir"])
    poll_s = float(queue["options"].get("poll_s", DEFAULT_POLL_S))
    from motip.jobs import OUTPUT_FILE
    from motip.rundir import run_state as decide

    while True:
        found = decide(run_dir)
        if not found.live:
            break
        time.sleep(poll_s)
    state = _QUEUE_STATE.get(found.state, found.state)
    if state != "finished":
        stage["state"] = "failed" if state in ("failed", "lost") else "stopped"
        why = f": {found.message}" if found.message else ""
        raise Paused(f"{stage['name']}: training run {found.state} (exit {found.exit_code}{why}); see "
                     f"{run_dir / TRAIN_LOG} and {run_dir / OUTPUT_FILE}")


def _collect_results(queue: dict[str, Any], stage: dict[str, Any]) -> None:
    from motip.trainlog import best_eval, parse_log

    run_dir = Path(stage["run_dir"])
    log = parse_log(run_dir / TRAIN_LOG)
    best_hota = best_eval(log, "HOTA")
    if best_hota is None:
        stage["state"] = "failed"
        raise Paused(f"{stage['name']}: the run finished without a finite HOTA in {run_dir / TRAIN_LOG}")
    best_idf1 = best_eval(log, "IDF1") or best_hota
    stage["metrics"] = {"HOTA": best_hota.get("HOTA"), "IDF1": best_idf1.get("IDF1"), "epoch": best_hota.get("epoch"),
                        "per_class": best_hota.get("per_class", {}),
                        "first_HOTA": log.eval[0].get("HOTA"), "last_HOTA": log.eval[-1].get("HOTA")}
    checkpoint = run_dir / BEST_HOTA
    if not checkpoint.is_file():
        stage["state"] = "failed"
        raise Paused(f"{stage['name']}: no {BEST_HOTA} in {run_dir}")
    stage["best_checkpoint"] = str(checkpoint)
    stage["train_rows"] = len(log.train)
    stage["_train"] = log.train  # for the non-finite rule; dropped before writing


def _num(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else str(value)


def _previous_done(queue: dict[str, Any], index: int) -> dict[str, Any] | None:
    for stage in reversed(queue["stages"][:index]):
        if stage["state"] == "done" and stage.get("best_checkpoint"):
            return stage
    return None


def _run_stage(root: Path, queue: dict[str, Any], index: int) -> None:
    from motip.alerts import FORGETTING_MARGIN, stage_alerts

    stage = queue["stages"][index]
    options = queue["options"]
    previous = _previous_done(queue, index)
    resume_run = None
    run_dir = stage.get("run_dir")
    if run_dir and stage["state"] in ("training", "failed", "stopped"):
        if run_state(run_dir)[0] == "running":
            resume_run = "attach"  # the run outlived a worker: just wait for it again
        elif (Path(run_dir) / LAST).is_file():
            resume_run = run_dir
    stage["started_at"] = stage.get("started_at") or _now()
    stage["alerts"] = []
    if resume_run != "attach":
        _check_disk(root, float(options["min_free_gb"]))
        stage["pretrain"] = previous["best_checkpoint"] if previous else options.get("pretrain")
        if resume_run is None:
            stage["state"] = "building"
            stage["run_dir"] = None
            write_queue(root, queue)
            _build(root, queue, stage)
        stage["state"] = "training"
        _start_training(root, queue, stage, resume_run)
        verb = "resumed" if resume_run else "started"
        _note(queue, f"{stage['name']}: training {verb} in {stage['run_dir']}"
                     + (f" from {stage['pretrain']}" if stage.get("pretrain") and not resume_run else ""))
    else:
        stage["state"] = "training"
        _note(queue, f"{stage['name']}: waiting again for {run_dir}")
    write_queue(root, queue)
    _wait_for_run(root, queue, stage)
    _collect_results(queue, stage)
    train_rows = stage.pop("_train")
    stage["ended_at"] = _now()
    alerts = stage_alerts(stage["metrics"], previous["metrics"] if previous else None, train_rows,
                          floor=float(options["floor"]), margin=float(options["margin"]),
                          forgetting_margin=float(options.get("forgetting_margin", FORGETTING_MARGIN)))
    stage["alerts"] = [a.to_dict() for a in alerts]
    metrics = stage["metrics"]
    _note(queue, f"{stage['name']}: finished, best HOTA {_num(metrics['HOTA'])} IDF1 {_num(metrics['IDF1'])} "
                 f"(epoch {metrics['epoch']}), checkpoint {stage['best_checkpoint']}")
    if alerts:
        stage["state"] = "alert"
        raise Paused(f"{stage['name']}: " + "; ".join(a.message for a in alerts)
                     + " (`motip queue resume` accepts it and goes on)")
    stage["state"] = "done"


def run_queue(config_path: str | os.PathLike[str]) -> int:
    """The worker (runs detached): stages from ``current`` on, until all are done or one pauses the queue."""
    global _IN_WORKER
    _IN_WORKER = True
    root = _workspace_root(config_path)
    try:
        queue = read_queue(root)
    except MotipError as err:
        print(err.render(), file=sys.stderr)
        return 2
    if queue is None:
        print(f"no queue state in {queue_path(root)}", file=sys.stderr)
        return 2
    while queue["current"] < len(queue["stages"]):
        index = queue["current"]
        try:
            _run_stage(root, queue, index)
        except Paused as reason:
            queue["stages"][index].pop("_train", None)
            queue["state"] = "paused"
            queue["paused_reason"] = str(reason)
            _note(queue, f"paused: {reason}")
            write_queue(root, queue)
            return 0
        except MotipError as err:
            queue["stages"][index]["state"] = "failed"
            queue["state"] = "paused"
            queue["paused_reason"] = f"{queue['stages'][index]['name']}: {err.render()}"
            _note(queue, f"paused: {queue['paused_reason']}")
            write_queue(root, queue)
            return 0
        except Exception as err:  # a bug: still leave a reason behind rather than a silently dead worker
            queue["stages"][index].pop("_train", None)
            queue["stages"][index]["state"] = "failed"
            queue["state"] = "paused"
            queue["paused_reason"] = (f"{queue['stages'][index]['name']}: queue worker error "
                                      f"{type(err).__name__}: {err} (see {queue.get('job_dir')}/output.log)")
            _note(queue, f"paused: {queue['paused_reason']}")
            write_queue(root, queue)
            raise
        queue["current"] = index + 1
        write_queue(root, queue)
    queue["state"] = "finished"
    queue["paused_reason"] = None
    _note(queue, "all stages done")
    write_queue(root, queue)
    return 0


def previous_stage_checkpoint(workspace_root: str | os.PathLike[str], stage_name: str) -> str | None:
    """Best checkpoint of the stage queued before ``stage_name`` in this workspace's queue (for a manual Stage 2
    run from the TUI: pass it as --DETR_PRETRAIN). None when the queue has none."""
    queue = read_queue(workspace_root)
    if not queue:
        return None
    names = [s["name"] for s in queue["stages"]]
    if stage_name not in names:
        return None
    previous = _previous_done(queue, names.index(stage_name))
    return previous["best_checkpoint"] if previous else None


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "run":
        raise SystemExit(run_queue(sys.argv[2]))
    print("usage: python -m motip.queue run CONFIG_TOML  (started by `motip queue start`)", file=sys.stderr)
    raise SystemExit(2)
