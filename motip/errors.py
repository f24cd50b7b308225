"""User-facing errors: one exception type the CLI turns into a clear message and exit code 2."""

from __future__ import annotations

from pathlib import Path


class MotipError(Exception):
    """A problem the user can fix (bad input, missing file...). Printed without a traceback, exit code 2.

    ``path`` names the file at fault and ``hint`` says what to do; both are shown with the message.
    """

    exit_code = 2

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 hint: str | None = None) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        text = f"{where}{self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ConfigError(MotipError):
    """A YAML experiment config or config.toml that cannot be used as written."""


class DataError(MotipError):
    """A dataset, annotation or manifest problem."""
