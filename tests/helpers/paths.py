"""Where the tests find the repository and the facts copied into it (tests/data/README.md says where from)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = REPO / "tests" / "data"
