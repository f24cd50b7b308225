"""The numbers behind the TUI's charts, with no UI and no torch: smoothing, y-ranges, ticks, downsampling, run
labels and ETAs. ``motip_tui/widgets/charts_view.py`` draws what these compute; tests check them by hand.

- ``ema``: TensorBoard's smoothing (an exponential moving average debiased like Adam's moments, so the first points
  are not pulled towards 0), continued incrementally with ``EmaState`` when points are appended.
- ``fit_range``: a y-range that fits the data; data that is never negative never gets a negative axis; a flat series
  is padded in proportion to its value.
- ``linear_ticks`` / ``log_ticks``: tick positions and short labels. A log axis is drawn on log10 values (plotext's
  own log scale crashes in textual-plotext on the second render) and labelled with the real values: ``1e-3``,
  ``0.01``, ``0.1``, ``1``, ``10``, ``1e3``.
- ``downsample``: at most two points per bucket (its min and max, so spikes stay visible).
- ``distinct_labels``: the shortest names that tell runs apart in a legend (never two identical labels).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

EMA_WEIGHTS = (0.6, 0.9, 0.99)  # what the weight key cycles through (TensorBoard's slider default is 0.6)
_EMA_BLOCK = 1024  # points per vectorized block (w ** -block must stay a finite float)


# -- smoothing ---------------------------------------------------------------------------------------------------

@dataclass
class EmaState:
    """Where an EMA stopped: the biased running value and how many finite points went into it."""

    last: float = 0.0
    count: int = 0


def ema(values: Sequence[float] | Any, weight: float, state: EmaState | None = None) -> tuple[Any, EmaState]:
    """TensorBoard's debiased EMA of ``values`` (a numpy array comes back).

    For each finite value v: ``last = weight * last + (1 - weight) * v``; ``count += 1``; the point's smoothed value
    is ``last / (1 - weight ** count)``. Non-finite values are passed through unchanged and do not move ``last``.
    ``state`` continues a previous call (appended points cost only their own work); it is updated and returned.
    """
    import numpy as np

    state = EmaState() if state is None else state
    x = np.asarray(values, dtype=float)
    out = x.copy()
    if not 0.0 < weight < 1.0:  # 0: no smoothing; 1 would never move
        return out, state
    finite = np.isfinite(x)
    y = x[finite]
    smoothed = np.empty_like(y)
    last, count = state.last, state.count
    # Within a block of n points: last_k = w^(k+1) last + (1-w) sum_{i<=k} w^(k-i) y_i, computed with scaled
    # cumulative sums; blocks keep w^-n finite.
    block = max(1, min(_EMA_BLOCK, int(600 / -math.log(weight))))
    for start in range(0, len(y), block):
        chunk = y[start:start + block]
        n = len(chunk)
        k = np.arange(n, dtype=float)
        up = weight ** (k + 1)  # w^(k+1)
        biased = up * last + (1.0 - weight) * up * np.cumsum(chunk / up)
        counts = count + 1 + k
        smoothed[start:start + n] = biased / (1.0 - weight ** counts)
        last, count = float(biased[-1]), count + n
    out[finite] = smoothed
    state.last, state.count = last, count
    return out, state


def ema_reference(values: Sequence[float], weight: float) -> list[float]:
    """The same EMA one point at a time (what the vectorized ``ema`` is checked against)."""
    last, count, out = 0.0, 0, []
    for value in values:
        if not math.isfinite(value) or not 0.0 < weight < 1.0:
            out.append(value)
            continue
        last = weight * last + (1.0 - weight) * value
        count += 1
        out.append(last / (1.0 - weight ** count))
    return out


# -- ranges and ticks --------------------------------------------------------------------------------------------

def finite_values(*series: Sequence[float] | Any) -> Any:
    """Every finite value of the given series, as one numpy array."""
    import numpy as np

    parts = [np.asarray(s, dtype=float).ravel() for s in series if len(s)]
    if not parts:
        return np.empty(0)
    values = np.concatenate(parts)
    return values[np.isfinite(values)]


def fit_range(*series: Sequence[float] | Any, pad: float = 0.05) -> tuple[float, float] | None:
    """(low, high) fitting every finite value of ``series`` with ``pad`` of the span on each side; None when there
    is no finite value. Data that is never negative never gets a negative low; a flat series is padded by ``pad``
    of its magnitude (1 around 0)."""
    values = finite_values(*series)
    if not len(values):
        return None
    low, high = float(values.min()), float(values.max())
    span = high - low
    if is_flat(low, high):  # float noise (an EMA of a constant) is flat too
        margin = abs(high) * pad if high else 1.0
    else:
        margin = span * pad
    bottom = low - margin
    if low >= 0 and bottom < 0:
        bottom = 0.0
    return bottom, high + margin


def fit_log10_range(logs: Any, pad: float = 0.05) -> tuple[float, float] | None:
    """The range of a log axis from values already in log10 (finite ones); a flat series gets 0.1 decade a side."""
    values = finite_values(logs)
    if not len(values):
        return None
    low, high = float(values.min()), float(values.max())
    margin = 0.1 if is_flat(10 ** low, 10 ** high) else (high - low) * pad
    return low - margin, high + margin


def is_flat(low: float, high: float) -> bool:
    """No visible span between ``low`` and ``high`` (equal, or apart by float rounding only)."""
    return high - low <= 1e-9 * max(abs(low), abs(high), 1e-300)


def log10_positive(values: Sequence[float] | Any) -> Any:
    """log10 of positive finite values, nan elsewhere (dropped when drawn)."""
    import numpy as np

    x = np.asarray(values, dtype=float)
    ok = np.isfinite(x) & (x > 0)
    out = np.full(x.shape, np.nan)
    out[ok] = np.log10(x[ok])
    return out


_NICE = (1, 2, 2.5, 5)


def _nice_steps(span: float) -> list[float]:
    """Round steps (1, 2, 2.5, 5 x 10^k) from a thousandth of ``span`` up to ten times it, ascending."""
    top = math.floor(math.log10(span))
    return [f * 10.0 ** k for k in range(top - 3, top + 2) for f in _NICE]


def format_number(value: float, step: float | None = None) -> str:
    """A short label: ``0``, ``0.5``, ``54``, ``2e-5``, ``250k``, ``1.2M``; ``step`` (the tick spacing) sets how
    many digits are needed to tell neighbouring ticks apart."""
    if value == 0:
        return "0"
    size = abs(value)
    if size >= 1e4 or (size >= 1e3 and step is not None and step >= 1e3):  # 5k, 10k, 15k: one style per axis
        for divisor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if size >= divisor:
                digits = _digits(step / divisor) if step is not None and 0 < step < divisor else 0
                return f"{value / divisor:.{digits}f}{suffix}"
    if size < 1e-3:
        mantissa, exponent = f"{value:.1e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(exponent)}"
    if step is not None and step > 0:
        return f"{value:.{_digits(step)}f}"
    return f"{value:.3g}"


def _digits(step: float) -> int:
    """Decimals that tell ticks ``step`` apart: 1 for 0.5, 2 for 0.25, 0 for 20."""
    digits = min(9, max(0, -math.floor(math.log10(step) + 1e-9)))
    while digits < 9 and abs(step * 10 ** digits - round(step * 10 ** digits)) > 1e-6:
        digits += 1
    return digits


def linear_ticks(low: float, high: float, max_ticks: int, min_step: float = 0.0) -> tuple[list[float], list[str]]:
    """Round tick positions inside [low, high] (at most ``max_ticks``) and their short labels; ``min_step=1`` keeps
    ticks on whole numbers (epochs)."""
    if not (math.isfinite(low) and math.isfinite(high)) or is_flat(low, high) or max_ticks < 1:
        return [], []
    for step in _nice_steps(high - low):
        if step < min_step or (min_step >= 1 and step % 1):  # whole-number axes: no 2.5 steps
            continue
        first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
        if last - first + 1 <= max_ticks:  # the densest round ticks that fit
            ticks = [0.0 if i == 0 else i * step for i in range(first, last + 1)]
            break
    else:
        return [], []
    if len(ticks) < 2 and max_ticks >= 2 and min_step == 0:  # a narrow range: its two ends, labelled exactly
        ticks, step = [low, high], (high - low)
    return ticks, [format_number(t, step) for t in ticks]


def format_log_label(value: float) -> str:
    """``1e-3``, ``2e-3``, ``0.01``, ``0.5``, ``1``, ``20``, ``100``, ``1e3``: plain between 0.01 and 999."""
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = round(value / 10 ** exponent, 6)
    if mantissa >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    if -2 <= exponent <= 2:
        return f"{value:.{max(0, -exponent)}f}"
    text = f"{mantissa:g}"
    return f"{text}e{exponent}"


def log_ticks(low_log: float, high_log: float, max_ticks: int) -> tuple[list[float], list[str]]:
    """Ticks of a log axis drawn on log10 values: positions in log10 units, labels in real values (``0.01``, not
    ``-2``). Decades when they fit (every k-th when there are many); 1-2-5 inside a range under about a decade."""
    if not (math.isfinite(low_log) and math.isfinite(high_log)) or high_log <= low_log or max_ticks < 1:
        return [], []
    first, last = math.ceil(low_log - 1e-9), math.floor(high_log + 1e-9)
    decades = list(range(first, last + 1))
    values: list[float]
    if len(decades) >= 2:
        every = math.ceil(len(decades) / max_ticks)
        values = [10.0 ** d for d in decades[::every]]
    else:
        values = []
        for decade in range(math.floor(low_log) - 1, math.ceil(high_log) + 1):
            for mantissa in (1, 2, 5):
                value = mantissa * 10.0 ** decade
                if low_log - 1e-9 <= math.log10(value) <= high_log + 1e-9:
                    values.append(value)
        if len(values) > max_ticks:
            values = [v for v in values if round(v / 10 ** math.floor(math.log10(v) + 1e-9), 6) in (1, 5)] or values
            values = values[::math.ceil(len(values) / max_ticks)]
        if len(values) < 2:  # a narrow range between two such values: round linear ticks, labelled likewise
            ticks, _ = linear_ticks(10 ** low_log, 10 ** high_log, max_ticks)
            values = [t for t in ticks if t > 0]
            return [math.log10(v) for v in values], [format_number(v, _tick_step(values)) for v in values]
    return [math.log10(v) for v in values], [format_log_label(v) for v in values]


def _tick_step(values: list[float]) -> float | None:
    return values[1] - values[0] if len(values) > 1 else None


# -- downsampling ------------------------------------------------------------------------------------------------

def downsample(xs: Sequence[float] | Any, ys: Sequence[float] | Any, buckets: int) -> tuple[list[float], list[float]]:
    """At most ~2*buckets points: each bucket's min and max, in x order; non-finite values dropped."""
    import numpy as np

    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    keep = np.isfinite(y) & np.isfinite(x)
    x, y = x[keep], y[keep]
    buckets = max(1, int(buckets))
    if len(y) <= 2 * buckets:
        return x.tolist(), y.tolist()
    edges = np.linspace(0, len(y), buckets + 1).astype(int)[:-1]
    ends = np.append(edges[1:], len(y)) - 1
    low_first = np.minimum.reduceat(y, edges)
    high = np.maximum.reduceat(y, edges)
    out_x = np.empty(2 * buckets)
    out_y = np.empty(2 * buckets)
    out_x[0::2], out_x[1::2] = x[edges], x[ends]
    out_y[0::2], out_y[1::2] = low_first, high
    return out_x.tolist(), out_y.tolist()


class MinMaxBuckets:
    """Incremental min/max downsampling of a series that only grows: buckets of a power-of-two number of points,
    aligned at multiples of it, so appended points only touch the last bucket. A 500,000-point history is reduced
    once; each append then costs its own bucket (until the bucket size doubles, which recomputes once).

    ``update(xs, ys, buckets)`` returns numpy arrays (x, low, high), at most ``buckets`` of them: each bucket's
    middle x, its min and its max, non-finite values ignored (a bucket without any finite value is dropped). With
    one point per bucket low == high == the point. Drawn as two lines (an envelope: spikes stay visible) it costs
    plotext far less than a zigzag through the same points (measured: 18 vs 66 ms for 76 buckets at 38x8).
    ``transform`` (e.g. ``log10_positive``) is applied to each new slice of ``ys`` before reducing."""

    def __init__(self, transform: Any = None) -> None:
        self.transform = transform
        self.size = 0  # points per bucket
        self.done = 0  # points already reduced into complete buckets
        self.source: Any = None
        self._parts: list[tuple[Any, Any, Any]] = []

    def update(self, xs: Any, ys: Any, buckets: int, source: Any = None) -> tuple[Any, Any, Any]:
        """``source``: an object whose identity changes when the series is replaced (not only extended)."""
        import numpy as np

        n = min(len(xs), len(ys))
        size = 1 << max(0, math.ceil(math.log2(max(1.0, n / max(1, buckets)))))
        if size != self.size or n < self.done or source is not self.source:
            self.size, self.done, self.source, self._parts = size, 0, source, []
        complete = n // size * size
        if complete > self.done:
            self._parts.append(self._reduce(xs, ys, self.done, complete))
            self.done = complete
        parts = list(self._parts)
        if n > complete:
            parts.append(self._reduce(xs, ys, complete, n))
        if not parts:
            return np.empty(0), np.empty(0), np.empty(0)
        return tuple(np.concatenate([part[i] for part in parts]) for i in range(3))  # type: ignore[return-value]

    def _reduce(self, xs: Any, ys: Any, start: int, end: int) -> tuple[Any, Any, Any]:
        import numpy as np

        x = np.asarray(xs[start:end], dtype=float)
        y = np.asarray(ys[start:end], dtype=float)
        if self.transform is not None:
            y = self.transform(y)
        y = np.where(np.isfinite(y), y, np.nan)
        if self.size == 1:
            keep = np.isfinite(y)
            return x[keep], y[keep], y[keep]
        edges = np.arange(0, len(y), self.size)
        ends = np.minimum(edges + self.size, len(y)) - 1
        with np.errstate(invalid="ignore"):
            low = np.fmin.reduceat(y, edges)
            high = np.fmax.reduceat(y, edges)
        middle = (x[edges] + x[ends]) / 2
        keep = np.isfinite(low)
        return middle[keep], low[keep], high[keep]


def last_finite(values: Sequence[float] | Any) -> float | None:
    """The latest finite value of a series (what a panel prints beside its chart)."""
    for value in reversed(values[-1000:] if len(values) > 1000 else values):
        value = float(value)
        if math.isfinite(value):
            return value
    return None


# -- run labels --------------------------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"([_\-. /]+)")


def distinct_labels(names: Sequence[str], max_len: int = 24) -> list[str]:
    """The shortest labels that tell ``names`` apart, for a legend. Names are split into words at ``_ - . / space``;
    the label is the shortest run of words, at the same place in every name, that differs between all of them:
    ``stage1_20261124_100000`` / ``stage2_20261125_090000`` -> ``stage1`` / ``stage2``. Failing that, the names
    without the words they all start and end with. One name keeps its whole name; identical names get ``#2``,
    ``#3``...; labels over ``max_len`` are cut in the middle. Never two identical labels."""
    if not names:
        return []
    if len(names) == 1:
        return [_shorten(names[0], max_len)]
    tokens = [_SEPARATORS.split(name) for name in names]  # words at even positions, separators at odd ones
    words = [t[0::2] for t in tokens]
    shortest = min(len(w) for w in words)
    best: list[str] | None = None
    for length in range(1, shortest + 1):
        for start in range(0, shortest - length + 1):
            labels = ["".join(t[2 * start:2 * (start + length) - 1]) for t in tokens]
            if len(set(labels)) == len(labels) and all(labels) and (
                    best is None or max(map(len, labels)) < max(map(len, best))):
                best = labels
        if best is not None:
            break
    if best is None:
        best = _without_common_ends(names, tokens, words)
    labels = [_shorten(label, max_len) for label in best]
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    if len(set(unique)) < len(unique):  # a "#2" that was itself a name
        unique = [f"{label}#{index + 1}" for index, label in enumerate(labels)]
    return unique


def _without_common_ends(names: Sequence[str], tokens: list[list[str]], words: list[list[str]]) -> list[str]:
    prefix = 0
    while all(len(w) > prefix + 1 for w in words) and len({w[prefix] for w in words}) == 1:
        prefix += 1
    suffix = 0
    while all(len(w) > prefix + suffix + 1 for w in words) and len({w[-1 - suffix] for w in words}) == 1:
        suffix += 1
    return ["".join(token[2 * prefix:len(token) - 2 * suffix]).strip("_-. ") or name
            for name, token in zip(names, tokens)]


def _shorten(text: str, max_len: int) -> str:
    if len(text) <= max_len:
        return text
    head = (max_len - 1) // 2
    return text[:head] + "…" + text[len(text) - (max_len - 1 - head):]


# -- time --------------------------------------------------------------------------------------------------------

def run_eta_s(status: dict[str, Any], s_per_step: float | None) -> float | None:
    """Seconds left in the run from its train.log status (epoch, step, total_steps, epochs) and the latest
    s_per_step; evals not included. None when something is unknown."""
    epoch, step, total, epochs = (status.get(k) for k in ("epoch", "step", "total_steps", "epochs"))
    numbers = (epoch, step, total, epochs, s_per_step)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
        return None
    left = (epochs - epoch) * total + (total - step)
    return max(0.0, left * s_per_step) if math.isfinite(s_per_step) else None


def epoch_eta_s(status: dict[str, Any], s_per_step: float | None) -> float | None:
    """Seconds left in the current epoch (its remaining steps x the latest s_per_step); None when unknown."""
    step, total = status.get("step"), status.get("total_steps")
    numbers = (step, total, s_per_step)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers) \
            or not math.isfinite(s_per_step):
        return None
    return max(0.0, (total - step) * s_per_step)


def format_duration(seconds: float | None) -> str:
    """``4:05`` (m:ss) under an hour, ``3:07:40`` (h:mm:ss) below a day, ``2d 03h`` beyond; ``?`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds >= 86400:
        return f"{seconds // 86400}d {seconds // 3600 % 24:02d}h"
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"
