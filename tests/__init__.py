"""MOTIP's test suite: unit/ (one module in-process), functional/ (the CLI, the TUI under Pilot, real processes,
training on the tiny model), e2e/ (slow full pipelines); shared helpers in tests.helpers, fixtures in conftest.py."""
