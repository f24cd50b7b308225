"""dashboard.png from one or more train.log files (TRAIN.md's plot_dashboard.py), parsed by ``motip.trainlog``.

Panels: HOTA and IDF1 per epoch (54.0 success line, 40s regression band), MOTA/DetA/AssA per epoch, total loss per
step (raw thin + smoothed), every loss term per step, grad norm (log scale, non-finite steps marked), learning rate,
and per-class HOTA/IDF1 when the log has them. Several logs are overlaid, one colour per run, the runs listed once
under the figure title. Nothing is drawn over the data: legends in a strip above each panel, last values and
off-range targets in a gutter right of it (docs/viz.md).
"""

from __future__ import annotations

import io
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from motip.alerts import REGRESSION_FLOOR, TARGET
from motip.atomic import atomic_write_bytes
from motip.errors import MotipError
from motip.rundir import TRAIN_LOG
from motip.trainlog import TrainLog, parse_log

# TRAIN.md: "if it drops to 40s, we have regression": shaded from 40 up to the alerts' regression floor.
REGRESSION_BAND = (40.0, REGRESSION_FLOOR)
# Keys of a [train] line that are bookkeeping, not loss terms.
_NOT_LOSS_TERMS = {"loss", "epoch", "step", "total_steps", "global_step", "grad_norm", "lr", "s_per_step", "time"}
_RUN_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive"]


@dataclass
class Run:
    label: str
    log: TrainLog
    colour: str
    short: str = ""  # its name in an overlay's run legend (short_names)
    tag: str = ""    # what names it where colour does not (loss-terms values): its short name, or #k when long


def run_label(path: Path) -> str:
    """A run's name: its output folder (train.log lives in outputs/<run>/train.log), else the file name."""
    path = path.absolute()
    return path.parent.name if path.name == TRAIN_LOG else path.stem


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


# ------------------------------------------------------------------------------------------------- layout
# Nothing is drawn over the data: per-panel legends sit in a strip above each panel (under its title), the runs of
# an overlay are listed once under the figure title, and last values / off-range target marks go into a gutter right
# of each panel. Every panel's y-range is fitted to its own data (the targets never stretch it).

FIG_WIDTH_IN = 16.0
ROW_HEIGHT_IN = 4.2
EXTRA_HEIGHT_IN = 0.8  # figure title, run legend and status line
GUTTER_FONT = 8
LEGEND_FONT = 8
AUX = "aux"  # gid of lines that are not data (epoch starts, target lines): not used to fit the y-range
_RUN_STYLES = ["-", "--", ":", "-."]
_PART_STYLES = [":", "-.", (0, (1, 3)), (0, (5, 2))]
_TIMESTAMP = re.compile(r"_\d{8}_\d{6}$")


def figure_size_px(per_class: bool, dpi: int = 100) -> tuple[int, int]:
    """The PNG's size in pixels: 3 rows of panels, 4 with per-class metrics (``--help`` and docs/viz.md say so)."""
    rows = 4 if per_class else 3
    return round(FIG_WIDTH_IN * dpi), round((ROW_HEIGHT_IN * rows + EXTRA_HEIGHT_IN) * dpi)


def short_names(labels: list[str], limit: int = 32) -> list[str]:
    """Short, distinct names for the runs of an overlay: without the run folders' _YYYYMMDD_HHMMSS stamp when
    that keeps them apart, shortened in the middle when long."""
    names = list(labels)
    stripped = [_TIMESTAMP.sub("", n) for n in names]
    if len(set(stripped)) == len(stripped):
        names = stripped
    short = [n if len(n) <= limit else n[: limit // 2 - 1] + "…" + n[-(limit - limit // 2):] for n in names]
    if len(set(short)) != len(short):  # shortening merged two names: number them instead
        short = [f"run {k + 1}" for k in range(len(names))]
    return short


@dataclass
class EndLabel:
    """A value written in the panel's right gutter at the height of ``y`` (data units), or pinned to an edge."""

    y: float
    text: str
    colour: str
    edge: str = ""  # "top" / "bottom": pinned to that edge of the panel (a target outside the y-range)


@dataclass
class Panel:
    ax: Any
    title: str
    title_colour: str = "black"
    handles: list[Any] | None = None   # legend entries (shown above the panel)
    ends: list[EndLabel] | None = None
    log_y: bool = False
    headroom: float = 0.0             # fraction of the axis kept free at the top (non-finite markers)
    targets: bool = False
    gutter: list[Any] | None = None   # the Text artists of ``ends``, placed after the layout

    def __post_init__(self) -> None:
        self.handles = self.handles or []
        self.ends = self.ends or []
        self.gutter = self.gutter or []

    def line(self, x: np.ndarray, y: np.ndarray, style: str | Any, colour: str, label: str | None,
             end: str | None, **kwargs: Any) -> None:
        """Plot one series; ``label`` goes into the panel's legend, ``end`` (a name) writes the last value."""
        (artist,) = self.ax.plot(x, y, style if isinstance(style, str) else "-", color=colour, **kwargs)
        if not isinstance(style, str):
            artist.set_linestyle(style)
        if label is not None:
            self.handles.append(artist)
            artist.set_label(label)
        if end is not None:
            finite = np.flatnonzero(np.isfinite(y))
            if len(finite):
                self.ends.append(EndLabel(float(y[finite[-1]]), f"{end} {_fmt(float(y[finite[-1]]))}", colour))


def _fmt(value: float) -> str:
    if value == 0 or 0.01 <= abs(value) < 1e5:
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"
    return f"{value:.2g}"


def build_figure(paths: list[Path], dpi: int = 100) -> Any:
    """The dashboard as a matplotlib Figure (Agg), laid out; ``render_dashboard`` saves it."""
    import matplotlib

    matplotlib.use("Agg")  # no display over SSH
    import matplotlib.pyplot as plt

    runs = load_runs(paths)
    classes: list[str] = []
    for run in runs:
        classes += [c for c in run.log.classes if c not in classes]
    n_rows = 4 if classes else 3
    width, height = figure_size_px(bool(classes), dpi)
    fig, axes = plt.subplots(n_rows, 2, figsize=(width / dpi, height / dpi), dpi=dpi, squeeze=False)
    multi = len(runs) > 1
    if multi:
        names = short_names([r.label for r in runs])
        numbered = max(len(n) for n in names) > 12  # long names: values in the gutter carry "#k" instead
        for k, (run, name) in enumerate(zip(runs, names), 1):
            run.short = name
            run.tag = f"#{k}" if numbered else name
    panels = [
        _plot_hota_idf1(axes[0, 0], runs, multi),
        _plot_clear_metrics(axes[0, 1], runs, multi),
        _plot_total_loss(axes[1, 0], runs, multi),
        _plot_loss_terms(axes[1, 1], runs, multi),
        _plot_grad_norm(axes[2, 0], runs, multi),
        _plot_lr(axes[2, 1], runs, multi),
    ]
    if classes:
        panels += [_plot_per_class(axes[3, 0], runs, classes, "HOTA", multi),
                   _plot_per_class(axes[3, 1], runs, classes, "IDF1", multi)]
    _layout(fig, panels, runs, multi)
    return fig


def render_dashboard(paths: list[Path], out: Path, dpi: int = 100) -> Path:
    """Plot the logs into ``out`` (PNG, written atomically). Returns ``out``."""
    import matplotlib.pyplot as plt

    fig = build_figure(paths, dpi)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(out, buffer.getvalue())
    return out


def _layout(fig: Any, panels: list[Panel], runs: list[Run], multi: bool) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    for panel in panels:
        ax = panel.ax
        ax.grid(True, alpha=0.3)
        if ax.get_xlabel() == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no "epoch 1.4"
        if ax.get_lines():
            _fit_y(panel)
        if panel.targets:
            _targets(panel)
        formatter = ax.yaxis.get_major_formatter()
        if hasattr(formatter, "set_useOffset"):
            formatter.set_useOffset(False)  # no "+1.4e1" offset text over the legend strip
        panel.gutter = [ax.text(1.0, 0.5, e.text, color=e.colour, fontsize=GUTTER_FONT, va="center", ha="left",
                                transform=ax.transAxes, clip_on=False) for e in panel.ends]
        ax.set_title(panel.title, color=panel.title_colour)
    single_title = f"MOTIP training dashboard: {runs[0].label}"
    title = f"MOTIP training dashboard: {len(runs)} runs overlaid" if multi else single_title
    suptitle = fig.suptitle(title if len(title) < 140 else title[:137] + "...", fontsize=14, fontweight="bold",
                            y=0.995, va="top")
    suptitle.set_in_layout(False)  # tight_layout would reserve its height again on top of our rect
    status = fig.text(0.01, 0.004, _status_lines(runs, multi), fontsize=9, color="dimgray", va="bottom")
    run_legend = None
    if multi:  # the runs, once for the whole figure: colour (and line style in the loss-terms panel)
        handles = [Line2D([], [], color=r.colour, linestyle=_RUN_STYLES[k % len(_RUN_STYLES)], linewidth=2.5)
                   for k, r in enumerate(runs)]
        labels = [r.short if r.tag == r.short else f"{r.tag} {r.short}" for r in runs]
        run_legend = fig.legend(handles, labels, loc="upper center", ncol=min(len(runs), 4),
                                fontsize=10, frameon=False, bbox_to_anchor=(0.5, 0.97), handlelength=3)
    renderer = fig.canvas.get_renderer()
    ncols = {id(p): max(1, len(p.handles)) for p in panels}
    for _ in range(4):  # legends above the panels: as many columns as fit the panel's width
        for panel in panels:
            _legend_above(panel, ncols[id(panel)], renderer)
        top = suptitle.get_window_extent(renderer).y0
        if run_legend is not None:
            top = run_legend.get_window_extent(renderer).y0
        bottom = status.get_window_extent(renderer).y1
        height = fig.bbox.height
        fig.tight_layout(rect=(0, (bottom + 4) / height, 1, (top - 4) / height), h_pad=1.0, w_pad=1.5)
        fig.canvas.draw()
        too_wide = [p for p in panels if p.ax.get_legend() is not None and ncols[id(p)] > 1
                    and p.ax.get_legend().get_window_extent(renderer).width > p.ax.bbox.width]
        if not too_wide:
            break
        for panel in too_wide:
            ncols[id(panel)] -= 1
    for panel in panels:
        _place_gutter(panel, renderer)


def _legend_above(panel: Panel, ncol: int, renderer: Any) -> None:
    """The panel's legend in a strip above its axes, under its title (never over the data)."""
    ax = panel.ax
    if not panel.handles:
        return
    legend = ax.legend(handles=panel.handles, loc="lower left", bbox_to_anchor=(0.0, 1.01), ncol=ncol,
                       fontsize=LEGEND_FONT, frameon=False, borderaxespad=0.0, handlelength=2.4,
                       columnspacing=1.2, borderpad=0.2)
    strip = legend.get_window_extent(renderer).height * 72 / ax.figure.dpi
    ax.set_title(panel.title, color=panel.title_colour, pad=strip + 6)


def _fit_y(panel: Panel) -> None:
    """The y-range from the panel's own data (finite values of its data lines), with a margin."""
    ax = panel.ax
    values = [np.asarray(line.get_ydata(), dtype=np.float64) for line in ax.get_lines() if line.get_gid() != AUX]
    ys = np.concatenate(values) if values else np.array([])
    ys = ys[np.isfinite(ys)]
    if panel.log_y:
        ys = ys[ys > 0]
    if not len(ys):
        return
    lo, hi = float(ys.min()), float(ys.max())
    if panel.log_y:
        llo, lhi = math.log10(lo), math.log10(hi)
        pad = 0.06 * (lhi - llo) if lhi > llo else 0.05
        span = lhi - llo + 2 * pad
        top = lhi + pad + span * panel.headroom / max(1e-9, 1 - panel.headroom)
        ax.set_ylim(10 ** (llo - pad), 10 ** top)
    else:
        span = hi - lo
        # A flat series sits mid-panel, padded in proportion to its value (a flat lr of 2e-4 is not padded by 1).
        pad = 0.08 * span if span > 0 else (0.05 * abs(hi) if hi != 0 else 1.0)
        bottom, top = lo - pad, hi + pad
        if lo >= 0 and bottom < 0:
            # Non-negative data (HOTA, losses, lr...) gets no negative ticks: a flat 0 HOTA reads 0..1, not -1..1,
            # with a sliver below 0 so the line is not hidden under the axis.
            bottom = -0.03 * (top - lo)
        ax.set_ylim(bottom, top)


def _targets(panel: Panel) -> None:
    """TRAIN.md's 54 success line and the 40s regression band: drawn where the y-range shows them, else marked at
    the panel's top or bottom edge with their values."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    ax = panel.ax
    lo, hi = ax.get_ylim()
    band_lo, band_hi = REGRESSION_BAND
    if band_hi > lo and band_lo < hi:
        ax.axhspan(max(band_lo, lo), min(band_hi, hi), color="tab:red", alpha=0.08, zorder=0)
        panel.handles.append(Patch(color="tab:red", alpha=0.15, label="regression band (40s)"))
    else:
        edge = "top" if band_lo >= hi else "bottom"
        arrow = "▲" if edge == "top" else "▼"
        panel.ends.append(EndLabel(hi if edge == "top" else lo, f"{arrow} 40s band", "tab:red", edge))
    if lo < TARGET < hi:
        ax.axhline(TARGET, color="tab:green", linestyle="--", linewidth=1.2, gid=AUX, zorder=1)
        panel.handles.append(Line2D([], [], color="tab:green", linestyle="--", label=f"target {TARGET:g}"))
    else:
        edge = "top" if TARGET >= hi else "bottom"
        arrow = "▲" if edge == "top" else "▼"
        panel.ends.append(EndLabel(hi if edge == "top" else lo, f"{arrow} target {TARGET:g}", "tab:green",
                                   edge))


def _place_gutter(panel: Panel, renderer: Any) -> None:
    """Move the gutter labels to the height of their values, spread apart where they would overlap."""
    ax = panel.ax
    box = ax.bbox
    if not panel.gutter:
        return
    lo, hi = ax.get_ylim()
    wanted = []
    for end in panel.ends:
        if end.edge == "top":
            wanted.append(box.y1)
        elif end.edge == "bottom":
            wanted.append(box.y0)
        else:
            y = min(max(end.y, lo), hi)  # a value outside the range (log axis: <= 0) sits at the edge
            wanted.append(float(ax.transData.transform((ax.get_xlim()[1], y))[1]))
    step = max(t.get_window_extent(renderer).height for t in panel.gutter) * 1.05
    order = sorted(range(len(wanted)), key=lambda k: wanted[k])
    placed = [wanted[k] for k in order]
    for i in range(1, len(placed)):  # upwards: each at least one line above the previous
        placed[i] = max(placed[i], placed[i - 1] + step)
    overflow = placed[-1] - (box.y1 + step / 2)
    if overflow > 0:  # pushed past the top: shift down, then keep the spacing downwards
        placed[-1] -= overflow
        for i in range(len(placed) - 2, -1, -1):
            placed[i] = min(placed[i], placed[i + 1] - step)
    pad = 4 / box.width  # 4 px right of the axes
    for k, y in zip(order, placed):
        panel.gutter[k].set_position((1.0 + pad, (y - box.y0) / box.height))


# ------------------------------------------------------------------------------------------------- panels

def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="gray", fontsize=11)


def _key(style: str, what: str) -> Any:
    """A legend entry for a metric's line style (overlays: the colour says the run, listed once for the figure)."""
    from matplotlib.lines import Line2D

    marker = style.lstrip("-.:") or None
    linestyle = style[: len(style) - len(marker)] if marker else style
    return Line2D([], [], color="dimgray", linestyle=linestyle, marker=marker, markersize=5, label=what)


def _plot_hota_idf1(ax: Any, runs: list[Run], multi: bool) -> Panel:
    panel = Panel(ax, "HOTA and IDF1 per epoch (higher is better)", targets=True)
    plotted = False
    for run in runs:
        for metric, style in (("HOTA", "-o"), ("IDF1", "--s")):
            x, y = _epoch_series(run, metric)
            if len(x):
                colour = run.colour if multi else ("tab:blue" if metric == "HOTA" else "tab:purple")
                panel.line(x, y, style, colour, None if multi else metric, metric, markersize=5)
                plotted = True
    if multi:
        panel.handles += [_key("-o", "HOTA"), _key("--s", "IDF1")]
    if not plotted:
        _empty(ax, "no [eval] lines yet")
        panel.targets = False
    ax.set_xlabel("epoch")
    return panel


def _plot_clear_metrics(ax: Any, runs: list[Run], multi: bool) -> Panel:
    panel = Panel(ax, "MOTA / DetA / AssA per epoch")
    plotted = False
    metric_colours = {"MOTA": "tab:blue", "DetA": "tab:orange", "AssA": "tab:green"}
    styles = {"MOTA": "-o", "DetA": "--^", "AssA": ":s"}
    for run in runs:
        for metric in ("MOTA", "DetA", "AssA"):
            x, y = _epoch_series(run, metric)
            if len(x):
                panel.line(x, y, styles[metric], run.colour if multi else metric_colours[metric],
                           None if multi else metric, metric, markersize=5)
                plotted = True
    if not plotted:
        _empty(ax, "no [eval] lines yet")
    elif multi:
        panel.handles += [_key(styles[m], m) for m in styles]
    ax.set_xlabel("epoch")
    return panel


def _plot_total_loss(ax: Any, runs: list[Run], multi: bool) -> Panel:
    panel = Panel(ax, "total loss per step (thin: raw, thick: smoothed)")
    plotted = False
    for run in runs:
        if not run.log.train:
            continue
        x, y = _steps(run), _column(run.log.train, "loss")
        panel.line(x, y, "-", run.colour, None, "loss", linewidth=0.6, alpha=0.35)
        panel.line(x, smooth(y), "-", run.colour, None if multi else "loss (smoothed)", None, linewidth=2.0)
        _mark_epochs(ax, run, x)
        plotted = True
    if not plotted:
        _empty(ax, "no [train] lines yet")
    elif not multi:
        from matplotlib.lines import Line2D

        panel.handles.insert(0, Line2D([], [], color=runs[0].colour, linewidth=0.6, alpha=0.5, label="loss (raw)"))
    ax.set_xlabel("step")
    return panel


def _mark_epochs(ax: Any, run: Run, x: np.ndarray) -> None:
    """Faint vertical lines where an epoch starts, so steps can be read as epochs."""
    epochs = _column(run.log.train, "epoch")
    starts = np.flatnonzero(np.diff(epochs) != 0) + 1
    for i in starts[:50]:
        ax.axvline(x[i], color="gray", linewidth=0.5, alpha=0.3, gid=AUX)


def _plot_loss_terms(ax: Any, runs: list[Run], multi: bool) -> Panel:
    terms = _loss_terms(runs)
    panel = Panel(ax, "loss terms per step (smoothed; thin: raw)" + ("; line style: run" if multi else ""))
    cmap_colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
                    "tab:gray", "tab:olive", "tab:cyan"]
    smallest = math.inf  # log scale only when every plotted value is positive
    shown: set[str] = set()
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
            end = f"{run.tag} {term.removeprefix('loss_')}" if multi else term.removeprefix("loss_")
            panel.line(x, y, "-", colour, None, end, linewidth=0.5, alpha=0.2)  # colour = term: name the run
            panel.line(x, smooth(y), _RUN_STYLES[r % len(_RUN_STYLES)], colour,
                       None if term in shown else term, None, linewidth=1.6)
            if multi and term not in shown:  # one entry per term, solid: the line style says the run
                panel.handles[-1] = _solid(colour, term)
            shown.add(term)
    if shown:
        if smallest > 0:
            panel.log_y = True
            ax.set_yscale("log")  # terms differ by orders of magnitude (loss_detr vs loss_bbox)
            panel.title = panel.title.replace("per step (", "per step (log scale; ")
    else:
        _empty(ax, "no loss_* terms in the log")
    ax.set_xlabel("step")
    return panel


def _solid(colour: str, label: str) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([], [], color=colour, linewidth=1.6, label=label)


def _plot_grad_norm(ax: Any, runs: list[Run], multi: bool) -> Panel:
    panel = Panel(ax, "grad norm per step (log scale; x in the top strip: inf/NaN)", log_y=True)
    part_colours = ["tab:orange", "tab:green", "tab:red", "tab:purple"]
    plotted = False
    bad_total = 0
    for run in runs:
        if not run.log.train:
            continue
        x, y = _steps(run), _column(run.log.train, "grad_norm")
        present = np.array(["grad_norm" in row for row in run.log.train])
        finite = np.isfinite(y) & (y > 0)
        if finite.any():
            panel.line(x[finite], y[finite], "-", run.colour, None, "grad", linewidth=0.6, alpha=0.35)
            panel.line(x, np.where(finite, smooth(np.where(finite, y, np.nan)), np.nan), "-", run.colour,
                       None if multi else "grad norm (smoothed)", None, linewidth=1.8)
            plotted = True
        for p, key in enumerate(_grad_norm_parts(run)):  # grad_norm_detr, grad_norm_id...: thinner, dotted
            part = _column(run.log.train, key)
            ok = np.isfinite(part) & (part > 0)
            if ok.any():
                colour = run.colour if multi else part_colours[p % len(part_colours)]
                style = _PART_STYLES[p % len(_PART_STYLES)]
                name = key.removeprefix("grad_norm_")
                panel.line(x, np.where(ok, smooth(np.where(ok, part, np.nan)), np.nan), style, colour,
                           None if multi else key, name, linewidth=1.2, alpha=0.9)
                if multi and key not in [h.get_label() for h in panel.handles]:
                    panel.handles.append(_key_style(style, key))
        bad = present & ~np.isfinite(y)
        if bad.any():
            bad_total += int(bad.sum())
            # In the headroom strip at the top (axes coordinates): a log axis has no place for inf/NaN.
            (marks,) = ax.plot(x[bad], np.full(int(bad.sum()), 0.95), "x", color="red", markersize=9,
                               markeredgewidth=2, transform=ax.get_xaxis_transform(), gid=AUX)
            if not any(h.get_label().startswith("non-finite") for h in panel.handles):
                marks.set_label("non-finite step")
                panel.handles.append(marks)
    if plotted:
        ax.set_yscale("log")
        panel.headroom = 0.12 if bad_total else 0.0
    else:
        panel.log_y = False
        if not bad_total:
            _empty(ax, "no grad_norm in the log")
    if multi and plotted:
        panel.handles.insert(0, _key("-", "grad norm (smoothed)"))
    if bad_total:
        panel.title = f"grad norm per step (log scale) -- {bad_total} non-finite step(s) marked x"
        panel.title_colour = "red"
    ax.set_xlabel("step")
    return panel


def _key_style(style: Any, label: str) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([], [], color="dimgray", linestyle=style, linewidth=1.2, label=label)


def _grad_norm_parts(run: Run) -> list[str]:
    keys: list[str] = []
    for row in run.log.train:
        keys += [k for k in row if k.startswith("grad_norm_") and k not in keys]
    return keys


def _plot_lr(ax: Any, runs: list[Run], multi: bool) -> Panel:
    from matplotlib.ticker import FuncFormatter

    panel = Panel(ax, "learning rate per step")
    plotted = False
    for run in runs:
        if not run.log.train:
            continue
        x = _steps(run)
        for key, style in (("lr", "-"), ("lr_backbone", ":")):
            y = _column(run.log.train, key)
            if np.isfinite(y).any():
                panel.line(x, y, style, run.colour, None if multi else key, key, linewidth=1.6)
                if multi and key not in [h.get_label() for h in panel.handles]:
                    panel.handles.append(_key_style(style, key))
                plotted = True
    if plotted:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))  # 2e-05 on the tick, no offset text
    else:
        _empty(ax, "no lr in the log")
    ax.set_xlabel("step")
    return panel


def _plot_per_class(ax: Any, runs: list[Run], classes: list[str], metric: str, multi: bool) -> Panel:
    panel = Panel(ax, f"per-class {metric} per epoch", targets=True)
    styles = ["-o", "--s", ":^", "-.D"]
    class_colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    plotted = False
    for run in runs:
        for k, cls in enumerate(classes):
            x, y = _epoch_series(run, metric, cls)
            if len(x):
                colour = run.colour if multi else class_colours[k % len(class_colours)]
                panel.line(x, y, styles[k % len(styles)], colour, None if multi else cls, cls, markersize=5)
                plotted = True
    if multi:
        panel.handles += [_key(styles[k % len(styles)], cls) for k, cls in enumerate(classes)]
    if not plotted:
        _empty(ax, f"no per-class {metric} in the [eval] lines")
        panel.targets = False
    ax.set_xlabel("epoch")
    return panel


def _status_lines(runs: list[Run], multi: bool) -> str:
    lines = []
    for run in runs:
        status = run.log.status
        best = max((_as_float(r.get("HOTA")) for r in run.log.eval), default=math.nan, key=lambda v: -1 if
                   math.isnan(v) else v)
        best_text = f", best HOTA {best:.2f}" if math.isfinite(best) else ""
        name = run.label if not multi or run.short == run.label else f"{run.short} = {run.label}"
        if multi and run.tag != run.short:
            name = f"{run.tag} {name}"
        lines.append(f"{name}: {status.get('state', '?')}, epoch {status.get('epoch', '-')}, "
                     f"{len(run.log.train)} steps, {len(run.log.eval)} evals{best_text}")
    return "\n".join(lines)
