"""Typed records of the JSON files we write: job.json, run.json, queue.json, metrics.json and build_report.json.

Each file is one dataclass below with one reader (``Record.read(path)``, or ``try_read`` for listings) and one
writer (``record.write(path)``, atomic through ``motip.atomic``). The dataclass's type hints are the file's schema:
the reader checks every field against them, so a malformed file (wrong type, missing required field, unknown
``status``) is a ``MotipError`` naming the file and the field, never a ``KeyError``/``TypeError`` in a caller.
The field tables, with each file's version, are in docs/formats.md.

Versions: every record writes ``version`` (an int). A file without one is version 1 (files written before the
field existed; build_report.json and metrics.json called it ``format``, read the same way). A file of a newer
version than this code knows is refused with a message saying to upgrade motip: it may mean something else.

Unknown keys are kept (forward compatibility): a reader puts them in ``extra`` and the writer writes them back
after the known fields, so a record rewritten by an older motip (the job supervisor updating job.json, say) loses
nothing a newer one wrote.

The file names live here and nowhere else in the product (``tests/unit/test_records.py`` greps for them); the run
folder's other names are in ``motip.rundir``. Stdlib only: the TUI, the queue and the data layer import it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar, Union

from motip.errors import MotipError

JOB_FILE = "job.json"
RUN_FILE = "run.json"
QUEUE_FILE = "queue.json"
METRICS_FILE = "metrics.json"
BUILD_REPORT_FILE = "build_report.json"

R = TypeVar("R", bound="Record")

_EXTRA = "extra"  # the field collecting unknown keys


class _Invalid(Exception):
    """A field that does not fit its type: ``where`` is its dotted path (``stages[1].state``)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(where, problem)
        self.where = where
        self.problem = problem


def _describe(tp: Any) -> str:
    """A type hint in the words of a JSON file: 'integer', 'list of string', 'object', 'number or null'."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if origin is list:
        return f"list of {_describe(typing.get_args(tp)[0])}"
    if origin is dict or tp is dict:
        return "object"
    if isinstance(tp, type) and issubclass(tp, Part):
        return "object"
    return {int: "integer", float: "number", str: "string", bool: "true/false", type(None): "null",
            Any: "any value"}.get(tp, str(tp))


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {value!r:.40}"


def _check(value: Any, tp: Any, where: str) -> Any:
    """``value`` if it fits the type hint ``tp`` (numbers made plain int/float, objects made Parts), else raise
    ``_Invalid``. A bool is never a number, a float is never an int."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _check(value, option, where)
            except _Invalid as err:
                if err.where != where:  # the value has this shape but something inside is wrong: say that
                    raise
        raise _Invalid(where, f"is {_shown(value)}, expected {_describe(tp)}")
    if tp is type(None):
        if value is None:
            return None
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
    elif tp is float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value) if not isinstance(value, numbers.Integral) else int(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin is list:
        if isinstance(value, list):
            (item,) = typing.get_args(tp)
            return [_check(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    elif origin is dict:
        if isinstance(value, dict):
            _, item = typing.get_args(tp)
            return {str(k): _check(v, item, f"{where}.{k}") for k, v in value.items()}
    elif isinstance(tp, type) and issubclass(tp, Part):
        if isinstance(value, tp):
            return value
        if isinstance(value, dict):
            return tp._from_fields(value, where + ".")
    else:  # pragma: no cover - a record declared with a type this checker does not know
        raise TypeError(f"records: unsupported field type {tp!r}")
    raise _Invalid(where, f"is {_shown(value)}, expected {_describe(tp)}")


def _plain(value: Any) -> Any:
    """``value`` as JSON data: Parts to objects (known fields, then extras), lists and dicts element by element."""
    if isinstance(value, Part):
        return value.to_json()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass
class Part:
    """An object inside a record file (a queue stage, an epoch row) or a whole record: typed fields + ``extra``.

    A field without a default is required (present and, unless its type allows None, not null); a field's
    ``metadata["choices"]`` lists the values it may take."""

    @classmethod
    def _hints(cls) -> dict[str, Any]:
        cached = cls.__dict__.get("_hint_cache")
        if cached is None:
            cached = typing.get_type_hints(cls)
            cls._hint_cache = cached  # type: ignore[attr-defined]
        return cached

    @classmethod
    def _from_fields(cls: type[R], data: dict[str, Any], prefix: str = "") -> R:
        hints = cls._hints()
        values: dict[str, Any] = {}
        known = set()
        for spec in dataclasses.fields(cls):
            if spec.name == _EXTRA or not spec.init:
                continue
            known.add(spec.name)
            where = prefix + spec.name
            if spec.name not in data:
                if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                    raise _Invalid(where, "is missing (required)")
                continue
            value = _check(data[spec.name], hints[spec.name], where)
            choices = spec.metadata.get("choices")
            if choices is not None and value is not None and value not in choices:
                raise _Invalid(where, f"is {value!r:.40}, expected one of {'/'.join(choices)}")
            values[spec.name] = value
        extra = {k: v for k, v in data.items() if k not in known}
        record = cls(**values, **({_EXTRA: extra} if _EXTRA in {f.name for f in dataclasses.fields(cls)} else {}))
        record._check_whole(prefix)
        return record

    def _check_whole(self, prefix: str) -> None:
        """Checks across fields (e.g. an index within a list); raise ``_Invalid``."""

    def to_json(self) -> dict[str, Any]:
        out = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != _EXTRA}
        for key, value in (getattr(self, _EXTRA, None) or {}).items():
            out.setdefault(key, value)
        return out


@dataclass
class Record(Part):
    """A whole file: ``version`` first, its reader ``read``/``try_read`` and its writer ``write``."""

    VERSION: ClassVar[int] = 1
    WHAT: ClassVar[str] = "record"  # how messages name the file
    HINT: ClassVar[str] = "fix or delete the file"
    LEGACY_VERSION_KEY: ClassVar[str | None] = None  # what older files called "version"

    @classmethod
    def from_json(cls: type[R], data: Any, path: str | os.PathLike[str] | None = None) -> R:
        """Validate parsed JSON; MotipError naming ``path`` and the field when it is not a valid record."""
        if not isinstance(data, dict):
            raise MotipError(f"{cls.WHAT} holds a JSON {type(data).__name__}, expected a JSON object", path=path,
                             hint=cls.HINT)
        data = dict(data)
        version = data.pop("version", None)
        legacy = data.pop(cls.LEGACY_VERSION_KEY, None) if cls.LEGACY_VERSION_KEY else None
        if version is None:
            version = legacy if legacy is not None else 1
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise MotipError(f"{cls.WHAT} field 'version' is {_shown(version)}, expected an integer >= 1",
                             path=path, hint=cls.HINT)
        if version > cls.VERSION:
            raise MotipError(f"{cls.WHAT} is version {version}, newer than this motip reads (up to version "
                             f"{cls.VERSION})", path=path,
                             hint="it was written by a newer motip: upgrade motip (pip install -U motip, or pull "
                                  "the checkout) to read it; the file is left as it is")
        try:
            record = cls._from_fields(data)
        except _Invalid as err:
            raise MotipError(f"{cls.WHAT} field {err.where!r} {err.problem}", path=path, hint=cls.HINT) from None
        return record

    @classmethod
    def read(cls: type[R], path: str | os.PathLike[str]) -> R:
        """THE reader of this file: parsed (``motip.jsonfile.read_json``) and validated; MotipError otherwise."""
        from motip.jsonfile import read_json

        return cls.from_json(read_json(path, what=cls.WHAT, hint=cls.HINT, expect=None), path)

    @classmethod
    def try_read(cls: type[R], path: str | os.PathLike[str]) -> tuple[R | None, MotipError | None]:
        """``(record, None)``, or ``(None, error)`` for a missing or unusable file: for listings that show a
        damaged entry rather than fail as a whole."""
        try:
            return cls.read(path), None
        except MotipError as err:
            return None, err

    def to_json(self) -> dict[str, Any]:
        return {"version": self.VERSION, **super().to_json()}

    def write(self, path: str | os.PathLike[str]) -> None:
        """THE writer of this file: validated (a bug never writes a file its reader refuses), then atomic."""
        from motip.atomic import atomic_write_json

        data = self.to_json()
        type(self).from_json(data, path)  # same checks as the reader, before anything replaces the old file
        atomic_write_json(path, data)


def _choices(*values: str) -> Any:
    return field(default=None, metadata={"choices": values})


# --------------------------------------------------------------------------------------------------- job.json

@dataclass
class JobRecord(Record):
    """``job.json``: a detached job (``motip.jobs``). Every field may be null ("not known yet")."""

    WHAT: ClassVar[str] = "job.json"
    HINT: ClassVar[str] = ("the job's own record is damaged; its output is in output.log beside it (delete job.json "
                           "to forget the job)")

    name: str | None = None
    kind: str | None = None
    argv: list[str] | None = None
    cwd: str | None = None
    run_dir: str | None = None
    started_at: str | None = None
    started_at_epoch: float | None = None
    boot_id: str | None = None
    pid: int | None = None
    create_time: float | None = None
    child_pid: int | None = None
    child_create_time: float | None = None
    exit_code: int | None = None
    signal: str | None = None
    ended_at: str | None = None
    ended_at_epoch: float | None = None
    stopped: bool | None = None
    supervisor_lost: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------- run.json

RUN_STATUSES = ("running", "finished", "failed", "stopped")


@dataclass
class RunRecord(Record):
    """``<run>/run.json``: the trainer's own record of its run (``motip.engine.runs`` writes it). Every field may
    be absent (runs from before a field existed)."""

    WHAT: ClassVar[str] = "run.json"
    HINT: ClassVar[str] = "the trainer rewrites it at its next start or end"

    pid: int | None = None
    argv: list[str] | None = None
    cwd: str | None = None
    config: str | None = None
    status: str | None = _choices(*RUN_STATUSES)
    started_at: str | None = None
    resumed_at: str | None = None
    ended_at: str | None = None
    exit_code: int | None = None
    message: str | None = None
    data: dict[str, str] | None = None  # configured dataset path -> the pinned build folder read
    extra: dict[str, Any] = field(default_factory=dict)

    def merged(self, **fields: Any) -> RunRecord:
        """A copy with ``fields`` set (a start or an end updates some fields and keeps the rest)."""
        return dataclasses.replace(self, **fields)


# ------------------------------------------------------------------------------------------------- queue.json

QUEUE_STATES = ("running", "paused", "stopped", "finished")
STAGE_STATES = ("pending", "building", "training", "done", "alert", "failed", "stopped")


@dataclass
class StageMetrics(Part):
    HOTA: float | None = None
    IDF1: float | None = None
    epoch: int | None = None
    per_class: dict[str, dict[str, Any]] | None = None
    first_HOTA: float | None = None
    last_HOTA: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class QueueStage(Part):
    name: str
    config: str
    state: str = field(metadata={"choices": STAGE_STATES})
    run_dir: str | None = None
    build_exit: int | None = None
    pretrain: str | None = None
    best_checkpoint: str | None = None
    metrics: StageMetrics | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    started_at: str | None = None
    ended_at: str | None = None
    train_rows: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _forgetting_margin() -> float:
    from motip.alerts import FORGETTING_MARGIN  # the rule's one default (queues from before the rule lack it)

    return FORGETTING_MARGIN


@dataclass
class QueueOptions(Part):
    min_free_gb: float
    floor: float
    margin: float
    poll_s: float
    forgetting_margin: float = field(default_factory=_forgetting_margin)
    pretrain: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class QueueNote(Part):
    msg: str
    time: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class QueueRecord(Record):
    """``<workspace>/.motip/queue.json``: the overnight queue (``motip.queue``)."""

    WHAT: ClassVar[str] = "queue state (queue.json)"
    HINT: ClassVar[str] = "delete it to forget the queue (runs and builds are not affected)"

    config: str
    state: str = field(metadata={"choices": QUEUE_STATES})
    current: int
    stages: list[QueueStage]
    options: QueueOptions
    paused_reason: str | None = None
    job_dir: str | None = None
    overrides: list[str] = field(default_factory=list)
    history: list[QueueNote] = field(default_factory=list)
    created_at: str | None = None
    updated_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def _check_whole(self, prefix: str) -> None:
        if not 0 <= self.current <= len(self.stages):
            raise _Invalid(prefix + "current", f"is {self.current}, outside its {len(self.stages)} stages")


# ----------------------------------------------------------------------------------------------- metrics.json

@dataclass
class MetricsReport(Record):
    """``metrics.json`` of one evaluation (``motip eval -o O``, ``<run>/eval/epoch_<N>/``): ``motip.eval``'s
    report. Non-finite numbers are written as null."""

    WHAT: ClassVar[str] = "metrics.json"
    HINT: ClassVar[str] = "evaluate again to rewrite it (`motip eval`)"
    LEGACY_VERSION_KEY: ClassVar[str | None] = "format"

    metrics: dict[str, float | None]
    per_class: dict[str, dict[str, float | None]]
    warnings: list[str] = field(default_factory=list)
    created: str | None = None
    gt_folder: str | None = None
    tracker_folder: str | None = None
    seqmap: str | None = None
    classes: dict[str, int] | None = None
    combine: str | None = None
    sequences: list[str] | None = None
    per_sequence: dict[str, dict[str, dict[str, float | None]]] | None = None
    ignored_tracker_boxes: dict[str, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_report(cls, report: dict[str, Any], path: str | os.PathLike[str] | None = None) -> MetricsReport:
        """From an in-memory report: non-finite numbers become null (JSON has none), then validated."""
        return cls.from_json(_finite_or_none(report), path)


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value


@dataclass
class EpochMetrics(Part):
    epoch: int
    global_step: int | None = None
    HOTA: float | None = None
    DetA: float | None = None
    AssA: float | None = None
    MOTA: float | None = None
    IDF1: float | None = None
    IDSW: float | None = None
    per_class: dict[str, dict[str, float | None]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class MetricsHistory(Record):
    """``<run>/metrics.json``: every validation of a training run, one row per epoch (the trainer writes it).
    A metric that was not finite (NaN) is written as JSON NaN, as Python's json module does."""

    WHAT: ClassVar[str] = "run metrics history (metrics.json)"
    HINT: ClassVar[str] = "train.log holds every eval too; delete the file and the next eval starts a new one"

    epochs: list[EpochMetrics] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def with_epoch(self, row: dict[str, Any]) -> MetricsHistory:
        """A copy with ``row`` (an EpochMetrics object) replacing any earlier row of its epoch (a resumed run
        evaluates an epoch again)."""
        try:
            new = EpochMetrics._from_fields(row, "epochs[].")
        except _Invalid as err:
            raise MotipError(f"{self.WHAT} row field {err.where!r} {err.problem}",
                             hint="a bug in the caller: the row is not what metrics.json holds") from None
        return dataclasses.replace(self, epochs=[e for e in self.epochs if e.epoch != new.epoch] + [new])


def record_epoch_metrics(path: str | os.PathLike[str], row: dict[str, Any]) -> MetricsHistory:
    """Add one epoch's validation to the run's metrics.json (read, replace that epoch's row, write). A history
    that cannot be read is started afresh (train.log keeps every eval): the new file is complete."""
    path = Path(path)
    history, _ = MetricsHistory.try_read(path) if path.exists() else (None, None)
    updated = (history or MetricsHistory()).with_epoch(row)
    updated.write(path)
    return updated


# ------------------------------------------------------------------------------------------ build_report.json

@dataclass
class BuildReport(Record):
    """``<build>/build_report.json``: what ``motip build`` made (``motip.data.builder``). The last file a build
    writes: its presence marks a finished build. Every field may be absent (hand-made or older reports)."""

    WHAT: ClassVar[str] = "build report (build_report.json)"
    HINT: ClassVar[str] = "rebuild the dataset (`motip build`) to write a new one"
    LEGACY_VERSION_KEY: ClassVar[str | None] = "format"

    created: str | None = None
    build_dir: str | None = None
    output: str | None = None
    config: str | None = None
    seed: int | None = None
    manifest: str | None = None
    manifest_fingerprint: str | None = None
    val_fingerprint: str | None = None
    test_fingerprint: str | None = None
    budgets: dict[str, dict[str, Any]] = field(default_factory=dict)
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    sequences: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    duration_s: float | None = None
    dry_run: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self, split: str) -> str | None:
        """The ``<split>_fingerprint`` recorded for ``split`` (val, test); None when none was."""
        value = self.to_json().get(f"{split}_fingerprint")
        return value if isinstance(value, str) and value else None


RECORDS: dict[str, tuple[type[Record], ...]] = {
    JOB_FILE: (JobRecord,), RUN_FILE: (RunRecord,), QUEUE_FILE: (QueueRecord,),
    METRICS_FILE: (MetricsReport, MetricsHistory), BUILD_REPORT_FILE: (BuildReport,),
}
