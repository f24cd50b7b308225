"""A scrollable, searchable view of log files (a run's train.log, a job's output), toolong-style.

The file is never loaded whole. A reader thread indexes line starts (8 bytes a line: a 100 MB train.log of 1.4 M
lines is an 11 MB index) in chunks from a byte offset, then tails the file (a 0.5 s poll; truncation and rotation
start a fresh index) and posts typed messages; the view (a Line API ``ScrollView``) reads only the lines on screen,
through a small cache. A line over ``motip.trainlog.MAX_LINE_BYTES`` (1 MB, a corrupted write) is never read: it
shows as ``motip.trainlog.SKIPPED_LINE``, like every other reader of our logs; the display clips lines at
``DISPLAY_CHARS``. The view follows the tail until the user scrolls up, and again from End (or ``G``).

Keys: ``/`` search (case-insensitive; Enter runs it in a thread), ``n``/``N`` next/previous match (highlighted),
``f``/Tab next file, Home/``g`` top, End/``G`` follow the tail, Esc or ``q`` close (tmux delays Esc by 0.5 s).
"""

from __future__ import annotations

import bisect
import os
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from rich.segment import Segment
from rich.style import Style
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.screen import ModalScreen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input, Static
from motip_tui.widgets.key_bar import KeyBar

from motip.trainlog import MAX_LINE_BYTES, SKIPPED_LINE

CHUNK_BYTES = 4 << 20  # indexing reads this much at a time: the first screenful shows after the first chunk
POLL_S = 0.5
DISPLAY_CHARS = 2000  # a line is shown up to this many characters (the rest: "… N more characters")
CACHE_LINES = 2000
SEARCH_BATCH_BYTES = 4 << 20
MAX_MATCHES = 100_000
MATCH_STYLE = Style(bgcolor="yellow", color="black")
CURRENT_MATCH_STYLE = Style(bgcolor="dark_orange", color="black", bold=True)
GUTTER_STYLE = Style(dim=True)


class LineIndex:
    """Start offsets of a file's complete lines, grown from the reader thread (append only; the UI reads it).

    ``starts[i]`` is where line i begins; ``starts[-1]`` is where the partial last line (no newline yet) begins, so
    line i is ``[starts[i], starts[i + 1] - 1)`` and there are ``len(starts) - 1`` complete lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.starts = array("q", [0])
        self.size = 0  # bytes seen so far (the partial last line included)
        self.inode: tuple[int, int] | None = None

    @property
    def complete_lines(self) -> int:
        return len(self.starts) - 1

    @property
    def lines(self) -> int:
        """Lines to show: the complete ones, plus the partial last line when there is one."""
        return self.complete_lines + (1 if self.size > self.starts[-1] else 0)

    def span(self, line: int) -> tuple[int, int]:
        """Byte range of ``line`` without its newline."""
        if line < self.complete_lines:
            return self.starts[line], self.starts[line + 1] - 1
        return self.starts[-1], self.size

    def add_chunk(self, data: bytes, offset: int) -> None:
        """Index ``data`` read at byte ``offset`` (the bytes right after the last read)."""
        position = data.find(b"\n")
        starts = self.starts
        new: list[int] = []
        while position >= 0:
            new.append(offset + position + 1)
            position = data.find(b"\n", position + 1)
        starts.extend(new)
        self.size = offset + len(data)


def shown_path(path: Path) -> str:
    """``path`` as the user reads it: relative to the working folder (the workspace) when inside it."""
    try:
        return str(Path(path).absolute().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)


def read_line(handle, index: LineIndex, line: int) -> str:  # noqa: ANN001 - a binary file object
    """The text of ``line`` (at most DISPLAY_CHARS*4 bytes read; a line over MAX_LINE_BYTES is SKIPPED_LINE)."""
    start, end = index.span(line)
    length = end - start
    if length > MAX_LINE_BYTES:
        return SKIPPED_LINE
    handle.seek(start)
    wanted = min(length, DISPLAY_CHARS * 4)
    text = handle.read(wanted).decode("utf-8", errors="replace").rstrip("\r")
    if len(text) > DISPLAY_CHARS or wanted < length:
        return text[:DISPLAY_CHARS] + f" … ({length - len(text[:DISPLAY_CHARS].encode()):,} more bytes)"
    return text


class LogLines(ScrollView, can_focus=True):
    """The lines of one file: renders only the visible rows, follows the tail unless scrolled up."""

    class FollowChanged(Message):
        def __init__(self, following: bool) -> None:
            super().__init__()
            self.following = following

    DEFAULT_CSS = """
    LogLines { height: 1fr; }
    """

    def __init__(self, index: LineIndex, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.index = index
        self.following = True
        self.search: str = ""
        self.current_match: int | None = None
        self._cache: OrderedDict[int, str] = OrderedDict()
        self._handle = None
        self._width = 0
        self._complete_seen = 0  # complete lines when the cache was last checked: later rows may be partial

    def set_index(self, index: LineIndex) -> None:
        """A new file, or the same file truncated/rotated: drop what was read from the old one."""
        self.index = index
        self._cache.clear()
        self._complete_seen = index.complete_lines
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self.current_match = None
        self.update_size()
        if self.following:
            self.scroll_end(animate=False)
        self.refresh()

    def on_unmount(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def update_size(self) -> None:
        # The width is the widest line seen so far: a horizontal scrollbar only once a line does not fit.
        self.virtual_size = Size(self._width, self.index.lines)

    def grew(self) -> None:
        """More lines were indexed: grow the scroll range, keep following the tail when following."""
        # The partial last line read before (no newline yet) has grown or ended: read it again.
        for line in [n for n in self._cache if n >= self._complete_seen]:
            del self._cache[line]
        self._complete_seen = self.index.complete_lines
        self.update_size()
        if self.following:
            self.scroll_end(animate=False)
        self.refresh()

    def line_text(self, line: int) -> str:
        cached = self._cache.get(line)
        if cached is not None:
            self._cache.move_to_end(line)
            return cached
        try:
            if self._handle is None:
                self._handle = open(self.index.path, "rb")  # noqa: SIM115 - kept open while the view lives
            text = read_line(self._handle, self.index, line)
        except OSError as err:
            return f"[cannot read {self.index.path}: {err.strerror or err}]"
        self._cache[line] = text
        if len(self._cache) > CACHE_LINES:
            self._cache.popitem(last=False)
        return text

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        line = scroll_y + y
        width = self.size.width
        if line >= self.index.lines:
            return Strip.blank(width, self.rich_style)
        gutter_width = len(str(max(self.index.lines, 1)))
        text = self.line_text(line)
        segments = [Segment(f"{line + 1:>{gutter_width}} ", GUTTER_STYLE)]
        segments.extend(self._highlighted(text, line))
        strip = Strip(segments)
        text_width = strip.cell_length
        if text_width > self._width:  # a wide line: widen the scroll range once it is seen
            self._width = text_width
            self.call_later(self.update_size)
        return strip.crop(scroll_x, scroll_x + width).extend_cell_length(width).apply_style(self.rich_style)

    def _highlighted(self, text: str, line: int) -> list[Segment]:
        term = self.search.lower()
        if not term:
            return [Segment(text)]
        lowered = text.lower()
        style = CURRENT_MATCH_STYLE if line == self.current_match else MATCH_STYLE
        out: list[Segment] = []
        position = 0
        found = lowered.find(term)
        while found >= 0:
            out.append(Segment(text[position:found]))
            out.append(Segment(text[found:found + len(term)], style))
            position = found + len(term)
            found = lowered.find(term, position)
        out.append(Segment(text[position:]))
        return out

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        at_end = new_value >= self.max_scroll_y
        if at_end != self.following:
            self.following = at_end
            self.post_message(self.FollowChanged(at_end))

    def follow(self) -> None:
        self.following = True
        self.scroll_end(animate=False)
        self.post_message(self.FollowChanged(True))

    def go_to_line(self, line: int) -> None:
        """Show ``line`` in the middle of the view (stops following unless it is at the end)."""
        target = max(0, line - self.size.height // 2)
        self.scroll_to(y=target, animate=False, immediate=True)
        self.refresh()


@dataclass
class _Source:
    label: str
    path: Path


class LogViewerScreen(ModalScreen):
    """``LogViewerScreen([(label, path), ...])``: one file at a time, ``f``/Tab switches, Esc or ``q`` closes.

    A full-screen Screen that is modal, so that the App's own keys (``t`` train, ``s`` stop, ``b`` build ...) do not
    act on the views behind it while the user reads and types here (Textual stops the key chain at a modal screen;
    only the App's priority keys, ctrl+q and F1-F5, still work)."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("q", "close", "Close", show=False),
        Binding("slash", "search", "Search"),
        Binding("n", "next_match", "Next"),
        Binding("N", "previous_match", "Prev"),
        Binding("f,tab", "next_file", "File"),
        Binding("home,g", "top", "Top", show=False),
        Binding("end,G", "follow", "Follow"),
    ]

    DEFAULT_CSS = """
    LogViewerScreen { background: $surface; }
    LogViewerScreen #log-title { height: 1; background: $panel; padding: 0 1; }
    LogViewerScreen #log-status { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    LogViewerScreen #log-search { display: none; }
    LogViewerScreen #log-search.visible { display: block; }
    """

    # --- messages from the reader and search threads ---------------------------------------------------------
    class Indexed(Message):
        """The reader indexed more of file ``generation``'s lines (a repeat collapses into the newest)."""

        def __init__(self, generation: int, index: LineIndex) -> None:
            super().__init__()
            self.generation = generation
            self.index = index  # a new one (first read, truncation, rotation): the view swaps to it

        def can_replace(self, message: Message) -> bool:
            return (isinstance(message, LogViewerScreen.Indexed) and message.generation == self.generation
                    and message.index is self.index)

    class ReadFailed(Message):
        def __init__(self, generation: int, error: str) -> None:
            super().__init__()
            self.generation = generation
            self.error = error

    class SearchDone(Message):
        def __init__(self, generation: int, term: str, matches: list[int], scanned: int, truncated: bool) -> None:
            super().__init__()
            self.generation = generation
            self.term = term
            self.matches = matches
            self.scanned = scanned  # lines searched (matches after these come from a later search)
            self.truncated = truncated

    def __init__(self, paths: list[tuple[str, Path]]) -> None:
        super().__init__()
        if not paths:
            raise ValueError("LogViewerScreen needs at least one (label, path)")
        self.sources = [_Source(label, Path(path)) for label, path in paths]
        self.current = 0
        self.generation = 0  # bumped on each file switch: messages of the previous reader are ignored
        self._stop = threading.Event()
        self.matches: list[int] = []
        self.searched_lines = 0
        self.search_note = ""
        self.read_error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="log-title")
        yield LogLines(LineIndex(self.sources[0].path), id="log-lines")
        yield Static(id="log-status")
        yield Input(placeholder="search (Enter: find, Esc: cancel)", id="log-search")
        yield KeyBar()

    @property
    def lines_view(self) -> LogLines:
        return self.query_one(LogLines)

    def on_mount(self) -> None:
        self.lines_view.focus()
        self._open(0)

    def on_unmount(self) -> None:
        self._stop.set()

    # --- reading ---------------------------------------------------------------------------------------------
    def _open(self, number: int) -> None:
        self._stop.set()  # the previous file's reader ends at its next poll
        self._stop = threading.Event()
        self.current = number
        self.generation += 1
        self.matches, self.searched_lines, self.search_note, self.read_error = [], 0, "", None
        view = self.lines_view
        view.following = True
        view.search = ""  # a search belongs to the file it ran on
        view.set_index(LineIndex(self.sources[number].path))
        self._reader(self.generation, self.sources[number].path, self._stop)
        self._show_status()

    @work(thread=True, group="log-reader", exclusive=False)
    def _reader(self, generation: int, path: Path, stop: threading.Event) -> None:
        """Index ``path`` from the start, then tail it until ``stop``; post Indexed after each chunk."""
        index: LineIndex | None = None
        handle = None
        failed = ""
        try:
            while not stop.is_set():
                try:
                    stat = os.stat(path)
                    identity = (stat.st_dev, stat.st_ino)
                    if index is None or identity != index.inode or stat.st_size < index.size:
                        if handle is not None:  # rotated or truncated: index the file afresh
                            handle.close()
                            handle = None
                        handle = open(path, "rb")  # noqa: SIM115 - closed in finally
                        index = LineIndex(path)
                        index.inode = identity
                        failed = ""
                        self.post_message(self.Indexed(generation, index))
                    grew = False
                    while not stop.is_set():
                        handle.seek(index.size)
                        data = handle.read(CHUNK_BYTES)
                        if not data:
                            break
                        index.add_chunk(data, index.size)
                        grew = True
                        self.post_message(self.Indexed(generation, index))
                except OSError as err:  # missing (yet), unreadable, a folder, an I/O error: said, retried
                    message = f"{path}: {err.strerror or err}"
                    if message != failed:
                        failed = message
                        self.post_message(self.ReadFailed(generation, message))
                    if handle is not None:
                        handle.close()
                        handle = None
                    index = None
                    grew = False
                if not grew:
                    stop.wait(POLL_S)
        finally:
            if handle is not None:
                handle.close()

    @on(Indexed)
    def _indexed(self, message: Indexed) -> None:
        if message.generation != self.generation:
            return
        view = self.lines_view
        self.read_error = None
        if message.index is not view.index:  # first read, truncation or rotation: the view swaps to it
            self.matches, self.searched_lines = [], 0
            view.set_index(message.index)
        else:
            view.grew()
        self._show_status()

    @on(ReadFailed)
    def _read_failed(self, message: ReadFailed) -> None:
        if message.generation == self.generation:
            self.read_error = message.error
            self._show_status()

    @on(LogLines.FollowChanged)
    def _follow_changed(self, _message: LogLines.FollowChanged) -> None:
        self._show_status()

    def _show_status(self) -> None:
        source = self.sources[self.current]
        from rich.markup import escape

        tabs = "  ".join(f"[reverse] {escape(s.label)} [/]" if i == self.current else f" {escape(s.label)} "
                         for i, s in enumerate(self.sources))

        self.query_one("#log-title", Static).update(f"{tabs}   {escape(shown_path(source.path))}")
        view = self.lines_view
        index = view.index
        size = f"{index.size / 2 ** 20:.1f} MB" if index.size >= 2 ** 20 else f"{index.size / 1024:.1f} KB"
        parts = [f"{index.lines:,} lines {size}"]
        parts.append("following" if view.following else "paused (End: follow)")
        if view.search:
            where = (f"{self.matches.index(view.current_match) + 1}/{len(self.matches)}"
                     if view.current_match in self.matches else f"{len(self.matches)} matches")
            parts.append(f"/{view.search}  {where}{self.search_note}")
        if self.read_error:
            parts = [f"cannot read {self.read_error}"]
        self.query_one("#log-status", Static).update(escape("  |  ".join(parts)))

    # --- search ----------------------------------------------------------------------------------------------
    def action_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.add_class("visible")
        box.value = self.lines_view.search
        box.focus()

    @on(Input.Submitted, "#log-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        term = event.value
        self._hide_search()
        view = self.lines_view
        view.search = term
        view.current_match = None
        self.matches, self.searched_lines, self.search_note = [], 0, ""
        view.refresh()
        if term:
            self.search_note = " (searching…)"
            self._search(self.generation, view.index, term, 0, view.index.lines)
        self._show_status()

    def _hide_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.remove_class("visible")
        self.lines_view.focus()

    @work(thread=True, group="log-search", exclusive=False)
    def _search(self, generation: int, index: LineIndex, term: str, first: int, end: int) -> None:
        """Line numbers in [first, end) holding ``term`` (case-insensitive), read in batches of whole lines; a line
        over MAX_LINE_BYTES is not read (it cannot match)."""
        needle = term.lower()
        matches: list[int] = []
        truncated = False
        starts = index.starts
        complete = min(end, index.complete_lines)
        try:
            with open(index.path, "rb") as handle:
                line = first
                while line < complete and not truncated:
                    # Whole lines up to SEARCH_BATCH_BYTES per read; a longer line is read alone, or, over
                    # MAX_LINE_BYTES, not at all (it shows as SKIPPED_LINE and cannot match).
                    last = bisect.bisect_right(starts, starts[line] + SEARCH_BATCH_BYTES, line + 1, complete + 1) - 1
                    if last <= line:
                        last = line + 1
                        if starts[last] - starts[line] - 1 > MAX_LINE_BYTES:
                            line = last
                            continue
                    handle.seek(starts[line])
                    text = handle.read(starts[last] - 1 - starts[line]).decode("utf-8", errors="replace").lower()
                    for offset, row in enumerate(text.split("\n")):
                        if needle in row and len(row) <= MAX_LINE_BYTES:
                            matches.append(line + offset)
                            if len(matches) >= MAX_MATCHES:
                                truncated = True
                                break
                    line = last
                if end > complete and not truncated:  # the partial last line
                    start, stop = index.span(complete)
                    if stop - start <= MAX_LINE_BYTES:
                        handle.seek(start)
                        if needle in handle.read(stop - start).decode("utf-8", errors="replace").lower():
                            matches.append(complete)
        except OSError:
            pass
        self.post_message(self.SearchDone(generation, term, matches, end, truncated))

    @on(SearchDone)
    def _search_done(self, message: SearchDone) -> None:
        view = self.lines_view
        if message.generation != self.generation or message.term != view.search:
            return
        fresh = not self.matches
        self.matches = sorted(set(self.matches).union(message.matches))
        self.searched_lines = max(self.searched_lines, message.scanned)
        self.search_note = f" (first {MAX_MATCHES:,} only)" if message.truncated else ""
        if fresh and self.matches:
            self._jump(forward=True)
        elif not self.matches:
            self.search_note = " (no match)"
        view.refresh()
        self._show_status()

    def _jump(self, forward: bool) -> None:
        view = self.lines_view
        if not self.matches:
            return
        if view.current_match is None:
            # From what is on screen: the first match at or after the top line (backwards: before the bottom).
            top = int(view.scroll_y)
            if forward:
                after = [m for m in self.matches if m >= top]
                target = after[0] if after else self.matches[0]
            else:
                before = [m for m in self.matches if m < top + view.size.height]
                target = before[-1] if before else self.matches[-1]
        else:
            position = bisect.bisect_right(self.matches, view.current_match) if forward else \
                bisect.bisect_left(self.matches, view.current_match) - 1
            target = self.matches[position % len(self.matches)]
        view.current_match = target
        view.go_to_line(target)
        self._show_status()

    def action_next_match(self) -> None:
        view = self.lines_view
        if not view.search:
            self.action_search()
            return
        if view.index.lines > self.searched_lines:  # lines appended since the search: search them too
            self._search(self.generation, view.index, view.search, self.searched_lines, view.index.lines)
        self._jump(forward=True)

    def action_previous_match(self) -> None:
        self._jump(forward=False)

    # --- the rest of the keys --------------------------------------------------------------------------------
    def action_close(self) -> None:
        box = self.query_one("#log-search", Input)
        if box.has_class("visible"):
            self._hide_search()
            return
        self.dismiss()

    def action_next_file(self) -> None:
        if self.query_one("#log-search", Input).has_focus:
            return
        if len(self.sources) > 1:
            self._open((self.current + 1) % len(self.sources))

    def action_top(self) -> None:
        self.lines_view.scroll_home(animate=False, immediate=True)

    def action_follow(self) -> None:
        self.lines_view.follow()
