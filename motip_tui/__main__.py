"""``motip-tui [--config PATH] [--demo [DIR]]``: open the control center on a workspace (a folder with config.toml)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from motip.workspace import CONFIG_FILE


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from motip_tui.bindings import help_text  # the one key table (also the footer, the palette and `?`)

    parser = argparse.ArgumentParser(
        prog="motip-tui", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Control center for MOTIP training: stages and frame budgets, build, train, live HOTA/IDF1 "
                    "charts, jobs that survive SSH logout, viz/dashboard export, pictures and logs in the terminal.",
        epilog="keys:\n" + "\n".join("  " + line for line in help_text().splitlines()))
    parser.add_argument("--config", type=Path, default=Path(CONFIG_FILE),
                        help="the workspace's config.toml (default: ./config.toml)")
    parser.add_argument("--demo", nargs="?", const=Path("motip-demo"), type=Path, metavar="DIR",
                        help="create the demo workspace in DIR (default ./motip-demo) if needed, and open it")
    parser.add_argument("--refresh", type=float, default=0.25, metavar="S",
                        help="chart refresh interval in seconds (default 0.25)")
    parser.add_argument("--poll", type=float, default=0.5, metavar="S",
                        help="train.log poll interval in seconds when file events do not arrive (default 0.5)")
    return parser.parse_args(argv)


def resolve_config(args: argparse.Namespace) -> Path:
    """The config.toml to open; with --demo, create the demo workspace first (an existing demo is kept).

    The demo is made by ``motip demo DIR`` in a subprocess, not by importing motip.demo: drawing the synthetic
    frames needs cv2, which the TUI must never import (import-linter contract)."""
    if args.demo is None:
        return args.config
    from motip.errors import MotipError

    folder = args.demo.expanduser().absolute()
    print(f"motip-tui: preparing the demo workspace in {folder} ...", file=sys.stderr, flush=True)
    proc = subprocess.run([sys.executable, "-m", "motip", "demo", str(folder)], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        lines = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()
        raise MotipError("`motip demo` failed: " + " ".join(lines[-3:]), path=folder)
    return folder / CONFIG_FILE


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from motip.errors import MotipError

    try:
        config = resolve_config(args)
    except MotipError as err:
        print(f"motip-tui: {err}", file=sys.stderr)
        return 2
    from motip_tui.app import MotipApp

    app = MotipApp(config, refresh_s=args.refresh, poll_s=args.poll)
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    raise SystemExit(main())
