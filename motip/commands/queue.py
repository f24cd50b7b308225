"""`motip queue start|status|stop|resume`: the overnight stage queue (see motip/queue.py and docs/demo.md)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from motip.errors import MotipError


def configure(parser: argparse.ArgumentParser) -> None:
    from motip.alerts import FORGETTING_MARGIN, REGRESSION_FLOOR, REGRESSION_MARGIN
    from motip.queue import DEFAULT_MIN_FREE_GB, DEFAULT_POLL_S
    from motip.workspace import CONFIG_FILE

    parser.description = (
        "The overnight queue: a detached job that runs config.toml's [[stages]] one after another. Each stage "
        "applies its budgets, builds the dataset and trains from the previous stage's best checkpoint "
        "(--DETR_PRETRAIN for that run; the YAML is not edited). A failed job, a regression or forgetting alert "
        "or a nearly full disk pauses it with a reason; `resume` goes on. State: <workspace>/.motip/queue.json.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def with_config(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--config", default=CONFIG_FILE, help=f"the workspace's config.toml (default ./{CONFIG_FILE})")

    start = actions.add_parser("start", help="queue stages and start the detached worker",
                               description="Queue stages (default: all of config.toml's [[stages]], in order).")
    with_config(start)
    start.add_argument("--stages", nargs="+", metavar="STAGE",
                       help="stage names or 1-based numbers, comma- or space-separated, e.g. Foundation,Refinement "
                            "or 1 2 (default: all, in config.toml's order)")
    start.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                       help="config override for every training the queue starts (repeatable), e.g. EPOCHS=1")
    start.add_argument("--pretrain", help="DETR_PRETRAIN for the first queued stage (default: its YAML's own)")
    start.add_argument("--min-free-gb", type=float, default=DEFAULT_MIN_FREE_GB,
                       help="pause before a stage when the workspace disk has less free space "
                            f"(default {DEFAULT_MIN_FREE_GB:g} GB)")
    start.add_argument("--floor", type=float, default=None,
                       help="HOTA/IDF1 level whose crossing downwards is a regression "
                            f"(default {REGRESSION_FLOOR:g}: 'the 40s')")
    start.add_argument("--margin", type=float, default=None,
                       help="HOTA/IDF1 points below the previous stage's best that pause "
                            f"(default {REGRESSION_MARGIN:g})")
    start.add_argument("--forgetting-margin", type=float, default=None,
                       help="per-class HOTA points below the previous stage's best that pause "
                            f"(default {FORGETTING_MARGIN:g}, what the "
                            "TUI shows as forgetting)")
    start.add_argument("--poll", type=float, default=DEFAULT_POLL_S,
                       help=f"seconds between checks of the running job (default {DEFAULT_POLL_S:g})")

    status = actions.add_parser("status", help="show the queue: stages, states, metrics, pause reason")
    with_config(status)
    status.add_argument("--json", action="store_true", help="print the state (queue.json + live facts) as JSON")

    stop = actions.add_parser("stop", help="stop the worker and the stage's training (resumable)")
    with_config(stop)
    resume = actions.add_parser("resume", help="go on after a pause or stop (an alert is accepted as is)")
    with_config(resume)


def _root(args: argparse.Namespace) -> Path:
    return Path(args.config).absolute().parent


def _fmt(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else ("-" if value is None else str(value))


def print_status(queue: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    worker = queue.get("worker") or {}
    line = f"queue: [bold]{queue['state']}[/bold]   worker: {worker.get('state', 'none')}"
    if queue.get("worker_lost"):
        line += "  [red](worker gone without a pause: `motip queue resume`)[/red]"
    console.print(line)
    if worker.get("error"):
        console.print(f"worker job.json unreadable: {worker['error']}", markup=False)
    if queue.get("paused_reason"):
        console.print(f"reason: {queue['paused_reason']}")
    classes: list[str] = []
    for stage in queue["stages"]:
        for cls in (stage.get("metrics") or {}).get("per_class", {}):
            if cls not in classes:
                classes.append(cls)
    table = Table()
    for column in ["#", "stage", "state", "HOTA", "IDF1", *[f"{c} HOTA" for c in classes], "run"]:
        table.add_column(column)
    for index, stage in enumerate(queue["stages"]):
        metrics = stage.get("metrics") or {}
        marker = ">" if index == queue.get("current") and queue["state"] != "finished" else str(index + 1)
        per_class = [_fmt((metrics.get("per_class", {}).get(c) or {}).get("HOTA")) for c in classes]
        table.add_row(marker, stage["name"], stage["state"], _fmt(metrics.get("HOTA")), _fmt(metrics.get("IDF1")),
                      *per_class, Path(stage["run_dir"]).name if stage.get("run_dir") else "-")
    console.print(table)
    run = queue.get("run")
    if run:
        status = run["status"]
        console.print(f"current run: {status.get('state')} epoch {status.get('epoch')} step {status.get('step')}"
                      f"/{status.get('total_steps')}")
    for entry in queue.get("history", [])[-5:]:
        console.print(f"  {entry.get('time', '?')}  {entry['msg']}", markup=False)


def run(args: argparse.Namespace) -> int:
    from motip import queue as q

    if args.action == "start":
        stages = [s for token in args.stages for s in token.split(",") if s.strip()] if args.stages else None
        state = q.start_queue(args.config, stages, overrides=args.override, min_free_gb=args.min_free_gb,
                              floor=args.floor, margin=args.margin,
                              forgetting_margin=args.forgetting_margin, pretrain=args.pretrain, poll_s=args.poll)
        print(f"queue started: {' -> '.join(s['name'] for s in state['stages'])}")
        print(f"job_dir={state['job_dir']}")
        print("watch it with `motip queue status` (it keeps running after you log out)")
        return 0
    if args.action == "stop":
        state = q.stop_queue(_root(args))
        print(f"queue stopped at stage {state['current'] + 1}; `motip queue resume` goes on")
        return 0
    if args.action == "resume":
        state = q.resume_queue(_root(args))
        print(f"queue resumed at stage {state['current'] + 1}")
        print(f"job_dir={state['job_dir']}")
        return 0
    state = q.queue_status(_root(args))
    if state is None:
        raise MotipError("no queue in this workspace", path=q.queue_path(_root(args)),
                         hint="start one with `motip queue start --config config.toml`")
    if args.json:
        print(json.dumps(state, indent=2, default=str))
    else:
        print_status(state)
    return 0
