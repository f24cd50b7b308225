"""`motip log LOG [--json] [--tensorboard DIR]`: parse a train.log (the one parser, motip.trainlog) into series and
status, with the run's state from ``motip.rundir.run_state`` (a run whose trainer was killed is ``dead``, whatever its
log says); ``--tensorboard DIR`` writes its scalars as TensorBoard event files (``motip.tensorboard_export``)."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", help="path of a train.log (or a run folder holding one)")
    parser.add_argument("--json", action="store_true",
                        help='print {"train": [...], "eval": [...], "events": [...], "status": {...}, "state": ..., '
                             '"run_state": {...}} as JSON (state: the run\'s state from its lock, job.json, run.json '
                             "and train.log, see docs/formats.md; status.state is what the log alone says; non-finite "
                             "numbers as the strings NaN/Infinity/-Infinity; long_lines: lines over 1 MB, skipped)")
    parser.add_argument("--tensorboard", metavar="DIR", default=None,
                        help="write the run's scalars (loss terms, grad norm, lr per step; HOTA/IDF1/MOTA/DetA/AssA "
                             "overall and per class per epoch) as TensorBoard event files into DIR/<run name>/, "
                             "replacing an earlier export of the same run (needs the tensorboard extra: "
                             "pip install 'motip-control-center[tensorboard]'); see docs/tensorboard.md")
    parser.add_argument("--name", default=None,
                        help="run name under --tensorboard DIR (default: the run folder's name)")


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
    from motip.rundir import TRAIN_LOG, run_state
    from motip.trainlog import parse_log

    path = Path(args.log)
    if path.is_dir():
        path = path / TRAIN_LOG
    if not path.is_file():
        raise MotipError("train.log not found", path=path, hint="pass the train.log of a run (outputs/<run>/train.log)")
    if args.name is not None and args.tensorboard is None:
        raise MotipError("--name names the run under --tensorboard DIR", hint="add --tensorboard DIR, or drop --name")
    if args.tensorboard is not None:
        from motip.tensorboard_export import export_tensorboard

        result = export_tensorboard(path, args.tensorboard, run_name=args.name)
        print(f"{result.event_file}: {result.points} points, {len(result.tags)} tags "
              f"({result.train_steps} steps, {result.evals} evals)")
        return 0
    log = parse_log(path)  # chunked: bounded memory even with a corrupted multi-MB line
    if log.long_lines:
        import sys

        print(f"warning: {path}: skipped {log.long_lines} line(s) longer than 1 MB (a corrupted write?)",
              file=sys.stderr)
    # A run folder's log: its state comes from the lock and the records beside it. Any other file: the log alone.
    found = run_state(path.parent) if path.name == TRAIN_LOG else None
    state = found.state if found is not None else log.status.get("state")
    if args.json:
        print(json.dumps(_json_safe({**log.to_json(), "state": state,
                                     "run_state": found.to_json() if found is not None else None})))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    status = log.status
    why = f" ({found.message})" if found is not None and found.message and not found.ended else ""
    console.print(f"[bold]{path}[/]: {state}{why}  epoch {status.get('epoch', '-')}/{status.get('epochs', '-')}"
                  f"  steps {len(log.train)}  evals {len(log.eval)}  unparsed lines {log.bad_lines}")
    if log.eval:
        table = Table("epoch", "HOTA", "IDF1", "MOTA", "DetA", "AssA", "IDSW", *[f"{c} HOTA" for c in log.classes])
        for row in log.eval:
            table.add_row(str(row.get("epoch")),
                          *[str(row.get(m, "")) for m in ("HOTA", "IDF1", "MOTA", "DetA", "AssA", "IDSW")],
                          *[str(row["per_class"].get(c, {}).get("HOTA", "")) for c in log.classes])
        console.print(table)
    if log.train:
        last = log.train[-1]
        console.print("last step: " + " ".join(f"{k}={v}" for k, v in last.items() if k != "time"))
    return 0
