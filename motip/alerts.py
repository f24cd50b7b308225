"""The alert rules of TRAIN.md's QA section, as pure functions (no torch, no I/O): the queue and the TUI share them.

- regression: HOTA or IDF1 "drops into the 40s" (below ``floor`` while the reference was at or above it), or falls
  below the previous stage's best by more than ``margin`` points;
- forgetting: a class's HOTA (pedestrian above all) falls below the previous stage's best for that class by more
  than ``margin`` points;
- non-finite: the loss is NaN/inf, or the grad norm is non-finite for ``consecutive`` steps in a row (one inf step
  is what a mixed-precision loss scaler produces now and then, not a divergence).

Each rule returns a list of ``Alert`` (empty when all is well). Metrics are plain dicts as ``motip.trainlog`` parses
them: ``{"HOTA": 55.1, "IDF1": 58.0, "per_class": {"pedestrian": {"HOTA": 55.1, ...}, ...}}``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

REGRESSION_FLOOR = 50.0   # TRAIN.md: "should be > 54.0; if it drops to 40s, we have regression"
REGRESSION_MARGIN = 2.0   # points below the previous stage's best that count as a regression / forgetting
WATCHED_METRICS = ("HOTA", "IDF1")


@dataclass(frozen=True)
class Alert:
    kind: str      # "regression", "forgetting" or "non-finite"
    metric: str    # "HOTA", "pedestrian.HOTA", "grad_norm", "loss"
    value: float
    reference: float | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def regression_alerts(current: Mapping[str, Any], previous_best: Mapping[str, Any] | None, *,
                      floor: float = REGRESSION_FLOOR, margin: float = REGRESSION_MARGIN,
                      metrics: Iterable[str] = WATCHED_METRICS) -> list[Alert]:
    """``current``: this stage's (or this eval's) metrics; ``previous_best``: the previous stage's best, or None."""
    alerts: list[Alert] = []
    for metric in metrics:
        value = _finite(current.get(metric))
        if value is None:
            continue
        reference = _finite(previous_best.get(metric)) if previous_best else None
        if reference is None:
            continue  # nothing to regress from
        if value < floor <= reference:
            alerts.append(Alert("regression", metric, value, reference,
                                f"{metric} dropped to {value:.1f} (below {floor:g}; the previous stage reached "
                                f"{reference:.1f})"))
        elif value < reference - margin:
            alerts.append(Alert("regression", metric, value, reference,
                                f"{metric} {value:.1f} is {reference - value:.1f} points below the previous stage's "
                                f"best {reference:.1f} (margin {margin:g})"))
    return alerts


def forgetting_alerts(current: Mapping[str, Any], previous_best: Mapping[str, Any] | None, *,
                      margin: float = REGRESSION_MARGIN, metric: str = "HOTA",
                      classes: Iterable[str] | None = None) -> list[Alert]:
    """Per-class check: each class the previous stage measured (or ``classes``) must not lose more than ``margin``."""
    if not previous_best:
        return []
    before = previous_best.get("per_class") or {}
    now = current.get("per_class") or {}
    alerts: list[Alert] = []
    for cls in (list(classes) if classes is not None else list(before)):
        reference = _finite((before.get(cls) or {}).get(metric))
        value = _finite((now.get(cls) or {}).get(metric))
        if reference is None or value is None:
            continue
        if value < reference - margin:
            alerts.append(Alert("forgetting", f"{cls}.{metric}", value, reference,
                                f"forgetting: {cls} {metric} {value:.1f} fell {reference - value:.1f} points below "
                                f"the previous stage's {reference:.1f}"))
    return alerts


def nonfinite_alerts(train_rows: Iterable[Mapping[str, Any]], *, consecutive: int = 3) -> list[Alert]:
    """Rows are train.log ``[train]`` events (dicts with ``loss``, ``grad_norm``, ``epoch``, ``step``)."""
    alerts: list[Alert] = []
    streak = 0
    for row in train_rows:
        loss = row.get("loss")
        if isinstance(loss, float) and not math.isfinite(loss):
            alerts.append(Alert("non-finite", "loss", loss, None,
                                f"loss is {loss} at epoch {row.get('epoch')} step {row.get('step')}"))
            return alerts
        grad = row.get("grad_norm")
        if isinstance(grad, float) and not math.isfinite(grad):
            streak += 1
            if streak >= consecutive:
                alerts.append(Alert("non-finite", "grad_norm", grad, None,
                                    f"grad norm non-finite for {streak} steps in a row (epoch {row.get('epoch')} "
                                    f"step {row.get('step')})"))
                return alerts
        else:
            streak = 0
    return alerts


def stage_alerts(current: Mapping[str, Any], previous_best: Mapping[str, Any] | None,
                 train_rows: Iterable[Mapping[str, Any]] = (), *, floor: float = REGRESSION_FLOOR,
                 margin: float = REGRESSION_MARGIN) -> list[Alert]:
    """All rules at once: what the queue checks after each stage."""
    return [*nonfinite_alerts(train_rows), *regression_alerts(current, previous_best, floor=floor, margin=margin),
            *forgetting_alerts(current, previous_best, margin=margin)]
