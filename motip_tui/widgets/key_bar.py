"""The footer: the keys shown for what has the focus, then the App's, as one line of clickable text.

Textual's Footer mounts and styles one widget per key and rebuilds them on every focus change: about 0.3 s of a
2-core machine's startup (measured with bench/tui.py). This is one Static that re-renders its text instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Static

if TYPE_CHECKING:
    from textual.screen import Screen


class KeyBar(Static):
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        width: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        background: $footer-background;
        color: $footer-description-foreground;
    }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self.show_keys()

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        if self.is_attached and screen is self.screen:
            self.show_keys()

    def show_keys(self) -> None:
        """One ``key label`` pair per shown action (the first key bound to it), the command palette's key last."""
        active = self.screen.active_bindings
        palette_key = self.app.COMMAND_PALETTE_BINDING if self.app.ENABLE_COMMAND_PALETTE else None
        parts: list[Content] = []
        seen: set[str] = set()
        for key, (_node, binding, enabled, _tooltip) in active.items():
            if not binding.show or binding.action in seen or key == palette_key:
                continue
            seen.add(binding.action)
            parts.append(_key_content(key, self.app.get_key_display(binding), binding.description, enabled))
        if palette_key in active:
            _node, binding, enabled, _tooltip = active[palette_key]
            parts.append(_key_content(palette_key, self.app.get_key_display(binding), "palette", enabled))
        self.update(Content(" ").join(parts))


def _key_content(key: str, display: str, label: str, enabled: bool) -> Content:
    """`` key label`` with the key in bold; a click presses the key (so the focused view's bindings work too)."""
    style = "" if enabled else "dim"
    text = Content.from_markup("[bold $footer-key-foreground]$display[/] $label", display=display, label=label)
    return Content(" ").append(text).stylize(f"{style} @click=app.simulate_key({key!r})".strip())
