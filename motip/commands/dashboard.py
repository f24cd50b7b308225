"""`motip dashboard`: plot train.log files to a PNG (TRAIN.md's plot_dashboard.py).

    motip dashboard outputs/stage1_universal_foundation_TIMESTAMP/train.log
    motip dashboard outputs/stage1_*/train.log outputs/stage2_*/train.log --out compare.png
"""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("logs", nargs="+", type=Path, metavar="LOG",
                        help="train.log file(s); several logs are overlaid, one colour per run")
    parser.add_argument("--out", type=Path, default=None,
                        help="PNG to write (default: dashboard.png beside the first log)")
    parser.add_argument("--dpi", type=int, default=100,
                        help="resolution (default 100: a 1600x1340 px image, 1600x1760 with per-class rows; "
                             "the pixel size scales with the dpi)")


def run(args: argparse.Namespace) -> int:
    from motip.rundir import dashboard_png
    from motip.viz.dashboard import render_dashboard

    out = args.out if args.out is not None else dashboard_png(args.logs[0].parent)
    render_dashboard(list(args.logs), out, dpi=args.dpi)
    print(out)
    return 0
