"""The control center: stages, budget editor, live charts, jobs and machine, all by keyboard.

The app never imports torch: it reads files (config.toml, train.log, job.json, queue.json) with the core's torch-free
modules and starts the core's commands as detached subprocesses (see launch.py).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult, ScreenStackError, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.validation import Integer, Number
from textual.widgets import Checkbox, DataTable, Footer, Input, Label, Static, TabbedContent, TabPane

from motip.alerts import Alert, gpu_idle, machine_alerts, run_alerts
from motip.errors import MotipError
from motip.jobs import JobInfo, find_jobs, jobs_dir, logout_kills_processes, stop_job
from motip.progress import parse_progress_line
from motip.rundir import run_state
from motip.workspace import SOURCE_LABELS, SOURCES, Stage, Workspace, apply_stage, load_workspace, update_workspace
from motip_tui import launch
from motip_tui.alerts import banner_class, banner_text
from motip_tui.machine import Machine, MachineSample
from motip_tui.runs import RunIndex, RunSummary, budget_mix, estimate_stage, sources_match_stage, stage_of_run
from motip_tui.screens.modals import CommandScreen, ConfirmScreen, HelpScreen
from motip_tui.watch import RunWatch
from motip_tui.widgets.charts import TARGET, Chart, bucket_means, downsample, log10_series

VIEWS = ("stages", "budgets", "charts", "jobs", "machine")


class DataArrived(Message):
    """Posted from a tailer thread (post_message is thread-safe): redraw now instead of at the next timer tick."""


def skip_while_closing(method: Callable[..., None]) -> Callable[..., None]:
    """Timers and thread callbacks may fire while the app tears its widgets down: then there is nothing to update."""
    @functools.wraps(method)
    def wrapper(self: MotipApp, *args: Any, **kwargs: Any) -> None:
        try:
            method(self, *args, **kwargs)
        except (NoMatches, ScreenStackError):  # the widgets always exist while the app runs: this is the teardown
            pass
    return wrapper


class MotipApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "motip control center"
    BINDINGS = [
        *[Binding(str(i + 1), f"view('{name}')", name.title(), show=False) for i, name in enumerate(VIEWS)],
        # Inside the budget editor digits and letters are typed into the fields: F1-F5 and ctrl+q work everywhere,
        # so Esc (delayed 500 ms by tmux) is never the only way out of an input.
        *[Binding(f"f{i + 1}", f"view('{name}')", name.title(), show=False, priority=True)
          for i, name in enumerate(VIEWS)],
        Binding("ctrl+q", "quit_app", "Quit", show=False, priority=True),
        Binding("escape", "leave_editor", "Leave editor", show=False),
        Binding("b", "build", "Build"),
        Binding("t", "train", "Train"),
        Binding("s", "stop", "Stop"),
        Binding("v", "viz", "Viz"),
        Binding("d", "dashboard", "Dash"),
        Binding("e", "edit", "Edit"),
        Binding("c", "compare", "Compare", show=False),
        Binding("o", "queue_start", "Queue", show=False),
        Binding("O", "queue_stop", "Stop queue", show=False),
        Binding("r", "rescan", "Rescan", show=False),
        Binding("ctrl+s", "save", "Save", show=False),
        Binding("a", "apply_stage", "Apply stage", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit_app", "Quit"),
    ]

    def __init__(self, config_path: Path, *, refresh_s: float = 0.25, poll_s: float = 0.5,
                 use_watchdog: bool = True) -> None:
        super().__init__()
        self.config_path = config_path.absolute()
        self.root = self.config_path.parent
        self.refresh_s = refresh_s
        self.poll_s = poll_s
        self.use_watchdog = use_watchdog
        self.workspace: Workspace | None = None
        self.workspace_error: str | None = None
        self.runs: list[RunSummary] = []
        self.runs_by_stage: dict[str, list[RunSummary]] = {}
        self.jobs: list[JobInfo] = []
        self.stage_index = 0
        self.selected_run: RunSummary | None = None
        self.compare_run: RunSummary | None = None
        self.watch: RunWatch | None = None
        self.compare_watch: RunWatch | None = None
        self._drawn: tuple[Any, ...] = ()
        self.build_status: dict[str, Any] | None = None
        self.machine = Machine(self.root)
        self.run_index = RunIndex(self.root)
        self.machine_sample: MachineSample | None = None
        self._idle_gpu_samples = 0
        self.alerts: list[Alert] = []
        self.queue_state: dict[str, Any] | None = None
        self.quit_message = ""

    # -- layout ----------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with TabbedContent(initial="stages", id="views"):
            with TabPane("1 Stages", id="stages"):
                yield DataTable(id="stage-table", cursor_type="row", zebra_stripes=True)
                yield Static(id="stage-detail")
                yield DataTable(id="run-table", cursor_type="row")
            with TabPane("2 Budgets", id="budgets"):
                with VerticalScroll():
                    yield Static(id="budget-status")
                    with Grid(id="budget-grid"):
                        yield Label("source")
                        yield Label("frame_budget")
                        yield Label("stage budget")
                        for source in SOURCES:
                            yield Checkbox(SOURCE_LABELS[source], id=f"enabled-{source}", compact=True)
                            yield Input(id=f"budget-{source}", type="integer", validators=[Integer(minimum=0)], compact=True)
                            yield Input(id=f"stage-budget-{source}", type="integer", validators=[Integer(minimum=0)], compact=True)
                    with Horizontal(classes="fields"):
                        yield Label("seed")
                        yield Input(id="seed", type="integer", validators=[Integer(minimum=0)], compact=True)
                        yield Label("epochs")
                        yield Input(id="stage-epochs", type="integer", validators=[Integer(minimum=1)], compact=True)
                    with Horizontal(classes="fields"):
                        yield Label("h/epoch")
                        yield Input(id="stage-hours", type="number", validators=[Number(minimum=0)], compact=True)
                        yield Label("$/hour")
                        yield Input(id="stage-cost", type="number", validators=[Number(minimum=0)], compact=True)
                    yield Static(id="budget-diff")
            with TabPane("3 Charts", id="charts"):
                yield Static(id="chart-title")
                with Grid(id="chart-grid"):
                    yield Chart("HOTA / IDF1 per epoch", hline=TARGET, id="chart-eval")
                    yield Chart("loss (smoothed, raw min/max)", id="chart-loss")
                    yield Chart("grad norm (log10)", id="chart-grad")
                    yield Chart("lr", id="chart-lr")
            with TabPane("4 Jobs", id="jobs"):
                yield DataTable(id="job-table", cursor_type="row")
                yield Static(id="queue-status")
                yield Static(id="job-tail")
            with TabPane("5 Machine", id="machine"):
                yield Static(id="machine-text")
        yield Static(id="alerts")
        yield Static(id="message")
        yield Footer()

    def on_mount(self) -> None:
        self.ui("#stage-table", DataTable).add_columns("stage", "budgets, mix", "ep", "built", "runs",
                                                              "HOTA/IDF1", "estimate")
        self.ui("#run-table", DataTable).add_columns("run", "state", "epoch", "HOTA", "IDF1", "s/step", "note")
        self.ui("#job-table", DataTable).add_columns("job", "kind", "state", "elapsed", "progress", "exit")
        self.load_workspace()
        self.rescan()
        self.set_interval(self.refresh_s, self.refresh_charts)
        self.set_interval(2.0, self.refresh_jobs)
        self.set_interval(10.0, self.rescan)
        self.set_interval(5.0, self.sample_machine)
        self.sample_machine()
        self.ui("#stage-table", DataTable).focus()
        if logout_kills_processes():
            self.say("warning: systemd KillUserProcesses=yes -- logging out kills even detached jobs", "warning")

    def on_unmount(self) -> None:
        for watch in (self.watch, self.compare_watch):
            if watch is not None:
                watch.stop()

    @property
    def main_screen(self) -> Screen:
        """The views live on the first screen; self.query_one would search a dialog on top of it instead."""
        stack = self.screen_stack
        return stack[0] if stack else self.screen

    def ui(self, selector: str, expect_type: type[Any] | None = None) -> Any:
        if expect_type is None:
            return self.main_screen.query_one(selector)
        return self.main_screen.query_one(selector, expect_type)

    def say(self, text: str, level: str = "info") -> None:
        message = self.ui("#message", Static)
        message.update(text)
        message.set_classes(level)

    # -- workspace -------------------------------------------------------------------------------------------
    @property
    def readonly(self) -> bool:
        return self.workspace is None

    def load_workspace(self) -> None:
        try:
            self.workspace = load_workspace(self.config_path)
            self.workspace_error = None
        except MotipError as err:
            self.workspace = None
            if not self.config_path.exists():
                self.workspace_error = (f"No config.toml in {self.root}. Open a workspace with "
                                        "`motip-tui --config PATH`, or create the demo one with `motip-tui --demo DIR`.")
            else:
                self.workspace_error = f"{err} -- read-only view: the file is not touched until it is fixed."
        self.refresh_stage_table()
        self.fill_editor()
        if self.workspace_error:
            self.say(self.workspace_error, "error")

    @property
    def stages(self) -> list[Stage]:
        return self.workspace.stages if self.workspace else []

    @property
    def stage(self) -> Stage | None:
        stages = self.stages
        return stages[min(self.stage_index, len(stages) - 1)] if stages else None

    # -- scanning runs and jobs (thread: big logs must not block the UI) -----------------------------------
    @work(thread=True, exclusive=True, group="scan")
    def rescan(self) -> None:
        import numpy  # noqa: F401 -- warm it here, off the UI thread: the first chart draw needs it
        if self.selected_run is None:
            # Start tailing the newest run at once; summaries of every run (big logs) come after.
            newest = self.run_index.newest()
            if newest is not None:
                self.call_from_thread(self.select_run, RunSummary(name=newest.name, dir=newest))
        watch = self.watch
        deadline = time.monotonic() + 5.0
        while watch is not None and not watch.version and time.monotonic() < deadline:
            time.sleep(0.05)  # let the watched run's first data (a big log's preview) go first, uncontended
        # A watched run that has delivered data is summarized from its watch (a big log is not read twice).
        runs = self.run_index.scan({watch.run_dir: watch.summary} if watch is not None and watch.version else None)
        jobs = find_jobs(self.root / launch_outputs(), jobs_dir(self.root))
        status = None
        if self.workspace is not None:
            try:
                from motip.data.builder import build_status  # torch-free; lands with the data engineer's work

                status = build_status(self.workspace)
            except Exception as err:  # noqa: BLE001 -- unknown is better than a crash
                status = {"built": None, "problem": f"unknown ({type(err).__name__})"}
        queue_state = read_queue(self.root)
        self.call_from_thread(self._apply_scan, runs, jobs, status, queue_state)

    @skip_while_closing
    def _apply_scan(self, runs: list[RunSummary], jobs: list[JobInfo], status: dict[str, Any] | None,
                    queue_state: dict[str, Any] | None) -> None:
        self.runs, self.jobs, self.build_status, self.queue_state = runs, jobs, status, queue_state
        self.runs_by_stage = {}
        for run in runs:
            stage = stage_of_run(run, self.stages, self.root)
            self.runs_by_stage.setdefault(stage.name if stage else "(no stage)", []).append(run)
        self.refresh_stage_table()
        self.refresh_run_table()
        self.refresh_job_table()
        if self.selected_run is not None:  # a fresher summary of the same folder
            self.selected_run = next((r for r in runs if r.dir == self.selected_run.dir), self.selected_run)
        else:
            runs_here = self.stage_runs()
            if runs_here:
                self.select_run(runs_here[-1])

    def stage_runs(self) -> list[RunSummary]:
        stage = self.stage
        if stage is None:
            return self.runs
        return self.runs_by_stage.get(stage.name, [])

    def refresh_stage_table(self) -> None:
        table = self.ui("#stage-table", DataTable)
        table.clear()
        for stage in self.stages:
            runs = self.runs_by_stage.get(stage.name, [])
            hota = max((r.best_hota for r in runs if r.best_hota is not None), default=None)
            idf1 = max((r.best_idf1 for r in runs if r.best_idf1 is not None), default=None)
            estimate = estimate_stage(stage, self.runs_by_stage, self.stages)
            est = f"{estimate.hours:.1f}h ${estimate.cost:.0f}" + ("*" if estimate.measured else "")
            table.add_row(stage.name, budget_mix(stage), str(stage.epochs), self.built_text(stage), str(len(runs)),
                          f"{fmt(hota)}/{fmt(idf1)}", est, key=stage.name)
        if self.stages:
            table.move_cursor(row=min(self.stage_index, len(self.stages) - 1))
        self.refresh_stage_detail()

    def built_text(self, stage: Stage) -> str:
        status = self.build_status
        if not status or status.get("built") is None:
            return "unknown"
        if not status.get("built"):
            return "no"
        return "yes" if self.workspace and sources_match_stage(self.workspace, stage) else "other"

    def refresh_stage_detail(self) -> None:
        detail = self.ui("#stage-detail", Static)
        stage = self.stage
        if self.workspace_error and stage is None:
            detail.update(self.workspace_error)
            return
        if stage is None:
            detail.update("No [[stages]] in config.toml.")
            return
        estimate = estimate_stage(stage, self.runs_by_stage, self.stages)
        status = self.build_status or {}
        fingerprint = status.get("val_fingerprint") or status.get("problem") or "unknown"
        detail.update(f"[b]{stage.name}[/b]  config {rel(stage.config, self.root)}  "
                      f"val fingerprint {str(fingerprint)[:16]}\n"
                      f"estimate {estimate.hours:.1f} h, ${estimate.cost:.2f} ({estimate.basis})")

    def refresh_run_table(self) -> None:
        table = self.ui("#run-table", DataTable)
        table.clear()
        for run in self.stage_runs():
            note = run.problem or (f"{run.bad_lines} bad lines" if run.bad_lines else "")
            if self.compare_run is not None and run.dir == self.compare_run.dir:
                note = ("compare " + note).strip()
            table.add_row(run.name, run.state, fmt(run.epoch), fmt(run.best_hota), fmt(run.best_idf1),
                          fmt(run.s_per_step, "{:.2f}"), note, key=str(run.dir))
        selected = [i for i, r in enumerate(self.stage_runs()) if self.selected_run and r.dir == self.selected_run.dir]
        if selected:
            table.move_cursor(row=selected[0])

    @on(DataTable.RowHighlighted, "#stage-table")
    def stage_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Only the user's moves count: refilling the table also highlights rows.
        if event.data_table.has_focus and event.cursor_row != self.stage_index:
            self.stage_index = event.cursor_row
            self.refresh_stage_detail()
            self.refresh_run_table()
            self.fill_editor()

    @on(DataTable.RowHighlighted, "#run-table")
    def run_highlighted(self, event: DataTable.RowHighlighted) -> None:
        runs = self.stage_runs()
        if event.data_table.has_focus and 0 <= event.cursor_row < len(runs) and (self.selected_run is None
                                                   or runs[event.cursor_row].dir != self.selected_run.dir):
            self.select_run(runs[event.cursor_row])

    def select_run(self, run: RunSummary) -> None:
        if self.watch is not None and self.watch.run_dir == run.dir:
            self.selected_run = run  # same folder, fresher summary: keep tailing
            return
        self.selected_run = run
        if self.watch is not None:
            self.watch.stop()
        self.watch = RunWatch(run.dir, poll_s=self.poll_s, use_watchdog=self.use_watchdog,
                              on_change=self.data_arrived).start()
        self._drawn = ()

    def highlighted_run(self) -> RunSummary | None:
        table = self.ui("#run-table", DataTable)
        runs = self.stage_runs()
        if 0 <= table.cursor_row < len(runs):
            return runs[table.cursor_row]
        return self.selected_run

    # -- charts ----------------------------------------------------------------------------------------------
    def data_arrived(self) -> None:
        self.post_message(DataArrived())

    def on_data_arrived(self, _message: DataArrived) -> None:
        self.refresh_charts()

    @skip_while_closing
    def refresh_charts(self) -> None:
        """Redraw only when the charts view is visible and new data arrived (idle CPU stays near zero)."""
        watch = self.watch
        if watch is None or self.ui("#views", TabbedContent).active != "charts":
            return
        key = (id(watch), watch.version, id(self.compare_watch),
               self.compare_watch.version if self.compare_watch else None, self.size)
        if key == self._drawn:
            return
        self._drawn = key
        self.draw_charts()
        watch.drawn.set()

    def draw_charts(self) -> None:
        watch = self.watch
        assert watch is not None
        arrays = watch.arrays()
        with watch.lock:
            evals = list(watch.log.eval)
            status = dict(watch.log.status)
        steps = arrays["steps"]
        series = arrays
        width = max(10, self.ui("#chart-loss", Chart).size.width)
        eval_series = []
        for metric, color in (("HOTA", "cyan"), ("IDF1", "green")):
            xs, ys = eval_points(evals, metric)
            eval_series.append((metric, xs, ys, color))
        if self.compare_watch is not None:
            with self.compare_watch.lock:
                other = list(self.compare_watch.log.eval)
            for metric, color in (("HOTA", "magenta"), ("IDF1", "yellow")):
                xs, ys = eval_points(other, metric)
                eval_series.append((f"{metric} {self.compare_watch.run_dir.name[:12]}", xs, ys, color))
        self.ui("#chart-eval", Chart).draw(eval_series)
        raw_x, raw_y = downsample(steps, series["loss"], width)
        smooth_x, smooth_y = bucket_means(steps, series["loss"], width)
        self.ui("#chart-loss", Chart).draw([("raw", raw_x, raw_y, "gray"), ("smoothed", smooth_x, smooth_y, "orange")])
        gx, gy = downsample(steps, log10_series(series["grad_norm"]), width)  # log scale by hand (see charts.py)
        self.ui("#chart-grad", Chart).draw([("log10 grad", gx, gy, "red")])
        lx, ly = downsample(steps, series["lr"], width)
        self.ui("#chart-lr", Chart).draw([("lr", lx, ly, "blue")])
        # The state the run table shows (motip.rundir.run_state), not train.log's: a killed run has no [end] line.
        state = next((r.state for r in self.runs if r.dir == watch.run_dir), None) or run_state(watch.run_dir).state
        title = (f"[b]{watch.run_dir.name}[/b] {state} epoch {fmt(status.get('epoch'))} "
                 f"step {fmt(status.get('global_step'))}  {len(steps)} steps, {len(evals)} evals")
        if self.compare_watch is not None:
            title += f"  vs {self.compare_watch.run_dir.name}"
        self.ui("#chart-title", Static).update(title)
        self.update_alerts()

    def update_alerts(self) -> None:
        alerts: list[Alert] = []
        if self.watch is not None:
            previous = self.previous_stage_best()
            try:
                mtime = self.watch.path.stat().st_mtime
            except OSError:
                mtime = None
            with self.watch.lock:
                alerts += run_alerts(self.watch.log, previous_best_class_hota=previous, log_mtime=mtime)
        sample = self.machine_sample
        if sample is not None:
            training = any(j.kind == "train" and j.state == "running" for j in self.jobs)
            alerts += machine_alerts(sample.disk_free_gb, [g.util for g in sample.gpus], training,
                                     self._idle_gpu_samples)
        self.alerts = alerts
        widget = self.ui("#alerts", Static)
        widget.update(banner_text(alerts))
        widget.set_classes(banner_class(alerts))

    def previous_stage_best(self) -> dict[str, float]:
        """Best per-class HOTA over the runs of the stage before the selected run's stage (for forgetting)."""
        if self.selected_run is None:
            return {}
        stage = stage_of_run(self.selected_run, self.stages, self.root)
        if stage is None or self.stages.index(stage) == 0:
            return {}
        previous = self.stages[self.stages.index(stage) - 1]
        best: dict[str, float] = {}
        for run in self.runs_by_stage.get(previous.name, []):
            for cls_name, value in run.best_class_hota.items():
                best[cls_name] = max(value, best.get(cls_name, -math.inf))
        return best

    # -- jobs ------------------------------------------------------------------------------------------------
    @skip_while_closing
    def refresh_jobs(self) -> None:
        previous = {job.dir: job.state for job in self.jobs}
        self.jobs = find_jobs(self.root / launch_outputs(), jobs_dir(self.root))
        for job in self.jobs:
            if previous.get(job.dir) == "running" and job.state != "running":
                # Say it wherever the user is: a build done means "press t", a viz done means "look at it".
                result = export_result(job).strip().replace("\n", "; ") if job.exit_code == 0 else ""
                self.notify(f"{job.name}: {job.state} (exit {job.exit_code}) {result}".strip(),
                            severity="information" if job.exit_code == 0 else "error", timeout=10)
        self.queue_state = read_queue(self.root)
        if self.ui("#views", TabbedContent).active == "jobs":
            self.refresh_job_table()
        if self.watch is not None and self.ui("#views", TabbedContent).active != "charts":
            self.update_alerts()

    def refresh_job_table(self) -> None:
        table = self.ui("#job-table", DataTable)
        row = table.cursor_row
        table.clear()
        for job in self.jobs:
            table.add_row(job.name[:28], job.kind, job.state, duration(job.elapsed_s), job_progress(job),
                          "" if job.exit_code is None else str(job.exit_code) + (f" {job.data.get('signal')}" if job.data.get("signal") else ""),
                          key=str(job.dir))
        if self.jobs:
            table.move_cursor(row=min(max(row, 0), len(self.jobs) - 1))
        self.refresh_job_tail()
        queue = self.ui("#queue-status", Static)
        queue.update(queue_text(self.queue_state))

    @on(DataTable.RowHighlighted, "#job-table")
    @skip_while_closing
    def job_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self.refresh_job_tail()

    def selected_job(self) -> JobInfo | None:
        table = self.ui("#job-table", DataTable)
        if 0 <= table.cursor_row < len(self.jobs):
            return self.jobs[table.cursor_row]
        return None

    def refresh_job_tail(self) -> None:
        job = self.selected_job()
        tail = self.ui("#job-tail", Static)
        if job is None:
            tail.update("No jobs yet: b builds, t trains.")
            return
        from rich.markup import escape

        if job.error is not None:  # a damaged job.json: say which file, never guess at its process
            tail.update(f"[b]{escape(job.name)}[/b] unreadable\n" + escape(job.error.render()))
            return
        lines = [line for line in job.tail(40) if parse_progress_line(line) is None][-10:]
        head = f"[b]{job.name}[/b] {job.state}"
        if job.exit_code not in (None, 0):
            head += f" -- exit status {job.exit_code}; last lines:"
        elif job.exit_code == 0:
            head += export_result(job)
        from rich.markup import escape

        tail.update(head + "\n" + "\n".join(escape(line[:200]) for line in lines))

    # -- machine ---------------------------------------------------------------------------------------------
    @skip_while_closing
    def sample_machine(self) -> None:
        sample = self.machine.sample(self.jobs)
        self.machine_sample = sample
        training = any(j.kind == "train" and j.state == "running" for j in self.jobs)
        if training and gpu_idle([g.util for g in sample.gpus]):
            self._idle_gpu_samples += 1
        else:
            self._idle_gpu_samples = 0
        lines = [f"CPU {sample.cpu:5.1f}%   RAM {sample.ram_used_gb:.1f}/{sample.ram_total_gb:.1f} GB   "
                 f"disk free {fmt(sample.disk_free_gb, '{:.1f}')}/{fmt(sample.disk_total_gb, '{:.0f}')} GB ({self.root})"]
        for gpu in sample.gpus:
            lines.append(f"GPU{gpu.index} {gpu.name}: {gpu.util:.0f}%  {gpu.mem_used_gb:.1f}/{gpu.mem_total_gb:.1f} GB  "
                         f"{gpu.temp_c:.0f}C")
        if not sample.gpus:
            lines.append("(no GPU found: GPU panel hidden)")
        for usage in sample.jobs:
            lines.append(f"job {usage.name[:30]}: CPU {usage.cpu:.0f}%  RSS {usage.rss_gb:.2f} GB")
        self.ui("#machine-text", Static).update("\n".join(lines))

    # -- budget editor ---------------------------------------------------------------------------------------
    def fill_editor(self) -> None:
        ws = self.workspace
        status = self.ui("#budget-status", Static)
        for widget in self.main_screen.query("#budgets Input, #budgets Checkbox"):
            widget.disabled = ws is None
        if ws is None:
            status.update(self.workspace_error or "no workspace")
            return
        for source in SOURCES:
            box = self.ui(f"#enabled-{source}", Checkbox)
            box.value = ws.sources[source].enabled
            box.label = f"{SOURCE_LABELS[source]} {'on' if box.value else 'off'}"
            self.ui(f"#budget-{source}", Input).value = str(ws.sources[source].frame_budget)
        self.ui("#seed", Input).value = str(ws.builder.seed)
        stage = self.stage
        for source in SOURCES:
            field = self.ui(f"#stage-budget-{source}", Input)
            field.value = str(stage.budgets.get(source, 0)) if stage else ""
            field.disabled = stage is None
        for field_id, value in (("stage-epochs", stage.epochs if stage else ""),
                                ("stage-hours", stage.hours_per_epoch if stage else ""),
                                ("stage-cost", stage.cost_per_hour if stage else "")):
            widget = self.ui(f"#{field_id}", Input)
            widget.value = str(value)
            widget.disabled = stage is None
        # Custom [sources.NAME] sources have no editor row (the grid holds the three built-in ones): shown, not hidden.
        custom = [s for s in ws.sources.values() if s.custom]
        listed = "; ".join(f"{s.name} {'on' if s.enabled else 'off'} frame_budget {s.frame_budget}"
                           + (f", stage budget {stage.budgets.get(s.name, 0)}" if stage else "") for s in custom)
        status.update(f"{rel(ws.path, self.root)}  stage: {stage.name if stage else '-'}   "
                      "ctrl+s save, a apply stage budgets to the sources"
                      + (f"\ncustom sources (edit them in config.toml; a applies them too): {listed}" if custom else ""))
        self.show_pending()

    def editor_changes(self) -> tuple[dict[str, Any], list[str]]:
        """The edits as update_workspace changes, and the problems that forbid saving."""
        ws = self.workspace
        if ws is None:
            return {}, ["read-only"]
        changes: dict[str, Any] = {}
        problems: list[str] = []

        def number(field_id: str, cast: type, label: str) -> Any:
            widget = self.ui(f"#{field_id}", Input)
            result = widget.validate(widget.value)
            if result is not None and not result.is_valid:
                problems.append(f"{label}: {'; '.join(result.failure_descriptions)}")
                return None
            try:
                return cast(widget.value)
            except ValueError:
                problems.append(f"{label}: not a number")
                return None

        for source in SOURCES:
            enabled = self.ui(f"#enabled-{source}", Checkbox).value
            if enabled != ws.sources[source].enabled:
                changes[f"{source}.enabled"] = enabled
            budget = number(f"budget-{source}", int, f"{source}.frame_budget")
            if budget is not None and budget != ws.sources[source].frame_budget:
                changes[f"{source}.frame_budget"] = budget
        seed = number("seed", int, "builder.seed")
        if seed is not None and seed != ws.builder.seed:
            changes["builder.seed"] = seed
        stage = self.stage
        if stage is not None:
            index = self.stages.index(stage)
            budgets = dict(stage.budgets)
            for source in SOURCES:
                value = number(f"stage-budget-{source}", int, f"{stage.name} {source} budget")
                if value is not None and value != stage.budgets.get(source, 0):
                    budgets[source] = value
            if budgets != stage.budgets:
                changes[f"stages.{index}.budgets"] = budgets
            for field_id, key, cast, old in (("stage-epochs", "epochs", int, stage.epochs),
                                             ("stage-hours", "hours_per_epoch", float, stage.hours_per_epoch),
                                             ("stage-cost", "cost_per_hour", float, stage.cost_per_hour)):
                value = number(field_id, cast, f"{stage.name} {key}")
                if value is not None and value != old:
                    changes[f"stages.{index}.{key}"] = value
        return changes, problems

    def show_pending(self) -> None:
        changes, problems = self.editor_changes()
        text = []
        if problems and not self.readonly:
            text.append("[b red]invalid, not saved:[/] " + "; ".join(problems))
        if changes:
            text.append("unsaved: " + ", ".join(f"{k} = {v}" for k, v in changes.items()))
        self.ui("#budget-diff", Static).update("\n".join(text) or "no unsaved changes")

    @on(Checkbox.Changed, "#budgets Checkbox")
    def checkbox_changed(self, event: Checkbox.Changed) -> None:
        # The word says it too: with NO_COLOR the box alone does not show its state.
        source = (event.checkbox.id or "").removeprefix("enabled-")
        event.checkbox.label = f"{SOURCE_LABELS.get(source, source)} {'on' if event.value else 'off'}"
        self.editor_changed()

    @on(Input.Changed, "#budgets Input")
    def editor_changed(self) -> None:
        if self.workspace is not None:
            try:
                self.show_pending()
            except NoMatches:  # events that arrive while the app shuts down
                pass

    def action_save(self) -> None:
        if self.readonly:
            self.say("read-only: config.toml could not be read; nothing written", "error")
            return
        changes, problems = self.editor_changes()
        if problems:
            self.say("not saved: " + "; ".join(problems), "error")
            return
        if not changes:
            self.say("nothing to save")
            return
        try:
            self.workspace = update_workspace(self.config_path, changes)
        except MotipError as err:
            self.say(f"not saved: {err}", "error")
            return
        self.say(f"saved {len(changes)} change(s) to {self.config_path.name}")
        self.refresh_stage_table()
        self.fill_editor()

    def action_apply_stage(self) -> None:
        stage = self.stage
        if self.readonly or stage is None:
            self.say("no stage to apply", "error")
            return
        try:
            self.workspace = apply_stage(self.config_path, stage.name)
        except MotipError as err:
            self.say(f"not applied: {err}", "error")
            return
        self.say(f"applied {stage.name}'s budgets to the source sections")
        self.refresh_stage_table()
        self.fill_editor()

    # -- actions ---------------------------------------------------------------------------------------------
    def action_view(self, name: str) -> None:
        self.ui("#views", TabbedContent).active = name
        # Focus must move into the shown view: a focused widget in a hidden pane pulls its pane back to the front.
        focus = {"stages": "#stage-table", "jobs": "#job-table", "budgets": "#budget-dancetrack"}.get(name)
        self.ui(focus or "#views Tabs").focus()
        if name == "jobs":
            self.refresh_job_table()
        elif name == "charts":
            self._drawn = ()

    def action_edit(self) -> None:
        self.action_view("budgets")
        self.fill_editor()
        if not self.readonly:
            self.ui("#budget-dancetrack", Input).focus()

    def action_leave_editor(self) -> None:
        """Esc in the budget editor: back to the stage list (unsaved edits stay in the fields)."""
        if self.ui("#views", TabbedContent).active == "budgets":
            self.action_view("stages")

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_rescan(self) -> None:
        self.rescan()
        self.say("rescanning runs and jobs")

    def action_build(self) -> None:
        stage, ws = self.stage, self.workspace
        if ws is None:
            self.say("read-only: fix config.toml first", "error")
            return
        if stage is not None and not sources_match_stage(ws, stage):
            def answer(yes: bool | None) -> None:
                if yes:
                    self.action_apply_stage()
                    self.launch_build()
            self.push_screen(ConfirmScreen(f"Apply {stage.name}'s budgets to config.toml, then build?"), answer)
            return
        self.launch_build()

    def launch_build(self) -> None:
        assert self.workspace is not None
        name = f"build {self.stage.name}" if self.stage else "build"
        job = launch.start(self.root, launch.build_argv(self.workspace), "build", name)
        self.say(f"started {name} (pid {job.pid}): see the Jobs view (4)")
        self.refresh_jobs()

    def action_train(self) -> None:
        stage = self.stage
        if stage is None:
            self.say("select a stage first (needs a readable config.toml with [[stages]])", "error")
            return
        if not stage.config.exists():
            self.say(f"stage config not found: {stage.config}", "error")
            return
        self.preflight_training(stage)

    @work(thread=True, group="launch")
    def preflight_training(self, stage: Stage) -> None:
        """`motip doctor` (a subprocess, screens/doctor.py) before a GPU launch; a FAIL asks: launch anyway?"""
        from motip_tui.screens import doctor

        if not doctor.doctor_wanted(stage.config, self.root):
            self.call_from_thread(self.say, f"starting training of {stage.name}...")
            self.call_from_thread(self.start_training, stage)
            return
        self.call_from_thread(self.say, f"motip doctor: checking {stage.name} before the launch (up to a minute)...")
        outcome = doctor.run_doctor(self.root, stage.config)
        if outcome.ok:
            self.call_from_thread(self.say, f"doctor: {outcome.summary()}; starting training of {stage.name}...")
            self.call_from_thread(self.start_training, stage)
            return

        def answer(launch_anyway: bool | None) -> None:
            if launch_anyway:
                self.say(f"starting training of {stage.name} despite the doctor's FAILs...", "warning")
                self.start_training(stage)
            else:
                self.say(f"training of {stage.name} not started: {outcome.summary()}", "warning")
        self.call_from_thread(self.push_screen, doctor.DoctorScreen(stage.name, outcome), answer)

    @work(thread=True, group="launch")
    def start_training(self, stage: Stage) -> None:
        try:
            run_dir, message = launch.start_training(self.root, launch.train_argv(stage))
        except Exception as err:  # noqa: BLE001 -- shown to the user, never a crash
            run_dir, message = None, str(err)
        if run_dir is None:
            self.call_from_thread(self.say, f"training did not start: {message}", "error")
        else:
            self.call_from_thread(self.say, f"training {stage.name}: {message} (keeps running after q)")
            self.call_from_thread(self.rescan)

    def action_stop(self) -> None:
        job = self.selected_job() if self.ui("#views", TabbedContent).active == "jobs" else None
        if job is None and self.selected_run is not None:
            job = next((j for j in self.jobs if j.dir == self.selected_run.dir), None)
        if job is None or job.state != "running":
            self.say("no running job selected (Jobs view: highlight one)", "warning")
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.say(f"stopping {job.name}: SIGTERM, SIGKILL after 10 s")
                self.stop_in_thread(job)
        self.push_screen(ConfirmScreen(f"Stop {job.name} (pid {job.pid})? SIGTERM, then SIGKILL after 10 s."), answer)

    @work(thread=True, group="stop")
    def stop_in_thread(self, job: JobInfo) -> None:
        result = stop_job(job, grace_s=10.0)
        self.call_from_thread(self.say, f"{job.name}: {result}")
        self.call_from_thread(self.refresh_jobs)

    def action_viz(self) -> None:
        run = self.highlighted_run()
        if run is None or self.workspace is None:
            self.say("select a run first (Stages view, lower table)", "warning")
            return
        stage = stage_of_run(run, self.stages, self.root)
        self.launch_edited("viz", f"viz {run.name}", launch.viz_argv(self.workspace, run.dir, stage))

    def action_dashboard(self) -> None:
        run = self.highlighted_run()
        if run is None:
            self.say("select a run first (Stages view, lower table)", "warning")
            return
        self.launch_edited("dashboard", f"dashboard {run.name}", launch.dashboard_argv(run.dir))

    def launch_edited(self, kind: str, name: str, argv: list[str]) -> None:
        def go(edited: list[str] | None) -> None:
            if edited:
                job = launch.start(self.root, edited, kind, name)
                self.say(f"started {name} (pid {job.pid}): progress in the Jobs view (4)")
                self.refresh_jobs()
        self.push_screen(CommandScreen(f"{kind}: edit the command if needed", argv), go)

    def action_queue_start(self) -> None:
        if self.workspace is None or self.stage is None:
            self.say("no stages to queue", "error")
            return
        names = [s.name for s in self.stages[self.stages.index(self.stage):]]
        self.launch_edited("queue", "queue", launch.queue_start_argv(self.workspace, names))

    def action_queue_stop(self) -> None:
        if self.workspace is None:
            return
        job = launch.start(self.root, launch.queue_argv(self.workspace, "stop"), "queue", "queue stop")
        self.say(f"asked the queue to stop (job pid {job.pid})")

    def action_queue_resume(self) -> None:
        if self.workspace is None:
            return
        job = launch.start(self.root, launch.queue_argv(self.workspace, "resume"), "queue", "queue resume")
        self.say(f"asked the queue to resume (job pid {job.pid})")

    def action_compare(self) -> None:
        run = self.highlighted_run()
        if self.compare_watch is not None:
            self.compare_watch.stop()
            self.compare_watch = None
        if run is None or (self.compare_run is not None and run.dir == self.compare_run.dir):
            self.compare_run = None
            self.say("compare overlay cleared")
        else:
            self.compare_run = run
            self.compare_watch = RunWatch(run.dir, poll_s=self.poll_s, use_watchdog=self.use_watchdog,
                              on_change=self.data_arrived).start()
            self.say(f"comparing with {run.name} (c again on it to clear)")
        self._drawn = ()
        self.refresh_run_table()

    def action_quit_app(self) -> None:
        running = [j for j in self.jobs if j.state == "running"]
        if running:
            names = ", ".join(f"{j.name} (pid {j.pid})" for j in running)
            self.quit_message = f"{len(running)} job(s) keep running: {names}. Run motip-tui again to re-attach."
        else:
            self.quit_message = "no jobs running."
        self.exit(message=self.quit_message)

    def get_system_commands(self, screen: Screen) -> Any:
        yield from super().get_system_commands(screen)
        for key, title, action in (("b", "Build the selected stage's data", self.action_build),
                                   ("t", "Train the selected stage", self.action_train),
                                   ("s", "Stop the selected job", self.action_stop),
                                   ("v", "Export a viz of the selected run", self.action_viz),
                                   ("d", "Export the selected run's dashboard", self.action_dashboard),
                                   ("e", "Edit budgets", self.action_edit),
                                   ("a", "Apply the selected stage's budgets", self.action_apply_stage),
                                   ("c", "Compare: overlay the highlighted run", self.action_compare),
                                   ("o", "Start the overnight queue from the selected stage", self.action_queue_start),
                                   ("O", "Stop the queue", self.action_queue_stop),
                                   ("", "Resume the queue after a pause or stop", self.action_queue_resume)):
            yield SystemCommand(f"{title} ({key})" if key else title, title, action)


# -- small helpers -----------------------------------------------------------------------------------------------
def launch_outputs() -> str:
    from motip_tui.runs import OUTPUTS

    return OUTPUTS


def fmt(value: Any, pattern: str = "{:.1f}") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return pattern.format(value) if math.isfinite(value) else str(value)
    return str(value)


def rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def eval_points(evals: list[dict[str, Any]], metric: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for index, row in enumerate(evals):
        value = row.get(metric)
        if isinstance(value, (int, float)) and math.isfinite(value):
            xs.append(float(row.get("epoch") or index + 1))
            ys.append(float(value))
    return xs, ys


def job_progress(job: JobInfo) -> str:
    """The last PROGRESS line of a job's output, else the training step from its train.log."""
    for line in reversed(job.tail(30)):
        update = parse_progress_line(line)
        if update is not None:
            return f"{update.task} {update.percent:.0f}%"
    train_log = job.dir / "train.log"
    if job.kind == "train" and train_log.exists():
        status = parse_log_tail(train_log)
        if status:
            return status
    return ""


def parse_log_tail(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - 4096))
            lines = handle.read().decode("utf-8", errors="replace").splitlines()[1:]
    except OSError:
        return ""
    from motip.trainlog import parse_lines

    status = parse_lines(lines).status
    if status.get("epoch") is None:
        return ""
    return f"ep {status['epoch']} {status.get('step')}/{status.get('total_steps')}"


def argv_value(argv: list[str], *flags: str) -> str | None:
    for index, token in enumerate(argv[:-1]):
        if token in flags:
            return argv[index + 1]
    return None


def export_result(job: JobInfo) -> str:
    """What a finished export produced: viz output folder, summary counts and contact sheets; dashboard PNG."""
    argv = [str(a) for a in job.data.get("argv", [])]
    cwd = Path(job.data.get("cwd") or ".")
    if job.kind == "viz":
        out = argv_value(argv, "--output_dir", "--output-dir")
        if out is None:
            return ""
        folder = Path(out) if Path(out).is_absolute() else cwd / out
        from motip.jsonfile import try_read_json

        summary, error = try_read_json(folder / "summary.json", what="summary.json")
        if error is not None:
            return f"\noutput {folder} (no readable summary.json)"
        total = summary.get("total") if isinstance(summary.get("total"), dict) else {}
        counts = " ".join(f"{k}={total.get(k)}" for k in ("frames", "gt", "tp", "fn", "fp", "idsw") if k in total)
        sequences = summary.get("sequences") if isinstance(summary.get("sequences"), dict) else {}
        sheets = [str(folder / s["contact_sheet"]) for s in sequences.values()
                  if isinstance(s, dict) and isinstance(s.get("contact_sheet"), str)]
        return f"\noutput {folder}\n{counts}\ncontact sheet: {sheets[0] if sheets else '-'}" + (
            f" (+{len(sheets) - 1} more)" if len(sheets) > 1 else "")
    if job.kind == "dashboard":
        out = argv_value(argv, "--out")
        logs = [a for a in argv if a.endswith("train.log")]
        png = Path(out) if out else (Path(logs[0]).parent / "dashboard.png" if logs else None)
        return f"\nwrote {png}" if png else ""
    return ""


def read_queue(root: Path) -> dict[str, Any] | None:
    """queue.json checked by the core's reader; a damaged one becomes ``{"unreadable": message with its path}``."""
    from motip.queue import try_read_queue

    queue, error = try_read_queue(root)
    return {"unreadable": error.render()} if error is not None else queue


def queue_text(state: dict[str, Any] | None) -> str:
    if not state:
        return "queue: none (o starts one from the selected stage)"
    if state.get("unreadable"):
        from rich.markup import escape

        return escape(f"queue: unreadable -- {state['unreadable']}")
    parts = [f"queue: {state.get('state', '?')}"]
    if state.get("paused_reason"):
        parts.append(f"({state['paused_reason']})")
    for item in state.get("stages", state.get("items", [])) or []:
        if isinstance(item, dict):
            parts.append(f"{item.get('name', '?')}={item.get('state', item.get('status', '?'))}")
        else:
            parts.append(str(item))
    return "  ".join(parts)


