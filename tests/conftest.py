"""Test-suite settings shared by every test file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Shared helpers (data_helpers, train_fixtures, tui_helpers...) import from any test folder (tests/reliability/...).
sys.path.insert(0, str(Path(__file__).parent))

# One OpenMP thread per process: tests start training subprocesses next to the pytest process on a 2-core CI box,
# and oversubscribed OpenMP threads made CPU training ~10x slower there (docs/training.md). Set before torch loads.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MOTIP_PROGRESS", "plain")
