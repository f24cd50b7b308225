"""Unit tests: one module in-process, fast; a fresh interpreter only where a clean process is the point."""
