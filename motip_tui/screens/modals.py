"""Small modal screens: help, yes/no confirmation, and an editable command line before a launch."""

from __future__ import annotations

import shlex

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

HELP_TEXT = """\
[b]motip-tui keys[/b] (every action is also in the command palette: ctrl+p)

 1..5, tab  views: Stages, Budgets, Charts, Jobs, Machine
 F1..F5     the same from anywhere, also inside an input field
 esc        leave the budget editor (back to Stages)
 ctrl+q     quit, from anywhere
 up/down    select a stage, a run, a job (the highlighted row)
 b          build the stage's data (motip build); asks to apply the
            stage's budgets first when config.toml holds others
 t          train the stage (motip train <config> --detach)
 s          stop the highlighted job (asks; SIGTERM, then SIGKILL)
 v          viz of the highlighted run (best IDF1 checkpoint, val,
            score 0.4; the command is editable before it runs)
 d          dashboard of the highlighted run (dashboard.png)
 c          overlay the highlighted run on the charts; c again clears
 o / O      overnight queue from the selected stage on / stop it
 e          edit budgets; ctrl+s saves, a applies the stage's budgets
 r          rescan runs and jobs now
 ?          this help         q  quit (jobs keep running)

Jobs are detached: quitting or losing SSH never stops them; the next
motip-tui finds them again. Dialogs close with q or n too (tmux delays
Esc).
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield Static(HELP_TEXT, id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape,q", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question, id="question")
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", id="yes", variant="primary")
                yield Button("No (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class CommandScreen(ModalScreen["list[str] | None"]):
    """Shows the command about to run with its defaults; the user can edit it; Enter runs, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, argv: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.argv = argv

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text)
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
