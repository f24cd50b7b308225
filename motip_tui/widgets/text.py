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
