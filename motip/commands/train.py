"""`motip train` (not implemented yet)."""

from __future__ import annotations

import argparse

from motip.errors import MotipError


def configure(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise MotipError("`motip train` is not implemented yet")
