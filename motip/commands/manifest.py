"""`motip manifest`: write manifest.json (the val/test lock) from the sources' own val (and test) splits."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    from motip.workspace import CONFIG_FILE

    parser.description = (
        "Choose the manifest lock from the val split (and, with --test-per-source, the test split) of every source "
        "whose release is on disk, seeded and reproducible, and write it to [builder] manifest of config.toml (or "
        "--output). Prints the videos, frames and boxes per class each split gets, and the val fingerprint every "
        "build made with this manifest will carry. An existing manifest is replaced only with --force. "
        "See docs/data.md.")
    parser.add_argument("--config", default=CONFIG_FILE, type=Path,
                        help=f"the workspace config.toml (default: ./{CONFIG_FILE})")
    parser.add_argument("--output", type=Path, help="where to write (default: [builder] manifest of config.toml)")
    parser.add_argument("--val-per-source", type=int, default=3, metavar="N",
                        help="val videos per source (default 3)")
    parser.add_argument("--test-per-source", type=int, default=0, metavar="N",
                        help="test videos per source (default 0: no test split)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the choice (default 0)")
    parser.add_argument("--force", action="store_true", help="replace an existing manifest")
    parser.add_argument("--json", action="store_true", help="print the choice and its counts as JSON")


def run(args: argparse.Namespace) -> int:
    from motip.data.manifest import write_manifest
    from motip.data.manifest_select import choose_manifest
    from motip.errors import ConfigError, DataError, MotipError
    from motip.workspace import key_line, load_workspace

    for flag, value in (("--val-per-source", args.val_per_source), ("--test-per-source", args.test_per_source)):
        if value < 0:
            raise MotipError(f"{flag} must be >= 0, got {value}", hint=f"pass {flag} N with N a whole number")
    if args.val_per_source == 0:
        raise MotipError("--val-per-source 0 would lock no val videos", hint="pass --val-per-source 1 or more")
    workspace = load_workspace(args.config)
    output = args.output
    if output is None:
        if workspace.builder.manifest is None:
            raise ConfigError("config.toml sets no [builder] manifest", path=workspace.path,
                              line=key_line(workspace.path, "builder"),
                              hint='add manifest = "manifest.json" to [builder], or pass --output PATH')
        output = workspace.builder.manifest
    output = Path(output)
    if output.exists() and not args.force:
        raise DataError("refusing to overwrite an existing manifest", path=output,
                        hint="the manifest locks val/test for every stage: changing it makes later runs "
                             "incomparable with earlier ones; pass --force to replace it, or --output NEW_PATH")
    choice = choose_manifest(workspace, val_per_source=args.val_per_source, test_per_source=args.test_per_source,
                             seed=args.seed)
    write_manifest(output, choice.splits, choice.sources)
    if args.json:
        print(json.dumps({"output": str(output), **choice.as_json()}, indent=2))
        return 0
    if sys.stdout.isatty():
        _print_table(choice)
    else:
        _print_lines(choice)
    for note in choice.notes:
        warning = note.startswith("WARNING: ")
        print(f"warning: {note[len('WARNING: '):]}" if warning else f"note: {note}")
    print(f"wrote {output}")
    print(f"manifest fingerprint {choice.manifest_fingerprint} (sha256 of the sorted ids; build_report.json "
          "records it as manifest_fingerprint)")
    print(f"val fingerprint      {choice.val_fingerprint} (computed as `motip build` computes it: every build with "
          "this manifest must report it as val_fingerprint, whatever the budgets and seed)")
    return 0


def _print_lines(choice) -> None:  # noqa: ANN001 - a ManifestChoice
    for split in ("val", "test"):
        for source, ids in choice.splits.get(split, {}).items():
            t = choice.totals(split, source)
            boxes = " ".join(f"{k}={v}" for k, v in t["boxes"].items())
            print(f"{split} {source}: {t['videos']} videos, {t['frames']} frames, boxes {boxes}, ignored "
                  f"{t['ignored']}: {', '.join(ids)}")
        t = choice.totals(split)
        if t["videos"]:
            boxes = " ".join(f"{k}={v}" for k, v in t["boxes"].items())
            print(f"{split} total: {t['videos']} videos, {t['frames']} frames, boxes {boxes}")


def _print_table(choice) -> None:  # noqa: ANN001 - a ManifestChoice
    from rich.console import Console
    from rich.table import Table

    table = Table(title="manifest lock")
    for column in ("split", "source", "videos", "frames", "person boxes", "vehicle boxes", "ignored", "ids"):
        table.add_column(column, justify="right" if column not in ("split", "source", "ids") else "left")
    for split in ("val", "test"):
        rows = [(source, choice.totals(split, source), ids) for source, ids in choice.splits.get(split, {}).items()]
        for source, t, ids in rows:
            table.add_row(split, source, str(t["videos"]), str(t["frames"]), str(t["boxes"].get("person", 0)),
                          str(t["boxes"].get("vehicle", 0)), str(t["ignored"]), ", ".join(ids))
        if rows:
            t = choice.totals(split)
            table.add_row(f"[bold]{split}[/]", "[bold]all[/]", str(t["videos"]), str(t["frames"]),
                          str(t["boxes"].get("person", 0)), str(t["boxes"].get("vehicle", 0)), str(t["ignored"]), "",
                          end_section=True)
    Console().print(table)
