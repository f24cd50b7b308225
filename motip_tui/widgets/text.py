"""Text helpers shared by the views: number formats, durations, and fitting names into narrow columns."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

ELLIPSIS = "…"


def fmt(value: Any, pattern: str = "{:.1f}") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return pattern.format(value) if math.isfinite(value) else str(value)
    return str(value)


def rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def middle(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, cut in the middle: run names differ at their end (a date and time
    suffix), so ``stage1_univ…1124_100000`` keeps what tells two runs apart."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    tail = (width - 1) * 3 // 5  # more of the end: the distinguishing suffix
    return text[:width - 1 - tail] + ELLIPSIS + text[len(text) - tail:]


def end(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, cut at the end."""
    return text if len(text) <= width else text[:max(0, width - 1)] + ELLIPSIS


def flex_widths(total: int, fixed: list[int], flex: list[tuple[int, int]]) -> list[int]:
    """Widths of the flexible columns of a table ``total`` cells wide whose other columns take ``fixed`` widths
    (each column also takes 2 cells of padding): each flexible column gets its minimum, then the rest is shared
    in order up to each one's wanted width. ``flex``: [(minimum, wanted)]."""
    room = total - sum(fixed) - 2 * (len(fixed) + len(flex))
    widths = [low for low, _ in flex]
    room -= sum(widths)
    for index, (low, wanted) in enumerate(flex):
        extra = max(0, min(room, wanted - low))
        widths[index] += extra
        room -= extra
    return widths


def fill_table(table: Any, columns: list[tuple[str, int]], rows: list[tuple[str, tuple[str, ...]]],
               drawn: dict[str, Any]) -> bool:
    """Show ``rows`` ((key, cells)) under ``columns`` ((label, width)) in a DataTable, keeping its cursor row;
    nothing is done when they equal what ``drawn`` remembers of this table (a periodic rescan that found nothing
    new costs no layout), and columns are rebuilt only when they changed. True when the table was redrawn."""
    spec = (tuple(columns), tuple(rows))
    if drawn.get(table.id) == spec:
        return False
    row = table.cursor_row
    if drawn.get(table.id, ((), ()))[0] != spec[0]:
        table.clear(columns=True)
        for label, width in columns:
            table.add_column(label, width=width)
    else:
        table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    drawn[table.id] = spec
    if rows:
        table.move_cursor(row=min(max(row, 0), len(rows) - 1))
    return True


def update_text(widget: Any, text: str) -> None:
    """Static.update only when the text changed (an update re-renders and may re-layout)."""
    if getattr(widget, "_shown_text", None) != text:
        widget._shown_text = text
        widget.update(text)
