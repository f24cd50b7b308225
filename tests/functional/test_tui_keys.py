"""Keys read in one burst (typed ahead over SSH, pasted, tmux) are handled in order, each by the widget that has the
focus once the key before it is handled; the view keys 1-5 belong to a field or a dialog when one has the focus."""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.widgets import Input

from motip_tui.app import MotipApp
from motip_tui.screens.modals import HelpScreen
from tests.helpers.tui import make_workspace, wait_for

CHARACTERS = {"enter": "\r", "escape": "\x1b", "question_mark": "?"}


def burst(app: MotipApp, *keys: str) -> None:
    """Every key posted at once, as the terminal driver does when one read holds several keys."""
    for key in keys:
        app.post_message(events.Key(key, CHARACTERS.get(key, key)))


def app_for(config: Path) -> MotipApp:
    return MotipApp(config, refresh_s=0.05, poll_s=0.2, use_watchdog=False)


async def test_a_burst_switches_view_enters_the_field_and_types_into_it(tmp_path: Path) -> None:
    app = app_for(make_workspace(tmp_path / "ws"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        burst(app, "2", "enter", "3", "0", "3")
        field = app.query_one("#budget-dancetrack", Input)
        await wait_for(pilot, lambda: field.value == "303", timeout=5)
        assert app.active == "budgets" and app.focused is field and field.value == "303"
        # Leave the field, switch to the charts (unsaved edits: asked), discard, toggle smoothing there.
        smoothing = app.charts.smoothing
        burst(app, "escape", "3", "d", "x")
        await wait_for(pilot, lambda: app.charts.smoothing is not smoothing, timeout=5)
        assert app.active == "charts" and field.value == "30" and app.charts.smoothing is not smoothing


async def test_view_keys_belong_to_a_dialog_while_one_is_open(tmp_path: Path) -> None:
    app = app_for(make_workspace(tmp_path / "ws"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        burst(app, "question_mark", "2")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), timeout=5)
        await pilot.pause(0.2)
        assert isinstance(app.screen, HelpScreen) and app.active == "stages"
