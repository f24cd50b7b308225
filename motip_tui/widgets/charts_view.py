"""The Charts view: a run's train.log as charts people can read at 80x24, with other runs overlaid.

``ChartsView.show_runs([selected, *overlays], previous_best)`` is all its host calls. The view owns everything else:
one ``RunWatch`` per run (a tailer thread each), a follower of the selected run's ``output.log`` for its PROGRESS
lines (``evaluating (track 71%)``, ETAs), its timers, and its redraws, which happen only while it is on screen and
something changed (data, size, a toggle), so an idle view costs next to no CPU. File and process work (run state,
alerts) runs in a thread worker; the run's alerts go to the host as ``ChartsView.AlertsChanged``.

Panels: HOTA/IDF1 per epoch (the 54 target drawn when in range, else marked at the edge with its value), per-class
HOTA and IDF1 (pedestrian vs vehicle: the forgetting signal), loss and grad norm (raw, plus TensorBoard's debiased EMA
when smoothing is on), lr. At 80x24 a 2x2 grid whose first panel cycles between overall and per-class metrics (key
``k``); from about 110x28 cells all six panels. Keys (the view's own, in the footer while it has focus): ``x``
smoothing on/off, ``w`` EMA weight 0.6/0.9/0.99, ``y`` log y-axis (loss, grad norm, lr), ``k`` next eval panel.
The numbers come from ``motip_tui.chartmath``; docs/tui.md describes what the user sees.
"""

from __future__ import annotations

import importlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from motip.alerts import TARGET, Alert, run_alerts
from motip.jobs import OUTPUT_FILE
from motip.progress import ProgressUpdate, parse_progress_line
from motip.trainlog import finite_value
from motip_tui import chartmath
from motip_tui.runs import RunSummary
from motip_tui.tailer import FileTailer
from motip_tui.watch import RunWatch
from motip_tui.widgets.charts import Chart, Line, PlotSpec

# (bright, dim) colour pairs, one per run in show_runs order: the selected run first. The dim one draws raw values
# under the smoothed line.
RUN_COLORS = (("#00d7ff", "#2f6f7f"), ("#ff5fd7", "#874f7a"), ("#ffd700", "#87752f"), ("#5fff5f", "#3f7f3f"),
              ("#ff8700", "#87551f"), ("#afafff", "#5f5f8f"))
SERIES_COLORS = ("#00d7ff", "#5fff5f", "#ffd700", "#ff5fd7")  # one run's series in a panel (HOTA, IDF1...)
TARGET_COLOR = "red"
EVAL_PANELS = ("eval", "class-HOTA", "class-IDF1")
STEP_PANELS = ("loss", "grad_norm", "lr")
SMOOTHED = ("loss", "grad_norm")  # lr is a schedule: nothing to smooth
STEP_TITLES = {"loss": "loss", "grad_norm": "grad norm", "lr": "lr"}
WIDE_MIN = (110, 28)  # view cells from which all six panels are shown
PROGRESS_TAIL_BYTES = 64 << 10
CHECK_EVERY_S = 2.0  # run state and alerts (a killed run turns dead without its log changing)
EVAL_TASKS = ("track", "eval")


def run_color(index: int, dim: bool = False) -> str:
    return RUN_COLORS[index % len(RUN_COLORS)][1 if dim else 0]


def plot_color(color: str) -> tuple[int, int, int]:
    """plotext takes (r, g, b)."""
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def fmt_value(value: float | None, pattern: str = "{:.4g}") -> str:
    return "-" if value is None else pattern.format(value)


class ProgressFollower:
    """The latest PROGRESS line of a run's ``output.log`` (a detached run's job output; motip.progress's format),
    read from the last ``PROGRESS_TAIL_BYTES`` on and then followed. ``on_change`` is called from the reader thread."""

    def __init__(self, path: Path, on_change: Callable[[], None], poll_s: float = 1.0) -> None:
        self.path = path
        self.latest: ProgressUpdate | None = None
        self.on_change = on_change
        self.tailer = FileTailer(path, self._on_lines, poll_s=poll_s, use_watchdog=False,
                                 from_end_bytes=PROGRESS_TAIL_BYTES)

    def start(self) -> ProgressFollower:
        self.tailer.start()
        return self

    def stop(self) -> None:
        self.tailer.stop()

    def _on_lines(self, lines: list[str], reset: bool) -> None:
        latest = None if reset else self.latest
        for line in reversed(lines):
            if line.startswith("PROGRESS "):
                # A PROGRESS line the parser cannot read still says the eval before it is over: kept as its
                # task's first word with nothing done of nothing.
                latest = parse_progress_line(line) or ProgressUpdate(
                    (line.split()[1:2] or ["?"])[0], 0, 0, 0.0, 0.0, None, "")
                break
        if latest != self.latest:
            self.latest = latest
            self.on_change()


@dataclass
class _EmaCache:
    source: Any  # the watch's step list the values came from (a reset or the full history replaces it)
    count: int
    values: Any
    state: chartmath.EmaState


@dataclass
class _RunData:
    label: str
    index: int
    arrays: dict[str, Any]
    evals: list[dict[str, Any]]
    status: dict[str, Any]
    s_per_step: float | None
    watch: RunWatch


class ChartPanel(Vertical):
    """A title line (what is drawn, latest values) over a chart, or a message in its place."""

    def __init__(self, name: str) -> None:
        super().__init__(id=f"panel-{name}", classes="chart-panel")
        self.panel = name
        self.title_text: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(classes="panel-title")
        yield Chart(id=f"chart-{self.panel}")
        yield Static(classes="panel-message")

    @property
    def chart(self) -> Chart:
        return self.query_one(Chart)

    def _title(self, title: str) -> None:
        if title != self.title_text:  # parsing markup costs a few ms a title: only when it changed
            self.title_text = title
            self.query_one(".panel-title", Static).update(title)

    def show_plot(self, title: str, spec: PlotSpec) -> None:
        self._title(title)
        self.query_one(".panel-message", Static).display = False
        chart = self.chart
        chart.display = True
        chart.draw_plot(spec)

    def show_message(self, title: str, message: str) -> None:
        self._title(title)
        chart = self.chart
        chart.display = False
        chart.points = 0
        box = self.query_one(".panel-message", Static)
        box.display = True
        box.update(message)


class ChartsView(Widget, can_focus=True):
    """Charts of the selected run (``show_runs``' first folder) with the others overlaid on every panel."""

    DEFAULT_CSS = """
    ChartsView { height: 1fr; layout: vertical; }
    ChartsView #charts-header { height: auto; max-height: 2; text-wrap: nowrap; text-overflow: ellipsis; }
    ChartsView #charts-empty { height: 1fr; content-align: center middle; color: $text-muted; }
    ChartsView #charts-grid { grid-size: 2 2; grid-gutter: 0 1; height: 1fr; }
    ChartsView.wide #charts-grid { grid-size: 3 2; }
    ChartsView .chart-panel { height: 1fr; }
    ChartsView .panel-title { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    ChartsView Chart { height: 1fr; }
    ChartsView .panel-message { height: 1fr; content-align: center middle; color: $text-muted; }
    """

    BINDINGS = [
        Binding("x", "toggle_smoothing", "Smooth", tooltip="smoothing on/off: TensorBoard's debiased EMA of loss "
                "and grad norm over the raw values"),
        Binding("w", "cycle_weight", "EMA weight", tooltip="EMA weight 0.6 / 0.9 / 0.99 (turns smoothing on)"),
        Binding("y", "toggle_log", "Log y", tooltip="log y-axis for loss, grad norm and lr (ticks in real values)"),
        Binding("k", "next_eval_panel", "Per-class", tooltip="first panel at 80x24: HOTA/IDF1, HOTA per class, "
                "IDF1 per class"),
    ]

    class AlertsChanged(Message):
        """The selected run's alerts changed (``motip.alerts.run_alerts``; the host adds machine alerts)."""

        def __init__(self, alerts: list[Alert]) -> None:
            super().__init__()
            self.alerts = alerts

    class DataArrived(Message):
        """A watched file grew (posted from reader threads); repeats waiting in the queue collapse into one."""

        bubble = False

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ChartsView.DataArrived)

    class RunChecked(Message):
        """The thread worker's answer: the selected run's state and alerts."""

        bubble = False

        def __init__(self, run_dir: Path, state: str, alerts: list[Alert]) -> None:
            super().__init__()
            self.run_dir = run_dir
            self.state = state
            self.alerts = alerts

    def __init__(self, *, id: str | None = None, refresh_s: float = 0.25, poll_s: float = 0.5,  # noqa: A002 - Textual's widget `id`
                 use_watchdog: bool = True, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.refresh_s = refresh_s
        self.poll_s = poll_s
        self.use_watchdog = use_watchdog
        self.watches: list[RunWatch] = []
        self.labels: list[str] = []
        self.previous_best: dict[str, float] = {}
        self.smoothing = True
        self.weight_index = 1  # EMA_WEIGHTS[1] = 0.9
        self.log_scale = False
        self.eval_panel = 0  # which of EVAL_PANELS the 2x2 layout shows
        self.alerts: list[Alert] = []
        self.run_state: str | None = None
        self.follower: ProgressFollower | None = None
        self.draws = 0  # redraws done (tests and the bench read it)
        self.drawn_versions: tuple[int, ...] = ()  # each watch's RunWatch.version in the last redraw
        self._drawn_key: tuple[Any, ...] | None = None
        self._ema: dict[tuple[Path, str, float], _EmaCache] = {}
        self._buckets: dict[tuple[Path, str, str, bool], chartmath.MinMaxBuckets] = {}
        self._checking = False
        self._check_again = False

    # -- layout ----------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="charts-header")
        yield Static("No run selected: choose one in the Stages view (1); its train.log is charted here, live.",
                     id="charts-empty")
        with Grid(id="charts-grid"):
            for name in (*EVAL_PANELS, *STEP_PANELS):
                yield ChartPanel(name)

    def on_mount(self) -> None:
        # numpy (the series' arrays, ~0.1 s) on the UI thread once the first frame is up: imported in a thread beside
        # the UI or a log reader, it waited for the GIL at each of its file reads and took 0.5-1.5 s (bench/tui.py).
        self.call_after_refresh(importlib.import_module, "numpy")
        self.set_interval(self.refresh_s, self._tick)
        self.set_interval(CHECK_EVERY_S, self._request_check)
        self._apply_layout()
        self._show_empty()
        self._request_check()  # runs given before the view was mounted

    def on_unmount(self) -> None:
        _stop_aside([*self.watches, *([self.follower] if self.follower is not None else [])])
        self.watches = []
        self.follower = None

    def on_resize(self) -> None:
        self._apply_layout()
        self._tick()

    def on_show(self) -> None:
        self.call_after_refresh(self._tick)  # on screen once this refresh is composed: draw without the timer's wait

    @property
    def wide(self) -> bool:
        return self.size.width >= WIDE_MIN[0] and self.size.height >= WIDE_MIN[1]

    def _apply_layout(self) -> None:
        wide = self.wide
        self.set_class(wide, "wide")
        for index, name in enumerate(EVAL_PANELS):
            self.query_one(f"#panel-{name}", ChartPanel).display = wide or index == self.eval_panel

    def _show_empty(self) -> None:
        empty = not self.watches
        self.query_one("#charts-empty", Static).display = empty
        self.query_one("#charts-grid", Grid).display = not empty
        self.query_one("#charts-header", Static).display = not empty

    # -- what the host calls ---------------------------------------------------------------------------------
    def show_runs(self, run_dirs: list[Path], previous_best: dict[str, float] | None = None) -> None:
        """Chart ``run_dirs[0]`` with the others overlaid (an empty list: no run selected). Watches of folders
        that stay are kept (no re-read); the others are stopped. ``previous_best``: the previous stage's best
        per-class HOTA, for the forgetting alert."""
        dirs: list[Path] = []
        for run_dir in map(Path, run_dirs):
            if run_dir not in dirs:
                dirs.append(run_dir)
        best = dict(previous_best or {})
        if dirs == [watch.run_dir for watch in self.watches] and best == self.previous_best:
            return  # the host repeats itself after each scan: nothing to redo
        kept = {watch.run_dir: watch for watch in self.watches}
        selected_before = self.watches[0].run_dir if self.watches else None
        watches = []
        for run_dir in dirs:
            watch = kept.pop(run_dir, None)
            if watch is None:
                watch = RunWatch(run_dir, poll_s=self.poll_s, use_watchdog=self.use_watchdog,
                                 on_change=self._data_arrived).start()
            watches.append(watch)
        stopping: list[RunWatch | ProgressFollower] = list(kept.values())
        self.watches = watches
        self._ema = {key: value for key, value in self._ema.items() if key[0] in dirs}
        self._buckets = {key: value for key, value in self._buckets.items() if key[0] in dirs}
        self.labels = self._labels(dirs)
        self.previous_best = best
        selected = dirs[0] if dirs else None
        if selected != selected_before:
            if self.follower is not None:
                stopping.append(self.follower)
                self.follower = None
            self.run_state = None
            if selected is not None:
                self.follower = ProgressFollower(selected / OUTPUT_FILE, self._data_arrived,
                                                 poll_s=max(self.poll_s, 1.0)).start()
        _stop_aside(stopping)
        if self.is_mounted:
            self._show_empty()
        self._drawn_key = None
        self._request_check()
        self._tick()

    def summaries(self, wait_s: float) -> dict[Path, Callable[[], RunSummary]]:
        """Summaries of the watched runs from their parsed logs, for the Stages view's scan (a thread): waits up to
        ``wait_s`` for the selected run's first data, so a big log is read once, and not by two threads at once."""
        watches = list(self.watches)
        deadline = time.monotonic() + wait_s
        while watches and not watches[0].version and time.monotonic() < deadline:
            time.sleep(0.05)
        return {watch.run_dir: watch.summary for watch in watches if watch.version}

    @staticmethod
    def _labels(dirs: list[Path]) -> list[str]:
        depth = 1  # same folder name in two places: as many path parts as it takes to tell them apart
        while len({d.parts[-depth:] for d in dirs}) < len(dirs) and depth < max(len(d.parts) for d in dirs):
            depth += 1
        return chartmath.distinct_labels(["/".join(d.parts[-depth:]) for d in dirs])

    # -- keys ------------------------------------------------------------------------------------------------
    @property
    def ema_weight(self) -> float:
        return chartmath.EMA_WEIGHTS[self.weight_index]

    def action_toggle_smoothing(self) -> None:
        self.smoothing = not self.smoothing
        self._redraw()

    def action_cycle_weight(self) -> None:
        self.weight_index = (self.weight_index + 1) % len(chartmath.EMA_WEIGHTS)
        self.smoothing = True
        self._redraw()

    def action_toggle_log(self) -> None:
        self.log_scale = not self.log_scale
        self._redraw()

    def action_next_eval_panel(self) -> None:
        self.eval_panel = (self.eval_panel + 1) % len(EVAL_PANELS)
        if self.wide:
            self.notify("every eval panel is shown at this size", timeout=3)
        self._apply_layout()
        self._redraw()

    def _redraw(self) -> None:
        self._drawn_key = None
        self._tick()

    # -- data arriving ---------------------------------------------------------------------------------------
    def _data_arrived(self) -> None:
        """From reader threads (RunWatch, ProgressFollower); post_message is thread-safe."""
        self.post_message(self.DataArrived())

    @on(DataArrived)
    def _on_data_arrived(self, _message: DataArrived) -> None:
        self._tick()
        self._request_check()

    def _request_check(self) -> None:
        if not self.watches or not self.is_mounted:
            return
        if self._checking:
            self._check_again = True
            return
        self._checking = True
        self._check_run(self.watches[0], dict(self.previous_best))

    @work(thread=True, group="charts-check")
    def _check_run(self, watch: RunWatch, previous_best: dict[str, float]) -> None:
        """Off the UI thread: run_state reads lock/job/run files and asks the kernel about processes."""
        from motip.rundir import run_state

        try:
            state = run_state(watch.run_dir).state
        except Exception:  # noqa: BLE001 -- a state we cannot read is unknown, never a crash
            state = "unknown"
        try:
            mtime: float | None = watch.path.stat().st_mtime
        except OSError:
            mtime = None
        with watch.lock:
            alerts = run_alerts(watch.log, previous_best_class_hota=previous_best, log_mtime=mtime)
        self.post_message(self.RunChecked(watch.run_dir, state, alerts))

    @on(RunChecked)
    def _on_run_checked(self, message: RunChecked) -> None:
        self._checking = False
        if self.watches and message.run_dir == self.watches[0].run_dir:
            if message.state != self.run_state:
                self.run_state = message.state
                self._tick()
            self._set_alerts(message.alerts)
        if self._check_again:
            self._check_again = False
            self._request_check()

    def _set_alerts(self, alerts: list[Alert]) -> None:
        if alerts != self.alerts:
            self.alerts = list(alerts)
            self.post_message(self.AlertsChanged(list(alerts)))

    # -- drawing ---------------------------------------------------------------------------------------------
    def _tick(self) -> None:
        """Redraw when on screen and something changed since the last draw."""
        if not self.watches:
            if self.alerts:
                self._set_alerts([])
            return
        if not self.is_mounted or not self.is_on_screen:
            return
        follower = self.follower
        key = (tuple((id(w), w.version, w.loading) for w in self.watches), self.size, self.smoothing,
               self.weight_index, self.log_scale, self.eval_panel, self.run_state,
               follower.latest if follower else None)
        if key == self._drawn_key:
            return
        self._drawn_key = key
        self.drawn_versions = tuple(watch.version for watch in self.watches)
        self.draw()
        for watch in self.watches:
            watch.drawn.set()

    def draw(self) -> None:
        runs = [self._run_data(index, watch) for index, watch in enumerate(self.watches)]
        self.query_one("#charts-header", Static).update(self._header(runs))
        wide = self.wide
        for index, name in enumerate(EVAL_PANELS):
            if wide or index == self.eval_panel:
                self._draw_eval_panel(name, runs)
        for name in STEP_PANELS:
            self._draw_step_panel(name, runs)
        self.draws += 1

    def _run_data(self, index: int, watch: RunWatch) -> _RunData:
        arrays = watch.arrays()
        with watch.lock:
            log = watch.log
            evals = list(log.eval)
            status = dict(log.status)
            s_per_step = finite_value(log.train[-1].get("s_per_step")) if log.train else None
            epochs = next((e.get("epochs") for e in reversed(log.events) if e.get("event") == "start"), None)
        if epochs is not None:
            status.setdefault("epochs", epochs)
        return _RunData(self.labels[index] if index < len(self.labels) else watch.run_dir.name, index, arrays,
                        evals, status, s_per_step, watch)

    # header ---------------------------------------------------------------------------------------------------
    def evaluating(self, run: _RunData) -> ProgressUpdate | None:
        """The selected run's eval in progress (its latest PROGRESS line is an unfinished track/eval)."""
        follower = self.follower
        update = follower.latest if follower is not None else None
        if update is None or update.task not in EVAL_TASKS or update.done >= update.total:
            return None
        if self.run_state not in (None, "running", "starting", "unknown"):
            return None
        return update

    def _header(self, runs: list[_RunData]) -> str:
        run = runs[0]
        status = run.status
        state = self.run_state or status.get("state") or "?"
        parts = [f"[b]{escape(run.watch.run_dir.name)}[/b] {escape(str(state))}"]
        if run.watch.loading:
            parts.append("loading the full history…")
        epoch, epochs = status.get("epoch"), status.get("epochs")
        if epoch is not None:
            parts.append(f"epoch {epoch}/{epochs or '?'} step {status.get('step')}/{status.get('total_steps')}")
        elif not run.watch.path.exists():
            parts.append("waiting for train.log")
        update = self.evaluating(run)
        if update is not None:
            parts.append(f"[b]evaluating ({update.task} {update.percent:.0f}%)[/b] "
                         f"ETA {chartmath.format_duration(update.eta_s)}")
        elif state == "running":  # from train.log: steps left x the latest s_per_step (evals not counted)
            epoch_eta = chartmath.epoch_eta_s(status, run.s_per_step)
            run_eta = chartmath.run_eta_s(status, run.s_per_step)
            etas = [f"{what} {chartmath.format_duration(eta)}" for what, eta in (("epoch", epoch_eta), ("run", run_eta))
                    if eta is not None]
            if etas:
                parts.append("ETA " + ", ".join(etas))
        line = " · ".join(parts)
        toggles = (f"EMA {self.ema_weight:g}" if self.smoothing else "raw") + (" · log y" if self.log_scale else "")
        if len(runs) > 1 or self.wide:
            legend = "  ".join(f"[{run_color(r.index)}]■ {escape(r.label)}[/]" for r in runs)
            return f"{line}\n{legend}   ({toggles})"
        return f"{line} · {toggles}"

    # panels ---------------------------------------------------------------------------------------------------
    def _panel(self, name: str) -> ChartPanel:
        return self.query_one(f"#panel-{name}", ChartPanel)

    def _ticks_room(self, panel: ChartPanel) -> tuple[int, int, bool]:
        size = panel.size  # the chart's own size is stale while it is hidden behind a message
        width, height = max(size.width, 20), max(size.height - 1, 5)
        frame = height >= 12
        rows = height - (3 if frame else 1)
        return max(2, width // 9), max(2, rows // 2 + 1), frame

    def _draw_eval_panel(self, name: str, runs: list[_RunData]) -> None:
        panel = self._panel(name)
        if name == "eval":
            keys = [("HOTA", None), ("IDF1", None)]
            heading = "HOTA/IDF1"
        else:
            metric = name.split("-", 1)[1]
            classes: list[str] = []
            for run in runs:
                for row in run.evals:
                    for cls, values in row.get("per_class", {}).items():
                        if cls not in classes and finite_value(values.get(metric)) is not None:
                            classes.append(cls)
            keys = [(metric, cls) for cls in classes]
            heading = f"{metric} per class" if len(runs) == 1 else f"{metric} {'/'.join(classes)}"
        if self._reading(runs):
            panel.show_message(f"[b]{heading}[/b]", "reading train.log…")
            return
        if not any(run.evals for run in runs):
            update = self.evaluating(runs[0])
            detail = (f"evaluating ({update.task} {update.percent:.0f}%), ETA {chartmath.format_duration(update.eta_s)}"
                      if update is not None else self._eval_wait_detail(runs[0]))
            panel.show_message(f"[b]{heading}[/b]", f"waiting for the first eval\n{detail}")
            return
        if not keys:
            panel.show_message(f"[b]{heading}[/b]", "the evals carry no per-class metrics")
            return
        letters = _markers([cls or metric for metric, cls in keys])
        single = len(runs) == 1
        lines: list[Line] = []
        latest: list[str] = []
        for run in runs:
            values = []
            for index, (metric, cls) in enumerate(keys):
                xs, ys = eval_points(run.evals, metric, cls)
                color = SERIES_COLORS[index % len(SERIES_COLORS)] if single else run_color(run.index)
                lines.append(Line(xs, ys, plot_color(color), point_marker=letters[index]))
                value = ys[-1] if ys else None
                if single:  # the marker letter is the label's first letter: H(OTA), p(edestrian)
                    label = metric if cls is None else cls
                    latest.append(f"[{color}]{escape(label)} {fmt_value(value, '{:.1f}')}[/]")
                else:
                    values.append(fmt_value(value, "{:.1f}"))
            if len(runs) > 1:  # each run's latest values in the heading's order, in the run's colour
                latest.append(f"[{run_color(run.index)}]{escape(run.label)} {'/'.join(values)}[/]")
        xs_all = [x for line in lines for x in line.xs]
        ys_all = [y for line in lines for y in line.ys]
        references = {cls: self.previous_best[cls] for _metric, cls in keys
                      if name == "class-HOTA" and cls in self.previous_best
                      and math.isfinite(self.previous_best[cls])}  # the forgetting reference, kept in range
        y_range = chartmath.fit_range(ys_all, list(references.values()))
        x_ticks, y_rows, frame = self._ticks_room(panel)
        spec = PlotSpec(lines=lines, y_range=y_range, frame=frame, hline_color=TARGET_COLOR)
        if y_range is not None:
            spec.y_ticks = chartmath.linear_ticks(*y_range, y_rows)
            spec.hline = TARGET
            if not y_range[0] <= TARGET <= y_range[1]:  # the target off the range: marked at the near edge
                spec.edge_top = TARGET > y_range[1]
                spec.edge_note = f"{'▲' if spec.edge_top else '▼'}{TARGET:g}"
        if xs_all:
            spec.x_range, spec.x_ticks = _x_axis(min(xs_all), max(xs_all), x_ticks, whole=True)
        target = f" [{TARGET_COLOR}]━{TARGET:g}[/]"
        previous = []
        for index, (_metric, cls) in enumerate(keys):  # the previous stage's best per class: a line each
            best = references.get(cls)
            if best is not None:
                color = SERIES_COLORS[index % len(SERIES_COLORS)]
                previous.append(f"[{color}]{letters[index]}{best:.1f}[/]")
                spec.ref_lines.append((best, plot_color(color)))
        latest += [f"prev. stage best {' '.join(previous)}"] if previous else []
        panel.show_plot(f"[b]{heading}[/b]{target} " + " ".join(latest), spec)

    @staticmethod
    def _reading(runs: list[_RunData]) -> bool:
        """The selected run's train.log exists but its first lines have not been parsed yet."""
        watch = runs[0].watch
        return watch.version == 0 and watch.path.exists()

    def _eval_wait_detail(self, run: _RunData) -> str:
        status = run.status
        if status.get("epoch") is None:
            return "(training has not logged a step yet)"
        return f"(epoch {status['epoch']}/{status.get('epochs') or '?'}: evals run after each epoch)"

    def _draw_step_panel(self, name: str, runs: list[_RunData]) -> None:
        panel = self._panel(name)
        smoothing = self.smoothing and name in SMOOTHED
        weight = self.ema_weight
        title = STEP_TITLES[name] + (f" EMA {weight:g}" if smoothing else "") + (" log" if self.log_scale else "")
        if self._reading(runs):
            panel.show_message(f"[b]{title}[/b]", "reading train.log…")
            return
        if not any(len(run.arrays["steps"]) for run in runs):
            panel.show_message(f"[b]{title}[/b]", "waiting for the first step")
            return
        x_ticks, y_rows, frame = self._ticks_room(panel)
        buckets = 2 * max(10, panel.size.width)  # 1-2 buckets a column (braille: 2 dots a column)
        lines: list[Line] = []
        latest: list[str] = []
        for run in runs:
            steps = run.arrays["steps"]
            raw = run.arrays[name]
            if not len(steps):
                continue
            # Raw values as an envelope (each bucket's min and max: spikes stay visible), dim under the smoothed
            # line; overlaid runs are drawn smoothed only when smoothing is on (readable, and half the drawing).
            if not smoothing or run.index == 0:
                lines += _envelope(*self._reduced(run, name, "raw", raw, buckets),
                                   plot_color(run_color(run.index, dim=smoothing)))
            smooth_value = None
            if smoothing:
                smoothed = self._smoothed(run, name, weight)
                smooth_value = chartmath.last_finite(smoothed)
                x, low, high = self._reduced(run, name, f"ema {weight}", smoothed, buckets)
                lines.append(Line(x.tolist(), ((low + high) / 2).tolist(), plot_color(run_color(run.index))))
            value = chartmath.last_finite(raw)
            if len(runs) == 1:
                text = fmt_value(value) + (f" (smoothed {fmt_value(smooth_value)})" if smoothing else "")
            else:  # one number per run: the smoothed one when smoothing
                text = f"{escape(run.label)} {fmt_value(smooth_value if smoothing else value)}"
            latest.append(f"[{run_color(run.index)}]{text}[/]")
        ys_all = [y for line in lines for y in line.ys]
        xs_all = [x for line in lines for x in line.xs]
        spec = PlotSpec(lines=lines, frame=frame)
        if self.log_scale:
            y_range = chartmath.fit_log10_range(ys_all)  # already log10 values: no clamp at 0
            if y_range is not None:
                spec.y_ticks = chartmath.log_ticks(*y_range, y_rows)
        else:
            y_range = chartmath.fit_range(ys_all)
            if y_range is not None:
                spec.y_ticks = chartmath.linear_ticks(*y_range, y_rows)
        spec.y_range = y_range
        if xs_all:
            spec.x_range, spec.x_ticks = _x_axis(min(xs_all), max(xs_all), x_ticks, whole=True)
        if not lines or y_range is None:
            panel.show_message(f"[b]{title}[/b]", "no finite values" + (" above 0" if self.log_scale else ""))
            return
        panel.show_plot(f"[b]{title}[/b] " + " ".join(latest), spec)

    def _reduced(self, run: _RunData, name: str, variant: str, values: Any, buckets: int) -> tuple[Any, Any, Any]:
        """``values`` downsampled against the run's steps (log10 first on a log axis), incrementally: an append
        reduces only the last bucket, and an overlay that does not change costs nothing."""
        key = (run.watch.run_dir, name, variant, self.log_scale)
        reducer = self._buckets.get(key)
        if reducer is None:
            reducer = self._buckets[key] = chartmath.MinMaxBuckets(
                chartmath.log10_positive if self.log_scale else None)
        return reducer.update(run.arrays["steps"], values, buckets, source=run.arrays["source"])

    def _smoothed(self, run: _RunData, name: str, weight: float) -> Any:
        """The run's EMA of ``name``, extended by the appended steps only (a 500k-step history is smoothed once)."""
        import numpy as np

        arrays = run.arrays
        values = arrays[name]
        key = (run.watch.run_dir, name, weight)
        cache = self._ema.get(key)
        if cache is None or cache.source is not arrays["source"] or cache.count > len(values):
            cache = _EmaCache(arrays["source"], 0, np.empty(0), chartmath.EmaState())
        if len(values) > cache.count:
            new, cache.state = chartmath.ema(values[cache.count:], weight, cache.state)
            cache.values = np.concatenate([cache.values, new])
            cache.count = len(values)
        self._ema[key] = cache
        return cache.values


def _stop_aside(followers: list[RunWatch | ProgressFollower]) -> None:
    """Stop tailers in a thread: a stop joins a reader thread that may be in the middle of parsing a big log."""
    if followers:
        threading.Thread(target=lambda: [f.stop() for f in followers], name="charts:stop", daemon=True).start()


def _envelope(x: Any, low: Any, high: Any, color: Any) -> list[Line]:
    """One line where every bucket holds one point, else a line through the minima and one through the maxima."""
    import numpy as np

    if np.array_equal(low, high):
        return [Line(x.tolist(), low.tolist(), color)]
    return [Line(x.tolist(), low.tolist(), color), Line(x.tolist(), high.tolist(), color)]


def _markers(names: list[str]) -> list[str]:
    """One letter per series (H for HOTA, I for IDF1, p for pedestrian...); digits where first letters clash."""
    letters = [name[:1] or "?" for name in names]
    if len(set(letters)) < len(letters):
        return [str(index + 1) for index in range(len(names))]
    return letters


def _x_axis(low: float, high: float, max_ticks: int,
            whole: bool) -> tuple[tuple[float, float], tuple[list[float], list[str]]]:
    if high <= low:  # one point: a unit range around it
        return (low - 1, high + 1), ([low], [chartmath.format_number(low)])
    return (low, high), chartmath.linear_ticks(low, high, max_ticks, 1.0 if whole else 0.0)


def eval_points(evals: list[dict[str, Any]], metric: str, cls: str | None = None) -> tuple[list[float], list[float]]:
    """(epochs, values) of one metric over the eval rows (per class when ``cls``), finite values only."""
    xs, ys = [], []
    for index, row in enumerate(evals):
        source = row.get("per_class", {}).get(cls, {}) if cls is not None else row
        value = source.get(metric)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            epoch = row.get("epoch")
            xs.append(float(epoch) if isinstance(epoch, (int, float)) else float(index + 1))
            ys.append(float(value))
    return xs, ys
