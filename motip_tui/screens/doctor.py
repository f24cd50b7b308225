"""The preflight before a training launch: ``motip doctor CONFIG --json`` in a subprocess (never torch in the TUI),
and, when a check FAILs, a dialog listing the checks that asks whether to launch anyway or cancel.

When it runs (``MOTIP_TUI_DOCTOR``): ``auto`` (the default) runs the doctor when the stage would train on a GPU or
asks for one, i.e. the stage config's DEVICE is ``cuda``/``cuda:N``, or ``auto`` on a machine with an NVIDIA GPU;
a CPU run (DEVICE cpu, or auto on a box without a GPU) starts at once, since it costs nothing and fails in seconds
with the same messages. ``always`` runs it before every launch, ``never`` skips it.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from motip_tui.launch import doctor_argv

DOCTOR_ENV = "MOTIP_TUI_DOCTOR"
DOCTOR_TIMEOUT_S = 300.0
STYLE = {"OK": "green", "WARN": "yellow", "FAIL": "bold red", "SKIP": "dim"}


@dataclass
class DoctorOutcome:
    ok: bool
    checks: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # the doctor itself could not run (crash, timeout, unreadable output)

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for check in self.checks:
            counts[check.get("status", "?")] = counts.get(check.get("status", "?"), 0) + 1
        return counts

    def summary(self) -> str:
        if self.error:
            return f"doctor could not run: {self.error}"
        counts = self.counts
        return ", ".join(f"{counts[s]} {s}" for s in ("FAIL", "WARN", "OK", "SKIP") if counts.get(s))


def _gpu_present() -> bool:
    """An NVIDIA GPU on this machine, seen without torch or a driver library."""
    gpus = Path("/proc/driver/nvidia/gpus")
    try:
        return gpus.is_dir() and any(gpus.iterdir())
    except OSError:
        return False


def doctor_wanted(config: Path, root: Path) -> bool:
    """Whether the preflight runs before launching ``config`` (see the module docstring)."""
    mode = os.environ.get(DOCTOR_ENV, "auto").strip().lower()
    if mode in ("never", "0", "off"):
        return False
    if mode in ("always", "1", "on"):
        return True
    from motip.config import load_config  # torch-free
    from motip.config.settings import train_settings  # torch-free

    # No chdir (other TUI threads share the working directory): SUPER_CONFIG_PATH is also found from the config's
    # own folder upwards, and DEVICE is no path.
    path = config if config.is_absolute() else root / config
    try:
        device = train_settings(load_config(path)).device.lower()
    except Exception:  # noqa: BLE001 - a config that does not resolve: the doctor says why
        return True
    if device.startswith("cuda"):
        return True
    return device == "auto" and _gpu_present()


def run_doctor(root: Path, config: Path, timeout_s: float = DOCTOR_TIMEOUT_S) -> DoctorOutcome:
    """``motip doctor CONFIG --json`` in the workspace; exit 0 = nothing FAILs, 2 = something does."""
    try:
        proc = subprocess.run(doctor_argv(config), cwd=root, capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return DoctorOutcome(False, error=f"no answer in {timeout_s:.0f} s")
    except OSError as err:
        return DoctorOutcome(False, error=str(err))
    try:
        report = json.loads(proc.stdout)
        checks = list(report["checks"])
    except (ValueError, KeyError, TypeError):
        last = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["no output"])[-1]
        return DoctorOutcome(False, error=f"exit status {proc.returncode}: {last}")
    return DoctorOutcome(proc.returncode == 0 and not any(c.get("status") == "FAIL" for c in checks), checks)


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


def render_checks(outcome: DoctorOutcome) -> str:
    if outcome.error:
        return f"[bold red]FAIL[/]  doctor could not run: {_escape(outcome.error)}"
    lines = []
    for check in outcome.checks:
        status = str(check.get("status", "?"))
        lines.append(f"[{STYLE.get(status, 'bold')}]{status:<4}[/]  [b]{_escape(str(check.get('name', '')))}[/]  "
                     f"{_escape(str(check.get('message', '')))}")
        if check.get("fix") and status in ("WARN", "FAIL"):
            lines.append(f"      fix: {_escape(str(check['fix']))}")
    return "\n".join(lines)


class DoctorScreen(ModalScreen[bool]):
    """The checks of a preflight that FAILed: l launches anyway, c / n / q / esc cancels."""

    BINDINGS = [Binding("l", "answer(True)", "Launch anyway"), Binding("c,n,q,escape", "answer(False)", "Cancel")]

    def __init__(self, stage_name: str, outcome: DoctorOutcome) -> None:
        super().__init__()
        self.stage_name = stage_name
        self.outcome = outcome

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"motip doctor: {self.stage_name} is not ready ({self.outcome.summary()})",
                        id="doctor-title")
            with VerticalScroll(id="doctor-scroll"):
                yield Static(render_checks(self.outcome), id="doctor-checks")
            with Horizontal(classes="buttons"):
                yield Button("Launch anyway (l)", id="launch", variant="error")
                yield Button("Cancel (c)", id="cancel", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "launch")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)
