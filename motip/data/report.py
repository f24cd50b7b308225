"""The build report: ``<build>/build_report.json`` and the rich table ``motip build`` prints.

The file is the typed record ``motip.records.BuildReport`` (its one reader and writer; docs/formats.md). JSON keys:
``version``, ``created`` (ISO time), ``build_dir``, ``output``, ``config``, ``seed``, ``manifest`` (path or null),
``manifest_fingerprint``, ``val_fingerprint``, ``test_fingerprint``, ``budgets`` (source -> {asked, used,
pool_videos, pool_frames, frame_stride, splits}), ``splits`` (split -> {sequences, frames, boxes: {person, vehicle},
ignored, sources: source -> {sequences, frames, boxes: {person, vehicle}, ignored}}), ``sequences`` (one row per
written sequence), ``skipped`` (quirk -> count of source labels dropped), ``warnings``, ``duration_s``, ``dry_run``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from motip.data.categories import CLASS_NAMES
from motip.data.mot_format import SequenceStats
from motip.records import BUILD_REPORT_FILE

SPLITS = ("train", "val", "test")
REPORT_NAME = BUILD_REPORT_FILE


def _empty_counts() -> dict[str, Any]:
    return {"sequences": 0, "frames": 0, "boxes": {name: 0 for name in CLASS_NAMES.values()}, "ignored": 0}


def summarize(sequences: list[SequenceStats]) -> dict[str, Any]:
    splits: dict[str, Any] = {}
    for split in SPLITS:
        total = _empty_counts() | {"sources": {}}
        for seq in (s for s in sequences if s.split == split):
            per_source = total["sources"].setdefault(seq.source, _empty_counts())
            for counts in (total, per_source):
                counts["sequences"] += 1
                counts["frames"] += seq.frames
                counts["ignored"] += seq.ignored
                for cls, n in seq.boxes.items():
                    counts["boxes"][cls] += n
        splits[split] = total
    return splits


def sequence_row(seq: SequenceStats) -> dict[str, Any]:
    row = asdict(seq)
    row["boxes"] = dict(seq.boxes)
    return row


def render_table(report: dict[str, Any]):  # noqa: ANN201 - a rich renderable
    """Frames, sequences and boxes per split/source/class, then budget used vs asked."""
    from rich.console import Group
    from rich.table import Table

    counts = Table(title="motip build" + (" (dry run)" if report.get("dry_run") else ""), show_lines=False)
    for column in ("split", "source", "sequences", "frames", "person boxes", "vehicle boxes", "ignored"):
        counts.add_column(column, justify="left" if column in ("split", "source") else "right")
    for split in SPLITS:
        data = report["splits"][split]
        for source, row in sorted(data["sources"].items()):
            counts.add_row(split, source, *_cells(row))
        counts.add_row(f"[bold]{split}", "[bold]all", *_cells(data), end_section=True)

    budgets = Table(title="frame budgets")
    for column in ("source", "asked", "used", "pool frames", "pool videos", "stride", "splits"):
        budgets.add_column(column, justify="left" if column in ("source", "splits") else "right")
    for source, b in report["budgets"].items():
        budgets.add_row(source, str(b["asked"]), str(b["used"]), str(b["pool_frames"]), str(b["pool_videos"]),
                        str(b["frame_stride"]), ",".join(b["splits"]))

    facts = Table.grid(padding=(0, 2))
    facts.add_row("seed", str(report["seed"]))
    facts.add_row("manifest", f"{report['manifest']}  sha256 {report['manifest_fingerprint'][:16]}")
    facts.add_row("val fingerprint", report.get("val_fingerprint") or "-")
    facts.add_row("test fingerprint", report.get("test_fingerprint") or "-")
    if report.get("build_dir"):
        facts.add_row("build", str(report["build_dir"]))
    for warning in report.get("warnings", []):
        facts.add_row("[yellow]warning", warning)
    skipped = Counter(report.get("skipped", {}))
    for quirk, n in sorted(skipped.items()):
        facts.add_row("dropped", f"{n} x {quirk}")
    return Group(counts, budgets, facts)


def _cells(row: dict[str, Any]) -> list[str]:
    boxes = row["boxes"]
    unknown = "?" if boxes is None else None
    return [str(row["sequences"]), str(row["frames"]), unknown or str(boxes["person"]),
            unknown or str(boxes["vehicle"]), "?" if row["ignored"] is None else str(row["ignored"])]
