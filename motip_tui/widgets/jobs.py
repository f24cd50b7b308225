"""The Jobs view: every detached job (builds, trainings, viz, dashboard, queue), the queue's state, and the
highlighted job's output in a scrollable, wrapping panel. It also starts and stops jobs (the launches of b, t, R,
v, d, o, s), so a launch's result lands where its job is listed.

A thread worker reads job.json files, each job's progress and output tail, what a finished export produced, and
queue.json every ``scan_s`` (and at once after a launch), and posts ``JobsScanned``: no file or process work on
the UI thread. A launch that fails before starting a job is recorded as a failed job with the command's whole
output (``motip.jobs.record_failed_launch``), so it shows here beside the others, and its full message (the
CLI's error and hint) goes to the message log and a notification.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from motip.job_results import export_outputs, record_failed_launch
from motip.jobs import JobInfo, find_jobs, jobs_dir, new_job_dir, start_job, stop_job
from motip.progress import parse_progress_line
from motip.rundir import OUTPUTS, TRAIN_LOG
from motip_tui.messages import JobDetail, JobsChanged, JobsScanned, Say
from motip_tui.widgets.background import Periodic
from motip_tui.screens.modals import CommandScreen, ConfirmScreen
from motip_tui.widgets.text import duration, end, fill_table, flex_widths, middle, rel, update_text

JOB_FIXED = [9, 10, 8, 4]  # kind, state, elapsed, exit
LAUNCH_TIMEOUT_S = 120.0


def job_detail(job: JobInfo, now: float) -> JobDetail:
    """What the table and the output panel show of one job, read from its files (call it off the UI thread)."""
    state = job.state  # psutil: whether its processes are alive
    lines = job.tail(40)
    progress = ""
    for line in reversed(lines[-30:]):
        update = parse_progress_line(line)
        if update is not None:
            progress = f"{update.task} {update.percent:.0f}%"
            break
    train_log = job.dir / TRAIN_LOG
    if not progress and job.kind == "train" and train_log.exists():
        from motip.trainlog import tail_status

        status = tail_status(train_log)
        if status:
            progress = f"ep {status['epoch']} {status.get('step')}/{status.get('total_steps')}"
    outputs = export_outputs(job) if job.exit_code == 0 else []
    end_s = job.data.get("ended_at_epoch") or now
    elapsed = max(0.0, float(end_s) - job.started_at) if job.started_at else 0.0
    tail = [line for line in lines if parse_progress_line(line) is None][-30:]
    return JobDetail(progress, tail, outputs, state, elapsed)


class JobsView(Vertical):
    def __init__(self, root: Path, *, scan_s: float = 2.0, id: str | None = None) -> None:  # noqa: A002 - Textual's widget `id`
        super().__init__(id=id)
        self.root = root
        self.scan_s = scan_s
        self.jobs: list[JobInfo] = []
        self.details: dict[Path, JobDetail] = {}
        self.queue_state: dict[str, Any] | None = None
        self.clock = time.time  # "now" for a running job's elapsed time
        self._width = 0
        self._drawn: dict[str, Any] = {}  # what the table shows (fill_table skips a refill that changes nothing)

    def compose(self) -> ComposeResult:
        yield DataTable(id="job-table", cursor_type="row")
        yield Static(id="queue-status")
        with VerticalScroll(id="job-output"):
            yield Static(id="job-tail")

    def on_mount(self) -> None:
        self._reader = Periodic("jobs-scan", self._scan, self.scan_s, on_error=self._failed).start()

    def on_unmount(self) -> None:
        self._reader.stop()

    def _failed(self, err: BaseException) -> None:
        self.post_message(Say(f"reading the jobs failed: {type(err).__name__}: {err}", "error"))

    def on_show(self) -> None:
        self.fill()

    def on_resize(self) -> None:
        if self.size.width != self._width:
            self._width = self.size.width
            self.fill()

    # -- scanning ----------------------------------------------------------------------------------------------
    def rescan(self) -> None:
        """Read the jobs now (the reader thread; also every ``scan_s``)."""
        self._reader.wake()

    def _scan(self) -> None:
        from motip.queue import try_read_queue

        jobs = find_jobs(self.root / OUTPUTS, jobs_dir(self.root))
        now = self.clock()
        details = {job.dir: job_detail(job, now) for job in jobs}
        queue, error = try_read_queue(self.root)
        self.post_message(JobsScanned(jobs, details, {"unreadable": error.render()} if error is not None else queue))

    def on_jobs_scanned(self, message: JobsScanned) -> None:
        previous = {job.dir: self.details[job.dir].state for job in self.jobs if job.dir in self.details}
        self.jobs, self.details, self.queue_state = message.jobs, message.details, message.queue_state
        for job in self.jobs:
            detail = self.details[job.dir]
            if previous.get(job.dir) == "running" and detail.state != "running":
                # Said wherever the user is: a build done means "press t", a viz done means "look at it".
                ok = job.exit_code == 0
                said = f"{job.name}: {detail.state} (exit {job.exit_code})" + (
                    "; " + "; ".join(detail.outputs) if ok and detail.outputs else "")
                self.post_message(Say(said, "info" if ok else "error", notify=True))
        if self.display and self.parent is not None and getattr(self.parent, "display", True):
            self.fill()  # else when shown (on_show)

    def state(self, job: JobInfo) -> str:
        detail = self.details.get(job.dir)
        return detail.state if detail is not None else "?"

    @property
    def running(self) -> list[JobInfo]:
        return [j for j in self.jobs if self.state(j) == "running"]

    # -- drawing -----------------------------------------------------------------------------------------------
    def fill(self) -> None:
        table = self.query_one("#job-table", DataTable)
        longest = max((len(j.name) for j in self.jobs), default=8)
        name_w, progress_w = flex_widths(self.size.width - 2 or 78, JOB_FIXED, [(min(longest, 18), longest), (12, 24)])
        columns = list(zip(("job", "kind", "state", "elapsed", "progress", "exit"),
                           (name_w, *JOB_FIXED[:3], progress_w, JOB_FIXED[3])))
        rows = []
        for job in self.jobs:
            detail = self.details.get(job.dir)
            rows.append((str(job.dir), (middle(job.name, name_w), job.kind, self.state(job),
                                        duration(detail.elapsed) if detail else "",
                                        end(detail.progress if detail else "", progress_w),
                                        "" if job.exit_code is None else str(job.exit_code))))
        fill_table(table, columns, rows, self._drawn)
        self.fill_output()
        update_text(self.query_one("#queue-status", Static), queue_text(self.queue_state))

    def selected(self) -> JobInfo | None:
        table = self.query_one("#job-table", DataTable)
        return self.jobs[table.cursor_row] if 0 <= table.cursor_row < len(self.jobs) else None

    def fill_output(self) -> None:
        job = self.selected()
        tail = self.query_one("#job-tail", Static)
        if job is None:
            update_text(tail, "No jobs yet: b builds, t trains.")
            return
        if job.error is not None:  # a damaged job.json: say which file, never guess at its process
            update_text(tail, f"[b]{escape(job.name)}[/b] unreadable\n" + escape(job.error.render()))
            return
        detail = self.details.get(job.dir)
        head = f"[b]{escape(job.name)}[/b] {self.state(job)}"
        if job.exit_code not in (None, 0):
            signal = f" ({job.data['signal']})" if job.data.get("signal") else ""
            head += f" -- exit status {job.exit_code}{signal}; last lines:"
        elif detail is not None and detail.outputs:
            head += "\n" + escape("\n".join(detail.outputs))
        where = job.run_dir or job.dir
        head += f"\n[dim]{escape(rel(where, self.root))} (l: full output)[/dim]"
        update_text(tail, head + "\n" + "\n".join(escape(line) for line in (detail.tail if detail else [])))

    @on(DataTable.RowHighlighted, "#job-table")
    def _highlighted(self) -> None:
        self.fill_output()

    def on_jobs_changed(self, message: JobsChanged) -> None:
        message.stop()
        self.rescan()

    # -- launching and stopping --------------------------------------------------------------------------------
    def launch(self, kind: str, name: str, argv: list[str]) -> None:
        self._start(kind, name, argv)

    def launch_edited(self, kind: str, name: str, argv: list[str]) -> None:
        def go(edited: list[str] | None) -> None:
            if edited:
                self._start(kind, name, edited)
        self.app.push_screen(CommandScreen(f"{kind}: edit the command if needed", argv), go)

    @work(thread=True, group="launch")
    def _start(self, kind: str, name: str, argv: list[str]) -> None:
        safe = re.sub(r"[^\w.-]+", "_", name)[:40]
        try:
            job = start_job(argv, new_job_dir(self.root, safe), kind=kind, name=name, cwd=self.root)
        except Exception as err:  # noqa: BLE001 -- shown to the user, never a crash
            self.post_message(Say(f"{name} did not start: {err}", "error", notify=True))
            return
        self.post_message(Say(f"started {name} (pid {job.pid}); output in {job.dir}", notify=True))
        self.post_message(JobsChanged())

    @work(thread=True, group="launch")
    def start_training(self, name: str, argv: list[str]) -> None:
        """``motip train ... --detach``: the run folder comes from the job it started (``motip.jobs.launch``)."""
        from motip.jobs import launch as launch_job

        try:
            proc, job, why = launch_job(argv, self.root, timeout_s=LAUNCH_TIMEOUT_S)
            output = "\n".join(part.strip() for part in (proc.stdout, proc.stderr) if part.strip())
            code = proc.returncode
        except Exception as err:  # noqa: BLE001 -- a timeout, a missing interpreter: shown, never a crash
            job, why, output, code = None, str(err), str(err), 1
        if job is not None and job.run_dir is not None:
            self.post_message(Say(f"{name}: started {job.run_dir} (pid {job.pid}); keeps running after q",
                                  notify=True))
        else:
            why = why or f"its job {job.path if job else '?'} records no run folder"
            try:
                record_failed_launch(self.root, argv, kind="train", name=name, output=output or why,
                                     exit_code=code or 1)
            except OSError as err:
                output += f"\n(could not record the failure in {jobs_dir(self.root)}: {err})"
            said = f"{name} did not start (exit {code}):\n{output}" if output else f"{name} did not start: {why}"
            self.post_message(Say(said, "error", notify=True))
        self.post_message(JobsChanged())

    def stop(self, job: JobInfo | None) -> None:
        if job is None or self.state(job) != "running":
            self.post_message(Say("no running job selected (Jobs view: highlight one)", "warning"))
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.post_message(Say(f"stopping {job.name}: SIGTERM, SIGKILL after 10 s"))
                self._stop(job)
        self.app.push_screen(ConfirmScreen(f"Stop {job.name} (pid {job.pid})? SIGTERM, then SIGKILL after 10 s."),
                             answer)

    @work(thread=True, group="stop")
    def _stop(self, job: JobInfo) -> None:
        self.post_message(Say(f"{job.name}: {stop_job(job, grace_s=10.0)}"))
        self.post_message(JobsChanged())


def queue_text(state: dict[str, Any] | None) -> str:
    if not state:
        return "queue: none (o starts one from the selected stage)"
    if state.get("unreadable"):
        return escape(f"queue: unreadable -- {state['unreadable']}")
    parts = [f"queue: {state.get('state', '?')}"]
    if state.get("paused_reason"):
        parts.append(f"({state['paused_reason']})")
    for item in state.get("stages", state.get("items", [])) or []:
        if isinstance(item, dict):
            parts.append(f"{item.get('name', '?')}={item.get('state', item.get('status', '?'))}")
        else:
            parts.append(str(item))
    return escape("  ".join(parts))
