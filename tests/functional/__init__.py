"""Functional tests: the `motip` CLI and bench scripts as subprocesses, the TUI driven by keys under Textual's Pilot,
real detached jobs and processes, and the training loop on the tiny CPU model."""
