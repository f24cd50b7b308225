"""Every alert rule of the project, in one place: the overnight queue and the TUI both call these (torch-free, no I/O).

The rules follow TRAIN.md's success criteria (HOTA/IDF1 above 54.0; "if it drops to 40s, we have regression"; grad
norm stable, not spiking to infinity) plus the checks a long unattended run needs:

- regression (error): HOTA or IDF1 "drops into the 40s" (below ``REGRESSION_FLOOR`` while the reference was at or
  above it); between stages also more than ``REGRESSION_MARGIN`` points below the previous stage's best;
- below target (warning): HOTA or IDF1 under ``TARGET`` after the first ``GRACE_EPOCHS`` epochs;
- forgetting (warning): a class's HOTA (pedestrian above all) more than ``FORGETTING_MARGIN`` points below the
  previous stage's best for that class;
- non-finite (error): the loss is NaN/inf; or the grad norm is non-finite for ``NONFINITE_STEPS`` steps in a row,
  or in the latest step (one inf step that the run then recovers from is what a mixed-precision loss scaler
  produces now and then, not a divergence);
- grad-spike (warning): the latest grad norm above ``SPIKE_FACTOR`` x the median of the recent steps;
- stalled (warning) / failed (error): a running log that stopped growing, a run that ended in failure;
- low-disk, idle-gpu (warnings): the machine sample.

Who uses what: the queue (``stage_alerts``) pauses on regression, forgetting and non-finite, comparing a finished
stage's best eval with the previous stage's; the TUI (``run_alerts``, ``machine_alerts``) shows everything for the
selected run's latest eval, with the same functions and the same constants, so a stage the TUI shows as
regressing/forgetting is one the queue pauses on.

Each rule returns a list of ``Alert`` (empty when all is well). Metrics are plain dicts as ``motip.trainlog`` parses
them: ``{"HOTA": 55.1, "IDF1": 58.0, "per_class": {"pedestrian": {"HOTA": 55.1, ...}, ...}}``.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from motip.trainlog import TrainLog, finite_value

# One set of thresholds (docs/demo.md and docs/tui.md explain them).
TARGET = 54.0             # TRAIN.md: HOTA/IDF1 "should be > 54.0"
REGRESSION_FLOOR = 50.0   # TRAIN.md: "if it drops to 40s, we have regression": below 50 from at or above it
REGRESSION_MARGIN = 2.0   # overall HOTA/IDF1 points below the previous stage's best that count as a regression
FORGETTING_MARGIN = 1.0   # per-class HOTA points below the previous stage's best that count as forgetting
GRACE_EPOCHS = 2          # the first epochs may sit below TARGET
NONFINITE_STEPS = 3       # grad norm non-finite this many steps in a row is a divergence
SPIKE_FACTOR = 10.0       # latest grad norm vs the median of the recent steps
SPIKE_WINDOW = 200        # recent steps for the spike median and the TUI's non-finite check
SPIKE_MIN_STEPS = 10      # finite steps needed before a median means something
STALL_MIN_S = 900.0       # a running log silent this long (or 20 steps' worth, if longer) is stalled
LOW_DISK_GB = 10.0
IDLE_GPU_PERCENT = 5.0    # the machine sampler counts samples below this while training runs
IDLE_GPU_SAMPLES = 3      # consecutive idle samples before the alert
WATCHED_METRICS = ("HOTA", "IDF1")

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Alert:
    kind: str      # "regression", "below-target", "forgetting", "non-finite", "grad-spike", "stalled", "failed",
    #                "low-disk", "idle-gpu"
    level: str     # "error" or "warning"
    metric: str    # "HOTA", "pedestrian.HOTA", "grad_norm", "loss", "log", "disk", "gpu"
    value: float | None
    reference: float | None
    message: str   # one line, what the TUI shows and the queue's pause reason

    @property
    def text(self) -> str:
        """The display line (the message itself; the TUI marks the level with ``!!``/``!``)."""
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _at_epoch(epoch: Any) -> str:
    return f" at epoch {epoch}" if epoch is not None else ""


# -- metrics -------------------------------------------------------------------------------------------------------

def regression_alerts(current: Mapping[str, Any], previous_best: Mapping[str, Any] | None, *,
                      floor: float = REGRESSION_FLOOR, margin: float | None = REGRESSION_MARGIN,
                      metrics: Iterable[str] = WATCHED_METRICS, reference_name: str = "previous stage best",
                      epoch: Any = None) -> list[Alert]:
    """``current``: the metrics to judge; ``previous_best``: what they are compared with (the previous stage's best,
    or for the TUI's in-run check the run's own earlier peak with ``margin=None``: only the floor applies)."""
    alerts: list[Alert] = []
    for metric in metrics:
        value = finite_value(current.get(metric))
        if value is None:
            continue
        reference = finite_value(previous_best.get(metric)) if previous_best else None
        if reference is None:
            continue  # nothing to regress from
        if value < floor <= reference:
            alerts.append(Alert("regression", ERROR, metric, value, reference,
                                f"regression: {metric} fell to {value:.1f} ({reference_name} {reference:.1f})"
                                + _at_epoch(epoch)))
        elif margin is not None and value < reference - margin:
            alerts.append(Alert("regression", ERROR, metric, value, reference,
                                f"regression: {metric} {value:.1f} is {reference - value:.1f} points below the "
                                f"{reference_name} {reference:.1f} (margin {margin:g})" + _at_epoch(epoch)))
    return alerts


def target_alerts(current: Mapping[str, Any], *, target: float = TARGET, grace_epochs: int = GRACE_EPOCHS,
                  epoch: Any = None, metrics: Iterable[str] = WATCHED_METRICS) -> list[Alert]:
    """HOTA/IDF1 below TRAIN.md's target once the first ``grace_epochs`` epochs are over."""
    epoch = current.get("epoch") if epoch is None else epoch
    if isinstance(epoch, bool) or not isinstance(epoch, (int, float)) or epoch <= grace_epochs:
        return []
    alerts: list[Alert] = []
    for metric in metrics:
        value = finite_value(current.get(metric))
        if value is not None and value < target:
            alerts.append(Alert("below-target", WARNING, metric, value, target,
                                f"{metric} {value:.1f} < {target} at epoch {epoch}"))
    return alerts


def forgetting_alerts(current: Mapping[str, Any], previous_best: Mapping[str, Any] | None, *,
                      margin: float = FORGETTING_MARGIN, metric: str = "HOTA",
                      classes: Iterable[str] | None = None) -> list[Alert]:
    """Per-class check: each class the previous stage measured (or ``classes``) must not lose more than ``margin``."""
    if not previous_best:
        return []
    before = previous_best.get("per_class") or {}
    now = current.get("per_class") or {}
    alerts: list[Alert] = []
    for cls in (list(classes) if classes is not None else list(before)):
        reference = finite_value((before.get(cls) or {}).get(metric))
        value = finite_value((now.get(cls) or {}).get(metric))
        if reference is None or value is None:
            continue
        if value < reference - margin:
            alerts.append(Alert("forgetting", WARNING, f"{cls}.{metric}", value, reference,
                                f"forgetting: {cls} {metric} {value:.1f} < previous stage best {reference:.1f}"))
    return alerts


def class_best(per_class_hota: Mapping[str, float], metric: str = "HOTA") -> dict[str, Any]:
    """``{"pedestrian": 56.0}`` -> the metrics dict ``forgetting_alerts`` compares with."""
    return {"per_class": {cls: {metric: value} for cls, value in per_class_hota.items()}}


# -- steps ---------------------------------------------------------------------------------------------------------

def _where(row: Mapping[str, Any]) -> str:
    if row.get("global_step") is not None:
        return f"step {row.get('global_step')}"
    return f"epoch {row.get('epoch')} step {row.get('step')}"


def nonfinite_alerts(train_rows: Iterable[Mapping[str, Any]], *, consecutive: int = NONFINITE_STEPS) -> list[Alert]:
    """Rows are train.log ``[train]`` events (dicts with ``loss``, ``grad_norm``, ``epoch``, ``step``,
    ``global_step``). A non-finite grad norm alerts when it lasts ``consecutive`` steps, or is the latest step's."""
    streak = 0
    last: Mapping[str, Any] | None = None
    for row in train_rows:
        loss = row.get("loss")
        if isinstance(loss, float) and not math.isfinite(loss):
            return [Alert("non-finite", ERROR, "loss", loss, None, f"loss is {loss} at {_where(row)}")]
        grad = row.get("grad_norm")
        if not isinstance(grad, (int, float)) or isinstance(grad, bool):
            continue  # no grad norm on this line: neither extends nor ends a streak
        last = row
        if not math.isfinite(grad):
            streak += 1
            if streak >= consecutive:
                return [Alert("non-finite", ERROR, "grad_norm", float(grad), None,
                              f"grad norm is {grad} at {_where(row)} ({streak} steps in a row)")]
        else:
            streak = 0
    if streak and last is not None:  # the latest step is non-finite: the run has not recovered (yet)
        grad = float(last["grad_norm"])
        return [Alert("non-finite", ERROR, "grad_norm", grad, None, f"grad norm is {grad} at {_where(last)}")]
    return []


def spike_alerts(train_rows: Sequence[Mapping[str, Any]], *, factor: float = SPIKE_FACTOR,
                 min_steps: int = SPIKE_MIN_STEPS) -> list[Alert]:
    """The latest finite grad norm far above the median of the steps before it (non-finite is nonfinite_alerts')."""
    grads = [float(v) for v in (row.get("grad_norm") for row in train_rows)
             if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not grads or not math.isfinite(grads[-1]):
        return []
    last = grads[-1]
    finite = [v for v in grads[:-1] if math.isfinite(v)]
    if len(finite) < min_steps:
        return []
    median = statistics.median(finite)
    if median > 0 and last > factor * median:
        return [Alert("grad-spike", WARNING, "grad_norm", last, median,
                      f"grad norm spike: {last:.3g} vs median {median:.3g}")]
    return []


# -- run state -----------------------------------------------------------------------------------------------------

def _timestamp(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def status_alerts(log: TrainLog, *, now: float | None = None, log_mtime: float | None = None,
                  stall_min_s: float = STALL_MIN_S) -> list[Alert]:
    """Stalled: running but the log has not grown for a long time (eval can take a while, hence the floor);
    failed: the run ended with an error."""
    alerts: list[Alert] = []
    if log.status.get("state") == "running":
        now = time.time() if now is None else now
        last_seen = log_mtime if log_mtime is not None else _timestamp(log.status.get("last_time"))
        s_per_step = finite_value(log.train[-1].get("s_per_step")) if log.train else None
        limit = max(stall_min_s, 20 * s_per_step if s_per_step is not None else 0)
        if last_seen is not None and now - last_seen > limit:
            alerts.append(Alert("stalled", WARNING, "log", now - last_seen, limit,
                                f"no log line for {(now - last_seen) / 60:.0f} min: stalled or dead?"))
    if log.status.get("state") == "failed":
        alerts.append(Alert("failed", ERROR, "run", None, None,
                            f"run failed: {log.status.get('end_msg') or log.status.get('last_error') or ''}"))
    return alerts


# -- what the queue and the TUI call -------------------------------------------------------------------------------

def stage_alerts(current: Mapping[str, Any], previous_best: Mapping[str, Any] | None,
                 train_rows: Iterable[Mapping[str, Any]] = (), *, floor: float = REGRESSION_FLOOR,
                 margin: float = REGRESSION_MARGIN, forgetting_margin: float = FORGETTING_MARGIN) -> list[Alert]:
    """The queue's check after each stage: any alert pauses it."""
    return [*nonfinite_alerts(train_rows), *regression_alerts(current, previous_best, floor=floor, margin=margin),
            *forgetting_alerts(current, previous_best, margin=forgetting_margin)]


def run_alerts(log: TrainLog, *, previous_best_class_hota: Mapping[str, float] | None = None,
               now: float | None = None, log_mtime: float | None = None) -> list[Alert]:
    """The TUI's check of a (live) run: its latest eval against the target and against the run's own earlier peak
    (the floor), per-class HOTA against the previous stage's best, the recent steps, the run's state."""
    alerts: list[Alert] = []
    if log.eval:
        latest = log.eval[-1]
        epoch = latest.get("epoch") or len(log.eval)
        for metric in WATCHED_METRICS:
            peak = max((v for v in (finite_value(r.get(metric)) for r in log.eval[:-1]) if v is not None), default=None)
            regression = regression_alerts(latest, {metric: peak}, margin=None, metrics=(metric,),
                                           reference_name="best", epoch=epoch)
            alerts += regression or target_alerts(latest, epoch=epoch, metrics=(metric,))
        alerts += forgetting_alerts(latest, class_best(previous_best_class_hota or {}))
    recent = log.train[-SPIKE_WINDOW:]
    alerts += nonfinite_alerts(recent) or spike_alerts(recent)
    alerts += status_alerts(log, now=now, log_mtime=log_mtime)
    return alerts


def gpu_idle(utils: Sequence[float]) -> bool:
    """One machine sample counts towards the idle-GPU alert when every GPU is below ``IDLE_GPU_PERCENT``."""
    return bool(utils) and all(u < IDLE_GPU_PERCENT for u in utils)


def machine_alerts(disk_free_gb: float | None, gpu_utils: list[float], training_running: bool,
                   idle_samples: int) -> list[Alert]:
    """``idle_samples``: consecutive machine samples while training for which ``gpu_idle`` held (the TUI counts)."""
    alerts: list[Alert] = []
    if disk_free_gb is not None and disk_free_gb < LOW_DISK_GB:
        alerts.append(Alert("low-disk", WARNING, "disk", disk_free_gb, LOW_DISK_GB,
                            f"low disk: {disk_free_gb:.1f} GB free"))
    if training_running and gpu_utils and idle_samples >= IDLE_GPU_SAMPLES:
        alerts.append(Alert("idle-gpu", WARNING, "gpu", max(gpu_utils), IDLE_GPU_PERCENT,
                            f"training is running but the GPU is idle (<{IDLE_GPU_PERCENT:g}%): data loading stuck "
                            "or on CPU?"))
    return alerts
