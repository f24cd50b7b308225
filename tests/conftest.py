"""Test-suite settings shared by every test file."""

from __future__ import annotations

import os

# One OpenMP thread per process: tests start training subprocesses next to the pytest process on a 2-core CI box,
# and oversubscribed OpenMP threads made CPU training ~10x slower there (docs/training.md). Set before torch loads.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MOTIP_PROGRESS", "plain")
