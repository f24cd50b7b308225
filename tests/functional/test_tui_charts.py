"""The charts: motip_tui.chartmath by hand (EMA with debiasing, ticks, y-ranges, run labels, ETA) and ChartsView in
a tiny host app on synthetic train.logs (states, overlays, toggles, alerts). No wall clock: the logs carry fixed
dates and nothing asserted depends on the time."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Static

from motip.alerts import Alert
from motip.rundir import acquire_lock
from motip_tui import chartmath
from motip_tui.widgets.charts import Chart
from motip_tui.widgets.charts_view import ChartPanel, ChartsView, plot_color, run_color

from tests.helpers.trainlog import end_line, start_line, written
from tests.helpers.tui import wait_for

# -- chartmath -----------------------------------------------------------------------------------------------------


def test_ema_matches_a_hand_computation_with_debiasing() -> None:
    # weight 0.5: last = 0.5 last + 0.5 v, divided by 1 - 0.5^count; nan passes through without counting.
    #   v=1: last 0.5,   / 0.5   = 1.0
    #   v=2: last 1.25,  / 0.75  = 5/3
    #   v=4: last 2.625, / 0.875 = 3.0
    smoothed, state = chartmath.ema([1.0, 2.0, math.nan, 4.0], 0.5)
    assert smoothed[0] == pytest.approx(1.0) and smoothed[1] == pytest.approx(5 / 3)
    assert math.isnan(smoothed[2]) and smoothed[3] == pytest.approx(3.0)
    assert (state.last, state.count) == (pytest.approx(2.625), 3)
    # Without debiasing the first point would be 0.5: TensorBoard's curve starts at the data, not at 0.
    values = [math.sin(i / 50) * 3 + 5 + (i % 7) for i in range(5000)]
    for weight in chartmath.EMA_WEIGHTS:
        whole, _ = chartmath.ema(values, weight)
        assert whole.tolist() == pytest.approx(chartmath.ema_reference(values, weight), rel=1e-9)
        # Continued in two calls (points appended) = one call over everything.
        first, state = chartmath.ema(values[:1234], weight)
        rest, _ = chartmath.ema(values[1234:], weight, state)
        assert [*first.tolist(), *rest.tolist()] == pytest.approx(whole.tolist(), rel=1e-9)


def test_log_ticks_are_labelled_with_real_values() -> None:
    positions, labels = chartmath.log_ticks(math.log10(0.0006), math.log10(2.0), 6)
    assert labels == ["1e-3", "0.01", "0.1", "1"]
    assert positions == pytest.approx([-3, -2, -1, 0])
    _, labels = chartmath.log_ticks(-6.2, 3.1, 4)  # ten decades, four ticks: every third decade
    assert labels == ["1e-6", "1e-3", "1", "1e3"]
    positions, labels = chartmath.log_ticks(math.log10(0.8), math.log10(6.0), 4)  # under a decade: 1-2-5
    assert labels == ["1", "2", "5"] and positions == pytest.approx([0, math.log10(2), math.log10(5)])
    assert [chartmath.format_log_label(v) for v in (2e-5, 0.05, 20, 1000)] == ["2e-5", "0.05", "20", "1e3"]


def test_y_range_fits_the_data_and_never_goes_negative_for_non_negative_data() -> None:
    assert chartmath.fit_range([0.0, 0.0]) == (0.0, 1.0)  # a flat 0 HOTA: not -1..1
    low, high = chartmath.fit_range([54.0, 54.0])  # flat: padded in proportion to the value
    assert low == pytest.approx(51.3) and high == pytest.approx(56.7)
    low, high = chartmath.fit_range([0.2, 10.0])  # 5% padding would reach -0.29: clamped at 0
    assert low == 0.0 and high == pytest.approx(10.49)
    assert chartmath.fit_range([-1.0, 3.0]) == (pytest.approx(-1.2), pytest.approx(3.2))
    assert chartmath.fit_range([math.nan, math.inf]) is None and chartmath.fit_range([]) is None
    # An EMA of a constant wobbles by float rounding: still flat, with short tick labels.
    low, high = chartmath.fit_range([2.0, 2.0000000000000004, 1.9999999999999996])
    assert (low, high) == (pytest.approx(1.9), pytest.approx(2.1))
    assert chartmath.linear_ticks(low, high, 3)[1] == ["1.9", "2.0", "2.1"]
    assert chartmath.fit_log10_range([-4.7, -4.7 + 1e-15]) == (pytest.approx(-4.8), pytest.approx(-4.6))
    ticks, labels = chartmath.linear_ticks(51.2, 58.3, 4)
    assert labels == ["52", "54", "56", "58"] and ticks == [52, 54, 56, 58]
    assert chartmath.linear_ticks(0, 512_000, 5)[1] == ["0", "200k", "400k"]
    assert chartmath.linear_ticks(1, 4, 2, min_step=1)[1] == ["2", "4"]  # epochs stay whole
    assert chartmath.linear_ticks(1, 10, 4, min_step=1)[1] == ["5", "10"]  # not 2.5, 5.0, 7.5
    assert chartmath.linear_ticks(0, 17_000, 4)[1] == ["0", "5k", "10k", "15k"]


def test_run_labels_are_short_and_never_identical() -> None:
    assert chartmath.distinct_labels(["stage1_20261124_100000", "stage2_20261125_090000"]) == ["stage1", "stage2"]
    assert chartmath.distinct_labels(["stage1_20261124_100000", "stage1_20261124_130000"]) == ["100000", "130000"]
    assert chartmath.distinct_labels(["run", "run", "run"]) == ["run", "run#2", "run#3"]
    assert chartmath.distinct_labels(["stage1_20261124_100000"]) == ["stage1_20261124_100000"]
    labels = chartmath.distinct_labels(["a_b", "a_b_c", "a-b"])
    assert len(set(labels)) == 3
    # Two run folders of the same name (two workspaces): their parents tell them apart.
    assert ChartsView._labels([Path("ws1/outputs/run_1"), Path("ws2/outputs/run_1")]) == ["ws1", "ws2"]


def test_run_eta_and_durations() -> None:
    status = {"epoch": 3, "epochs": 10, "step": 1000, "total_steps": 5000}
    assert chartmath.run_eta_s(status, 1.5) == pytest.approx((7 * 5000 + 4000) * 1.5)
    assert chartmath.run_eta_s({**status, "epochs": None}, 1.5) is None
    assert chartmath.epoch_eta_s(status, 1.5) == pytest.approx(4000 * 1.5)
    assert [chartmath.format_duration(s) for s in (250, 11260, 200000, None)] == ["4:10", "3:07:40", "2d 07h", "?"]


# -- ChartsView in a host app --------------------------------------------------------------------------------------

def step_line(step: int, steps_per_epoch: int = 100) -> str:
    # Rounded as these logs always had them: loss to 4 decimals, grad norm to 3, lr to 3 significant digits.
    epoch = (step - 1) // steps_per_epoch + 1
    return written("2026-11-24T10:00:00", lambda log: log.train_step(
        epoch=epoch, step=(step - 1) % steps_per_epoch + 1, total_steps=steps_per_epoch, global_step=step,
        loss=round(2 + 1 / (1 + step / 50), 4), grad_norm=round(1 + (step % 7) / 3, 3),
        lr=float(f"{2e-5 * min(1.0, step / 50):.3g}"), s_per_step=1.5))


def eval_line(epoch: int, hota: float, idf1: float, pedestrian: float, vehicle: float) -> str:
    return written("2026-11-24T11:00:00", lambda log: log.eval(
        epoch=epoch, metrics={"HOTA": hota, "IDF1": idf1},
        per_class={"pedestrian": {"HOTA": pedestrian, "IDF1": pedestrian + 2},
                   "vehicle": {"HOTA": vehicle, "IDF1": vehicle + 2}}))


def write_run(root: Path, name: str, steps: int, evals: list[tuple[float, float, float, float]],
              finished: bool = False) -> Path:
    run = root / name
    run.mkdir(parents=True)
    lines = [start_line(f"outputs/{name}", "c.yaml")]
    for step in range(1, steps + 1):
        lines.append(step_line(step))
        if step % 100 == 0 and step // 100 <= len(evals):
            lines.append(eval_line(step // 100, *evals[step // 100 - 1]))
    if finished:  # run_state reads "finished" from the [end] line, whatever the machine
        lines.append(end_line("finished", 5))
    (run / "train.log").write_text("".join(lines), encoding="utf-8")
    return run


class ChartsHost(App[None]):
    """What a host does: mount the view, call show_runs, listen for AlertsChanged."""

    def __init__(self) -> None:
        super().__init__()
        self.alert_messages: list[list[Alert]] = []

    def compose(self) -> ComposeResult:
        yield ChartsView(id="charts", refresh_s=0.05, poll_s=0.1, use_watchdog=False)

    def on_charts_view_alerts_changed(self, message: ChartsView.AlertsChanged) -> None:
        self.alert_messages.append(message.alerts)


def text_of(widget: Static) -> str:
    return str(widget.visual)


def header(app: App) -> str:
    return text_of(app.query_one("#charts-header", Static))


def panel_title(app: App, name: str) -> str:
    return text_of(app.query_one(f"#panel-{name} .panel-title", Static))


def panel_message(app: App, name: str) -> str:
    return text_of(app.query_one(f"#panel-{name} .panel-message", Static))


def chart(app: App, name: str) -> Chart:
    return app.query_one(f"#chart-{name}", Chart)


async def test_no_run_selected_then_waiting_for_the_first_eval_then_evaluating(tmp_path: Path) -> None:
    run = write_run(tmp_path, "stage1_20261124_100000", 150, [])  # epoch 2 of 10, no eval yet
    app = ChartsHost()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ChartsView)
        view.show_runs([])
        await pilot.pause()
        empty = app.query_one("#charts-empty", Static)
        assert empty.display and "No run selected" in text_of(empty)
        assert not app.query_one("#charts-grid").display

        view.show_runs([run])
        assert await wait_for(pilot, lambda: chart(app, "loss").points > 0 and view.run_state is not None)
        assert not empty.display
        assert "waiting for the first eval" in panel_message(app, "eval")
        assert "epoch 2/10" in panel_message(app, "eval")
        assert not chart(app, "eval").display

        # The trainer (its lock held) is evaluating: its job's output.log has a PROGRESS line of the tracker.
        lock = acquire_lock(run)
        try:
            (run / "output.log").write_text("PROGRESS train epoch 2 50/100 50.0% 0.7/s eta=70.0s\n"
                                            "PROGRESS track 710/1000 71.0% 2.8/s eta=250.0s\n", encoding="utf-8")
            assert await wait_for(pilot, lambda: "evaluating (track 71%)" in header(app))
            assert await wait_for(pilot, lambda: view.run_state == "running")
            assert "ETA 4:10" in header(app)
            assert "evaluating (track 71%), ETA 4:10" in panel_message(app, "eval")
            # The eval done, back to training: ETAs of the epoch and of the run, from train.log's steps left x
            # s_per_step (epoch 2, step 50 of 100, 10 epochs, 1.5 s/step).
            with open(run / "output.log", "a", encoding="utf-8") as handle:  # the trainer's own progress line
                handle.write("PROGRESS train epoch 3 10/100 10.0% 0.7/s eta=127.0s\n")
            assert await wait_for(pilot, lambda: "evaluating" not in header(app))
            assert f"ETA epoch {chartmath.format_duration(50 * 1.5)}, run {chartmath.format_duration(850 * 1.5)}" \
                in header(app)
        finally:
            lock.release()


async def test_overlay_on_every_chart_with_distinct_labels_and_live_appends(tmp_path: Path) -> None:
    first = write_run(tmp_path, "stage1_20261124_100000", 450, [(50 + e, 52 + e, 51 + e, 47 + e) for e in range(4)])
    second = write_run(tmp_path, "stage2_20261125_090000", 300, [(53 + e, 55 + e, 50 + e, 52 + e) for e in range(3)])
    app = ChartsHost()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ChartsView)
        view.show_runs([first, second])
        def both_drawn(name: str) -> bool:  # both runs, each in its colour
            spec = chart(app, name).spec
            return spec is not None and len({line.color for line in spec.lines}) >= 2

        assert await wait_for(pilot, lambda: all(both_drawn(n) for n in ("eval", "loss", "grad_norm", "lr")))
        assert "■ stage1" in header(app) and "■ stage2" in header(app)
        for name in ("loss", "grad_norm", "lr"):
            assert "stage1" in panel_title(app, name) and "stage2" in panel_title(app, name)
        assert "stage1 53.0/55.0" in panel_title(app, "eval") and "stage2 55.0/57.0" in panel_title(app, "eval")
        # 54 is inside the HOTA/IDF1 range: a line, no edge mark.
        eval_spec = chart(app, "eval").spec
        assert eval_spec is not None and eval_spec.hline == 54.0 and eval_spec.edge_note is None

        # Appended steps reach the chart; an overlay removed stops being drawn.
        draws = view.draws
        with open(first / "train.log", "a", encoding="utf-8") as handle:
            handle.write(step_line(451))
        assert await wait_for(pilot, lambda: view.watches[0].steps[-1:] == [451.0] and view.draws > draws)
        assert "step 51/100" in header(app)
        view.show_runs([first])
        await wait_for(pilot, lambda: len(view.watches) == 1 and "■" not in header(app))
        loss_spec = chart(app, "loss").spec
        assert loss_spec is not None and len({line.color for line in loss_spec.lines}) == 2  # raw + smoothed


async def test_keys_toggle_smoothing_weight_log_scale_and_per_class(tmp_path: Path) -> None:
    run = write_run(tmp_path, "stage1_20261124_100000", 450, [(60 + e, 62 + e, 61 + e, 57 + e) for e in range(4)])
    app = ChartsHost()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ChartsView)
        view.focus()
        view.show_runs([run])
        assert await wait_for(pilot, lambda: chart(app, "loss").points > 0 and chart(app, "eval").points > 0)
        # Every HOTA/IDF1 above 60: the target is off the range, marked at the bottom edge with its value.
        eval_spec = chart(app, "eval").spec
        assert eval_spec is not None and eval_spec.edge_note == "▼54" and not eval_spec.edge_top
        assert eval_spec.y_range is not None and eval_spec.y_range[0] > 54

        assert "EMA 0.9" in panel_title(app, "loss") and "smoothed" in panel_title(app, "loss")
        await pilot.press("x")
        assert "EMA" not in panel_title(app, "loss") and "raw" in header(app)
        loss_spec = chart(app, "loss").spec
        # Raw only: its envelope (bucket minima, bucket maxima) in the run's bright colour, no smoothed line.
        assert loss_spec is not None and len(loss_spec.lines) == 2
        assert {line.color for line in loss_spec.lines} == {plot_color(run_color(0))}
        await pilot.press("w")  # cycling the weight turns smoothing back on
        assert "EMA 0.99" in panel_title(app, "loss") and "EMA 0.99" in header(app)

        await pilot.press("y")
        lr_spec = chart(app, "lr").spec
        assert lr_spec is not None and lr_spec.y_ticks is not None
        positions, labels = lr_spec.y_ticks
        assert "1e-5" in labels and all(p < 0 for p in positions)  # drawn on log10 values, labelled in lr
        assert "log" in panel_title(app, "lr")

        assert app.query_one("#panel-eval", ChartPanel).display
        await pilot.press("k")
        assert not app.query_one("#panel-eval", ChartPanel).display
        assert app.query_one("#panel-class-HOTA", ChartPanel).display
        await wait_for(pilot, lambda: "pedestrian" in panel_title(app, "class-HOTA"))
        title = panel_title(app, "class-HOTA")
        assert "pedestrian 64.0" in title and "vehicle 60.0" in title
        spec = chart(app, "class-HOTA").spec
        assert spec is not None and [line.point_marker for line in spec.lines] == ["p", "v"]
        await pilot.press("k")
        assert "pedestrian 66.0" in panel_title(app, "class-IDF1")


async def test_wide_terminal_shows_every_panel(tmp_path: Path) -> None:
    run = write_run(tmp_path, "stage1_20261124_100000", 250, [(50, 52, 51, 47), (51, 53, 52, 48)])
    app = ChartsHost()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(ChartsView)
        view.show_runs([run])
        assert await wait_for(pilot, lambda: chart(app, "class-IDF1").points > 0)
        assert view.wide and all(panel.display for panel in app.query(ChartPanel))
        assert list(view.summaries(0.0)) == [run]  # the Stages view's scan reuses the parsed log


async def test_alerts_changed_is_posted_when_the_run_alerts_change(tmp_path: Path) -> None:
    run = write_run(tmp_path, "stage1_20261124_100000", 300, [(56, 58, 57, 53), (55, 57, 56, 52), (53, 57, 54, 50)])
    app = ChartsHost()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ChartsView)
        view.focus()
        view.show_runs([run], previous_best={"pedestrian": 60.0})
        assert await wait_for(pilot, lambda: bool(app.alert_messages))
        texts = [alert.message for alert in app.alert_messages[-1]]
        assert "HOTA 53.0 < 54.0 at epoch 3" in texts
        assert "forgetting: pedestrian HOTA 54.0 < previous stage best 60.0" in texts
        assert view.alerts == app.alert_messages[-1]
        # The per-class HOTA panel draws the previous stage's best as the forgetting reference.
        await pilot.press("k")
        assert await wait_for(pilot, lambda: "prev. stage best p60.0" in panel_title(app, "class-HOTA"))
        spec = chart(app, "class-HOTA").spec
        assert spec is not None and [value for value, _ in spec.ref_lines] == [60.0]
        count = len(app.alert_messages)
        await pilot.pause(0.3)
        assert len(app.alert_messages) == count  # unchanged alerts are not posted again
        view.show_runs([])
        assert await wait_for(pilot, lambda: app.alert_messages[-1] == [])


def snapshot_before(runs: list[Path], keys: tuple[str, ...]):
    async def run_before(pilot) -> None:
        app = pilot.app
        view = app.query_one(ChartsView)
        view.focus()
        view.show_runs(runs)
        def settled() -> bool:  # every run read and drawn, the state known
            versions = tuple(w.version for w in view.watches)
            return view.run_state == "finished" and all(versions) and view.drawn_versions == versions

        assert await wait_for(pilot, settled)
        await pilot.press(*keys)
        await pilot.pause(0.3)
        assert await wait_for(pilot, settled)
        await pilot.pause()
    return run_before


@pytest.mark.parametrize("size, keys", [((80, 24), ()), ((80, 24), ("y", "k")), ((120, 40), ())])
def test_charts_snapshot(snap_compare, tmp_path: Path, size: tuple[int, int],
                         keys: tuple[str, ...]) -> None:
    """What the view looks like (SVGs in tests/functional/__snapshots__/; ``--snapshot-update`` after a deliberate
    change)."""
    first = write_run(tmp_path, "stage1_20261124_100000", 500, [(50 + e, 52 + e, 51 + e, 47 + e) for e in range(5)],
                      finished=True)
    second = write_run(tmp_path, "stage2_20261125_090000", 300, [(53 + e, 56 + e, 51 + e, 52 + e) for e in range(3)],
                       finished=True)
    assert snap_compare(ChartsHost(), terminal_size=size, run_before=snapshot_before([first, second], keys))
