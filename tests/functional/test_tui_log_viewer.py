"""The log viewer (motip_tui/screens/log_viewer.py) hosted in a small app, on files the tests write: it follows the
tail, stops following after a scroll up, searches with highlights, switches files and opens a big file at once."""

from __future__ import annotations

import time
from pathlib import Path

from textual.app import App

from motip.trainlog import SKIPPED_LINE
from motip_tui.screens.log_viewer import MATCH_STYLE, CURRENT_MATCH_STYLE, LineIndex, LogLines, LogViewerScreen

from tests.helpers.tui import wait_for


class Host(App):
    BINDINGS = [("t", "train", "Train")]  # an App key the viewer must not pass through

    def __init__(self, paths: list[tuple[str, Path]]) -> None:
        super().__init__()
        self.paths = paths
        self.trained = 0

    def action_train(self) -> None:
        self.trained += 1

    def on_mount(self) -> None:
        self.push_screen(LogViewerScreen(self.paths))


def _lines(count: int, start: int = 0) -> str:
    return "".join(f"2026-11-24T10:00:00 [train] epoch=1 step={i} loss={i * 0.5}\n"
                   for i in range(start, start + count))


def _view(app: App) -> LogLines:
    return app.screen.query_one(LogLines)


def _last(view: LogLines) -> int:
    """The last row on screen (under it: a horizontal scrollbar when a line is wider than the view)."""
    return view.scrollable_content_region.height - 1


def _row_text(view: LogLines, y: int) -> str:
    return "".join(segment.text for segment in view.render_line(y))


async def test_follows_tail_until_scrolled_up(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_text(_lines(200))
    app = Host([("train.log", log)])
    async with app.run_test(size=(100, 30)) as pilot:
        assert await wait_for(pilot, lambda: _view(app).index.lines == 200, timeout=10)
        view = _view(app)
        await pilot.pause()
        assert view.following and view.scroll_y == view.max_scroll_y > 0
        assert "step=199" in _row_text(view, _last(view))
        with log.open("a") as handle:
            handle.write(_lines(50, start=200))
        assert await wait_for(pilot, lambda: view.index.lines == 250, timeout=10)
        await pilot.pause()
        assert view.following and view.scroll_y == view.max_scroll_y
        assert "step=249" in _row_text(view, _last(view))

        await pilot.press("pageup")
        await pilot.pause()
        assert not view.following
        top = view.scroll_y
        assert "paused" in str(app.screen.query_one("#log-status").render())
        with log.open("a") as handle:
            handle.write(_lines(50, start=250))
        assert await wait_for(pilot, lambda: view.index.lines == 300, timeout=10)
        await pilot.pause()
        assert view.scroll_y == top and not view.following  # stays where the user is reading
        await pilot.press("end")
        await pilot.pause()
        assert view.following and "step=299" in _row_text(view, _last(view))
        await pilot.press("t")  # the App's keys do not act behind the viewer
        await pilot.pause()
        assert app.trained == 0
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LogViewerScreen)


async def test_search_highlights_and_next_previous(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    body = _lines(300).splitlines(keepends=True)
    for number in (40, 150, 260):
        body[number] = f"2026-11-24T10:00:00 [warning] msg=\"grad Norm spike at {number}\"\n"
    log.write_text("".join(body))
    app = Host([("train.log", log)])
    async with app.run_test(size=(100, 30)) as pilot:
        view = _view(app)
        assert await wait_for(pilot, lambda: view.index.lines == 300, timeout=10)
        await pilot.press("slash")
        await pilot.press(*"norm spike")  # case-insensitive
        await pilot.press("enter")
        screen = app.screen
        assert await wait_for(pilot, lambda: screen.matches == [40, 150, 260], timeout=10)
        await pilot.pause()
        # From the tail (no match below it) the first match wraps to the top one.
        assert view.current_match == 40 and not view.following
        first = view.current_match
        row = view.current_match - int(view.scroll_y)
        strip = view.render_line(row)
        highlighted = [s for s in strip if s.style is not None and s.style.bgcolor == CURRENT_MATCH_STYLE.bgcolor]
        assert [s.text for s in highlighted] == ["Norm spike"]
        await pilot.press("n")
        await pilot.pause()
        second = view.current_match
        assert second == [40, 150, 260][([40, 150, 260].index(first) + 1) % 3]
        assert f"/norm spike  {[40, 150, 260].index(second) + 1}/3" in str(screen.query_one("#log-status").render())
        await pilot.press("N")
        await pilot.pause()
        assert view.current_match == first
        # Other matches on screen get the plain highlight.
        other_rows = [y for y in range(view.size.height) if int(view.scroll_y) + y in (40, 150, 260)
                      and int(view.scroll_y) + y != view.current_match]
        for y in other_rows:
            assert any(s.style is not None and s.style.bgcolor == MATCH_STYLE.bgcolor for s in view.render_line(y))
        # Esc closes the search box first, then the viewer.
        await pilot.press("slash")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, LogViewerScreen)


async def test_switch_files_and_missing_file(tmp_path: Path) -> None:
    train = tmp_path / "train.log"
    train.write_text(_lines(10))
    output = tmp_path / "output.log"
    output.write_text("building...\nerror: something failed\n")
    missing = tmp_path / "nope.log"
    app = Host([("train.log", train), ("job output", output), ("gone", missing), ("a folder", tmp_path)])
    async with app.run_test(size=(100, 30)) as pilot:
        view = _view(app)
        assert await wait_for(pilot, lambda: view.index.lines == 10, timeout=10)
        await pilot.press("f")
        assert await wait_for(pilot, lambda: view.index.path == output and view.index.lines == 2, timeout=10)
        await pilot.pause()
        assert "error: something failed" in _row_text(view, 1)
        assert "job output" in str(app.screen.query_one("#log-title").render())
        await pilot.press("f")
        status = app.screen.query_one("#log-status")
        assert await wait_for(pilot, lambda: "cannot read" in str(status.render()), timeout=10)
        missing.write_text("late\n")  # appears: read as soon as it exists
        assert await wait_for(pilot, lambda: view.index.lines == 1, timeout=10)
        await pilot.press("f")
        assert await wait_for(pilot, lambda: "Is a directory" in str(status.render()), timeout=10)
        await pilot.press("f")  # round the list: the first file again
        assert await wait_for(pilot, lambda: view.index.path == train and view.index.lines == 10, timeout=10)


async def test_large_file_opens_without_blocking(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    with log.open("w") as handle:
        for start in range(0, 200_000, 10_000):
            handle.write(_lines(10_000, start=start))
        handle.write("x" * (2 << 20) + "\n")  # a corrupted 2 MB line: shown as skipped, never read
        handle.write("tail line\n")
    app = Host([("train.log", log)])
    async with app.run_test(size=(100, 30)) as pilot:
        started = time.monotonic()
        view = _view(app)
        assert await wait_for(pilot, lambda: view.index.lines > 0 and "step=" in _row_text(view, 0), timeout=10)
        first_render = time.monotonic() - started
        assert first_render < 1.5, first_render
        assert await wait_for(pilot, lambda: view.index.lines == 200_002, timeout=20)
        await pilot.pause()
        assert "tail line" in _row_text(view, _last(view))
        assert SKIPPED_LINE in _row_text(view, _last(view) - 1)
        await pilot.press("home")
        await pilot.pause()
        assert "step=0 " in _row_text(view, 0)


def test_line_index_spans_and_partial_line(tmp_path: Path) -> None:
    index = LineIndex(tmp_path / "x")
    index.add_chunk(b"ab\ncd", 0)
    assert index.complete_lines == 1 and index.lines == 2 and index.span(0) == (0, 2) and index.span(1) == (3, 5)
    index.add_chunk(b"e\n", 5)
    assert index.complete_lines == 2 and index.lines == 2 and index.span(1) == (3, 6)


def test_snapshot_80x24_search(snap_compare, tmp_path: Path, monkeypatch) -> None:
    """The viewer at 80x24 after a search (paths shown relative to the working folder, so the SVG is stable).
    After a deliberate change: ``pytest tests/functional/test_tui_log_viewer.py --snapshot-update``."""
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "train.log"
    log.write_text(_lines(60))
    (tmp_path / "output.log").write_text("started\n")

    async def run_before(pilot) -> None:
        assert await wait_for(pilot, lambda: _view(pilot.app).index.lines == 60, timeout=10)
        await pilot.press("slash", *"loss=3.5", "enter")
        assert await wait_for(pilot, lambda: pilot.app.screen.matches == [7], timeout=10)
        await pilot.pause()

    assert snap_compare(Host([("train.log", Path("train.log")), ("job output", Path("output.log"))]),
                        terminal_size=(80, 24), run_before=run_before)


async def test_partial_last_line_shown_then_completed(tmp_path: Path) -> None:
    """A line still being written (no newline yet, e.g. a progress bar in a job's output) shows, and is read again
    when it grows."""
    log = tmp_path / "output.log"
    log.write_text("first\nbuilding 10%")
    app = Host([("job output", log)])
    async with app.run_test(size=(80, 24)) as pilot:
        view = _view(app)
        assert await wait_for(pilot, lambda: view.index.lines == 2 and "building 10%" in _row_text(view, 1))
        with log.open("a") as handle:
            handle.write(" 50% done\nnext\n")
        assert await wait_for(pilot, lambda: view.index.lines == 3 and "next" in _row_text(view, 2))
        assert "building 10% 50% done" in _row_text(view, 1)
