"""The rebuilt control center's promises, driven by keys (issue 13): no input trap and no lost edits (item 2),
messages never cut and failed launches listed with their output (item 3), tables that fit 80x24 with run names
that stay distinct (item 4), and resuming a stopped or dead run (item 7). Real files and real `motip` subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, RichLog, Static

from motip_tui.app import MotipApp
from motip_tui.bindings import KEYS, app_bindings, help_rows, keys_markdown
from motip_tui.screens.modals import ConfirmScreen, SaveDiscardScreen

from tests.helpers.paths import REPO
from tests.helpers.tui import eval_line, make_run, make_workspace, train_line, wait_for

SIZE = (80, 24)


def app_for(config: Path) -> MotipApp:
    return MotipApp(config, refresh_s=0.05, poll_s=0.2, use_watchdog=False)


def log_text(app: MotipApp) -> str:
    """Everything said, as the message log holds it (the log widget renders it once shown: m)."""
    return "\n".join(text for _time, _level, text in app.messages)


# -- item 2: no input trap, no lost edits -------------------------------------------------------------------------
async def test_view_keys_switch_views_and_never_type_into_a_field(tmp_path: Path) -> None:
    config = make_workspace(tmp_path / "ws")
    before = config.read_text()
    app = app_for(config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "3")  # today's trap: 2 then 3 set a frame budget to 3
        assert app.active == "charts" and not isinstance(app.focused, Input)
        await pilot.press("2")
        assert app.active == "budgets" and app.focused is app.query_one("#budget-editor")
        await pilot.press("tab")  # focus never reaches a field by tab either
        assert not isinstance(app.focused, Input)
        await pilot.press("2", "enter", "3", "0", "3")  # entered explicitly: digits are digits (replacing the value)
        field = app.query_one("#budget-dancetrack", Input)
        assert app.focused is field and field.value == "303" and app.active == "budgets"
        await pilot.press("f4")  # F-keys leave the field; the edit is unsaved: asked first
        assert isinstance(app.screen, SaveDiscardScreen)
        assert "dancetrack.frame_budget = 303" in str(app.screen.query_one("#changes").render())
        await pilot.press("d")  # discard
        await pilot.pause()
        assert app.active == "jobs" and app.query_one("#budget-dancetrack", Input).value == "30"
    assert config.read_text() == before


async def test_unsaved_edits_ask_save_discard_or_cancel(tmp_path: Path) -> None:
    config = make_workspace(tmp_path / "ws")
    app = app_for(config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e", "enter", "backspace", "backspace", "7", "escape")
        field = app.query_one("#budget-dancetrack", Input)
        assert field.value == "7" and app.focused is app.query_one("#budget-editor")
        await pilot.press("1")
        assert isinstance(app.screen, SaveDiscardScreen)
        await pilot.press("c")  # cancel: still in the editor, the edit kept
        await pilot.pause()
        assert app.active == "budgets" and field.value == "7"
        await pilot.press("e")  # e reloads the editor from the file: asked too
        assert isinstance(app.screen, SaveDiscardScreen)
        await pilot.press("s")  # save, then go on
        await pilot.pause()
        assert "frame_budget = 7   # people" in config.read_text()
        await pilot.press("enter", "backspace", "9", "escape", "escape")  # Esc from the editor asks as well
        assert isinstance(app.screen, SaveDiscardScreen)
        await pilot.press("d")
        await pilot.pause()
        assert app.active == "stages" and app.query_one("#budget-dancetrack", Input).value == "7"
    assert "frame_budget = 7   # people" in config.read_text()


# -- item 3: messages never cut ------------------------------------------------------------------------------------
async def test_a_failed_launch_is_said_in_full_and_listed_in_jobs_with_its_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTIP_TUI_DOCTOR", "never")
    config = make_workspace(tmp_path / "ws")
    (config.parent / "configs" / "stage1_universal_foundation.yaml").write_text("SUPER_CONFIG_PATH: nowhere.yaml\n")
    app = app_for(config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        assert await wait_for(pilot, lambda: "did not start" in log_text(app), timeout=60)
        text = log_text(app)
        assert "SUPER_CONFIG_PATH 'nowhere.yaml' not found" in text and "hint:" in text  # the CLI's message + hint
        assert any("did not start" in str(n.message) for n in app._notifications)
        await pilot.press("4")
        table = app.query_one("#job-table", DataTable)
        assert await wait_for(pilot, lambda: table.row_count == 1 and table.get_row_at(0)[2] == "failed")
        assert table.get_row_at(0)[5] == "2"
        assert await wait_for(pilot, lambda: "nowhere.yaml" in str(app.query_one("#job-tail", Static).render()))
        await pilot.press("m")  # the message log: shown, wrapping, everything in it
        log = app.query_one("#message-log", RichLog)
        assert await wait_for(pilot, lambda: any("hint:" in strip.text for strip in log.lines))
        assert log.wrap and log.size.width <= SIZE[0]


async def test_a_started_job_is_said_with_its_folder_and_pid(tmp_path: Path) -> None:
    config = make_workspace(tmp_path / "ws")
    app = app_for(config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")  # the sources hold Foundation's budgets: no question; the build itself will fail
        assert await wait_for(pilot, lambda: "started build Foundation (pid " in log_text(app), timeout=30)
        job = app.jobs[0] if app.jobs else None
        assert await wait_for(pilot, lambda: bool(app.jobs), timeout=10)
        job = app.jobs[0]
        assert str(job.dir) in log_text(app).replace("\n", "")


async def test_dialogs_size_to_their_text(tmp_path: Path) -> None:
    app = app_for(make_workspace(tmp_path / "ws"))
    question = "Stop " + "a very long job name " * 8 + "(pid 12345)? SIGTERM, then SIGKILL after 10 s. END"
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ConfirmScreen(question))
        await pilot.pause()
        dialog = app.screen.query_one("#dialog")
        label = app.screen.query_one("#question")
        assert dialog.size.width <= SIZE[0] and label.size.height >= 3  # wrapped, not cut
        assert "END" in str(label.render())
        await pilot.press("n")
        app.push_screen(ConfirmScreen("Short?"))
        await pilot.pause()
        assert app.screen.query_one("#dialog").size.width < 60  # a short question: a small dialog


# -- item 4: 80x24 first ----------------------------------------------------------------------------------------
LONG = "stage1_universal_foundation_dancetrack_bdd_20261124_10000"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_tables_fit_without_sideways_scrolling_and_names_stay_distinct(tmp_path: Path, size: tuple[int, int]
                                                                          ) -> None:
    from motip.job_results import record_failed_launch

    config = make_workspace(tmp_path / "ws")
    for suffix in "12":
        make_run(config.parent, LONG + suffix, [train_line(1), eval_line(1, 50.0, 51.0)])
        record_failed_launch(config.parent, ["motip", "train"], kind="train", name=f"training of {LONG}{suffix}",
                             output="boom", exit_code=2)
    app = app_for(config)
    async with app.run_test(size=size) as pilot:
        runs = app.query_one("#run-table", DataTable)
        assert await wait_for(pilot, lambda: runs.row_count == 2)
        await pilot.pause()
        for table_id in ("#stage-table", "#run-table"):
            table = app.query_one(table_id, DataTable)
            assert table.virtual_size.width <= table.size.width, (table_id, table.virtual_size, table.size)
        names = [runs.get_row_at(i)[0] for i in range(2)]
        assert names[0] != names[1] and names[0].endswith("00001") and names[1].endswith("00002")
        if size[0] >= 120:
            assert names == [LONG + "1", LONG + "2"]  # room enough: not cut at all
        highlighted = LONG + str(runs.cursor_row + 1)
        assert highlighted in str(app.query_one("#run-detail", Static).render())  # the row's full name
        await pilot.press("4")
        jobs = app.query_one("#job-table", DataTable)
        assert await wait_for(pilot, lambda: jobs.row_count == 2)
        await pilot.pause()
        assert jobs.virtual_size.width <= jobs.size.width, (jobs.virtual_size, jobs.size)
        job_names = [jobs.get_row_at(i)[0] for i in range(2)]
        assert job_names[0] != job_names[1] and [row[-1] for row in job_names] == ["1", "2"]


# -- item 7: resume ---------------------------------------------------------------------------------------------
async def test_resume_runs_train_resume_on_a_dead_run_and_refuses_a_finished_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTIP_TUI_DOCTOR", "never")
    config = make_workspace(tmp_path / "ws")
    dead = make_run(config.parent, "stage1_universal_foundation_a", [train_line(1)])
    app = app_for(config)
    async with app.run_test(size=SIZE) as pilot:
        runs = app.query_one("#run-table", DataTable)
        assert await wait_for(pilot, lambda: runs.row_count == 1 and runs.get_row_at(0)[1] == "dead")
        await pilot.press("R")  # no config.yaml in this folder: `motip train --resume` says so, and it is listed
        assert await wait_for(pilot, lambda: "did not start" in log_text(app), timeout=60)
        assert "not a run folder" in log_text(app)
        assert await wait_for(pilot, lambda: bool(app.jobs), timeout=10)
        argv = app.jobs[0].data["argv"]
        assert argv[-3:] == ["--resume", str(dead), "--detach"]

    (dead / "train.log").write_text((dead / "train.log").read_text()
                                    + '2026-11-24T12:00:00 [end] status=finished\n', encoding="utf-8")
    (dead / "run.json").write_text(json.dumps({"state": "finished"}))
    app = app_for(config)
    async with app.run_test(size=SIZE) as pilot:
        runs = app.query_one("#run-table", DataTable)
        assert await wait_for(pilot, lambda: runs.row_count == 1 and runs.get_row_at(0)[1] not in ("dead", "running"))
        state = runs.get_row_at(0)[1]
        await pilot.press("R")
        await pilot.pause()
        assert f"is {state}: only a stopped/dead/failed run can be resumed" in log_text(app)


# -- one key table -------------------------------------------------------------------------------------------------
async def test_the_key_bar_shows_the_focused_views_keys_and_a_click_presses_the_key(tmp_path: Path) -> None:
    from motip_tui.widgets.key_bar import KeyBar

    config = make_workspace(tmp_path / "ws")
    app = app_for(config)
    async with app.run_test(size=(120, 40)) as pilot:
        bar = app.query_one(KeyBar)
        shown = str(bar.render())
        footer_keys = [key for key in KEYS if key.footer]
        assert all(f"{key.keys} {key.label}" in shown for key in footer_keys if key.keys != "question_mark")
        assert "? Help" in shown and "x Smooth" not in shown
        await pilot.press("3")  # the charts view binds its own keys: they come first while it has the focus
        await pilot.pause()
        shown = str(bar.render())
        assert shown.index("x Smooth") < shown.index("b Build")
        smoothing = app.charts.smoothing
        await pilot.click(KeyBar, offset=(shown.index("x Smooth") + 1, 0))
        await pilot.pause()
        assert app.charts.smoothing != smoothing  # the click pressed x in the focused view
        await pilot.click(KeyBar, offset=(shown.index("? Help") + 1, 0))
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"


def test_bindings_help_palette_and_docs_come_from_one_table() -> None:
    bound = {(b.key, b.action) for b in app_bindings()}
    assert {(k.keys, k.action) for k in KEYS if k.bind and k.keys} == bound
    shown = {key for key, _ in help_rows()}
    assert {"b", "t", "R", "p", "l", "m", "?", "esc", "x"} <= shown
    docs = (REPO / "docs" / "tui.md").read_text(encoding="utf-8")
    assert keys_markdown() in docs, "docs/tui.md's keys table differs from motip_tui/bindings.py: paste keys_markdown()"


async def test_the_command_palette_lists_the_actions_of_the_key_table(tmp_path: Path) -> None:
    app = app_for(make_workspace(tmp_path / "ws"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        commands = {command.help: command for command in app.get_system_commands(app.screen)}
        for key in KEYS:
            if key.palette and key.action:
                assert key.help in commands, key
        await commands[next(k.help for k in KEYS if k.action == "messages")].callback()  # runs the action
        await pilot.pause()
        assert app.query_one("#message-log", RichLog).display


# -- wiring of the picture screen and the log viewer ------------------------------------------------------------
async def test_p_and_l_open_the_pictures_and_the_log_viewer_of_the_selection(tmp_path: Path) -> None:
    from motip_tui.screens.log_viewer import LogViewerScreen
    from motip_tui.screens.picture import PictureScreen
    from tests.helpers.tui import make_snapshot_workspace

    app = app_for(make_snapshot_workspace(tmp_path / "ws"))
    async with app.run_test(size=SIZE) as pilot:
        runs = app.query_one("#run-table", DataTable)
        assert await wait_for(pilot, lambda: runs.row_count == 3)
        await pilot.press("p")  # the stage table has the focus: the stage's latest run
        assert isinstance(app.screen, PictureScreen) and app.screen.run_dir.name.endswith("20261126_080000")
        await pilot.press("escape")
        await pilot.press("tab", "up", "up", "p")  # the run table: the highlighted run
        assert isinstance(app.screen, PictureScreen) and app.screen.run_dir.name.endswith("20261124_100000")
        await pilot.press("escape", "l")
        assert isinstance(app.screen, LogViewerScreen)
        assert [(s.label, s.path.name) for s in app.screen.sources] == [("train.log", "train.log")]
        await pilot.press("escape", "4")
        jobs = app.query_one("#job-table", DataTable)
        assert await wait_for(pilot, lambda: jobs.row_count == 2)
        await pilot.press("l")
        assert isinstance(app.screen, LogViewerScreen)
        assert [s.label for s in app.screen.sources] == ["job output"]
        await pilot.press("escape")
