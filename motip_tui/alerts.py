"""Alerts: what the user should look at now, computed from a parsed train.log and the machine sample.

The rules follow TRAIN.md's success criteria: HOTA/IDF1 above 54.0, a drop into the 40s is a regression, grad norm
must stay finite and not spike; plus a run that stopped logging, forgetting versus the previous stage's best
per-class HOTA, low disk and an idle GPU while training.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from datetime import datetime

from motip.trainlog import TrainLog

TARGET = 54.0
REGRESSION_BELOW = 50.0
GRACE_EPOCHS = 2  # the first epochs may sit below target
SPIKE_FACTOR = 10.0
STALL_MIN_S = 900.0
FORGET_TOLERANCE = 1.0
LOW_DISK_GB = 10.0
IDLE_GPU_PERCENT = 5.0


@dataclass(frozen=True)
class Alert:
    level: str  # "error" or "warning"
    text: str


def run_alerts(log: TrainLog, *, previous_best_class_hota: dict[str, float] | None = None,
               now: float | None = None, log_mtime: float | None = None) -> list[Alert]:
    alerts: list[Alert] = []
    # Metrics: the latest eval against the target and against the run's own best.
    if log.eval:
        latest = log.eval[-1]
        epoch = latest.get("epoch") or len(log.eval)
        for metric in ("HOTA", "IDF1"):
            value = latest.get(metric)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            earlier = [r.get(metric) for r in log.eval[:-1] if isinstance(r.get(metric), (int, float))]
            peak = max((v for v in earlier if math.isfinite(v)), default=None)
            if value < REGRESSION_BELOW and peak is not None and peak >= REGRESSION_BELOW:
                alerts.append(Alert("error", f"regression: {metric} fell to {value:.1f} (best {peak:.1f}) at epoch {epoch}"))
            elif value < TARGET and epoch > GRACE_EPOCHS:
                alerts.append(Alert("warning", f"{metric} {value:.1f} < {TARGET} at epoch {epoch}"))
        for cls_name, best in (previous_best_class_hota or {}).items():
            value = latest.get("per_class", {}).get(cls_name, {}).get("HOTA")
            if isinstance(value, (int, float)) and math.isfinite(value) and value < best - FORGET_TOLERANCE:
                alerts.append(Alert("warning", f"forgetting: {cls_name} HOTA {value:.1f} < previous stage best {best:.1f}"))
    # Grad norm: non-finite is an error; a spike is a value far above the recent median.
    recent = [row.get("grad_norm") for row in log.train[-200:]]
    recent = [float(v) for v in recent if isinstance(v, (int, float))]
    if recent:
        last = recent[-1]
        if not math.isfinite(last):
            alerts.append(Alert("error", f"grad norm is {last} at step {log.train[-1].get('global_step')}"))
        else:
            finite = [v for v in recent[:-1] if math.isfinite(v)]
            if len(finite) >= 10:
                median = statistics.median(finite)
                if median > 0 and last > SPIKE_FACTOR * median:
                    alerts.append(Alert("warning", f"grad norm spike: {last:.3g} vs median {median:.3g}"))
    # Stalled: running but the log has not grown for a long time (eval can take a while, hence the floor).
    if log.status.get("state") == "running":
        now = time.time() if now is None else now
        last_seen = log_mtime if log_mtime is not None else _timestamp(log.status.get("last_time"))
        s_per_step = log.train[-1].get("s_per_step") if log.train else None
        limit = max(STALL_MIN_S, 20 * s_per_step if isinstance(s_per_step, (int, float)) and math.isfinite(s_per_step) else 0)
        if last_seen is not None and now - last_seen > limit:
            alerts.append(Alert("warning", f"no log line for {(now - last_seen) / 60:.0f} min: stalled or dead?"))
    if log.status.get("state") == "failed":
        alerts.append(Alert("error", f"run failed: {log.status.get('end_msg') or log.status.get('last_error') or ''}"))
    return alerts


def machine_alerts(disk_free_gb: float | None, gpu_utils: list[float], training_running: bool,
                   idle_samples: int) -> list[Alert]:
    alerts: list[Alert] = []
    if disk_free_gb is not None and disk_free_gb < LOW_DISK_GB:
        alerts.append(Alert("warning", f"low disk: {disk_free_gb:.1f} GB free"))
    if training_running and gpu_utils and idle_samples >= 3:
        alerts.append(Alert("warning", "training is running but the GPU is idle (<5%): data loading stuck or on CPU?"))
    return alerts


def _timestamp(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None
