"""The budget editor: each source's switch and frame_budget, the builder seed, and the selected stage's budgets,
epochs, hours per epoch and cost per hour, validated as typed and saved through ``motip.workspace.update_workspace``
(only the changed keys; comments kept; nothing written when something is invalid).

No input trap: the editor itself holds the focus and a cursor (up/down) over its fields; Enter enters the field
under the cursor (space or Enter toggles a source), Enter or Esc leaves it. The fields cannot be reached by
focus (tab) otherwise, so outside a field every key is a command (1-5 switch views) and inside one digits are
digits. ``dirty`` says whether there are unsaved edits: the App asks save / discard / cancel before they could
be lost (leaving the view, ``e``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.validation import Integer, Number
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Static

from motip.errors import MotipError
from motip.workspace import SOURCE_LABELS, SOURCES, Stage, Workspace, apply_stage, update_workspace
from motip_tui.messages import Say, WorkspaceChanged
from motip_tui.widgets.text import rel

STAGE_FIELDS = (("stage-epochs", "epochs", int), ("stage-hours", "hours_per_epoch", float),
                ("stage-cost", "cost_per_hour", float))


def _field(field_id: str, kind: str, minimum: float) -> Input:
    validator = Integer(minimum=int(minimum)) if kind == "integer" else Number(minimum=minimum)
    field = Input(id=field_id, type=kind, validators=[validator], compact=True)
    field.can_focus = False  # reached with Enter on the cursor only (see the module docstring)
    return field


class BudgetEditor(VerticalScroll):
    BINDINGS = [Binding("up,k", "move(-1)", "Up", show=False), Binding("down,j", "move(1)", "Down", show=False),
                Binding("enter", "enter_field", "Edit field", show=False),
                Binding("space", "toggle", "Toggle", show=False)]
    can_focus = True

    def __init__(self, config_path: Path, *, id: str | None = None) -> None:  # noqa: A002 - Textual's widget `id`
        super().__init__(id=id)
        self.config_path = config_path
        self.root = config_path.parent
        self.workspace: Workspace | None = None
        self.workspace_error: str | None = None
        self.stage: Stage | None = None
        self.cursor = 1  # the first source's frame_budget

    def compose(self) -> ComposeResult:
        yield Static(id="budget-status")
        with Grid(id="budget-grid"):
            yield Label("source")
            yield Label("frame_budget")
            yield Label("stage budget")
            for source in SOURCES:
                box = Checkbox(SOURCE_LABELS[source], id=f"enabled-{source}", compact=True)
                box.can_focus = False
                yield box
                yield _field(f"budget-{source}", "integer", 0)
                yield _field(f"stage-budget-{source}", "integer", 0)
        with Horizontal(classes="fields"):
            yield Label("seed")
            yield _field("seed", "integer", 0)
            yield Label("epochs")
            yield _field("stage-epochs", "integer", 1)
        with Horizontal(classes="fields"):
            yield Label("h/epoch")
            yield _field("stage-hours", "number", 0)
            yield Label("$/hour")
            yield _field("stage-cost", "number", 0)
        yield Static(id="budget-diff")

    @property
    def fields(self) -> list[Widget]:
        """The fields in cursor order (row by row)."""
        return list(self.query("Checkbox, Input"))

    @property
    def readonly(self) -> bool:
        return self.workspace is None

    @property
    def in_field(self) -> bool:
        return isinstance(self.app.focused, Input) and self.app.focused in self.fields

    def on_mount(self) -> None:
        self._show_cursor()

    # -- cursor ------------------------------------------------------------------------------------------------
    def _show_cursor(self) -> None:
        for index, field in enumerate(self.fields):
            field.set_class(index == self.cursor, "cursor")

    def action_move(self, delta: int) -> None:
        if self.in_field:
            self.leave_field()
        self.cursor = (self.cursor + delta) % len(self.fields)
        self._show_cursor()
        self.fields[self.cursor].scroll_visible()

    def action_enter_field(self) -> None:
        field = self.fields[self.cursor]
        if field.disabled:
            self.post_message(Say("read-only: fix config.toml first" if self.readonly else "no stage selected",
                                  "warning"))
        elif isinstance(field, Checkbox):
            field.toggle()
        elif isinstance(field, Input):
            field.can_focus = True
            self.app.set_focus(field)  # at once (focus() waits a tick); its value selected: typing replaces it

    def action_toggle(self) -> None:
        field = self.fields[self.cursor]
        if isinstance(field, Checkbox) and not field.disabled:
            field.toggle()

    def leave_field(self) -> None:
        self.app.set_focus(self)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.leave_field()

    def on_descendant_blur(self, event: Any) -> None:
        if isinstance(event.widget, Input):
            event.widget.can_focus = False

    # -- data --------------------------------------------------------------------------------------------------
    def show(self, workspace: Workspace | None, error: str | None, stage: Stage | None) -> None:
        """Fill the fields from ``workspace`` (what config.toml holds): any unsaved edit is replaced."""
        self.workspace, self.workspace_error, self.stage = workspace, error, stage
        status = self.query_one("#budget-status", Static)
        for widget in self.fields:
            widget.disabled = workspace is None
        if workspace is None:
            status.update(escape(error or "no workspace"))
            self._show_pending()
            return
        for source in SOURCES:
            box = self.query_one(f"#enabled-{source}", Checkbox)
            with box.prevent(Checkbox.Changed):
                box.value = workspace.sources[source].enabled
            self._label(box)
            self.query_one(f"#budget-{source}", Input).value = str(workspace.sources[source].frame_budget)
        self.query_one("#seed", Input).value = str(workspace.builder.seed)
        for source in SOURCES:
            field = self.query_one(f"#stage-budget-{source}", Input)
            field.value = str(stage.budgets.get(source, 0)) if stage else ""
            field.disabled = stage is None
        for field_id, key, _cast in STAGE_FIELDS:
            widget = self.query_one(f"#{field_id}", Input)
            widget.value = str(getattr(stage, key)) if stage else ""
            widget.disabled = stage is None
        # Custom [sources.NAME] sources have no editor row (the grid holds the three built-in ones): listed, not hidden.
        custom = [s for s in workspace.sources.values() if s.custom]
        listed = "; ".join(f"{s.name} {'on' if s.enabled else 'off'} frame_budget {s.frame_budget}"
                           + (f", stage budget {stage.budgets.get(s.name, 0)}" if stage else "") for s in custom)
        status.update(escape(f"{rel(workspace.path, self.root)}  stage: {stage.name if stage else '-'}  "
                             "(enter edits, ctrl+s saves, a applies the stage's budgets)")
                      + (escape(f"\ncustom sources (edit them in config.toml; a applies them too): {listed}")
                         if custom else ""))
        self._show_pending()

    def changes(self) -> tuple[dict[str, Any], list[str]]:
        """The edits as update_workspace changes, and the problems that forbid saving."""
        ws = self.workspace
        if ws is None:
            return {}, ["read-only"]
        changes: dict[str, Any] = {}
        problems: list[str] = []

        def number(field_id: str, cast: type, label: str) -> Any:
            widget = self.query_one(f"#{field_id}", Input)
            result = widget.validate(widget.value)
            if result is not None and not result.is_valid:
                problems.append(f"{label}: {'; '.join(result.failure_descriptions)}")
                return None
            try:
                return cast(widget.value)
            except ValueError:
                problems.append(f"{label}: not a number")
                return None

        for source in SOURCES:
            enabled = self.query_one(f"#enabled-{source}", Checkbox).value
            if enabled != ws.sources[source].enabled:
                changes[f"{source}.enabled"] = enabled
            budget = number(f"budget-{source}", int, f"{source}.frame_budget")
            if budget is not None and budget != ws.sources[source].frame_budget:
                changes[f"{source}.frame_budget"] = budget
        seed = number("seed", int, "builder.seed")
        if seed is not None and seed != ws.builder.seed:
            changes["builder.seed"] = seed
        stage = self.stage
        if stage is not None and stage in ws.stages:
            index = ws.stages.index(stage)
            budgets = dict(stage.budgets)
            for source in SOURCES:
                value = number(f"stage-budget-{source}", int, f"{stage.name} {source} budget")
                if value is not None and value != stage.budgets.get(source, 0):
                    budgets[source] = value
            if budgets != stage.budgets:
                changes[f"stages.{index}.budgets"] = budgets
            for field_id, key, cast in STAGE_FIELDS:
                value = number(field_id, cast, f"{stage.name} {key}")
                if value is not None and value != getattr(stage, key):
                    changes[f"stages.{index}.{key}"] = value
        return changes, problems

    @property
    def dirty(self) -> bool:
        """Unsaved edits: changed values, or text that does not validate (also an edit the user made)."""
        if self.readonly:
            return False
        changes, problems = self.changes()
        return bool(changes or problems)

    def pending_text(self) -> str:
        changes, problems = self.changes()
        text = [f"{k} = {v}" for k, v in changes.items()]
        if problems and not self.readonly:
            text.append("invalid: " + "; ".join(problems))
        return "\n".join(text)

    def _show_pending(self) -> None:
        changes, problems = self.changes()
        text = []
        if problems and not self.readonly:
            text.append("[b red]invalid, not saved:[/] " + escape("; ".join(problems)))
        if changes:
            text.append(escape("unsaved: " + ", ".join(f"{k} = {v}" for k, v in changes.items())))
        self.query_one("#budget-diff", Static).update("\n".join(text) or "no unsaved changes")

    def _label(self, box: Checkbox) -> None:
        # The word says it too: with NO_COLOR the box alone does not show its state.
        source = (box.id or "").removeprefix("enabled-")
        box.label = f"{SOURCE_LABELS.get(source, source)} {'on' if box.value else 'off'}"

    @on(Checkbox.Changed)
    def _checkbox_changed(self, event: Checkbox.Changed) -> None:
        self._label(event.checkbox)
        self._show_pending()

    @on(Input.Changed)
    def _input_changed(self) -> None:
        if self.workspace is not None:
            self._show_pending()

    # -- writing -----------------------------------------------------------------------------------------------
    def save(self) -> bool:
        """Write the valid edits; False (and a message saying why) when nothing could be written."""
        if self.readonly:
            self.post_message(Say("read-only: config.toml could not be read; nothing written", "error"))
            return False
        changes, problems = self.changes()
        if problems:
            self.post_message(Say("not saved: " + "; ".join(problems), "error", notify=True))
            return False
        if not changes:
            self.post_message(Say("nothing to save"))
            return True
        try:
            workspace = update_workspace(self.config_path, changes)
        except MotipError as err:
            self.post_message(Say(f"not saved: {err.render()}", "error", notify=True))
            return False
        self.post_message(Say(f"saved {len(changes)} change(s) to {self.config_path.name}"))
        self._written(workspace)
        return True

    def apply_stage(self) -> None:
        stage = self.stage
        if self.readonly or stage is None:
            self.post_message(Say("no stage to apply", "error"))
            return
        try:
            workspace = apply_stage(self.config_path, stage.name)
        except MotipError as err:
            self.post_message(Say(f"not applied: {err.render()}", "error", notify=True))
            return
        self.post_message(Say(f"applied {stage.name}'s budgets to the source sections"))
        self._written(workspace)

    def _written(self, workspace: Workspace) -> None:
        index = self.workspace.stages.index(self.stage) if self.workspace and self.stage in self.workspace.stages \
            else None
        stage = workspace.stages[index] if index is not None and index < len(workspace.stages) else None
        self.show(workspace, None, stage)
        self.post_message(WorkspaceChanged(workspace))
