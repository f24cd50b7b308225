"""The one key table: the App's BINDINGS, the command palette entries and the help screen are all made from KEYS,
so a key cannot be bound without being documented, nor documented without being bound.

Navigation keys that belong to a widget (the budget editor's up/down/enter, a table's cursor) are listed with
``bind=False``: the help shows them, the widget binds them itself.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.binding import Binding

if TYPE_CHECKING:
    from textual.app import App, SystemCommand

VIEWS = ("stages", "budgets", "charts", "jobs", "machine")


@dataclass(frozen=True)
class Key:
    keys: str  # Textual key names, comma-separated ("n,escape")
    action: str  # the App action ("build", "view('jobs')"); "" for keys a widget binds itself
    label: str  # the footer's short label
    help: str  # one line for the help screen and the command palette
    shown: str = ""  # how the help writes the key (default: keys)
    footer: bool = False  # shown in the footer
    priority: bool = False  # works inside input fields too
    palette: bool = True  # listed in the command palette (ctrl+p)
    bind: bool = True  # False: a widget binds it (listed in the help only)


KEYS: tuple[Key, ...] = (
    # Checked before any widget sees the key (priority), so keys typed after it in one burst go to the new view;
    # the App's check_action hands them to a field or a dialog instead when one has the focus.
    *(Key(str(i + 1), f"view_key('{name}')", name.title(), f"{name.title()} view", priority=True, palette=False)
      for i, name in enumerate(VIEWS)),
    *(Key(f"f{i + 1}", f"view('{name}')", name.title(), f"{name.title()} view (also from inside a field)",
          priority=True, palette=False) for i, name in enumerate(VIEWS)),
    Key("up,down", "", "", "move the cursor: a stage, a run, a job, a budget field", shown="up/down", palette=False,
        bind=False),
    Key("enter", "", "", "budget editor: edit the field under the cursor (space toggles a source); Enter or "
        "Esc leaves the field", palette=False, bind=False),
    Key("escape", "back", "Back", "leave the field, then the budget editor (asks to save unsaved edits)",
        shown="esc", palette=False),
    Key("b", "build", "Build", "build the selected stage's data (motip build; asks to apply its budgets first)",
        footer=True),
    Key("t", "train", "Train", "train the selected stage (motip doctor first on a GPU, then motip train --detach)",
        footer=True),
    Key("R", "resume", "Resume", "resume the highlighted stopped/dead/failed run (doctor, then train --resume)"),
    Key("s", "stop", "Stop", "stop the highlighted job or the selected run's job (asks; SIGTERM, then SIGKILL)",
        footer=True),
    Key("v", "viz", "Viz", "viz of the highlighted run (best IDF1 checkpoint, val, score 0.4; editable command)"),
    Key("d", "dashboard", "Dash", "dashboard.png of the highlighted run (editable command)"),
    Key("p", "pictures", "Pics", "pictures of the highlighted run (Stages: the stage's latest run): dashboard, viz",
        footer=True),
    Key("l", "logs", "Log", "log viewer: the highlighted job's output (Jobs) or the run's train.log", footer=True),
    Key("e", "edit", "Edit", "budget editor (asks to save or discard unsaved edits first)", footer=True),
    Key("ctrl+s", "save", "Save", "save the budget editor's changes to config.toml (only changed keys)",
        shown="ctrl+s"),
    Key("a", "apply_stage", "Apply", "apply the selected stage's budgets to the source sections"),
    Key("c", "compare", "Compare", "overlay the highlighted run on the charts; c on it again clears"),
    Key("o", "queue_start", "Queue", "overnight queue from the selected stage (editable command)"),
    Key("O", "queue_stop", "Stop queue", "stop the overnight queue"),
    Key("", "queue_resume", "", "resume the queue after a pause or stop", shown="(palette)"),
    Key("m", "messages", "Msgs", "show/hide the message log (every result and error, full text, scrollable)",
        footer=True),
    Key("r", "rescan", "Rescan", "rescan runs and jobs now"),
    Key("question_mark", "help", "Help", "this help", shown="?", footer=True, palette=False),
    Key("ctrl+q", "quit_app", "Quit", "quit from anywhere (jobs keep running)", shown="ctrl+q", priority=True,
        palette=False),
    Key("q", "quit_app", "Quit", "quit (jobs keep running; the exit message names them)", footer=True,
        palette=False),
)


def app_bindings() -> list[Binding]:
    return [Binding(k.keys, k.action, k.label, show=k.footer, priority=k.priority)
            for k in KEYS if k.bind and k.keys]


def _shown(key: Key) -> str:
    return key.shown or key.keys.replace(",", "/")


def view_keys() -> list[tuple[str, str]]:
    """Keys a view binds for itself while it has the focus (the Charts view's toggles), read from its BINDINGS."""
    from motip_tui.widgets.charts_view import ChartsView

    return [(b.key.replace(",", "/"), f"Charts view: {b.description}")
            for b in ChartsView.BINDINGS if isinstance(b, Binding)]


def help_rows() -> list[tuple[str, str]]:
    """(key, what it does) for the help screen: views first (collapsed to 1..5 / F1..F5), then every other key of
    KEYS, then the keys views bind themselves."""
    rows = [("1..5", f"views: {', '.join(v.title() for v in VIEWS)} (outside fields)"),
            ("F1..F5", "the same from anywhere, also inside a field")]
    rows += [(_shown(k), k.help) for k in KEYS if not k.action.startswith(("view(", "view_key("))]
    return rows + view_keys()


def help_text() -> str:
    """The help as plain text (tests; the screen shows the same rows as a table)."""
    return "\n".join(f"{key:<8} {text}" for key, text in help_rows())


def keys_markdown() -> str:
    """The keys as a Markdown table (docs/tui.md's table is this output; a test checks they agree)."""
    rows = ["| key | action |", "|---|---|"]
    return "\n".join(rows + [f"| `{key}` | {text} |" for key, text in help_rows()])


def palette_commands(app: App) -> Iterator[SystemCommand]:
    """Command palette entries for every key with ``palette``: title with its key, the help line as help."""
    from textual.app import SystemCommand

    for key in KEYS:
        if key.palette and key.action:
            title = key.help.split(" (")[0].split(";")[0]
            title = title[:1].upper() + title[1:]
            shown = f" ({_shown(key)})" if key.keys else ""
            yield SystemCommand(title + shown, key.help, functools.partial(app.run_action, key.action))
