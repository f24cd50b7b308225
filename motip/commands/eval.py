"""`motip eval`: score tracker files (or a checkpoint) against a split with TrackEval: HOTA, IDF1, MOTA... per class.

Two ways in:

    motip eval --results DIR --dataset_root DIR [--seqmap F] [--classes pedestrian,vehicle] [--output_dir O] [--json]
    motip eval --config C --checkpoint P [--dataset_root D] [--output_dir O] [--json] [--KEY VALUE ...]

The second runs the tracker (``motip.engine.tracking.track_split``) into ``O/tracker`` first, then evaluates with the
config's val_config (GT_FOLDER, SEQMAP_FILE, CLASSES_TO_EVAL, CLASS_NAME_TO_ID).
Checkpoints are loaded safely (weights only; docs/training.md "Safe checkpoint loading"); `--trust-checkpoint`
opts in to full unpickling of a file whose origin you trust.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from motip.errors import MotipError
from motip.eval import IGNORE_COVER, MAX_DENSE_BYTES
from motip.eval.classes import KNOWN_CLASS_IDS, classes_to_eval

ACCEPTS_OVERRIDES = True       # --KEY VALUE config overrides (with --config only)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Split folder: --dataset_root may be the split itself (datasets/DanceTrack/val) or the dataset "
                     "(datasets/DanceTrack, then --split picks val). Writes O/metrics.json (docs/eval.md).")
    parser.add_argument("--results", metavar="DIR", help="folder of tracker files <seq>.txt to score")
    parser.add_argument("--config", metavar="C", help="experiment YAML (its val_config says what to evaluate)")
    parser.add_argument("--checkpoint", metavar="P", help="checkpoint to run the tracker with (with --config)")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="load a checkpoint that a safe (weights-only) load refuses with full unpickling; only "
                             "for files whose origin you trust, since unpickling can run any code")
    parser.add_argument("--dataset_root", metavar="DIR",
                        help="GT split folder (or dataset folder + --split); "
                             "default with --config: val_config.GT_FOLDER")
    parser.add_argument("--split", default=None, help="split sub-folder when --dataset_root is a dataset (default val)")
    parser.add_argument("--seqmap", metavar="FILE",
                        help="seqmap (first line 'name'); "
                             "default <split>_seqmap.txt beside the split, else every folder")
    parser.add_argument("--classes", metavar="LIST",
                        help="classes to score, e.g. pedestrian,vehicle or person=1,car=2 (default: pedestrian, or "
                             "val_config.CLASSES_TO_EVAL with --config)")
    parser.add_argument("--output_dir", metavar="O", help="where metrics.json (and with --config the tracker files) go")
    parser.add_argument("--json", action="store_true", help="print the metrics report as JSON instead of a table")
    parser.add_argument("--ignore_cover", type=float, default=IGNORE_COVER,
                        help=f"drop unmatched tracker boxes at least this fraction inside an ignore box (default "
                             f"{IGNORE_COVER}; negative = off)")
    parser.add_argument("--max_dense_gib", type=float, default=MAX_DENSE_BYTES / 2**30,
                        help="memory bound for TrackEval's dense id matrices; IDF1 switches to an exact sparse "
                             f"computation above it (default {MAX_DENSE_BYTES / 2**30})")


def parse_classes(text: str) -> dict[str, int]:
    """``pedestrian,vehicle`` or ``person=1,car=2`` -> {name: class id}."""
    classes: dict[str, int] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, cls_id = item.partition("=")
        name = name.strip()
        if cls_id:
            try:
                classes[name] = int(cls_id)
            except ValueError:
                raise MotipError(f"--classes: class id of {name!r} is not a whole number: {cls_id!r}") from None
        elif name in KNOWN_CLASS_IDS:
            classes[name] = KNOWN_CLASS_IDS[name]
        else:
            raise MotipError(f"--classes: unknown class {name!r}",
                             hint=f"known: {', '.join(KNOWN_CLASS_IDS)}; or give the id as NAME=ID")
    if not classes:
        raise MotipError("--classes is empty", hint="e.g. --classes pedestrian,vehicle")
    return classes


def resolve_split_dir(root: Path, split: str | None) -> Path:
    """The folder of sequence folders: ``root`` itself, or ``root/<split>`` when root is a whole dataset."""
    if not root.is_dir():
        raise MotipError("dataset folder not found", path=root,
                         hint="pass the split folder, e.g. datasets/DanceTrack/val")
    if split is None and any((p / "seqinfo.ini").is_file() for p in root.iterdir()):
        return root
    candidate = root / (split or "val")
    if candidate.is_dir():
        return candidate
    raise MotipError(f"no sequence folders (with seqinfo.ini) in {root}" + (f" and no {candidate.name}/ in it"),
                     path=root, hint="pass the split folder holding <seq>/gt/gt.txt, e.g. datasets/DanceTrack/val")


def _track_with_checkpoint(args: argparse.Namespace) -> tuple[Path, Path, Path | None, dict[str, int], Path]:
    """Run the tracker; returns (results dir, split dir, seqmap, classes, output dir)."""
    from motip.config import load_config
    from motip.model.pretrain import trust_checkpoints

    if getattr(args, "trust_checkpoint", False):
        trust_checkpoints()
    if not args.checkpoint:
        raise MotipError("--config needs --checkpoint (the weights to track with)")
    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file():
        raise MotipError("checkpoint not found", path=checkpoint)
    config = load_config(args.config, args.overrides or None)
    val_config = dict(config.get("val_config") or {})
    if args.dataset_root:
        split_dir = resolve_split_dir(Path(args.dataset_root), args.split)
        seqmap = Path(args.seqmap) if args.seqmap else None
    else:
        split_dir = config.resolve_path(val_config.get("GT_FOLDER"))
        if split_dir is None:
            raise MotipError("no split to evaluate", path=config.path,
                             hint="set val_config.GT_FOLDER or --dataset_root")
        split_dir = resolve_split_dir(split_dir, args.split)
        seqmap = Path(args.seqmap) if args.seqmap else config.resolve_path(val_config.get("SEQMAP_FILE"))
        if seqmap is not None and not seqmap.is_file():
            seqmap = None                       # every sequence folder, as TrackEval does without a seqmap
    classes = parse_classes(args.classes) if args.classes else classes_to_eval(val_config, path=config.path)
    output_dir = Path(args.output_dir) if args.output_dir else checkpoint.parent / f"eval_{checkpoint.stem}"
    try:
        from motip.engine.tracking import track_split
    except ImportError as err:
        raise MotipError(f"the tracker is not available ({err})",
                         hint="score existing tracker files with --results DIR --dataset_root DIR") from None
    results = track_split(config, checkpoint, split_dir, output_dir / "tracker", seqmap=seqmap)
    return Path(results), split_dir, seqmap, classes, output_dir


def run(args: argparse.Namespace) -> int:
    from motip.eval.metrics import evaluate

    overrides = getattr(args, "overrides", None) or []
    if args.config:
        if args.results:
            raise MotipError("pass either --results (score files) or --config/--checkpoint (track, then score)")
        results, split_dir, seqmap, classes, output_dir = _track_with_checkpoint(args)
    else:
        if overrides:
            raise MotipError(f"unknown arguments: {' '.join(overrides)}",
                             hint="--KEY VALUE config overrides only work with --config; see motip eval --help")
        if not args.results or not args.dataset_root:
            raise MotipError("pass --results DIR --dataset_root DIR (score tracker files) or "
                             "--config C --checkpoint P (track, then score)", hint="motip eval --help")
        results = Path(args.results)
        split_dir = resolve_split_dir(Path(args.dataset_root), args.split)
        seqmap = Path(args.seqmap) if args.seqmap else None
        classes = parse_classes(args.classes) if args.classes else {"pedestrian": 1}
        output_dir = Path(args.output_dir) if args.output_dir else None
    report = evaluate(split_dir, results, seqmap=seqmap, classes=classes, output_dir=output_dir,
                      ignore_cover=None if args.ignore_cover < 0 else args.ignore_cover,
                      max_dense_bytes=int(args.max_dense_gib * 2**30), progress=not args.json,
                      require_detections=not args.config)   # empty files given by hand are a mistake
    if args.json:
        from motip.eval.metrics import json_safe

        print(json.dumps(json_safe(report)))
        return 0
    _print_table(report, output_dir)
    return 0


def _print_table(report: dict[str, Any], output_dir: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from motip.eval.metrics import METRICS_FILE

    import sys

    console = Console(width=None if sys.stdout.isatty() else 160)    # piped/logged: never truncate numbers
    columns = ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW", "FP", "FN", "GT_Dets", "Dets")
    table = Table(title=f"motip eval: {len(report['sequences'])} sequence(s) of {report['gt_folder']}")
    table.add_column("class")
    for column in columns:
        table.add_column(column, justify="right")

    def cells(row: dict[str, Any]) -> list[str]:
        out = []
        for column in columns:
            value = row.get(column)
            out.append("-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value))
        return out

    for name, row in report["per_class"].items():
        table.add_row(f"{name} ({report['classes'][name]})", *cells(row))
    if len(report["per_class"]) > 1:
        table.add_row("[bold]mean over classes", *cells(report["metrics"]))
    console.print(table)
    for name, count in report["ignored_tracker_boxes"].items():
        if count:
            console.print(f"{name}: {count} tracker box(es) in ignore regions were not scored")
    for warning in report["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")
    if output_dir is not None:
        console.print(f"wrote {Path(output_dir) / METRICS_FILE}")
