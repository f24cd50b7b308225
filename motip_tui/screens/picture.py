"""A run's pictures inside the TUI: its dashboard.png and its viz contact sheets (worst frames), over SSH too.

Drawn with ``textual-image``: Kitty graphics (TGP) or Sixel where the terminal supports them, Unicode half-blocks
everywhere else (tmux included: it passes neither through by default). A running Textual app owns the terminal's
input, so the terminal cannot be queried from here; the renderer is picked from the environment instead (``TMUX`` ->
half-blocks; ``TERM=xterm-kitty``/``KITTY_WINDOW_ID``/Ghostty -> kitty; WezTerm, foot, mlterm, Konsole -> sixel;
anything else -> half-blocks), and ``MOTIP_TUI_IMAGES=auto|kitty|sixel|halfcell`` overrides it (terminals
misreport). An unknown value is reported on screen and detection is used.

Where the pictures live is the core's (``motip.rundir.dashboard_png``, ``motip.rundir.contact_sheets``). A missing
picture is offered: Enter (or ``m``) runs ``motip dashboard`` / ``motip viz`` (the commands the TUI's ``d``/``v`` start,
from ``motip_tui.launch``) as a subprocess from a thread worker, shows its progress, then the picture; a failure
shows the command's whole output. ``r`` remakes the shown picture (a running run's dashboard goes stale).

Keys: ``d`` dashboard, ``c`` contact sheets (again: the next sequence's), Tab / arrows the next/previous picture,
Enter/``m`` make, ``r`` remake, ``z`` zoom (fit the screen / fill its width and scroll with up/down), Esc or ``q``
close (tmux delays Esc by 0.5 s).
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Static
from motip_tui.widgets.key_bar import KeyBar

from motip.rundir import DASHBOARD_FILE, TRAIN_LOG, contact_sheets, dashboard_png, viz_dir
from motip_tui.screens.log_viewer import shown_path

IMAGES_ENV = "MOTIP_TUI_IMAGES"
RENDERERS = ("kitty", "sixel", "halfcell")
MODES = ("auto", *RENDERERS)
OUTPUT_LINES = 400  # of a failed command's output shown (its end: where the error and hint are)


def detect_renderer(environ: dict[str, str] | os._Environ[str]) -> str:
    """The graphics a terminal can show, from its environment (no terminal query: Textual owns the input)."""
    term = environ.get("TERM", "").lower()
    program = environ.get("TERM_PROGRAM", "").lower()
    if environ.get("TMUX") or term.startswith(("screen", "tmux")):
        return "halfcell"
    if "kitty" in term or environ.get("KITTY_WINDOW_ID") or "ghostty" in term or program == "ghostty":
        return "kitty"
    if (program == "wezterm" or term.startswith(("foot", "mlterm", "contour", "wezterm"))
            or environ.get("KONSOLE_VERSION")):
        return "sixel"
    return "halfcell"


def image_renderer(environ: dict[str, str] | os._Environ[str] | None = None) -> tuple[str, str | None]:
    """(renderer, problem): ``MOTIP_TUI_IMAGES`` when it names one, else the detected one; problem says why an
    unknown value was ignored."""
    environ = os.environ if environ is None else environ
    raw = environ.get(IMAGES_ENV, "").strip()
    mode = raw.lower() or "auto"
    if mode in RENDERERS:
        return mode, None
    detected = detect_renderer(environ)
    if mode != "auto":
        return detected, (f"{IMAGES_ENV}={raw!r} is not one of {', '.join(MODES)}: using {detected} "
                          f"(detected from the terminal's environment)")
    return detected, None


def _image_widget_class(renderer: str) -> type:
    """textual-image's widget for ``renderer``, imported on first use (it is not needed to start the TUI).

    Importing textual-image asks the terminal about its graphics and cell size, which cannot work once Textual
    reads the input (the answer would arrive as keystrokes, or the query would take a keystroke). So the cell size
    is taken from the tty's ioctl (or textual-image's own default) and the queries are answered "no" while
    textual-image is imported: the renderer is chosen by ``image_renderer``."""
    import textual_image._terminal as terminal

    if not hasattr(terminal.get_cell_size, "_result"):
        width = height = 0
        try:
            rows, columns, pixels_x, pixels_y = terminal.get_tiocgwinsz()
            width, height = (pixels_x // columns, pixels_y // rows) if rows and columns else (0, 0)
        except (OSError, ValueError, AttributeError, terminal.TerminalError):
            pass
        cell = terminal.CellSize(width, height) if width and height else terminal.CellSize(10, 20)
        terminal.get_cell_size._result = cell  # type: ignore[attr-defined]  # textual-image's own cache

    def no_query(*_args: Any, **_kwargs: Any) -> Any:
        raise terminal.TerminalError("the terminal is not queried inside a running Textual app")

    original = terminal.capture_terminal_response
    terminal.capture_terminal_response = no_query  # type: ignore[assignment]
    try:
        from textual_image.widget import HalfcellImage, SixelImage, TGPImage
    finally:
        terminal.capture_terminal_response = original  # type: ignore[assignment]
    return {"kitty": TGPImage, "sixel": SixelImage, "halfcell": HalfcellImage}[renderer]


@dataclass
class Picture:
    kind: str  # "dashboard" or "contact sheet"
    path: Path | None  # None: a contact sheet that does not exist yet
    label: str


class PictureScreen(ModalScreen):
    """``PictureScreen(run_dir, workspace_root)``: the run's dashboard and contact sheets; makes a missing one."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("q", "close", "Close", show=False),
        Binding("d", "show_kind('dashboard')", "Dashboard"),
        Binding("c", "show_kind('contact sheet')", "Contact sheet"),
        Binding("tab,right", "step(1)", "Next", show=False),
        Binding("shift+tab,left", "step(-1)", "Prev", show=False),
        Binding("enter,m", "make", "Make"),
        Binding("r", "make(True)", "Remake"),
        Binding("z", "zoom", "Zoom"),
        Binding("up", "scroll(-1)", show=False),
        Binding("down", "scroll(1)", show=False),
        Binding("pageup", "scroll(-0.9)", show=False),
        Binding("pagedown", "scroll(0.9)", show=False),
    ]

    DEFAULT_CSS = """
    PictureScreen { align: center middle; }
    PictureScreen #picture-box { width: 100%; height: 100%; background: $surface; }
    PictureScreen #picture-title { height: 1; background: $panel; padding: 0 1; }
    PictureScreen #picture-area { height: 1fr; align: center middle; }
    PictureScreen #picture-area > .picture { width: auto; height: auto; }
    PictureScreen #picture-area.zoomed { overflow-y: auto; align: center top; }
    PictureScreen #picture-message { height: 1fr; padding: 1 2; }
    PictureScreen #picture-status { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    """

    class Loaded(Message):
        """The reader thread opened a picture file (``image``: a decoded PIL image) or could not (``error``)."""

        def __init__(self, path: Path, image: Any, error: str | None) -> None:
            super().__init__()
            self.path = path
            self.image = image
            self.error = error

    class MakeProgress(Message):
        def __init__(self, kind: str, line: str) -> None:
            super().__init__()
            self.kind = kind
            self.line = line

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, PictureScreen.MakeProgress) and message.kind == self.kind

    class MakeDone(Message):
        def __init__(self, kind: str, argv: list[str], returncode: int | None, output: str) -> None:
            super().__init__()
            self.kind = kind
            self.argv = argv
            self.returncode = returncode  # None: the command could not start (output says why)
            self.output = output

    def __init__(self, run_dir: Path, workspace_root: Path) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.workspace_root = Path(workspace_root)
        self.renderer, self.renderer_problem = image_renderer()
        self.pictures: list[Picture] = []
        self.current = 0
        self.making: str | None = None
        self.failure: str | None = None  # the last failed command's output, shown until the next action
        self.zoomed = False  # False: the whole picture fits the screen; True: as wide as the screen, scrolled
        self.process: subprocess.Popen[str] | None = None  # the command making a picture, while it runs

    def compose(self) -> ComposeResult:
        with Vertical(id="picture-box"):
            yield Static(id="picture-title")
            with Container(id="picture-area"):
                yield VerticalScroll(Static(id="picture-text"), id="picture-message")
            yield Static(id="picture-status")
            yield KeyBar()

    def on_mount(self) -> None:
        if self.renderer_problem:
            self.notify(self.renderer_problem, severity="warning", timeout=10)
        self.scan("dashboard")

    # --- which pictures exist ----------------------------------------------------------------------------------
    def scan(self, kind: str | None = None) -> None:
        """List the run's pictures (dashboard first, then one per contact sheet) and show ``kind``'s first."""
        self.pictures = [Picture("dashboard", dashboard_png(self.run_dir), DASHBOARD_FILE)]
        sheets = contact_sheets(self.run_dir)
        if sheets:
            self.pictures += [Picture("contact sheet", path, f"contact sheet {path.name}") for path in sheets]
        else:
            self.pictures.append(Picture("contact sheet", None, "contact sheet (worst frames)"))
        if kind is not None:
            self.current = next(i for i, p in enumerate(self.pictures) if p.kind == kind)
        self.current = min(self.current, len(self.pictures) - 1)
        self.show()

    @property
    def picture(self) -> Picture:
        return self.pictures[self.current]

    def show(self) -> None:
        picture = self.picture
        sheets = [p for p in self.pictures if p.kind == "contact sheet" and p.path is not None]
        where = ""
        if picture.kind == "contact sheet" and len(sheets) > 1:
            where = f" {sheets.index(picture) + 1}/{len(sheets)}"
        zoom = ", zoomed" if self.zoomed else ""
        self.query_one("#picture-title", Static).update(
            escape(f"{picture.label}{where}  [{self.renderer}{zoom}]  {self.run_dir.name}"))
        if self.failure is not None:
            self._message(self.failure)
        elif self.making == picture.kind:
            self._message(f"making the {picture.kind} (progress below)...")
        elif picture.path is None or not picture.path.is_file():
            self._message(self._offer(picture, "..."))
            self._describe(picture.kind)
        else:
            self._load(picture.path)
        self._status("")

    def _offer(self, picture: Picture, command: str) -> str:
        if picture.kind == "dashboard":
            return (f"No dashboard.png yet for {self.run_dir.name} ({shown_path(dashboard_png(self.run_dir))}).\n\n"
                    f"Enter or m makes it: {command}")
        return (f"No contact sheet yet: {shown_path(viz_dir(self.run_dir))} holds no <sequence>_worst.png.\n\n"
                f"Enter or m makes them with motip viz (tracks the val split with the run's best checkpoint; "
                f"minutes on a big split):\n{command}")

    class Described(Message):
        """The command that would make a ``kind`` of picture, as text (built off the UI thread: it reads files)."""

        def __init__(self, kind: str, command: str) -> None:
            super().__init__()
            self.kind = kind
            self.command = command

    @work(thread=True, group="picture-describe", exclusive=True)
    def _describe(self, kind: str) -> None:
        try:
            command = " ".join(self._argv(kind)[2:])
        except Exception as err:  # noqa: BLE001 - shown; the make itself reports it in full
            render = getattr(err, "render", None)
            command = f"(cannot build the command: {render() if callable(render) else err})"
        self.post_message(self.Described(kind, command))

    @on(Described)
    def _described(self, message: Described) -> None:
        picture = self.picture
        if (picture.kind == message.kind and self.failure is None and self.making is None
                and (picture.path is None or not picture.path.is_file())):
            self._message(self._offer(picture, message.command))

    def _message(self, text: str) -> None:
        area = self.query_one("#picture-area", Container)
        for old in area.query(".picture"):
            old.remove()
        message = self.query_one("#picture-message", VerticalScroll)
        message.display = True
        self.query_one("#picture-text", Static).update(escape(text))

    def _status(self, text: str) -> None:
        self.query_one("#picture-status", Static).update(escape(text))

    # --- showing a picture (decoded off the UI thread) ----------------------------------------------------------
    @work(thread=True, group="picture-load", exclusive=True)
    def _load(self, path: Path) -> None:
        try:
            from PIL import Image as PILImage

            with PILImage.open(path) as opened:
                image = opened.convert("RGB")
            self.post_message(self.Loaded(path, image, None))
        except Exception as err:  # noqa: BLE001 - a damaged or half-copied PNG is reported, not raised
            self.post_message(self.Loaded(path, None, f"cannot read {path}: {err}"))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.path != self.picture.path or self.failure is not None:
            return
        if message.error is not None:
            self._message(message.error)
            return
        widget_class = _image_widget_class(self.renderer)
        area = self.query_one("#picture-area", Container)
        for old in area.query(".picture"):
            old.remove()
        self.query_one("#picture-message", VerticalScroll).display = False
        widget = widget_class(message.image, classes="picture")
        width, height = message.image.size
        if self.zoomed:
            # Fixed cells (textual-image sizes a percentage width from a layout not done yet: 0 rows at times):
            # the area's width less a scrollbar, the height that keeps the picture's proportions.
            from textual_image._terminal import get_cell_size

            cell = get_cell_size()
            columns = max(10, area.scrollable_content_region.width - 2)
            widget.styles.width = columns
            widget.styles.height = max(1, round(columns * cell.width * height / width / cell.height))
        area.mount(widget)
        self._status(f"{shown_path(message.path)}  {width}x{height} px")

    def on_resize(self) -> None:
        if self.zoomed:  # a zoomed picture is sized in cells: size it again for the new width
            self.show()

    # --- making a missing picture ------------------------------------------------------------------------------
    def _argv(self, kind: str) -> list[str]:
        from motip_tui import launch

        if kind == "dashboard":
            return launch.dashboard_argv(self.run_dir)
        from motip.workspace import CONFIG_FILE, load_workspace
        from motip_tui.runs import read_run, stage_of_run

        workspace = load_workspace(self.workspace_root / CONFIG_FILE)
        stage = stage_of_run(read_run(self.run_dir), workspace.stages, self.workspace_root)
        return launch.viz_argv(workspace, self.run_dir, stage)

    def action_make(self, again: bool = False) -> None:
        picture = self.picture
        if self.making is not None:
            self.notify(f"already making the {self.making}", severity="warning")
            return
        exists = picture.path is not None and picture.path.is_file()
        if exists and not again:
            return
        if picture.kind == "dashboard" and not (self.run_dir / TRAIN_LOG).is_file():
            self._message(f"{self.run_dir / TRAIN_LOG} does not exist: nothing to plot yet")
            return
        self.failure = None
        self.making = picture.kind
        self.show()
        self._make(picture.kind)

    @work(thread=True, group="picture-make", exclusive=True)
    def _make(self, kind: str) -> None:
        """Run the command; post its progress lines, then its exit code and output (never raises)."""
        try:
            argv = self._argv(kind)
        except Exception as err:  # noqa: BLE001 - e.g. a config.toml that does not load: its message is shown
            render = getattr(err, "render", None)
            self.post_message(self.MakeDone(kind, [], None, render() if callable(render) else str(err)))
            return
        output: list[str] = []
        try:
            # Its own process group: closing the screen stops the command and whatever it started.
            process = subprocess.Popen(argv, cwd=self.workspace_root, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                                       env={**os.environ, "MOTIP_PROGRESS": "plain"}, start_new_session=True)
        except OSError as err:
            self.post_message(self.MakeDone(kind, argv, None, f"cannot start {argv[0]}: {err}"))
            return
        self.process = process
        self.post_message(self.MakeProgress(kind, "$ " + " ".join(argv[2:])))
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip("\n"))
            del output[:-OUTPUT_LINES]
            if line.strip():
                self.post_message(self.MakeProgress(kind, line.strip()))
        returncode = process.wait()
        self.post_message(self.MakeDone(kind, argv, returncode, "\n".join(output)))

    @on(MakeProgress)
    def _make_progress(self, message: MakeProgress) -> None:
        self._status(f"{message.kind}: {message.line}")

    @on(MakeDone)
    def _make_done(self, message: MakeDone) -> None:
        self.making = None
        if message.returncode == 0:
            self.failure = None
            self.notify(f"made the {message.kind} of {self.run_dir.name}")
            self.scan(message.kind)
            return
        command = " ".join(message.argv[2:]) if message.argv else message.kind
        code = "could not start" if message.returncode is None else f"exit code {message.returncode}"
        self.failure = f"{command} failed ({code}):\n\n{message.output}\n\n(press a picture key or Enter to retry)"
        self.notify(f"making the {message.kind} failed ({code})", severity="error")
        self.show()

    # --- navigation --------------------------------------------------------------------------------------------
    def action_show_kind(self, kind: str) -> None:
        self.failure = None
        if self.picture.kind == kind and kind == "contact sheet":
            sheets = [i for i, p in enumerate(self.pictures) if p.kind == kind]
            self.current = sheets[(sheets.index(self.current) + 1) % len(sheets)]
        else:
            self.current = next(i for i, p in enumerate(self.pictures) if p.kind == kind)
        self.scan()

    def action_step(self, delta: int) -> None:
        self.failure = None
        self.current = (self.current + delta) % len(self.pictures)
        self.scan()

    def action_zoom(self) -> None:
        """Fit the screen, or fill its width and scroll (a 1600 px dashboard at 80 columns: twice the detail)."""
        self.zoomed = not self.zoomed
        area = self.query_one("#picture-area", Container)
        area.set_class(self.zoomed, "zoomed")
        area.scroll_home(animate=False)
        self.show()

    def action_scroll(self, amount: float) -> None:
        """A zoomed picture (or a long failure message): a line per arrow, most of a screen per page key."""
        target = self.query_one("#picture-area", Container) if self.zoomed else \
            self.query_one("#picture-message", VerticalScroll)
        lines = amount if abs(amount) >= 1 else amount * max(1, target.size.height)
        target.scroll_relative(y=int(lines), animate=False)

    def on_unmount(self) -> None:
        """A picture still being made is stopped with the screen (its worker thread would otherwise keep the TUI's
        process alive after quitting until the command ends: a viz takes minutes)."""
        process = self.process
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass

    def action_close(self) -> None:
        self.dismiss()
