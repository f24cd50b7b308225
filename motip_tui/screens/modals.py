"""Small modal screens: help, yes/no confirmation, save/discard/cancel of unsaved edits, and an editable command
line before a launch. Dialogs size to their text (width and height auto, wrapped within the terminal)."""

from __future__ import annotations

import shlex

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from motip_tui.bindings import help_rows

HELP_FOOTER = ("Jobs are detached: quitting or losing SSH never stops them; the next motip-tui finds them again. "
               "Dialogs close with q or n too (tmux delays Esc).")


class HelpScreen(ModalScreen[None]):
    """Made from the key table (motip_tui/bindings.py): the keys it lists are the keys that are bound."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        from rich.table import Table

        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, text in help_rows():
            table.add_row(key, text)
        with VerticalScroll(id="dialog", classes="help"):
            yield Static("[b]motip-tui keys[/b] (actions are also in the command palette: ctrl+p)")
            yield Static(table, id="help-text")
            yield Static(HELP_FOOTER, classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape,q", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question, id="question", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", id="yes", variant="primary")
                yield Button("No (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class SaveDiscardScreen(ModalScreen["str | None"]):
    """Unsaved edits: s saves, d discards, c / n / q / Esc cancels (stays where the edits are). Dismisses with
    "save", "discard" or None."""

    BINDINGS = [Binding("s", "answer('save')", "Save"), Binding("d", "answer('discard')", "Discard"),
                Binding("c,n,q,escape", "answer(None)", "Cancel")]

    def __init__(self, changes: str) -> None:
        super().__init__()
        self.changes = changes

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Unsaved budget edits:", id="question")
            yield Label(self.changes, id="changes", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Save (s)", id="save", variant="primary")
                yield Button("Discard (d)", id="discard", variant="error")
                yield Button("Cancel (c)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "cancel" else event.button.id)

    def action_answer(self, value: str | None) -> None:
        self.dismiss(value)


class CommandScreen(ModalScreen["list[str] | None"]):
    """Shows the command about to run with its defaults; the user can edit it; Enter runs, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, argv: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.argv = argv

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Label(self.title_text, markup=False)
            yield Input(shlex.join(self.argv), id="command")
            yield Label("Enter runs it, Esc cancels", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            argv = shlex.split(event.value)
        except ValueError as err:
            self.query_one(".hint", Label).update(f"cannot parse: {err}")
            return
        self.dismiss(argv or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
