"""The control center driven by keys with App.run_test(): budgets, read-only config, runs, charts, alerts."""

from __future__ import annotations

import difflib
from pathlib import Path

from textual.widgets import DataTable, Input, Static

from motip_tui.app import MotipApp
from motip_tui.widgets.charts import Chart

from tests.helpers.tui import eval_line, make_run, make_workspace, train_line, wait_for

SIZE = (80, 24)


def app_for(config: Path) -> MotipApp:
    return MotipApp(config, refresh_s=0.05, poll_s=0.2)


async def test_edit_and_save_budget_changes_only_that_line(tmp_path: Path) -> None:
    config = make_workspace(tmp_path / "ws")
    before = config.read_text()
    app = app_for(config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")  # the editor, its cursor on the first budget; no field entered yet
        budget = app.query_one("#budget-bdd", Input)
        assert app.focused is app.query_one("#budget-editor")
        await pilot.press("down", "down", "down", "enter")  # BDD's frame_budget, entered with Enter
        assert app.focused is budget
        budget.value = ""
        await pilot.press("1", "5", "0")  # typed into the field, not taken as the "1" view key
        assert budget.value == "150"
        assert "bdd.frame_budget = 150" in str(app.query_one("#budget-diff", Static).render())
        await pilot.press("ctrl+s")
        await pilot.pause()
    after = config.read_text()
    changed = [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ["-frame_budget = 25   # cars", "+frame_budget = 150   # cars"]


async def test_views_reachable_from_inside_an_input(tmp_path: Path) -> None:
    # Digits go into the focused field; F1-F5 switch views from anywhere and Esc leaves the editor.
    app = app_for(make_workspace(tmp_path / "ws"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e", "enter")
        assert isinstance(app.focused, Input)
        await pilot.press("f4")
        assert app.query_one("#views").active == "jobs"
        await pilot.press("e", "enter", "escape")  # Esc leaves the field, a second Esc the editor
        assert app.query_one("#views").active == "budgets" and not isinstance(app.focused, Input)
        await pilot.press("escape")
        await pilot.pause()
        assert app.query_one("#views").active == "stages" and not isinstance(app.focused, Input)
        await pilot.press("e", "ctrl+q")
        await pilot.pause()
    assert app.return_code == 0 and "no jobs running" in (app.quit_message or "")


async def test_invalid_budget_is_refused_and_nothing_written(tmp_path: Path) -> None:
    config = make_workspace(tmp_path / "ws")
    before = config.read_text()
    app = app_for(config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e", "enter")
        field = app.query_one("#budget-dancetrack", Input)
        assert app.focused is field
        field.value = ""
        await pilot.press("minus", "5")
        assert field.value == "-5"
        await pilot.pause()
        assert "invalid" in str(app.query_one("#budget-diff", Static).render())
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "not saved" in str(app.query_one("#message", Static).render())
    assert config.read_text() == before


async def test_apply_stage_copies_budgets(tmp_path: Path) -> None:
    config = make_workspace(tmp_path / "ws")
    app = app_for(config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("down")  # Refinement
        await pilot.pause()
        assert app.stage.name == "Refinement"
        await pilot.press("a")
        await pilot.pause()
    text = config.read_text()
    assert "frame_budget = 40   # people" in text and "frame_budget = 40   # cars" in text


async def test_syntax_error_config_opens_read_only(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[bdd]\nframe_budget = = 5\n", encoding="utf-8")
    before = config.read_bytes()
    app = app_for(config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.readonly
        message = str(app.query_one("#message", Static).render())
        assert "syntax" in message.lower() and "read-only" in message
        await pilot.press("e")
        assert app.query_one("#budget-bdd", Input).disabled
        await pilot.press("ctrl+s")
        await pilot.press("b")
        await pilot.pause()
    assert config.read_bytes() == before


async def test_missing_config_still_opens(tmp_path: Path) -> None:
    app = app_for(tmp_path / "config.toml")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "No config.toml" in str(app.query_one("#stage-detail", Static).render())
        await pilot.press("q")
    assert not (tmp_path / "config.toml").exists()


async def test_runs_list_with_garbage_log_and_best_metrics(tmp_path: Path) -> None:
    config = make_workspace(tmp_path / "ws")
    root = config.parent
    make_run(root, "stage1_universal_foundation_a", [train_line(1), eval_line(1, 55.5, 58.0)])
    garbage = root / "outputs" / "stage1_universal_foundation_b"
    garbage.mkdir(parents=True)
    (garbage / "train.log").write_bytes(b"\x00\xffnot a log\n" * 50)
    app = app_for(config)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#run-table", DataTable)
        assert await wait_for(pilot, lambda: table.row_count == 2)
        rows = [table.get_row_at(i) for i in range(2)]
        assert rows[0][3] == "55.5" and rows[0][4] == "58.0"
        assert "no readable events" in rows[1][6]
        stage_row = app.query_one("#stage-table", DataTable).get_row_at(0)
        assert stage_row[4] == "2" and stage_row[5] == "55.5/58.0"
        assert stage_row[6].endswith("*")  # recalibrated from the measured 1.5 s/step


async def test_appended_lines_reach_the_charts(tmp_path: Path) -> None:
    config = make_workspace(tmp_path / "ws")
    run = make_run(config.parent, "stage1_universal_foundation_a", [train_line(i) for i in range(1, 11)])
    app = app_for(config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        loss = app.query_one("#chart-loss", Chart)
        assert await wait_for(pilot, lambda: app.charts.watches and len(app.charts.watches[0].steps) == 10)
        assert await wait_for(pilot, lambda: loss.points > 0)
        drawn = loss.points
        with open(run / "train.log", "a", encoding="utf-8") as handle:
            handle.write("".join(train_line(i) for i in range(11, 21)))
            handle.write(eval_line(1, 45.0, 47.0))
            handle.write(train_line(21, grad=float("nan"))[:-20])  # a partial last line: not yet delivered
        assert await wait_for(pilot, lambda: len(app.charts.watches[0].log.eval) == 1)
        assert len(app.charts.watches[0].steps) == 20
        ok = await wait_for(pilot, lambda: loss.points > drawn)
        watch = app.charts.watches[0]
        assert ok, (drawn, loss.points, watch.version, app.charts.draws, len(watch.steps))
        assert app.query_one("#chart-eval", Chart).points == 2
        with open(run / "train.log", "a", encoding="utf-8") as handle:
            handle.write(train_line(21, grad=float("nan"))[-20:])
        assert await wait_for(pilot, lambda: any("grad norm is nan" in a.text for a in app.alerts))
        # truncation: the run restarted its log; the charts start over
        (run / "train.log").write_text(train_line(1) * 3, encoding="utf-8")
        ok = await wait_for(pilot, lambda: len(app.charts.watches[0].steps) == 3 and not app.charts.watches[0].log.eval)
        watch = app.charts.watches[0]
        assert ok, (len(watch.steps), watch.tailer.offset, watch.tailer.resets, watch.tailer._thread.is_alive())


async def test_compare_overlay_and_forgetting_alert(tmp_path: Path) -> None:
    config = make_workspace(tmp_path / "ws")
    root = config.parent
    make_run(root, "stage1_universal_foundation_a", [train_line(1), eval_line(1, 60.0, 62.0, pedestrian=60.0)])
    make_run(root, "stage2_universal_refine_a", [train_line(1), eval_line(1, 57.0, 59.0, pedestrian=52.0)],
             config="configs/stage2_universal_refine.yaml")
    app = app_for(config)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#run-table", DataTable)
        assert await wait_for(pilot, lambda: table.row_count == 1)
        table.focus()
        await pilot.press("c")  # compare with the Stage 1 run
        assert app.compare_dir is not None and "foundation" in app.compare_dir.name
        stages = app.query_one("#stage-table", DataTable)
        stages.focus()
        stages.move_cursor(row=1)  # Refinement
        assert await wait_for(pilot, lambda: app.stage.name == "Refinement" and table.row_count == 1)
        table.focus()
        table.move_cursor(row=0)
        assert await wait_for(pilot, lambda: app.selected_run is not None and "refine" in app.selected_run.name)
        await pilot.press("3")
        eval_chart = app.query_one("#chart-eval", Chart)
        assert await wait_for(pilot, lambda: eval_chart.points == 4)  # 2 metrics x (this run + compare run)
        assert await wait_for(pilot, lambda: any("forgetting: pedestrian" in a.text for a in app.alerts))


async def test_demo_workspace_opens_with_its_stages(tmp_path: Path) -> None:
    from motip_tui.__main__ import parse_args, resolve_config

    config = resolve_config(parse_args(["--demo", str(tmp_path / "demo")]))
    assert config == tmp_path / "demo" / "config.toml"
    app = app_for(config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert not app.readonly
        names = [row[0] for row in (app.query_one("#stage-table", DataTable).get_row_at(i) for i in range(3))]
        assert names == ["Foundation", "Refinement", "Aerial-Adaptation"]
        await pilot.press("question_mark")
        assert "HelpScreen" in type(app.screen).__name__
        await pilot.press("q")  # closes help, not the app
        assert app.is_running


async def test_edit_stage_epochs_and_budget(tmp_path: Path) -> None:
    config = make_workspace(tmp_path / "ws")
    app = app_for(config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("down", "e")  # Refinement, then the editor
        epochs = app.query_one("#stage-epochs", Input)
        epochs.value = "8"
        app.query_one("#stage-budget-visdrone", Input).value = "500"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.stages[1].epochs == 8 and app.stages[1].budgets["visdrone"] == 500
        est = app.query_one("#stage-table", DataTable).get_row_at(1)[6]
        assert est == f"{8 * 6.5:.1f}h ${8 * 6.5 * 1.212:.0f}"
    text = config.read_text()
    assert "epochs = 8" in text and "visdrone = 500" in text and "# cars" in text
    assert text.count("epochs = 10") == 1  # Foundation untouched
