"""`motip log LOG [--json]`: parse a train.log (the one parser, motip.trainlog) into series and status."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", help="path of a train.log (or a run folder holding one)")
    parser.add_argument("--json", action="store_true",
                        help='print {"train": [...], "eval": [...], "events": [...], "status": {...}} as JSON '
                             "(non-finite numbers as the strings NaN/Infinity/-Infinity; long_lines: lines over 1 MB, skipped)")


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from motip.errors import MotipError
    from motip.trainlog import parse_log

    path = Path(args.log)
    if path.is_dir():
        path = path / "train.log"
    if not path.is_file():
        raise MotipError("train.log not found", path=path, hint="pass the train.log of a run (outputs/<run>/train.log)")
    log = parse_log(path)  # chunked: bounded memory even with a corrupted multi-MB line
    if log.long_lines:
        import sys

        print(f"warning: {path}: skipped {log.long_lines} line(s) longer than 1 MB (a corrupted write?)",
              file=sys.stderr)
    if args.json:
        print(json.dumps(_json_safe(log.to_json())))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    status = log.status
    console.print(f"[bold]{path}[/]: {status.get('state')}  epoch {status.get('epoch', '-')}/{status.get('epochs', '-')}"
                  f"  steps {len(log.train)}  evals {len(log.eval)}  unparsed lines {log.bad_lines}")
    if log.eval:
        table = Table("epoch", "HOTA", "IDF1", "MOTA", "DetA", "AssA", "IDSW", *[f"{c} HOTA" for c in log.classes])
        for row in log.eval:
            table.add_row(str(row.get("epoch")), *[str(row.get(m, "")) for m in ("HOTA", "IDF1", "MOTA", "DetA", "AssA", "IDSW")],
                          *[str(row["per_class"].get(c, {}).get("HOTA", "")) for c in log.classes])
        console.print(table)
    if log.train:
        last = log.train[-1]
        console.print("last step: " + " ".join(f"{k}={v}" for k, v in last.items() if k != "time"))
    return 0
