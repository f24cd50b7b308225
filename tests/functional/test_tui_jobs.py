"""Jobs from the TUI, real subprocesses only: re-attach after quit/restart, stop with confirmation, a dead job's exit
status and last lines, and the Stage 1 loop from keys (b builds synthetic data, t trains the tiny config)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from motip.jobs import find_jobs, jobs_dir, new_job_dir, read_job, start_job, stop_job
from motip_tui.app import MotipApp
from motip_tui.widgets.charts import Chart

from tests.helpers.paths import REPO
from tests.helpers.tui import make_workspace, wait_for

SIZE = (80, 24)


def app_for(config: Path) -> MotipApp:
    return MotipApp(config, refresh_s=0.05, poll_s=0.2)


async def test_quit_restart_reattach_and_stop(tmp_path: Path) -> None:
    config = make_workspace(tmp_path / "ws")
    root = config.parent
    job = start_job([sys.executable, "-c", "import time; print('working', flush=True); time.sleep(120)"],
                    new_job_dir(root, "sleeper"), kind="build", name="sleeper", cwd=root)
    try:
        first = app_for(config)
        async with first.run_test(size=SIZE) as pilot:
            await pilot.press("4")
            assert await wait_for(pilot, lambda: [j.state for j in first.jobs] == ["running"])
            await pilot.press("q")
        assert first.return_code in (0, None)
        # The quit message names the job that keeps running.
        assert "1 job(s) keep running: sleeper" in first.quit_message

        second = app_for(config)  # "SSH back in": a new TUI finds the same job by pid + create time
        async with second.run_test(size=SIZE) as pilot:
            await pilot.press("4")
            table = second.query_one("#job-table", DataTable)
            assert await wait_for(pilot, lambda: table.row_count == 1 and table.get_row_at(0)[2] == "running")
            assert await wait_for(pilot, lambda: "working" in str(second.query_one("#job-tail", Static).render()))
            await pilot.press("s")
            await pilot.press("n")  # the confirmation guards the stop
            await pilot.pause(0.3)
            assert job.process() is not None
            await pilot.press("s", "y")
            assert await wait_for(pilot, lambda: table.row_count == 1 and table.get_row_at(0)[2] == "stopped")
    finally:
        stop_job(job, grace_s=1)


async def test_dead_job_shows_exit_status_and_last_lines(tmp_path: Path) -> None:
    config = make_workspace(tmp_path / "ws")
    root = config.parent
    job = start_job([sys.executable, "-c", "import sys; print('loading data'); sys.exit('DataError: boom')"],
                    new_job_dir(root, "bad"), kind="build", name="bad build", cwd=root)
    app = app_for(config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        table = app.query_one("#job-table", DataTable)
        assert await wait_for(pilot, lambda: table.row_count == 1 and table.get_row_at(0)[2] == "failed")
        assert table.get_row_at(0)[5] == "1"
        tail = str(app.query_one("#job-tail", Static).render())
        assert "exit status 1" in tail and "DataError: boom" in tail
    assert job.dir.is_dir()


TINY_STAGE = f"""\
SUPER_CONFIG_PATH: {REPO / "configs" / "tiny_cpu.yaml"}
EPOCHS: 1
MAX_STEPS_PER_EPOCH: 2
AUG_NUM_GROUPS: 1
DET_THRESH: 0.05
NEWBORN_THRESH: 0.05
"""


@pytest.mark.slow
async def test_stage1_loop_build_and_train_from_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    config = make_workspace(tmp_path / "ws", with_data=True)
    root = config.parent
    (root / "configs" / "stage1_universal_foundation.yaml").write_text(TINY_STAGE, encoding="utf-8")
    app = app_for(config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")  # sources already hold Foundation's budgets: no question asked
        assert await wait_for(pilot, lambda: any(j.kind == "build" for j in app.jobs), timeout=10)
        build = next(j for j in app.jobs if j.kind == "build")
        assert await wait_for(pilot, lambda: read_job(build.dir).state != "running", timeout=180)
        assert read_job(build.dir).state == "finished", build.tail(20)
        await pilot.press("r")
        stages = app.query_one("#stage-table", DataTable)
        assert await wait_for(pilot, lambda: stages.get_row_at(0)[3] == "yes", timeout=20)

        await pilot.press("t")
        assert await wait_for(pilot, lambda: any(j.kind == "train" for j in app.jobs), timeout=60)
        train = next(j for j in app.jobs if j.kind == "train")
        assert train.dir.parent == root / "outputs"
        await pilot.press("r")
        assert await wait_for(pilot, lambda: app.selected_run is not None, timeout=20)
        await pilot.press("3")
        assert await wait_for(pilot, lambda: read_job(train.dir).state != "running", timeout=600)
        assert read_job(train.dir).state == "finished", train.tail(30)
        eval_chart = app.query_one("#chart-eval", Chart)
        assert await wait_for(pilot, lambda: app.charts.watches and len(app.charts.watches[0].log.eval) == 1,
                              timeout=10)
        assert await wait_for(pilot, lambda: eval_chart.points >= 1, timeout=10)

        # Exports: v shows the viz command with TRAIN.md's defaults (editable), Enter runs it; d the dashboard.
        await pilot.press("1")
        assert await wait_for(pilot, lambda: app.query_one("#run-table", DataTable).row_count == 1)
        await pilot.press("v")
        command = app.screen.query_one("#command").value
        assert "--score_thresh 0.4" in command and "checkpoint_best_idf1.pth" in command
        assert str(root / "datasets" / "DanceTrack" / "val") in command
        await pilot.press("enter")
        await pilot.press("d", "enter")
        await pilot.press("4")
        exports = lambda: [j for j in find_jobs(jobs_dir(root)) if j.kind in ("viz", "dashboard")]  # noqa: E731 - a one-line probe
        assert await wait_for(pilot, lambda: len(exports()) == 2 and all(j.state != "running" for j in exports()),
                              timeout=300)
        assert [j.state for j in exports()] == ["finished", "finished"], [j.tail(10) for j in exports()]
        table = app.query_one("#job-table", DataTable)
        viz_row = next(i for i, j in enumerate(app.jobs) if j.kind == "viz")
        table.move_cursor(row=viz_row)
        assert await wait_for(pilot, lambda: "contact sheet:" in str(app.query_one("#job-tail", Static).render()))
        assert (train.dir / "dashboard.png").is_file()


def test_failed_launch_record_export_outputs_and_tail_status(tmp_path: Path) -> None:
    """The core helpers the Jobs view calls: a failed launch becomes a failed job with its output; a finished viz
    job names its output folder, counts and contact sheet; a training's progress comes from its log's tail."""
    import json

    from motip.job_results import export_outputs, record_failed_launch
    from motip.trainlog import tail_status
    from tests.helpers.tui import make_run, train_line

    root = tmp_path / "ws"
    root.mkdir()
    job = record_failed_launch(root, ["motip", "train", "bad.yaml", "--detach"], kind="train", name="train bad",
                               output="motip train: error: bad.yaml\n  hint: fix it", exit_code=2)
    listed = find_jobs(jobs_dir(root))
    assert [(j.name, j.state, j.exit_code) for j in listed] == [("train bad", "failed", 2)]
    assert listed[0].tail(5) == ["motip train: error: bad.yaml", "  hint: fix it"] and job.dir == listed[0].dir

    viz = tmp_path / "viz"
    viz.mkdir()
    (viz / "summary.json").write_text(json.dumps({"total": {"frames": 10, "idsw": 2},
                                                  "sequences": {"a": {"contact_sheet": "a_worst.png"}}}))
    viz_job = start_job([sys.executable, "-c", "pass", "--output_dir", str(viz)], new_job_dir(root, "viz"),
                        kind="viz", name="viz", cwd=root)
    assert export_outputs(viz_job) == [f"output {viz}", "frames=10 idsw=2", f"contact sheet: {viz / 'a_worst.png'}"]

    run = make_run(root, "run", [train_line(step, epoch=2, total=100) for step in range(1, 400)])
    assert tail_status(run / "train.log", max_bytes=2048)["step"] == 399
    assert tail_status(root / "missing.log") == {}
