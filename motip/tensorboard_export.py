"""A train.log's scalars as TensorBoard event files (``motip log RUN/train.log --tensorboard DIR``), torch-free.

Layout: ``DIR/<run name>/events.out.tfevents.<time>.motip``, one folder per run (the run folder's name by default),
one event file per folder, so TensorBoard pointed at ``DIR`` lists every exported run and overlays them.

Tags (TensorBoard groups charts by the part before the first ``/``; the rest is train.log's own key):

* per training step (step = ``global_step``): ``loss/loss`` (the total) and ``loss/<loss_*>``, ``grad_norm/grad_norm``
  and ``grad_norm/<grad_norm_*>``, ``lr/lr`` and ``lr/<lr_*>``, ``train/<other number>`` (``s_per_step``,
  ``class_error``, ...);
* per eval (step = ``epoch``): ``eval/HOTA``, ``eval/IDF1``, ``eval/MOTA``, ``eval/DetA``, ``eval/AssA``, ``eval/IDSW``
  (and any other number of the [eval] line, e.g. ``eval_s``), per class ``eval_per_class/<class>.<metric>``.

Safe to repeat: the run's event file is written under a name TensorBoard ignores (no ``tfevents`` in it), synced,
renamed into place, and only then are the run folder's earlier ``*.motip`` event files removed; a step logged twice
(a resumed run replays the steps after its last checkpoint) is written once, with its last value. The train.log and
its run folder are only read. The event file starts with a SessionLog START at step 0, which tells a TensorBoard
that had loaded an earlier export to drop those points (TensorBoard's "restart" rule).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from motip.errors import MotipError
from motip.trainlog import TrainLog, parse_log

INSTALL_HINT = "pip install 'motip-control-center[tensorboard]'"
EVENT_SUFFIX = ".motip"  # the event files this module writes (and may replace); others in the folder are left alone
_PARTIAL = ".motip-export.partial"  # no "tfevents" in the name: TensorBoard does not read it while it is written
_TRAIN_BOOKKEEPING = {"epoch", "step", "total_steps", "global_step", "time"}
_EVAL_BOOKKEEPING = {"epoch", "global_step", "time", "per_class"}
_SAFE_NAME = re.compile(r"^[\w.+=-]+$")


@dataclass
class ExportResult:
    event_file: Path
    train_steps: int
    evals: int
    tags: list[str]
    points: int


def train_tag(key: str) -> str:
    """The TensorBoard tag of a [train] line's key: grouped by family, named as in train.log."""
    for family in ("loss", "grad_norm", "lr"):
        if key == family or key.startswith(family + "_"):
            return f"{family}/{key}"
    return f"train/{key}"


def _number(value: Any) -> float | None:
    """A parsed train.log value as a float (nan/inf kept: a diverged loss is worth seeing); None for text/bools."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _wall_time(iso: Any, fallback: float) -> float:
    try:
        return datetime.fromisoformat(str(iso)).timestamp()
    except ValueError:
        return fallback


def collect_scalars(log: TrainLog) -> dict[str, dict[int, tuple[float, float]]]:
    """``{tag: {step: (value, wall_time)}}`` from a parsed log; a step seen twice keeps its last value."""
    series: dict[str, dict[int, tuple[float, float]]] = {}
    wall = 0.0

    def put(tag: str, step: int, value: float, when: float) -> None:
        series.setdefault(tag, {})[step] = (value, when)

    for index, row in enumerate(log.train, start=1):
        step = row.get("global_step")
        step = step if isinstance(step, int) and not isinstance(step, bool) else index
        wall = _wall_time(row.get("time"), wall)
        for key, raw in row.items():
            value = _number(raw)
            if key not in _TRAIN_BOOKKEEPING and value is not None:
                put(train_tag(key), step, value, wall)
    for row in log.eval:
        epoch = row.get("epoch")
        if not isinstance(epoch, int) or isinstance(epoch, bool):
            continue
        wall = _wall_time(row.get("time"), wall)
        for key, raw in row.items():
            value = _number(raw)
            if key not in _EVAL_BOOKKEEPING and value is not None:
                put(f"eval/{key}", epoch, value, wall)
        for cls_name, metrics in row.get("per_class", {}).items():
            for metric, raw in metrics.items():
                value = _number(raw)
                if value is not None:
                    put(f"eval_per_class/{cls_name}.{metric}", epoch, value, wall)
    return series


def _load_tensorboard() -> tuple[Any, Any, Any]:
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter
    except ImportError:
        raise MotipError("the tensorboard package is not installed", hint=INSTALL_HINT) from None
    return event_pb2, summary_pb2, RecordWriter


def _refuse_run_folders(out_dir: Path, dest: Path, run_dir: Path) -> None:
    """Exports write beside runs, never into one: not inside the exported run, and not into a folder that holds a run
    (``--tensorboard outputs`` would make ``outputs/<run>`` the destination)."""
    from motip.rundir import run_files

    run = run_dir.resolve()
    for folder in (out_dir, dest):
        resolved = folder.resolve()
        if resolved == run or run in resolved.parents:
            raise MotipError("the TensorBoard folder is inside the run folder, which exports never write to",
                             path=folder, hint="pass a folder outside the run, e.g. --tensorboard tb")
    held = run_files(dest)
    if held:
        raise MotipError(f"the TensorBoard folder for this run holds a run ({', '.join(held[:3])}), which exports "
                         "never write to", path=dest, hint="pass a folder of its own, e.g. --tensorboard tb")


def export_tensorboard(log_path: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                       run_name: str | None = None) -> ExportResult:
    """Write ``log_path``'s scalars to ``out_dir/<run_name>/`` (default name: the log's folder), replacing an earlier
    export of the same run. Raises MotipError for a missing tensorboard package, a missing log, a log with no step
    or eval line, a bad name or a destination inside the run folder."""
    event_pb2, summary_pb2, record_writer = _load_tensorboard()
    log_path, out_dir = Path(log_path), Path(out_dir)
    if not log_path.is_file():
        raise MotipError("train.log not found", path=log_path,
                         hint="pass the train.log of a run (outputs/<run>/train.log)")
    name = run_name if run_name is not None else log_path.resolve().parent.name
    if not _SAFE_NAME.match(name) or name in (".", ".."):
        raise MotipError(f"run name {name!r} is not a plain folder name", hint="use letters, digits and _.+=-")
    dest = out_dir / name
    _refuse_run_folders(out_dir, dest, log_path.parent)
    log = parse_log(log_path)
    series = collect_scalars(log)
    if not series:
        raise MotipError("no [train] or [eval] line with numbers to export", path=log_path,
                         hint="export once the run has logged its first steps")
    dest.mkdir(parents=True, exist_ok=True)
    now = time.time()
    first_wall = min(when for points in series.values() for _, when in points.values())
    events: list[Any] = [
        event_pb2.Event(wall_time=first_wall or now, file_version="brain.Event:2"),
        event_pb2.Event(wall_time=first_wall or now, step=0,
                        session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START)),
    ]
    points = 0
    # One event per (tag, step), in step order per tag: TensorBoard reads each tag as its own series.
    for tag in sorted(series):
        for step in sorted(series[tag]):
            value, when = series[tag][step]
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
            events.append(event_pb2.Event(wall_time=when or now, step=step, summary=summary))
            points += 1
    final = dest / f"events.out.tfevents.{now:.6f}{EVENT_SUFFIX}"
    partial = dest / _PARTIAL
    from motip.atomic import atomic_open

    with atomic_open(partial, "wb") as handle:
        writer = record_writer(handle)
        for event in events:
            writer.write(event.SerializeToString())
    os.replace(partial, final)
    for old in dest.glob(f"events.out.tfevents.*{EVENT_SUFFIX}"):
        if old != final:
            old.unlink(missing_ok=True)
    return ExportResult(event_file=final, train_steps=len(log.train), evals=len(log.eval), tags=sorted(series),
                        points=points)
