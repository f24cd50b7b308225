"""The Stages view: config.toml's [[stages]] and the selected stage's runs, each with a detail line.

It owns the run scan: a thread worker every ``scan_s`` reads every run folder (``RunIndex``: appended bytes only)
and the build status, and posts ``RunsScanned``; tables are filled on the UI thread from that message. Columns fit
the width: at 80x24 every key column shows, run names are cut in the middle (their date suffix stays), and the
detail lines under each table give the full text of the highlighted row.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from motip.workspace import Stage, Workspace
from motip_tui.messages import RunSelected, RunsScanned, Say, StageSelected
from motip_tui.widgets.background import Periodic
from motip_tui.runs import RunIndex, RunSummary, budget_mix, estimate_stage, sources_match_stage, stage_of_run
from motip_tui.widgets.text import end, fill_table, flex_widths, fmt, middle, rel, update_text

STAGE_FIXED = [3, 7, 4, 9, 11]  # ep, built, runs, HOTA/IDF1, estimate
RUN_FIXED = [10, 3, 5, 5, 5]  # state, epoch, HOTA, IDF1, s/step
WatchedSummaries = Callable[[float], dict[Path, Callable[[], RunSummary]]]


def group_runs(runs: list[RunSummary], stages: list[Stage], root: Path) -> dict[str, list[RunSummary]]:
    """Runs by the name of the stage they trained ("(no stage)" for the others)."""
    grouped: dict[str, list[RunSummary]] = {}
    for run in runs:
        stage = stage_of_run(run, stages, root)
        grouped.setdefault(stage.name if stage else "(no stage)", []).append(run)
    return grouped


class StagesView(Vertical):
    def __init__(self, root: Path, *, scan_s: float = 10.0, id: str | None = None) -> None:  # noqa: A002 - Textual's widget `id`
        super().__init__(id=id)
        self.root = root
        self.scan_s = scan_s
        self.index = RunIndex(root)
        self.workspace: Workspace | None = None
        self.workspace_error: str | None = None
        self.stage_index = 0
        self.runs: list[RunSummary] = []
        self.runs_by_stage: dict[str, list[RunSummary]] = {}
        self.build_status: dict[str, Any] | None = None
        self.selected_run: RunSummary | None = None  # the run whose charts are shown
        self.compare_dir: Path | None = None
        # Summaries of runs the charts already parse (a big log is not read twice); set by the App.
        self.watched: WatchedSummaries = lambda wait_s: {}
        self._width = 0
        self._reader: Periodic | None = None  # started by the first set_workspace
        self._drawn: dict[str, Any] = {}  # what each table shows (fill_table skips a refill that changes nothing)

    def compose(self) -> ComposeResult:
        yield DataTable(id="stage-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="stage-detail")
        yield DataTable(id="run-table", cursor_type="row")
        yield Static(id="run-detail")

    def on_unmount(self) -> None:
        if self._reader is not None:
            self._reader.stop()

    def _failed(self, err: BaseException) -> None:
        self.post_message(Say(f"scanning the runs failed: {type(err).__name__}: {err}", "error"))

    def on_resize(self) -> None:
        if self.size.width != self._width:
            self._width = self.size.width
            self.fill_stages()
            self.fill_runs()

    # -- data --------------------------------------------------------------------------------------------------
    @property
    def stages(self) -> list[Stage]:
        return self.workspace.stages if self.workspace else []

    @property
    def stage(self) -> Stage | None:
        stages = self.stages
        return stages[min(self.stage_index, len(stages) - 1)] if stages else None

    def stage_runs(self, stage: Stage | None = None) -> list[RunSummary]:
        stage = stage or self.stage
        return self.runs if stage is None else self.runs_by_stage.get(stage.name, [])

    def highlighted_run(self) -> RunSummary | None:
        table = self.query_one("#run-table", DataTable)
        runs = self.stage_runs()
        return runs[table.cursor_row] if 0 <= table.cursor_row < len(runs) else self.selected_run

    def set_workspace(self, workspace: Workspace | None, error: str | None) -> None:
        """The workspace to show (the App loads it); the first call starts the scans (the build status needs it)."""
        self.workspace, self.workspace_error = workspace, error
        self._group()
        self.fill_stages()
        self.fill_runs()
        if self._reader is None:
            self._reader = Periodic("runs-scan", self._scan, self.scan_s, on_error=self._failed).start()
        else:
            self.rescan()

    def rescan(self) -> None:
        """Scan the runs now (the reader thread; also every ``scan_s``)."""
        if self._reader is not None:
            self._reader.wake()

    def _scan(self) -> None:
        newest = self.index.newest() if self.selected_run is None else None
        if newest is not None:  # tail the newest run at once; every run's summary (big logs) comes after
            self.post_message(RunSelected(RunSummary(name=newest.name, dir=newest)))
            time.sleep(0.05)
        runs = self.index.scan(self.watched(5.0))
        status = None
        workspace = self.workspace
        if workspace is not None:
            try:
                from motip.data.builder import build_status  # torch-free

                status = build_status(workspace)
            except Exception as err:  # noqa: BLE001 -- unknown is better than a crash
                status = {"built": None, "problem": f"unknown ({type(err).__name__})"}
        # Grouped here: finding a run's stage resolves paths (file system calls), kept off the UI thread.
        self.post_message(RunsScanned(runs, status, newest, group_runs(runs, self.stages, self.root)))

    def on_runs_scanned(self, message: RunsScanned) -> None:
        self.runs, self.build_status = message.runs, message.build_status
        self._group(message.by_stage)
        if self.selected_run is not None:  # a fresher summary of the same folder
            self.selected_run = next((r for r in self.runs if r.dir == self.selected_run.dir), self.selected_run)
        else:  # the newest run, else the stage's last: chosen here, before the refill highlights a row
            first = next((r for r in self.runs if r.dir == message.newest), None) or (self.stage_runs() or [None])[-1]
            if first is not None:
                self.selected_run = first
                self.post_message(RunSelected(first))
        self.fill_stages()
        self.fill_runs()

    def _group(self, grouped: dict[str, list[RunSummary]] | None = None) -> None:
        self.runs_by_stage = grouped if grouped is not None else group_runs(self.runs, self.stages, self.root)

    def previous_stage_best(self, run: RunSummary | None) -> dict[str, float]:
        """Best per-class HOTA over the runs of the stage before ``run``'s stage (the forgetting baseline)."""
        stage = stage_of_run(run, self.stages, self.root) if run is not None else None
        if stage is None or self.stages.index(stage) == 0:
            return {}
        best: dict[str, float] = {}
        for other in self.runs_by_stage.get(self.stages[self.stages.index(stage) - 1].name, []):
            for cls_name, value in other.best_class_hota.items():
                best[cls_name] = max(value, best.get(cls_name, -math.inf))
        return best

    # -- drawing -----------------------------------------------------------------------------------------------
    def _built(self, stage: Stage) -> str:
        status = self.build_status
        if not status or status.get("built") is None:
            return "unknown"
        if not status.get("built"):
            return "no"
        return "yes" if self.workspace and sources_match_stage(self.workspace, stage) else "other"

    def fill_stages(self) -> None:
        table = self.query_one("#stage-table", DataTable)
        longest = max((len(s.name) for s in self.stages), default=5)
        name_w, mix_w = flex_widths(self.size.width - 2 or 78, STAGE_FIXED, [(min(longest, 18), longest), (12, 34)])
        columns = list(zip(("stage", "budgets, mix", "ep", "built", "runs", "HOTA/IDF1", "estimate"),
                           (name_w, mix_w, *STAGE_FIXED)))
        rows = []
        for stage in self.stages:
            runs = self.runs_by_stage.get(stage.name, [])
            hota = max((r.best_hota for r in runs if r.best_hota is not None), default=None)
            idf1 = max((r.best_idf1 for r in runs if r.best_idf1 is not None), default=None)
            estimate = estimate_stage(stage, self.runs_by_stage, self.stages)
            est = f"{estimate.hours:.1f}h ${estimate.cost:.0f}" + ("*" if estimate.measured else "")
            rows.append((stage.name, (stage.name, end(budget_mix(stage), mix_w), str(stage.epochs),
                                      self._built(stage), str(len(runs)), f"{fmt(hota)}/{fmt(idf1)}", est)))
        if fill_table(table, columns, rows, self._drawn) and self.stages:
            table.move_cursor(row=min(self.stage_index, len(self.stages) - 1))
        self.fill_stage_detail()

    def fill_stage_detail(self) -> None:
        detail = self.query_one("#stage-detail", Static)
        stage = self.stage
        if self.workspace_error and stage is None:
            update_text(detail, escape(self.workspace_error))
            return
        if stage is None:
            update_text(detail, "No [[stages]] in config.toml.")
            return
        estimate = estimate_stage(stage, self.runs_by_stage, self.stages)
        status = self.build_status or {}
        fingerprint = status.get("val_fingerprint")
        data = f"val {str(fingerprint)[:12]}" if fingerprint else f"data: {status.get('problem') or 'unknown'}"
        update_text(detail, f"[b]{escape(stage.name)}[/b] {escape(budget_mix(stage))}  {rel(stage.config, self.root)}"
                            f"  {escape(data)}\nestimate {estimate.hours:.1f} h, ${estimate.cost:.2f} "
                            f"({escape(estimate.basis)})")

    def fill_runs(self) -> None:
        table = self.query_one("#run-table", DataTable)
        runs = self.stage_runs()
        longest = max((len(r.name) for r in runs), default=10)
        name_w, note_w = flex_widths(self.size.width - 2 or 78, RUN_FIXED, [(min(longest, 24), longest), (6, 40)])
        columns = list(zip(("run", "state", "ep", "HOTA", "IDF1", "s/st", "note"), (name_w, *RUN_FIXED, note_w)))
        rows = [(str(run.dir), (middle(run.name, name_w), run.state, fmt(run.epoch), fmt(run.best_hota),
                                fmt(run.best_idf1), fmt(run.s_per_step, "{:.2f}"), self._note(run))) for run in runs]
        fill_table(table, columns, rows, self._drawn)
        chosen = [i for i, r in enumerate(runs) if self.selected_run and r.dir == self.selected_run.dir]
        if chosen and table.cursor_row != chosen[0]:
            table.move_cursor(row=chosen[0])
        self.fill_run_detail()

    def _note(self, run: RunSummary) -> str:
        note = run.problem or (f"{run.bad_lines} bad lines" if run.bad_lines else "")
        return ("compare " + note).strip() if self.compare_dir == run.dir else note

    def fill_run_detail(self) -> None:
        run = self.highlighted_run() if self.stage_runs() else None
        detail = self.query_one("#run-detail", Static)
        if run is None:
            update_text(detail, "No runs of this stage yet: t trains it." if self.stages else "")
            return
        classes = " ".join(f"{name} {value:.1f}" for name, value in sorted(run.best_class_hota.items()))
        found = run.run_state
        why = f" ({found.message})" if found is not None and getattr(found, "message", "") else ""
        note = self._note(run)
        update_text(detail, escape(f"{run.name}: {run.state}{why}" + (f"; class HOTA {classes}" if classes else "")
                             + (f"; {note}" if note else "")))

    # -- events ------------------------------------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#stage-table")
    def _stage_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # A refill's highlights are stale by the time they arrive (the cursor has moved on): only a highlight of the
        # row the cursor is on now counts.
        if event.cursor_row == event.data_table.cursor_row != self.stage_index:
            self.stage_index = event.cursor_row
            self.fill_stage_detail()
            self.fill_runs()
            self.post_message(StageSelected(self.stage))

    @on(DataTable.RowHighlighted, "#run-table")
    def _run_highlighted(self, event: DataTable.RowHighlighted) -> None:
        runs = self.stage_runs()
        self.fill_run_detail()
        if event.cursor_row == event.data_table.cursor_row and 0 <= event.cursor_row < len(runs) and (
                self.selected_run is None or runs[event.cursor_row].dir != self.selected_run.dir):
            self.selected_run = runs[event.cursor_row]
            self.post_message(RunSelected(self.selected_run))
