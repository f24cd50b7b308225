"""The control center: a thin router between its views (widgets that own their data, timers and workers).

Views: StagesView (stages, runs), BudgetEditor, the charts, JobsView (jobs, launches), MachineView. Workers post
typed messages (messages.py); the App routes selections between views, runs the actions of the key table
(bindings.py) and shows every result in the status line, the message log (m) and, for what matters, a
notification. It never imports torch: it reads files with the core's torch-free modules and starts the core's
commands as detached subprocesses (launch.py, widgets/jobs.py).
"""

from __future__ import annotations

import functools
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import DataTable, Input, RichLog, Static, TabbedContent, TabPane

from motip.alerts import Alert
from motip.errors import MotipError
from motip.workspace import Workspace, load_workspace
from motip_tui.actions import LaunchActions
from motip_tui.alerts import banner_class, banner_text
from motip_tui.bindings import app_bindings, palette_commands
from motip_tui.messages import (AlertsChanged, JobsScanned, RunSelected, RunsScanned, Say, StageSelected,
                                WorkspaceChanged, while_open)
from motip_tui.screens.modals import SaveDiscardScreen
from motip_tui.widgets.budgets import BudgetEditor
from motip_tui.widgets.jobs import JobsView
from motip_tui.widgets.charts_view import ChartsView
from motip_tui.widgets.machine import MachineView
from motip_tui.widgets.stages import StagesView
from motip_tui.widgets.text import update_text
from motip_tui.widgets.key_bar import KeyBar

KEY_HANDLED_WAIT_S = 1.0  # at most, per key: a busy widget never holds the keys behind it for longer
KEY_POLL_S = 0.005
FOCUS_WAIT_S = 0.2  # at most, for a key that arrives while no widget has the focus
FOCUS = {"stages": "#stage-table", "budgets": "#budget-editor", "charts": "#charts-view", "jobs": "#job-table"}


class MotipApp(LaunchActions, App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "motip control center"
    BINDINGS = app_bindings()

    def __init__(self, config_path: Path, *, refresh_s: float = 0.25, poll_s: float = 0.5,
                 use_watchdog: bool = True) -> None:
        super().__init__()
        self.config_path = config_path.absolute()
        self.root = self.config_path.parent
        self.refresh_s, self.poll_s, self.use_watchdog = refresh_s, poll_s, use_watchdog
        self.workspace: Workspace | None = None
        self.workspace_error: str | None = None
        self.compare_dir: Path | None = None
        self.alert_sources: dict[str, list[Alert]] = {}
        self.quit_message = ""
        self.timestamp: Callable[[], str] = lambda: time.strftime("%H:%M:%S")  # message log (snapshots fix it)
        self.messages: list[tuple[str, str, str]] = []  # (time, level, text): what the message log holds
        self._key_in_flight: events.Key | None = None  # a key given to the focus and not yet handled
        self._key_backlog: deque[events.Key] = deque()  # keys read meanwhile, in order

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="stages", id="views"):
            with TabPane("1 Stages", id="stages"):
                yield StagesView(self.root, id="stages-view")
            with TabPane("2 Budgets", id="budgets"):
                yield BudgetEditor(self.config_path, id="budget-editor")
            with TabPane("3 Charts", id="charts"):
                yield ChartsView(refresh_s=self.refresh_s, poll_s=self.poll_s, use_watchdog=self.use_watchdog,
                                   id="charts-view")
            with TabPane("4 Jobs", id="jobs"):
                yield JobsView(self.root, id="jobs-view")
            with TabPane("5 Machine", id="machine"):
                yield MachineView(self.root, id="machine-view")
        yield RichLog(id="message-log", wrap=True, max_lines=1000)
        yield Static(id="alerts")
        yield Static(id="message", markup=False)
        yield KeyBar()

    def view_of(self, selector: str | type[Any]) -> Any:
        """A widget of the first screen (self.query_one would search a dialog on top of it instead)."""
        if not self.screen_stack:  # a worker's message that arrives while the app shuts down
            raise NoMatches(f"{selector}: the app is closing")
        return self.screen_stack[0].query_one(selector)

    stages_view = property(lambda self: self.view_of(StagesView))
    editor = property(lambda self: self.view_of(BudgetEditor))
    charts = property(lambda self: self.view_of(ChartsView))
    jobs_view = property(lambda self: self.view_of(JobsView))
    jobs = property(lambda self: self.jobs_view.jobs)
    stages = property(lambda self: self.stages_view.stages)
    stage = property(lambda self: self.stages_view.stage)
    selected_run = property(lambda self: self.stages_view.selected_run)
    readonly = property(lambda self: self.workspace is None)
    alerts = property(lambda self: [a for source in ("run", "machine") for a in self.alert_sources.get(source, [])])
    active = property(lambda self: self.view_of(TabbedContent).active)

    def on_mount(self) -> None:
        self.load_workspace()
        self.stages_view.watched = self.charts.summaries
        self.view_of(DataTable).focus()
        self.check_logout()

    @work(thread=True)
    def check_logout(self) -> None:
        from motip.jobs import logout_kills_processes

        if logout_kills_processes():
            self.post_message(Say("systemd KillUserProcesses=yes: logging out kills even detached jobs",
                                  "warning", notify=True))

    def load_workspace(self) -> None:
        try:
            self.workspace, self.workspace_error = load_workspace(self.config_path), None
        except MotipError as err:
            self.workspace = None
            self.workspace_error = (f"{err} -- read-only view: the file is not touched until it is fixed."
                                    if self.config_path.exists() else
                                    f"No config.toml in {self.root}. Open a workspace with `motip-tui --config "
                                    "PATH`, or create the demo one with `motip-tui --demo DIR`.")
        self.stages_view.set_workspace(self.workspace, self.workspace_error)
        # The editor is hidden at startup: filling its fields waits for the first frame (about 40 ms of restyling).
        self.call_after_refresh(lambda: self.editor.dirty or self.editor.show(self.workspace, self.workspace_error,
                                                                              self.stage))
        if self.workspace_error:
            self.say(self.workspace_error, "error")

    # -- messages from the views -----------------------------------------------------------------------------
    def say(self, text: str, level: str = "info", notify: bool = False) -> None:
        """The status line (up to 3 wrapped lines), the message log (all of it, wrapped, scrollable back) and, when
        ``notify`` or an error, a notification."""
        from rich.text import Text

        line = self.view_of("#message")
        line.update(text)
        line.set_classes(level)
        style = {"error": "bold red", "warning": "yellow"}.get(level, "")
        stamp = self.timestamp()
        self.messages.append((stamp, level, text))
        self.view_of(RichLog).write(Text(f"{stamp} ", style="dim") + Text(text, style=style))
        if notify or level == "error":
            self.notify(text, severity={"info": "information"}.get(level, level), timeout=15 if level == "error"
                        else 8, markup=False)

    @while_open
    def on_say(self, message: Say) -> None:
        self.say(message.text, message.level, message.notify)

    @while_open
    def on_stage_selected(self, message: StageSelected) -> None:
        if not self.editor.dirty:
            self.editor.show(self.workspace, self.workspace_error, message.stage)

    @while_open
    def on_run_selected(self, message: RunSelected) -> None:
        view = self.stages_view
        if view.selected_run is None or view.selected_run.dir != message.run.dir:
            view.selected_run = message.run
        self.show_charts()

    @while_open
    def on_runs_scanned(self, message: RunsScanned) -> None:
        self.show_charts()  # the previous stage's best (forgetting) may have changed

    def show_charts(self) -> None:
        run = self.stages_view.selected_run
        dirs = [run.dir] if run is not None else []
        if run is not None and self.compare_dir is not None and self.compare_dir != run.dir:
            dirs.append(self.compare_dir)
        self.charts.show_runs(dirs, self.stages_view.previous_stage_best(run))

    @while_open
    def on_jobs_scanned(self, message: JobsScanned) -> None:
        self.view_of(MachineView).running = self.jobs_view.running

    @while_open
    def on_workspace_changed(self, message: WorkspaceChanged) -> None:
        self.workspace = message.workspace
        self.stages_view.set_workspace(message.workspace, None)

    @on(AlertsChanged)
    @on(ChartsView.AlertsChanged)
    @while_open
    def alerts_changed(self, message: Any) -> None:
        self.alert_sources[getattr(message, "source", "run")] = message.alerts
        banner = self.view_of("#alerts")
        update_text(banner, banner_text(self.alerts))
        banner.set_classes(banner_class(self.alerts))

    # -- keys ------------------------------------------------------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        """Keys are handled one at a time: a key is given to the widget that has the focus only once the key before
        it is handled. Textual forwards each key to the focus of the moment it reads it, and the App's own bindings
        run only when a key comes back up unhandled; in a burst ("2 Enter 3 0 3" typed ahead over SSH arrives as
        one read) Enter and the digits went to the stage table while the switch to the budget editor was pending."""
        if isinstance(event, events.Key):
            if event is self._key_in_flight and event.is_forwarded:  # back up, unhandled: the App's bindings
                await super().on_event(event)
                self._key_done(event)
                return
            if not event.is_forwarded:  # from the terminal
                if self._key_in_flight is not None:
                    self._key_backlog.append(event)
                else:
                    await self._start_key(event)
                return
        await super().on_event(event)

    async def _start_key(self, event: events.Key, waited_s: float = 0.0) -> None:
        self._key_in_flight = event
        if self.focused is None and waited_s < FOCUS_WAIT_S:  # a dialog is closing: its answer moves the focus
            self.set_timer(KEY_POLL_S, functools.partial(self._start_key, event, waited_s + KEY_POLL_S))
            return
        await super().on_event(event)  # a priority binding takes it, or it is forwarded to the focus
        if not event.is_forwarded:
            self._key_done(event)
            return
        # Handled by a widget on its way up (stopped), or dropped: then the next key goes.
        waited = time.monotonic()

        def check() -> None:
            if self._key_in_flight is not event:
                timer.stop()
            elif event._stop_propagation or time.monotonic() - waited > KEY_HANDLED_WAIT_S:  # no public getter
                timer.stop()
                self._key_done(event)
        timer = self.set_interval(KEY_POLL_S, check)

    def _key_done(self, event: events.Key) -> None:
        if self._key_in_flight is not event:
            return
        if self._key_backlog:
            self._key_in_flight = self._key_backlog.popleft()  # held: a newer key cannot overtake it
            self.call_later(self._start_key, self._key_in_flight)
        else:
            self._key_in_flight = None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "view_key":  # 1-5: a field's digits, a dialog's keys; views only outside both
            return len(self.screen_stack) == 1 and not isinstance(self.focused, Input)
        return True

    def action_view_key(self, name: str) -> None:
        self.action_view(name)

    # -- views -----------------------------------------------------------------------------------------------
    def action_view(self, name: str) -> None:
        if self.active == "budgets" and name != "budgets" and self.editor.dirty:
            self.ask_unsaved(lambda: self.switch(name))
        else:
            self.switch(name)

    def switch(self, name: str) -> None:
        self.view_of(TabbedContent).active = name
        # Focus moves into the shown view (a focused widget in a hidden pane pulls its pane back), never into a field.
        # set_focus at once (widget.focus() waits a tick): a key typed right after the view key goes to the view.
        self.set_focus(self.view_of("#views").query_one(FOCUS.get(name, "Tabs")))

    def ask_unsaved(self, then: Any) -> None:
        def answer(choice: str | None) -> None:
            if choice == "save" and not self.editor.save():
                return  # not saved (invalid): stay with the edits
            if choice == "discard":
                self.editor.show(self.workspace, self.workspace_error, self.stage)
            if choice is not None:
                then()
        self.push_screen(SaveDiscardScreen(self.editor.pending_text()), answer)

    def action_back(self) -> None:
        if self.editor.in_field:
            self.editor.leave_field()
        elif self.active == "budgets":
            self.action_view("stages")

    def action_edit(self) -> None:
        def reload() -> None:
            self.editor.show(self.workspace, self.workspace_error, self.stage)
            self.switch("budgets")
        if self.editor.dirty:
            self.ask_unsaved(reload)
        else:
            reload()

    def get_system_commands(self, screen: Screen) -> Any:
        yield from super().get_system_commands(screen)
        yield from palette_commands(self)
