"""Screenshots (SVG, pytest-textual-snapshot) of each view of the control center at 80x24 on a fixed workspace
(tests/helpers/tui.py make_snapshot_workspace: fixed runs, jobs, times and mtimes; the machine view shows a fixed
sample; notifications cleared), so they change only when the code does. After a deliberate change of a view:
``pytest tests/functional/test_tui_snapshots.py --snapshot-update`` and look at the new SVGs in
tests/functional/__snapshots__/."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from motip_tui.app import MotipApp
from motip_tui.machine import GpuSample, JobUsage, MachineSample
from motip_tui.widgets.machine import MachineView

from tests.helpers.tui import make_snapshot_workspace, wait_for

SIZE = (80, 24)
SAMPLE = MachineSample(cpu=37.5, ram_used_gb=21.4, ram_total_gb=62.8, disk_free_gb=143.2, disk_total_gb=500.0,
                       gpus=[GpuSample(0, "NVIDIA A10G", 97.0, 21.3, 24.0, 71.0)],
                       jobs=[JobUsage("stage1_universal_foundation_20261124_100000", 112.0, 9.87)])


def snapshot_app(tmp_path: Path) -> MotipApp:
    app = MotipApp(make_snapshot_workspace(tmp_path / "ws"), refresh_s=0.05, poll_s=0.2, use_watchdog=False)
    app.check_logout = lambda: None  # systemd's setting differs between machines
    app.timestamp = lambda: "12:00:00"
    return app


def prepare(*keys: str):
    """A run_before: wait for the scans (runs, jobs) and the run's alert, freeze the machine view, press ``keys``,
    clear notifications."""
    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, MotipApp)
        runs = app.query_one("#run-table", DataTable)
        assert await wait_for(pilot, lambda: runs.row_count == 3 and app.stages_view.build_status is not None
                              and len(app.jobs) == 2), (runs.row_count, app.stages_view.build_status, app.jobs)
        # The charts watch the newest run (the failed one): its alert reaches the banner asynchronously.
        assert await wait_for(pilot, lambda: any("failed" in alert.text for alert in app.alerts)), (
            app.alerts, [w.run_dir for w in app.charts.watches])
        app.query_one(MachineView).freeze(SAMPLE)
        await pilot.press(*keys)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause(0.5)  # the views' messages (a selection, an alert) settle, even on a loaded box
        app.clear_notifications()
        await pilot.pause()
    return run_before


@pytest.mark.parametrize("name, keys", [
    ("stages", ()),
    ("stages_runs", ("tab", "down")),
    ("budgets", ("2", "down", "down", "down")),
    ("budgets_unsaved", ("2", "enter", "4", "2", "escape", "1")),
    ("jobs", ("4", "down")),
    ("machine", ("5",)),
    ("help", ("question_mark",)),
    ("message_log", ("s", "c", "m")),  # two messages (no running job to stop; compare), then the log
])
def test_view_snapshot(snap_compare, tmp_path: Path, name: str, keys: tuple[str, ...]) -> None:
    assert snap_compare(snapshot_app(tmp_path), terminal_size=SIZE, run_before=prepare(*keys))
