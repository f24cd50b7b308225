"""train.log: the one writer and the one parser of the training log (the contract between training and its watchers).

One event per line, readable with ``tail -f`` and parseable by a program::

    2026-11-24T10:00:00 [start] run="outputs/stage1_20261124_100000" config="configs/stage1.yaml" epochs=10 pid=4242
    2026-11-24T10:00:05 [train] epoch=1 step=1 total_steps=250 global_step=1 loss=3.2104 ... lr=2e-05 s_per_step=1.42
    2026-11-24T11:58:00 [eval] epoch=1 HOTA=55.31 DetA=60.2 AssA=51.0 MOTA=70.1 IDF1=58.4 IDSW=120 ...
    2026-11-24T11:58:01 [checkpoint] epoch=1 kind=last path="checkpoint_last.pth"
    2026-11-24T11:58:01 [warning] msg="val fingerprint changed since the run started"
    2026-11-25T06:00:00 [end] status=finished epoch=10 msg=""

Format: ``<ISO time> [<event>] key=value ...``. A value is a bare token (number, ``nan``, ``inf``, ``-inf``, word) or a
JSON string in double quotes. Keys with a dot are per-class metrics (``<class>.<metric>``). Unknown events and keys
are kept, so the format can grow without breaking readers. See docs/formats.md.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

EVENTS = ("start", "resume", "train", "eval", "checkpoint", "warning", "error", "end")
END_STATUSES = ("finished", "failed", "stopped")
# Metric names an eval line carries at top level and per class.
EVAL_METRICS = ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW")

_LINE_RE = re.compile(r"^(?P<time>\S+) \[(?P<event>[a-z_]+)\](?P<rest>.*)$")

# Readers never hold a line longer than this: a step line is ~300 bytes, so a longer one is a corrupted write (a
# 100 MB line once took 17 GB of RAM in the field regex). It is skipped and counted (``TrainLog.long_lines``).
MAX_LINE_BYTES = 1 << 20
READ_CHUNK_BYTES = 4 << 20
# What a reader delivers in place of a skipped line: keeps the count (and the order) for whoever parses the lines.
SKIPPED_LINE = "[motip: a line longer than 1 MB was skipped]"
_FIELD_RE = re.compile(r'([A-Za-z_][\w.\-/]*)=("(?:[^"\\]|\\.)*"|\S*)')


def format_value(value: Any) -> str:
    """A value as written in train.log: numbers compactly, non-finite as nan/inf, text as a JSON string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    if value is None:
        return "null"
    text = str(value)
    if text and re.fullmatch(r"[\w.\-/:+]+", text) and not _looks_numeric(text):
        return text
    return json.dumps(text)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def parse_value(raw: str) -> Any:
    """Inverse of format_value: int, float (nan/inf included), bool, None, or str."""
    if raw.startswith('"'):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw.strip('"')
    if raw in ("true", "false"):
        return raw == "true"
    if raw == "null":
        return None
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)  # accepts nan, inf, -inf
    except ValueError:
        return raw


class TrainLogWriter:
    """Appends events to train.log, one whole line per ``os.write`` (safe to ``tail -f``; survives a kill mid-run).

    Disk full (ENOSPC) while appending: the partial line is cut off again (the log stays whole lines) and a
    ``motip.atomic.DiskFullError`` names train.log and the free space. Once that happened, later events (the
    ``[end]`` line of the failing run) are written only if they fit, silently dropped otherwise.
    """

    def __init__(self, path: str | os.PathLike[str], enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled  # False on non-zero DDP ranks: one writer per run
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._disk_full = False
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            self._terminate_partial_line()

    def _terminate_partial_line(self) -> None:
        # A run killed mid-write can leave a partial last line; start ours on a fresh line.
        size = self.path.stat().st_size
        if size:
            with open(self.path, "rb") as reader:
                reader.seek(size - 1)
                if reader.read(1) != b"\n":
                    self._write_raw("\n")

    def _write_raw(self, text: str) -> None:
        assert self._fd is not None
        data = text.encode("utf-8")
        before = os.fstat(self._fd).st_size
        try:
            while data:
                data = data[os.write(self._fd, data):]
        except OSError as err:
            from motip.atomic import DiskFullError, disk_full

            if not disk_full(err):
                raise
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, before)  # no half line left behind
            if self._disk_full:
                return  # best effort after the first failure: the run is already ending on it
            self._disk_full = True
            raise DiskFullError.for_path(self.path) from err

    def event(self, event: str, **fields: Any) -> None:
        if not self.enabled:
            return
        stamp = datetime.now().isoformat(timespec="seconds")
        parts = [f"{stamp} [{event}]"]
        parts.extend(f"{key}={format_value(value)}" for key, value in fields.items())
        with self._lock:
            self._write_raw(" ".join(parts) + "\n")

    def run_start(self, *, run: str, config: str, epochs: int, **extra: Any) -> None:
        self.event("start", run=run, config=config, epochs=epochs, pid=os.getpid(), **extra)

    def resume(self, *, checkpoint: str, epoch: int, global_step: int, **extra: Any) -> None:
        self.event("resume", checkpoint=checkpoint, epoch=epoch, global_step=global_step, **extra)

    def train_step(self, *, epoch: int, step: int, total_steps: int, global_step: int, loss: float,
                   grad_norm: float, lr: float, s_per_step: float, **terms: Any) -> None:
        """``terms``: every loss term (loss_cls, loss_bbox, loss_giou, loss_id, ...), extra grad norms
        (grad_norm_detr, grad_norm_id), lr of other groups (lr_backbone), memory (mem_gb)..."""
        self.event("train", epoch=epoch, step=step, total_steps=total_steps, global_step=global_step, loss=loss,
                   **terms, grad_norm=grad_norm, lr=lr, s_per_step=s_per_step)

    def eval(self, *, epoch: int, metrics: dict[str, float], per_class: dict[str, dict[str, float]] | None = None,
             **extra: Any) -> None:
        fields: dict[str, Any] = dict(metrics)
        for cls_name, cls_metrics in (per_class or {}).items():
            for name, value in cls_metrics.items():
                fields[f"{cls_name}.{name}"] = value
        self.event("eval", epoch=epoch, **extra, **fields)

    def checkpoint(self, *, epoch: int, kind: str, path: str, **extra: Any) -> None:
        self.event("checkpoint", epoch=epoch, kind=kind, path=path, **extra)

    def warning(self, msg: str, **extra: Any) -> None:
        self.event("warning", msg=msg, **extra)

    def error(self, msg: str, **extra: Any) -> None:
        self.event("error", msg=msg, **extra)

    def run_end(self, *, status: str, epoch: int | None = None, msg: str = "") -> None:
        self.event("end", status=status, epoch=epoch, msg=msg)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> TrainLogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class TrainLog:
    """Parsed train.log: step series, eval series, other events and the run status."""

    train: list[dict[str, Any]] = field(default_factory=list)
    eval: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # start/resume/checkpoint/warning/error/end
    status: dict[str, Any] = field(default_factory=lambda: {"state": "empty"})
    bad_lines: int = 0
    lines: int = 0
    long_lines: int = 0  # lines over MAX_LINE_BYTES: skipped unread (also counted in bad_lines)

    def to_json(self) -> dict[str, Any]:
        return {"train": self.train, "eval": self.eval, "events": self.events, "status": self.status,
                "bad_lines": self.bad_lines, "lines": self.lines, "long_lines": self.long_lines}

    @property
    def classes(self) -> list[str]:
        names: list[str] = []
        for row in self.eval:
            for name in row.get("per_class", {}):
                if name not in names:
                    names.append(name)
        return names


class TrainLogParser:
    """Incremental parser: ``feed(lines)`` as they arrive (the TUI's tailer), ``log`` holds the result so far."""

    def __init__(self) -> None:
        self.log = TrainLog()

    def feed(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.feed_line(line)

    def feed_line(self, line: str) -> None:
        line = line.rstrip("\r\n")
        if not line.strip():
            return
        log = self.log
        log.lines += 1
        if line == SKIPPED_LINE or len(line) > MAX_LINE_BYTES:
            log.bad_lines += 1
            log.long_lines += 1
            return
        match = _LINE_RE.match(line)
        if match is None:
            log.bad_lines += 1
            return
        event = match["event"]
        fields = {key: parse_value(raw) for key, raw in _FIELD_RE.findall(match["rest"])}
        fields["time"] = match["time"]
        status = log.status
        status["last_time"] = match["time"]
        if event == "train":
            if "epoch" not in fields or "step" not in fields:
                log.bad_lines += 1
                return
            log.train.append(fields)
            status["epoch"] = fields["epoch"]
            status["global_step"] = fields.get("global_step")
            status["total_steps"] = fields.get("total_steps")
            status["step"] = fields["step"]
            if status.get("state") in ("empty", None):
                status["state"] = "running"
        elif event == "eval":
            row: dict[str, Any] = {"per_class": {}}
            for key, value in fields.items():
                if "." in key:
                    cls_name, metric = key.split(".", 1)
                    row["per_class"].setdefault(cls_name, {})[metric] = value
                else:
                    row[key] = value
            log.eval.append(row)
        else:
            fields["event"] = event
            log.events.append(fields)
            if event == "start":
                status.update(state="running", started_at=fields["time"], run=fields.get("run"),
                              config=fields.get("config"), epochs=fields.get("epochs"), pid=fields.get("pid"))
                status.pop("ended_at", None)
                status.pop("end_status", None)
            elif event == "resume":
                status.update(state="running", resumed_at=fields["time"])
            elif event == "end":
                end_status = fields.get("status", "finished")
                status.update(state=end_status if end_status in END_STATUSES else "finished",
                              ended_at=fields["time"], end_msg=fields.get("msg", ""))
            elif event == "error":
                status["last_error"] = fields.get("msg", "")
            elif event == "warning":
                status["last_warning"] = fields.get("msg", "")


# --- Fast paths for big logs (a 500,000-line train.log must open in the TUI in about a second). ----------------
# The exact parser costs ~20 us a line. Watchers that chart a few step series take these instead: the chart
# values of step lines are pulled out of a whole chunk with one regex, and only the latest step lines (status,
# alerts) plus every other event go through the exact parser. Same format knowledge, same module.

CHART_KEYS = ("global_step", "loss", "grad_norm", "lr")  # in the writer's order on every [train] line
_CHART_RE = re.compile(r" (global_step|loss|grad_norm|lr)=([^ \n]*)")
_EVENT_TAGS = tuple(f" [{event}] ".encode() for event in EVENTS if event != "train")


def is_train_line(line: str) -> bool:
    return " [train] " in line[:40]


def _float_or_nan(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def step_columns(train_lines: list[str]) -> dict[str, list[float]] | None:
    """CHART_KEYS columns of ``[train]`` lines in one regex pass; None when a line lacks a key or has them out of
    the writer's order (then use the exact parser)."""
    found = _CHART_RE.findall("\n".join(train_lines))
    count, width = len(train_lines), len(CHART_KEYS)
    if len(found) != width * count:
        return None
    keys = [key for key, _ in found]
    values = [value for _, value in found]
    columns: dict[str, list[float]] = {}
    for offset, key in enumerate(CHART_KEYS):
        if keys[offset::width].count(key) != count:
            return None
        raw = values[offset::width]
        try:
            columns[key] = list(map(float, raw))  # float() accepts nan/inf
        except ValueError:
            columns[key] = [_float_or_nan(parse_value(v)) for v in raw]
    return columns


def feed_charting(parser: TrainLogParser, lines: list[str], parsed_train_tail: int = 300) -> dict[str, list[float]]:
    """Feed ``lines`` to ``parser`` the fast way and return the CHART_KEYS columns of their step lines.

    Every non-step event and the last ``parsed_train_tail`` step lines go through the exact parser (so status and
    recent-step alerts are exact); older step lines contribute only their chart columns.
    """
    train_lines = [line for line in lines if is_train_line(line)]
    columns = step_columns(train_lines) if train_lines else {key: [] for key in CHART_KEYS}
    if columns is None:  # unusual lines: the exact parser for everything
        before = len(parser.log.train)
        parser.feed(lines)
        rows = parser.log.train[before:]
        return {key: [_float_or_nan(row.get(key)) for row in rows] for key in CHART_KEYS}
    parser.feed(line for line in lines if not is_train_line(line))
    parser.feed(train_lines[-parsed_train_tail:] if parsed_train_tail else [])
    return columns


def preview_lines(path: str | os.PathLike[str], size: int, tail_bytes: int) -> list[str]:
    """Every non-step event line before the last ``tail_bytes`` (found by byte search, no parsing), then the
    complete lines of the tail: what a watcher shows first while the full history loads. The file is mapped, not
    read; lines over MAX_LINE_BYTES come back as SKIPPED_LINE."""
    import mmap

    with open(path, "rb") as handle:
        size = min(size, os.fstat(handle.fileno()).st_size)
        if size == 0:
            return []
        with mmap.mmap(handle.fileno(), size, access=mmap.ACCESS_READ) as data:
            return _preview(data, size, tail_bytes)


PREVIEW_WINDOW_BYTES = 4 << 20  # one search call holds the GIL for a few ms: the UI thread keeps running
# One pass for every event tag: the regex engine jumps from "[" to "[" (~80 ms for 95 MB; 7 finds took 290 ms).
_LONGEST_TAG = max(len(tag) for tag in _EVENT_TAGS)
_EVENT_TAG_RE = re.compile(rb"\[(?:" + b"|".join(re.escape(tag.strip()[1:-1]) for tag in _EVENT_TAGS) + rb")\] ")


def _preview(data: Any, size: int, tail_bytes: int) -> list[str]:
    newline = data.find(b"\n", max(0, size - tail_bytes))
    tail_start = size if newline < 0 else newline + 1  # no newline in the tail window: no tail lines
    head: list[str] = []
    position, window = 0, max(PREVIEW_WINDOW_BYTES, 2 * _LONGEST_TAG)
    while position < tail_start:
        window_end = min(tail_start, position + window)
        match = _EVENT_TAG_RE.search(data, position, window_end)
        if match is None:
            if window_end == tail_start:
                break
            position = max(position + 1, window_end - _LONGEST_TAG)  # a tag across the edge: found next time
            continue
        begin = data.rfind(b"\n", 0, match.start()) + 1
        finish = data.find(b"\n", match.start())
        finish = size if finish < 0 else finish
        # The tag is the event (near the line's start, after a space), not text inside a message.
        if match.start() - begin < 40 and data[match.start() - 1:match.start()] == b" ":
            head.append(SKIPPED_LINE if finish - begin > MAX_LINE_BYTES
                        else data[begin:finish].decode("utf-8", errors="replace"))
        position = finish + 1  # at most one event per line
    tail_end = data.rfind(b"\n", tail_start) + 1
    tail = LineSplitter().feed(data[tail_start:tail_end]) if tail_end > tail_start else []
    return head + tail


class LineSplitter:
    """Bytes in (chunks of a growing file), complete lines out (no newline; a partial last line is kept until its
    newline arrives). A line over ``max_line_bytes`` is never held whole: it comes out as ``SKIPPED_LINE`` and
    ``long_lines`` counts it. Memory is bounded by the chunk size plus ``max_line_bytes``."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self.long_lines = 0
        self._partial = b""
        self._skipping = False  # inside a line already reported as skipped, until its newline

    def feed(self, data: bytes) -> list[str]:
        limit = self.max_line_bytes
        if self._skipping:
            cut = data.find(b"\n")
            if cut < 0:
                return []
            data = data[cut + 1:]
            self._skipping = False
        cut = data.rfind(b"\n")
        if cut < 0:
            if len(self._partial) + len(data) > limit:
                return self._skip_partial()
            self._partial += data
            return []
        text = (self._partial + data[:cut]).decode("utf-8", errors="replace")
        rest = data[cut + 1:]
        self._partial = b""
        lines = text.split("\n")
        if len(text) > limit and max(map(len, lines)) > limit:  # cheap test first: most chunks hold none
            self.long_lines += sum(1 for line in lines if len(line) > limit)
            lines = [SKIPPED_LINE if len(line) > limit else line for line in lines]
        if len(rest) > limit:
            lines.extend(self._skip_partial())
        else:
            self._partial = rest
        return lines

    def _skip_partial(self) -> list[str]:
        self._partial = b""
        self._skipping = True
        self.long_lines += 1
        return [SKIPPED_LINE]


def read_lines(handle: BinaryIO, chunk_bytes: int = READ_CHUNK_BYTES) -> Iterable[str]:
    """The complete lines of an open binary file, read in chunks (a partial last line is not returned)."""
    splitter = LineSplitter()
    while True:
        chunk = handle.read(chunk_bytes)
        if not chunk:
            return
        yield from splitter.feed(chunk)


def parse_lines(lines: Iterable[str]) -> TrainLog:
    parser = TrainLogParser()
    parser.feed(lines)
    return parser.log


def parse_log(path: str | os.PathLike[str]) -> TrainLog:
    """Parse a whole train.log, read in chunks (memory: the parsed rows plus a few MB, whatever the file holds).
    A partial last line (no newline yet: the writer is mid-line) is skipped; a line over MAX_LINE_BYTES is skipped
    and counted in ``long_lines``."""
    with open(path, "rb") as handle:
        log = parse_lines(read_lines(handle))
    try:
        log.status["log_age_s"] = max(0.0, time.time() - Path(path).stat().st_mtime)
    except OSError:
        pass
    return log


def finite_value(value: Any) -> float | None:
    """A parsed train.log value as a float when it is a finite number (not a bool, text, nan or inf), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def best_eval(log: TrainLog, metric: str = "HOTA", cls: str | None = None) -> dict[str, Any] | None:
    """The eval row with the highest finite ``metric`` (per class when ``cls`` is given)."""
    best: dict[str, Any] | None = None
    best_value = -math.inf
    for row in log.eval:
        value = row.get("per_class", {}).get(cls, {}).get(metric) if cls else row.get(metric)
        if isinstance(value, (int, float)) and math.isfinite(value) and value > best_value:
            best, best_value = row, value
    return best


def tail_status(path: str | os.PathLike[str], max_bytes: int = 4096) -> dict[str, Any]:
    """The status (epoch, step, total_steps, state...) of a log's last ``max_bytes`` only: how far a training is,
    without reading a big log. {} when the file cannot be read or its tail has no step line."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            start = max(0, handle.tell() - max_bytes)
            handle.seek(start)
            lines = handle.read().decode("utf-8", errors="replace").splitlines()[1 if start else 0:]  # a cut first
    except OSError:
        return {}
    status = parse_lines(lines).status
    return status if status.get("epoch") is not None else {}
