"""Typed messages between the views, their thread workers and the App (the router).

Workers never call into widgets: they post one of these (``post_message`` is thread-safe) and the widget that owns
the data handles it on the UI thread. Messages that carry a whole new state (a scan, a sample) set ``can_replace``:
when the UI is busy, a newer one replaces an older one still queued instead of both being drawn.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.css.query import NoMatches
from textual.message import Message

from motip.alerts import Alert
from motip.jobs import JobInfo
from motip.workspace import Stage, Workspace
from motip_tui.runs import RunSummary


class Say(Message):
    """A result or error of an action, for the status line, the message log and (``notify``) a notification."""

    def __init__(self, text: str, level: str = "info", *, notify: bool = False) -> None:
        super().__init__()
        self.text, self.level, self.notify = text, level, notify


class RunsScanned(Message):
    """StagesView's scan worker: every run's summary and the build status, read off the UI thread."""

    def __init__(self, runs: list[RunSummary], build_status: dict[str, Any] | None, newest: Path | None = None,
                 by_stage: dict[str, list[RunSummary]] | None = None) -> None:
        super().__init__()
        self.runs, self.build_status = runs, build_status
        self.newest = newest  # the run whose train.log changed last: shown first when none is selected
        self.by_stage = by_stage  # the runs by stage name, grouped by the worker (None: group on arrival)

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunsScanned)


class JobsScanned(Message):
    """JobsView's worker: the jobs, each job's progress/output text and queue.json, read off the UI thread."""

    def __init__(self, jobs: list[JobInfo], details: dict[Path, JobDetail], queue_state: dict[str, Any] | None) -> None:
        super().__init__()
        self.jobs, self.details, self.queue_state = jobs, details, queue_state

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobsScanned)


class JobDetail:
    """What the Jobs view shows of one job besides job.json: progress, the output's last lines, what it exported,
    its state and elapsed time."""

    __slots__ = ("progress", "tail", "outputs", "state", "elapsed")

    def __init__(self, progress: str, tail: list[str], outputs: list[str], state: str, elapsed: float) -> None:
        self.progress, self.tail, self.outputs = progress, tail, outputs
        self.state, self.elapsed = state, elapsed  # JobInfo.state (psutil) and seconds, taken by the worker


class MachineSampled(Message):
    """MachineView's worker: one psutil/NVML sample (taken off the UI thread)."""

    def __init__(self, sample: Any) -> None:  # motip_tui.machine.MachineSample
        super().__init__()
        self.sample = sample

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, MachineSampled)


class AlertsChanged(Message):
    """A view's alerts changed (``source``: "run" for the charts' run alerts, "machine" for disk/GPU alerts)."""

    def __init__(self, source: str, alerts: list[Alert]) -> None:
        super().__init__()
        self.source, self.alerts = source, alerts

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, AlertsChanged) and message.source == self.source


class StageSelected(Message):
    """The user moved the stage cursor (StagesView)."""

    def __init__(self, stage: Stage | None) -> None:
        super().__init__()
        self.stage = stage


class RunSelected(Message):
    """The run whose charts are shown changed (the user moved the run cursor, or the newest run at start)."""

    def __init__(self, run: RunSummary) -> None:
        super().__init__()
        self.run = run

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunSelected)


class WorkspaceChanged(Message):
    """config.toml was written (save, apply stage): the views show the new workspace."""

    def __init__(self, workspace: Workspace) -> None:
        super().__init__()
        self.workspace = workspace


class JobsChanged(Message):
    """A job was started or stopped: the Jobs view rescans now (and the Stages view finds a new run)."""


class PreflightDone(Message):
    """The ``motip doctor`` preflight of a training launch finished (``outcome`` None: it was not wanted)."""

    def __init__(self, name: str, argv: list[str], outcome: Any) -> None:  # screens.doctor.DoctorOutcome | None
        super().__init__()
        self.name, self.argv, self.outcome = name, argv, outcome


def while_open(handler: Callable[..., None]) -> Callable[..., None]:
    """A worker's message may arrive while the app tears its screens down: then there is nothing to update."""
    @functools.wraps(handler)
    def wrapper(self: Any, *args: Any) -> None:
        try:
            handler(self, *args)
        except NoMatches:
            if self.screen_stack and self.is_running:  # the views exist until the shutdown (is_running False) starts
                raise
    return wrapper
