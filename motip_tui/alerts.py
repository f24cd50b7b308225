"""How the TUI shows alerts; the rules and their thresholds live in ``motip.alerts`` (shared with the queue)."""

from __future__ import annotations

from collections.abc import Sequence

from motip.alerts import ERROR, Alert

SHOWN = 3  # alerts on the one-line banner (rules order them: metrics, grad norm, run state, machine)


def banner_text(alerts: Sequence[Alert], limit: int = SHOWN) -> str:
    """``!! error  ! warning`` for the first ``limit`` alerts."""
    return "  ".join(f"{'!!' if a.level == ERROR else '!'} {a.message}" for a in alerts[:limit])


def banner_class(alerts: Sequence[Alert]) -> str:
    """The banner's CSS class: "error" if any alert is an error, "warning" if any alert at all, else ""."""
    return "error" if any(a.level == ERROR for a in alerts) else "warning" if alerts else ""

