"""The picture screen (motip_tui/screens/picture.py) hosted in a small app: a run's dashboard.png and contact sheets
in half-blocks under Pilot, the MOTIP_TUI_IMAGES override, and a missing dashboard made by the real
`motip dashboard`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image as PILImage
from textual.app import App

from motip_tui.screens.picture import PictureScreen, detect_renderer, image_renderer

from tests.helpers.paths import REPO
from tests.helpers.tui import make_run, make_workspace, wait_for



class Host(App):
    def __init__(self, run_dir: Path, root: Path) -> None:
        super().__init__()
        self.run_dir, self.root = run_dir, root

    def on_mount(self) -> None:
        self.push_screen(PictureScreen(self.run_dir, self.root))


def _png(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (160, 120)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.new("RGB", size, colour).save(path)
    return path


def _pictures(app: App) -> list:
    return list(app.screen.query(".picture"))


def _text(app: App) -> str:
    return str(app.screen.query_one("#picture-text").render())


@pytest.fixture(autouse=True)
def plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MOTIP_TUI_IMAGES", "TMUX", "KITTY_WINDOW_ID", "TERM_PROGRAM", "KONSOLE_VERSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")


def test_renderer_choice() -> None:
    assert detect_renderer({"TERM": "xterm-256color"}) == "halfcell"
    assert detect_renderer({"TERM": "xterm-kitty"}) == "kitty"
    assert detect_renderer({"TERM": "xterm-kitty", "TMUX": "/tmp/tmux-0/default,1,0"}) == "halfcell"
    assert detect_renderer({"TERM": "screen-256color"}) == "halfcell"
    assert detect_renderer({"TERM_PROGRAM": "WezTerm"}) == "sixel"
    assert image_renderer({"MOTIP_TUI_IMAGES": "Sixel", "TERM": "xterm-kitty"}) == ("sixel", None)
    assert image_renderer({"MOTIP_TUI_IMAGES": "auto", "TERM": "xterm-kitty"}) == ("kitty", None)
    renderer, problem = image_renderer({"MOTIP_TUI_IMAGES": "iterm", "TERM": "xterm"})
    assert renderer == "halfcell" and "MOTIP_TUI_IMAGES='iterm' is not one of auto, kitty, sixel, halfcell" in problem


async def test_dashboard_and_contact_sheets_in_half_blocks(tmp_path: Path) -> None:
    run = tmp_path / "outputs" / "stage1_x"
    _png(run / "dashboard.png", (200, 30, 30))
    viz = run / "viz"
    _png(viz / "seqB_worst.png", (30, 200, 30))
    _png(viz / "seqA_worst.png", (30, 30, 200))
    (viz / "summary.json").write_text(json.dumps({"sequences": {
        "seqB": {"contact_sheet": "seqB_worst.png"}, "seqA": {"contact_sheet": "seqA_worst.png"}}}))
    app = Host(run, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await wait_for(pilot, lambda: len(_pictures(app)) == 1, timeout=10)
        picture = _pictures(app)[0]
        assert type(picture).__name__ == "HalfcellImage"
        assert await wait_for(pilot, lambda: "▀" in app.export_screenshot())
        title = str(app.screen.query_one("#picture-title").render())
        assert "dashboard.png" in title and "halfcell" in title
        assert "160x120" in str(app.screen.query_one("#picture-status").render())
        fitted = picture.size
        await pilot.press("z")  # as wide as the screen, scrolled with up/down
        area = app.screen.query_one("#picture-area")
        zoomed = await wait_for(pilot, lambda: len(_pictures(app)) == 1 and area.max_scroll_y > 0
                                and _pictures(app)[0].size.width > fitted.width)
        assert zoomed, (_pictures(app), area.max_scroll_y, area.scrollable_content_region, fitted)
        await pilot.press("pagedown")
        assert await wait_for(pilot, lambda: area.scroll_y > 0)
        await pilot.press("z")
        assert await wait_for(pilot, lambda: len(_pictures(app)) == 1 and _pictures(app)[0].size == fitted)
        await pilot.press("c")
        assert await wait_for(pilot, lambda: "seqB_worst.png" in str(app.screen.query_one("#picture-status").render()))
        assert "1/2" in str(app.screen.query_one("#picture-title").render())  # summary.json's order
        await pilot.press("c")
        assert await wait_for(pilot, lambda: "seqA_worst.png" in str(app.screen.query_one("#picture-status").render()))
        await pilot.press("d")
        assert await wait_for(pilot, lambda: "dashboard.png" in str(app.screen.query_one("#picture-status").render()))
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, PictureScreen)


@pytest.mark.parametrize(("value", "widget", "warned"), [("sixel", "SixelImage", False), ("kitty", "TGPImage", False),
                                                         ("nonsense", "HalfcellImage", True)])
async def test_images_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, widget: str,
                               warned: bool) -> None:
    monkeypatch.setenv("MOTIP_TUI_IMAGES", value)
    run = tmp_path / "run"
    _png(run / "dashboard.png", (200, 200, 30))
    app = Host(run, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await wait_for(pilot, lambda: len(_pictures(app)) == 1, timeout=10)
        await pilot.pause()
        import textual_image.widget as widgets  # loaded by the screen by now

        assert isinstance(_pictures(app)[0], getattr(widgets, widget))
        notes = [n.message for n in app._notifications]
        assert any("MOTIP_TUI_IMAGES='nonsense' is not one of" in n for n in notes) == warned


async def test_missing_dashboard_offered_failure_shown_then_made_by_the_cli(tmp_path: Path) -> None:
    """The real `motip dashboard` in a worker: on a log with nothing to plot it fails and its whole message is shown;
    once the log has steps, Enter makes the picture and shows it."""
    root = tmp_path / "ws"
    make_workspace(root)
    run = make_run(root, "stage1_universal_foundation_20261124_100000", [])  # a [start] line only
    app = Host(run, root)
    async with app.run_test(size=(100, 30)) as pilot:
        assert await wait_for(pilot, lambda: "motip dashboard" in _text(app), timeout=10)
        assert "No dashboard.png yet" in _text(app) and not _pictures(app)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: "failed (exit code 2)" in _text(app), timeout=90)
        text = _text(app)  # the CLI's message and its hint, whole
        assert "no [train] or [eval] lines in this log" in text and "hint: is this a motip train.log?" in text
        assert not _pictures(app) and not (run / "dashboard.png").exists()

        # The contact sheet is offered with the viz command the TUI's `v` starts (the run's viz folder, 0.4).
        await pilot.press("c")
        assert await wait_for(pilot, lambda: "--score_thresh 0.4" in _text(app), timeout=10)
        text = _text(app)
        assert "No contact sheet yet" in text and "motip viz" in text and str(run / "viz") in text
        assert "--score_thresh 0.4" in text

        shutil.copy(REPO / "tests" / "data" / "dashboard_real_tiny_train.log", run / "train.log")
        await pilot.press("d")
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: len(_pictures(app)) == 1, timeout=90)
        assert (run / "dashboard.png").is_file()
        assert "1600x" in str(app.screen.query_one("#picture-status").render())

    # Closing the screen while a picture is being made stops the command (and its process group).
    (run / "dashboard.png").unlink()
    app = Host(run, root)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert await wait_for(pilot, lambda: "No dashboard.png yet" in _text(app), timeout=10)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: screen.process is not None, timeout=10)
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: screen.process.poll() is not None, timeout=10)
        assert screen.process.returncode < 0  # killed by the signal, not finished
    assert not (run / "dashboard.png").exists()


def test_contact_sheets_paths_and_lazy_import(tmp_path: Path) -> None:
    """The core owns the paths; the screen module does not load textual-image or PIL (startup speed)."""
    import subprocess
    import sys

    from motip.rundir import contact_sheets, dashboard_png, viz_dir

    run = tmp_path / "run"
    assert dashboard_png(run) == run / "dashboard.png" and viz_dir(run) == run / "viz"
    assert contact_sheets(run) == []
    _png(run / "viz" / "b_worst.png", (0, 0, 0))
    _png(run / "viz" / "a_worst.png", (0, 0, 0))
    assert contact_sheets(run) == [run / "viz" / "a_worst.png", run / "viz" / "b_worst.png"]  # no summary.json
    (run / "viz" / "summary.json").write_text('{"sequences": {"b": {"contact_sheet": "b_worst.png"}}}')
    assert contact_sheets(run) == [run / "viz" / "b_worst.png"]
    code = ("import sys, motip_tui.screens.picture, motip_tui.screens.log_viewer; "
            "print(sorted(m for m in ('textual_image', 'PIL', 'torch', 'matplotlib') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]"


def test_snapshot_80x24_half_blocks(snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The picture screen at 80x24 in half-blocks on a generated picture (stable: no terminal, fixed pixels).
    After a deliberate change: ``pytest tests/functional/test_tui_picture.py --snapshot-update``."""
    monkeypatch.chdir(tmp_path)
    import textual_image._terminal as terminal  # no terminal query; fixes the cell size a tty (pytest -s) would give

    monkeypatch.setattr(terminal.get_cell_size, "_result", terminal.CellSize(10, 20), raising=False)
    run = Path("outputs") / "stage1_demo_foundation_20261124_024221"
    image = PILImage.new("RGB", (160, 176))
    image.putdata([(x * 255 // 159, y * 255 // 175, 128) for y in range(176) for x in range(160)])
    (tmp_path / run).mkdir(parents=True)
    image.save(tmp_path / run / "dashboard.png")

    async def run_before(pilot) -> None:
        assert await wait_for(pilot, lambda: len(_pictures(pilot.app)) == 1, timeout=10)
        await pilot.pause(0.2)

    assert snap_compare(Host(run, Path(".")), terminal_size=(80, 24), run_before=run_before)
