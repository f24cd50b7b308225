"""dashboard.png from one or more train.log files (TRAIN.md's plot_dashboard.py), parsed by ``motip.trainlog``.

Panels: HOTA and IDF1 per epoch (54.0 success line, 40s regression band), MOTA/DetA/AssA per epoch, total loss per
step (raw thin + smoothed), every loss term per step, grad norm (log scale, non-finite steps marked), learning rate,
and per-class HOTA/IDF1 when the log has them. Several logs are overlaid, one colour per run.
"""

from __future__ import annotations

import io
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from motip.atomic import atomic_write_bytes
from motip.errors import MotipError
from motip.trainlog import TrainLog, parse_log

SUCCESS_LINE = 54.0          # TRAIN.md: HOTA/IDF1 should be > 54.0
REGRESSION_BAND = (40.0, 50.0)  # "if it drops to 40s, we have regression"
# Keys of a [train] line that are bookkeeping, not loss terms.
_NOT_LOSS_TERMS = {"loss", "epoch", "step", "total_steps", "global_step", "grad_norm", "lr", "s_per_step", "time"}
_RUN_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive"]


@dataclass
class Run:
    label: str
    log: TrainLog
    colour: str


def run_label(path: Path) -> str:
    """A run's name: its output folder (train.log lives in outputs/<run>/train.log), else the file name."""
    path = path.absolute()
    return path.parent.name if path.name == "train.log" else path.stem


def load_runs(paths: list[Path]) -> list[Run]:
    runs = []
    for k, path in enumerate(paths):
        if not path.is_file():
            raise MotipError("train.log not found", path=path, hint="pass outputs/<run>/train.log")
        log = parse_log(path)
        if not log.train and not log.eval:
            raise MotipError(f"no [train] or [eval] lines in this log ({log.lines} lines, {log.bad_lines} unreadable)",
                             path=path, hint="is this a motip train.log? the run may not have reached its first step")
        if log.long_lines:  # parse_log skipped them unread (bounded memory); say so rather than plot silently
            print(f"warning: {path}: skipped {log.long_lines} line(s) longer than 1 MB (a corrupted write?)",
                  file=sys.stderr)
        runs.append(Run(run_label(path), log, _RUN_COLOURS[k % len(_RUN_COLOURS)]))
    labels = [r.label for r in runs]
    for run, path in zip(runs, paths):  # two logs from same-named folders: tell them apart
        if labels.count(run.label) > 1:
            run.label = f"{path.absolute().parent.parent.name}/{run.label}"
    return runs


def smooth(values: np.ndarray, weight: float | None = None) -> np.ndarray:
    """Debiased exponential moving average over the finite values (TensorBoard-style); non-finite stay NaN.
    The weight adapts to the length so a short run still shows a trend and a long one is not flattened."""
    out = np.full(len(values), np.nan)
    finite = np.isfinite(values)
    count = int(finite.sum())
    if count == 0:
        return out
    if weight is None:
        weight = min(0.98, max(0.0, 1.0 - 10.0 / count))
    ema, norm = 0.0, 0.0
    for i in np.flatnonzero(finite):
        ema = weight * ema + (1 - weight) * values[i]
        norm = weight * norm + (1 - weight)
        out[i] = ema / norm
    return out


def _column(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([_as_float(r.get(key)) for r in rows], dtype=np.float64)


def _as_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def _steps(run: Run) -> np.ndarray:
    """x axis of step panels: global_step, else the line's position (logs without it)."""
    steps = _column(run.log.train, "global_step")
    return steps if np.isfinite(steps).all() else np.arange(1, len(run.log.train) + 1, dtype=np.float64)


def _epoch_series(run: Run, metric: str, cls: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for k, row in enumerate(run.log.eval, 1):
        source = row.get("per_class", {}).get(cls, {}) if cls else row
        value = _as_float(source.get(metric))
        if math.isfinite(value):
            xs.append(_as_float(row.get("epoch", k)))
            ys.append(value)
    return np.array(xs), np.array(ys)


def _loss_terms(runs: list[Run]) -> list[str]:
    terms: list[str] = []
    for run in runs:
        for row in run.log.train:
            for key, value in row.items():
                if key.startswith("loss_") and key not in _NOT_LOSS_TERMS and key not in terms \
                        and isinstance(value, (int, float)):
                    terms.append(key)
    return terms


def render_dashboard(paths: list[Path], out: Path, dpi: int = 100) -> Path:
    """Plot the logs into ``out`` (PNG, written atomically). Returns ``out``."""
    import matplotlib

    matplotlib.use("Agg")  # no display over SSH
    import matplotlib.pyplot as plt

    runs = load_runs(paths)
    classes: list[str] = []
    for run in runs:
        classes += [c for c in run.log.classes if c not in classes]
    n_rows = 4 if classes else 3
    fig, axes = plt.subplots(n_rows, 2, figsize=(16, 4.2 * n_rows + 0.8), dpi=dpi, squeeze=False)
    title = "MOTIP training dashboard: " + ", ".join(r.label for r in runs)
    fig.suptitle(title if len(title) < 140 else title[:137] + "...", fontsize=14, fontweight="bold")
    multi = len(runs) > 1

    _plot_hota_idf1(axes[0, 0], runs, multi)
    _plot_clear_metrics(axes[0, 1], runs, multi)
    _plot_total_loss(axes[1, 0], runs, multi)
    _plot_loss_terms(axes[1, 1], runs, multi)
    _plot_grad_norm(axes[2, 0], runs, multi)
    _plot_lr(axes[2, 1], runs, multi)
    if classes:
        _plot_per_class(axes[3, 0], runs, classes, "HOTA", multi)
        _plot_per_class(axes[3, 1], runs, classes, "IDF1", multi)
    from matplotlib.ticker import MaxNLocator

    for ax in axes.flat:
        ax.grid(True, alpha=0.3)
        if ax.get_xlabel() == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no "epoch 1.4"
    fig.text(0.01, 0.005, _status_line(runs), fontsize=9, color="dimgray")
    fig.tight_layout(rect=(0, 0.015, 1, 0.97))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(out, buffer.getvalue())
    return out


def _name(run: Run, what: str, multi: bool) -> str:
    return f"{run.label} {what}" if multi else what


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="gray", fontsize=11)


def _targets(ax: Any) -> None:
    ax.axhspan(*REGRESSION_BAND, color="tab:red", alpha=0.08, label="regression band (40s)")
    ax.axhline(SUCCESS_LINE, color="tab:green", linestyle="--", linewidth=1.2, label=f"success line {SUCCESS_LINE:g}")


def _plot_hota_idf1(ax: Any, runs: list[Run], multi: bool) -> None:
    ax.set_title("HOTA and IDF1 per epoch (higher is better)")
    _targets(ax)
    plotted = False
    for run in runs:
        for metric, style in (("HOTA", "-o"), ("IDF1", "--s")):
            x, y = _epoch_series(run, metric)
            if len(x):
                colour = run.colour if multi else ("tab:blue" if metric == "HOTA" else "tab:purple")
                ax.plot(x, y, style, color=colour, label=_name(run, metric, multi), markersize=5)
                if not multi:
                    ax.annotate(f"{y[-1]:.1f}", (x[-1], y[-1]), textcoords="offset points", xytext=(5, 5),
                                fontsize=9, color=colour)
                plotted = True
    if not plotted:
        _empty(ax, "no [eval] lines yet")
    ax.set_xlabel("epoch")
    ax.margins(x=0.08)  # room for the last value's annotation
    ax.set_ylim(bottom=min(30.0, ax.get_ylim()[0]), top=max(70.0, ax.get_ylim()[1]))
    ax.legend(fontsize=8, loc="lower right")


def _plot_clear_metrics(ax: Any, runs: list[Run], multi: bool) -> None:
    ax.set_title("MOTA / DetA / AssA per epoch")
    plotted = False
    metric_colours = {"MOTA": "tab:blue", "DetA": "tab:orange", "AssA": "tab:green"}
    styles = {"MOTA": "-o", "DetA": "--^", "AssA": ":s"}
    for run in runs:
        for metric in ("MOTA", "DetA", "AssA"):
            x, y = _epoch_series(run, metric)
            if len(x):
                ax.plot(x, y, styles[metric], color=run.colour if multi else metric_colours[metric],
                        label=_name(run, metric, multi), markersize=5)
                plotted = True
    if plotted:
        ax.legend(fontsize=8, loc="lower right")
    else:
        _empty(ax, "no [eval] lines yet")
    ax.set_xlabel("epoch")


def _plot_total_loss(ax: Any, runs: list[Run], multi: bool) -> None:
    ax.set_title("total loss per step (thin: raw, thick: smoothed)")
    plotted = False
    for run in runs:
        if not run.log.train:
            continue
        x, y = _steps(run), _column(run.log.train, "loss")
        ax.plot(x, y, color=run.colour, linewidth=0.6, alpha=0.35)
        ax.plot(x, smooth(y), color=run.colour, linewidth=2.0, label=_name(run, "loss", multi))
        _mark_epochs(ax, run, x)
        plotted = True
    if plotted:
        ax.legend(fontsize=8, loc="upper right")
    else:
        _empty(ax, "no [train] lines yet")
    ax.set_xlabel("step")


def _mark_epochs(ax: Any, run: Run, x: np.ndarray) -> None:
    """Faint vertical lines where an epoch starts, so steps can be read as epochs."""
    epochs = _column(run.log.train, "epoch")
    starts = np.flatnonzero(np.diff(epochs) != 0) + 1
    for i in starts[:50]:
        ax.axvline(x[i], color="gray", linewidth=0.5, alpha=0.3)


def _plot_loss_terms(ax: Any, runs: list[Run], multi: bool) -> None:
    ax.set_title("loss terms per step (smoothed; thin: raw)")
    terms = _loss_terms(runs)
    cmap_colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
                    "tab:gray", "tab:olive", "tab:cyan"]
    styles = ["-", "--", ":", "-."]
    smallest = math.inf  # log scale only when every plotted value is positive
    for r, run in enumerate(runs):
        if not run.log.train:
            continue
        x = _steps(run)
        for k, term in enumerate(terms):
            y = _column(run.log.train, term)
            if not np.isfinite(y).any():
                continue
            smallest = min(smallest, float(np.min(y[np.isfinite(y)])))
            colour = cmap_colours[k % len(cmap_colours)]
            ax.plot(x, y, color=colour, linewidth=0.5, alpha=0.2)
            ax.plot(x, smooth(y), color=colour, linestyle=styles[r % len(styles)], linewidth=1.6,
                    label=_name(run, term, multi))
    if terms:
        ax.legend(fontsize=7, loc="upper right", ncol=2)
        if smallest > 0:
            ax.set_yscale("log")  # terms differ by orders of magnitude (loss_detr vs loss_bbox)
            ax.set_title("loss terms per step (log scale; smoothed, thin: raw)")
    else:
        _empty(ax, "no loss_* terms in the log")
    ax.set_xlabel("step")


def _plot_grad_norm(ax: Any, runs: list[Run], multi: bool) -> None:
    ax.set_title("grad norm per step (log scale; x on top: inf/NaN)")
    plotted = False
    bad_total = 0
    for run in runs:
        if not run.log.train:
            continue
        x, y = _steps(run), _column(run.log.train, "grad_norm")
        present = np.array(["grad_norm" in row for row in run.log.train])
        finite = np.isfinite(y) & (y > 0)
        if finite.any():
            ax.plot(x[finite], y[finite], color=run.colour, linewidth=0.6, alpha=0.35)
            ax.plot(x, np.where(finite, smooth(np.where(finite, y, np.nan)), np.nan), color=run.colour,
                    linewidth=1.8, label=_name(run, "grad norm", multi))
            plotted = True
        for key in _grad_norm_parts(run):  # grad_norm_detr, grad_norm_id...: thinner, dotted
            part = _column(run.log.train, key)
            ok = np.isfinite(part) & (part > 0)
            if ok.any():
                ax.plot(x, np.where(ok, smooth(np.where(ok, part, np.nan)), np.nan), ":", color=run.colour,
                        linewidth=1.2, alpha=0.9, label=_name(run, key, multi))
        bad = present & ~np.isfinite(y)
        if bad.any():
            bad_total += int(bad.sum())
            # Drawn at 95% of the axis height (axes coordinates): a log axis has no place for inf/NaN.
            ax.plot(x[bad], np.full(int(bad.sum()), 0.95), "x", color="red", markersize=9, markeredgewidth=2,
                    transform=ax.get_xaxis_transform(),
                    label=_name(run, f"non-finite ({int(bad.sum())})", multi))
    if plotted:
        ax.set_yscale("log")
    if plotted or bad_total:
        ax.legend(fontsize=8, loc="upper right")
    else:
        _empty(ax, "no grad_norm in the log")
    if bad_total:
        ax.set_title(f"grad norm per step (log scale) -- {bad_total} non-finite step(s) marked x", color="red")
    ax.set_xlabel("step")


def _grad_norm_parts(run: Run) -> list[str]:
    keys: list[str] = []
    for row in run.log.train:
        keys += [k for k in row if k.startswith("grad_norm_") and k not in keys]
    return keys


def _plot_lr(ax: Any, runs: list[Run], multi: bool) -> None:
    ax.set_title("learning rate per step")
    plotted = False
    for run in runs:
        if not run.log.train:
            continue
        x = _steps(run)
        for key, style in (("lr", "-"), ("lr_backbone", ":")):
            y = _column(run.log.train, key)
            if np.isfinite(y).any():
                ax.plot(x, y, style, color=run.colour, linewidth=1.6, label=_name(run, key, multi))
                plotted = True
    if plotted:
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        ax.legend(fontsize=8, loc="upper right")
    else:
        _empty(ax, "no lr in the log")
    ax.set_xlabel("step")


def _plot_per_class(ax: Any, runs: list[Run], classes: list[str], metric: str, multi: bool) -> None:
    ax.set_title(f"per-class {metric} per epoch")
    _targets(ax)
    styles = ["-o", "--s", ":^", "-.D"]
    class_colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    for run in runs:
        for k, cls in enumerate(classes):
            x, y = _epoch_series(run, metric, cls)
            if len(x):
                colour = run.colour if multi else class_colours[k % len(class_colours)]
                ax.plot(x, y, styles[k % len(styles)], color=colour, label=_name(run, cls, multi), markersize=5)
    ax.set_xlabel("epoch")
    ax.set_ylim(bottom=min(30.0, ax.get_ylim()[0]), top=max(70.0, ax.get_ylim()[1]))
    ax.legend(fontsize=8, loc="lower right")


def _status_line(runs: list[Run]) -> str:
    parts = []
    for run in runs:
        status = run.log.status
        best = max((_as_float(r.get("HOTA")) for r in run.log.eval), default=math.nan, key=lambda v: -1 if
                   math.isnan(v) else v)
        best_text = f", best HOTA {best:.2f}" if math.isfinite(best) else ""
        parts.append(f"{run.label}: {status.get('state', '?')}, epoch {status.get('epoch', '-')}, "
                     f"{len(run.log.train)} steps, {len(run.log.eval)} evals{best_text}")
    return " | ".join(parts)
