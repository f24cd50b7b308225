"""The README's Quick start is what CI runs, and every subcommand answers --help."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from motip.cli import COMMANDS

from tests.helpers.paths import REPO



def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.+?)\n```", quick_start)
    assert len(commands) == 2, commands
    ci = (REPO / ".ci" / "run").read_text()
    assert f"TEST_COMMAND='{commands[1]}'" in ci


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_help(command: str) -> None:
    out = subprocess.run([sys.executable, "-m", "motip", command, "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "usage: motip" in out.stdout


def test_quick_start_install_is_not_silent() -> None:
    """The first install downloads ~5 GB (torch's CUDA build): pip's progress shows, and the README says so."""
    readme = (REPO / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    install = re.findall(r"```bash\n(.+?)\n```", quick_start)[0]
    assert "pip install" in install and " -q" not in install.split("pip install", 1)[1].split("&&")[0]
    assert "5 GB" in quick_start and "minutes" in quick_start
