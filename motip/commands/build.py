"""`motip build`: build the training dataset from the original releases under frame budgets and the manifest lock."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def configure(parser: argparse.ArgumentParser) -> None:
    from motip.workspace import CONFIG_FILE

    parser.description = (
        "Build <dirname(output)>/builds/<name>-<YYYYmmdd_HHMMSS>-<seed>/ from the sources enabled in config.toml "
        "([dancetrack], [bdd], [visdrone]: root, frame_budget, splits, frame_stride; custom MOTChallenge-layout "
        "sources [sources.NAME]: format = \"mot\", root, classes, ...; [builder]: output, manifest, seed), then "
        "switch the output symlink (default datasets/DanceTrack) to it atomically. Val/test are the "
        "manifest's videos, identical across budgets and seeds. See docs/data.md.")
    parser.add_argument("--config", default=CONFIG_FILE, type=Path,
                        help=f"the workspace config.toml (default: ./{CONFIG_FILE})")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--list", action="store_true", help="list the builds of the output and exit")
    action.add_argument("--prune", type=int, metavar="KEEP",
                        help="delete this output's builds except the newest KEEP; the current build of every output "
                             "link and builds in use by a live training are always kept; says what it kept and why")
    action.add_argument("--dry-run", action="store_true",
                        help="show which videos and frames would be used, write nothing")
    parser.add_argument("--json", action="store_true", help="print the report (or the list) as JSON on stdout")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from motip.data.builder import build, list_builds, prune_builds
    from motip.data.report import render_table
    from motip.data.settings import load_build_settings

    settings = load_build_settings(args.config)
    console = Console()
    if args.list:
        rows = list_builds(settings)
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            _print_list(console, settings.output, rows)
        return 0
    if args.prune is not None:
        result = prune_builds(settings, args.prune)
        if args.json:
            print(json.dumps({"removed": [str(p) for p in result.removed],
                              "kept": [{"path": str(p), "why": why} for p, why in result.kept]}, indent=2))
            return 0
        for path in result.removed:     # plain prints: one line per build, never wrapped (scripts read them)
            print(f"removed {path}")
        for path, why in result.kept:
            print(f"kept {path}: {'; '.join(why)}")
        print(f"{len(result.removed)} build(s) removed, {len(result.kept)} kept")
        return 0
    result = build(settings, dry_run=args.dry_run, progress_stream=sys.stderr)
    if args.json:
        print(json.dumps(result.report, indent=2))
    else:
        console.print(render_table(result.report))
        if result.build_dir is not None:
            console.print(f"[green]built[/] {result.build_dir}\n{settings.output} -> {result.build_dir.name}")
    return 0


def _print_list(console: Console, output: Path, rows: list[dict]) -> None:
    from rich.table import Table

    table = Table(title=f"builds of {output}", caption="*: current build, p: pinned by a live training")
    for column in ("", "name", "created", "seed", "train", "val", "test", "val fingerprint"):
        table.add_column(column, no_wrap=column in ("name", "created"))
    for row in rows:
        frames = row["frames"]
        mark = ("*" if row["current"] else "") + ("p" if row.get("in_use") else "")   # p: pinned by a training
        table.add_row(mark, row["name"], row["created"] or "?", str(row["seed"]),
                      *(str(frames.get(s)) for s in ("train", "val", "test")), (row["val_fingerprint"] or "")[:16])
    console.print(table if rows else f"no builds yet under {output.parent / 'builds'}")
