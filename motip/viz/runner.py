"""`motip viz` end to end: find the sequences, get tracker files (existing ones or from a checkpoint), match, render,
write summary.json. The command module only parses arguments and calls ``run_viz``.

Output folder layout (docs/viz.md)::

    <output_dir>/<seq>.mp4             GT-vs-prediction video per sequence
    <output_dir>/<seq>_worst.png       contact sheet of the sequence's worst frames
    <output_dir>/summary.json          counts per sequence and in total, frames/s
    <output_dir>/tracker/<seq>.txt     tracker files (checkpoint mode only)
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from motip.atomic import atomic_write_json
from motip.data import mot_files
from motip.errors import DataError, MotipError
from motip.progress import Progress
from motip.rundir import VIZ_SUMMARY, contact_sheet_name
from motip.viz.matching import SequenceCounts, match_sequence
from motip.viz.render import render_sequence


@dataclass
class VizOptions:
    dataset_root: Path
    output_dir: Path
    results: Path | None = None         # folder of <seq>.txt tracker files; None: run the checkpoint
    config: Path | None = None
    checkpoint: Path | None = None
    score_thresh: float | None = None
    seqs: list[str] | None = None
    overrides: list[str] = field(default_factory=list)
    worst_frames: int = 6
    scale: float = 1.0                  # video size relative to the frames (drawing is at full size)


def resolve_split(dataset_root: Path) -> tuple[Path, list[str] | None]:
    """The split folder holding the sequence folders, and the one sequence when ``dataset_root`` is a sequence.

    Accepts a split folder (``datasets/DanceTrack/val``, as TRAIN.md writes it), a single sequence folder, or a
    dataset root with exactly a ``val`` split.
    """
    root = dataset_root.absolute()
    if not root.is_dir():
        raise DataError("dataset root not found", path=root,
                        hint="pass the split folder holding the sequence folders, e.g. datasets/DanceTrack/val")
    if (root / mot_files.SEQINFO_FILE).is_file():
        return root.parent, [root.name]
    if any((p / mot_files.SEQINFO_FILE).is_file() for p in root.iterdir() if p.is_dir()):
        return root, None
    if (root / "val").is_dir() and any((p / mot_files.SEQINFO_FILE).is_file() for p in (root / "val").iterdir()):
        return root / "val", None
    raise DataError("no sequences here (no sub-folder with a seqinfo.ini)", path=root,
                    hint="pass the split folder holding the sequence folders, e.g. datasets/DanceTrack/val")


def select_sequences(split_dir: Path, only: list[str] | None, wanted: list[str] | None) -> list[mot_files.Sequence]:
    names = only or mot_files.list_sequences(split_dir)
    if wanted:
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise DataError(f"unknown sequence(s): {', '.join(unknown)}", path=split_dir,
                            hint=f"sequences here: {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}")
        names = [n for n in names if n in wanted]
    if not names:
        raise DataError("no sequences to render", path=split_dir)
    return [mot_files.read_sequence(split_dir / n) for n in names]


def tracker_files_from_checkpoint(options: VizOptions, split_dir: Path, names: list[str]) -> Path:
    """Run the training engineer's tracker on the sequences; returns the folder of <seq>.txt files."""
    if options.config is None or options.checkpoint is None:
        raise MotipError("give --config and --checkpoint (run the model), or --results DIR (existing tracker files)")
    if not options.checkpoint.is_file():
        raise MotipError("checkpoint not found", path=options.checkpoint)
    from motip.config import load_config

    overrides = list(options.overrides)
    if options.score_thresh is not None:
        overrides += ["--DET_THRESH", str(options.score_thresh)]
    config = load_config(options.config, overrides)
    try:
        from motip.engine.tracking import track_split
    except ImportError as err:
        raise MotipError(f"checkpoint mode needs motip.engine.tracking, which cannot be imported ({err})",
                         hint="render existing tracker files with --results DIR instead") from None
    return Path(track_split(config, options.checkpoint, split_dir, options.output_dir / "tracker", seqs=names))


def read_predictions(results_dir: Path, seq: mot_files.Sequence, score_thresh: float | None) -> mot_files.MotBoxes:
    """A sequence's tracker file (may be empty: see ``check_not_all_empty``)."""
    path = results_dir / f"{seq.name}.txt"
    if not path.is_file():
        raise DataError(f"no tracker file for sequence {seq.name}", path=path,
                        hint="the results folder holds one <sequence>.txt per sequence (MOTChallenge format)")
    pred = mot_files.read_tracker_file(path)
    _check_unique_ids(pred, path)
    if score_thresh is not None:
        pred = pred.select(pred.score >= score_thresh)
    return pred


def check_not_all_empty(results_dir: Path, predictions: dict[str, mot_files.MotBoxes]) -> None:
    """--results whose every file is empty is an error (a failed run's leftovers, most likely), as in `motip eval`.
    One empty sequence among others is rendered (every GT missed) with a warning. Checkpoint mode skips this check:
    a weak model may find nothing, and the video then shows it."""
    empty = [name for name, pred in predictions.items() if len(pred) == 0]
    if empty and len(empty) == len(predictions):
        raise DataError(f"tracker file{'s are' if len(empty) > 1 else ' is'} empty: nothing to compare with the "
                        "ground truth", path=results_dir / f"{empty[0]}.txt",
                        hint="did tracking fail or use too high a score threshold? check the tracker's output log")
    for name in empty:
        print(f"warning: {results_dir / name}.txt is empty: every GT of {name} will show as missed", file=sys.stderr)


def _check_unique_ids(pred: mot_files.MotBoxes, path: Path) -> None:
    """One box per tracker id per frame, or the per-frame matching would be ambiguous."""
    if len(pred) < 2:
        return
    order = np.lexsort((pred.id, pred.frame))
    frame, ident, line = pred.frame[order], pred.id[order], pred.line[order]
    dup = np.flatnonzero((frame[1:] == frame[:-1]) & (ident[1:] == ident[:-1]))
    if len(dup):
        k = dup[0]
        raise DataError(f"tracker id {ident[k]} appears twice in frame {frame[k]} (lines {line[k]}, {line[k + 1]})",
                        path=path, line=int(line[k + 1]), hint="each id may have one box per frame")


def image_paths_of(seq: mot_files.Sequence) -> list[Path]:
    paths = [seq.frame_path(t) for t in range(1, seq.length + 1)]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"{len(missing)} of {len(paths)} frame images missing (first: {missing[0].name})",
                        path=missing[0], hint="seqinfo.ini seqLength and the img1 folder disagree, or broken links")
    return paths


def run_viz(options: VizOptions) -> dict[str, Any]:
    """Render every selected sequence; returns (and writes) the summary."""
    split_dir, only = resolve_split(options.dataset_root)
    sequences = select_sequences(split_dir, only, options.seqs)
    no_gt = [s.name for s in sequences if not s.has_gt]
    if no_gt:
        raise DataError(f"sequence(s) without ground truth cannot be compared: {', '.join(no_gt[:5])}",
                        path=sequences[0].path.parent, hint="render a split with gt/gt.txt (val, not test)")
    started = time.monotonic()
    if options.results is not None:
        results_dir = options.results.absolute()
        if not results_dir.is_dir():
            raise DataError("results folder not found", path=results_dir)
        mode = "results"
    else:
        results_dir = tracker_files_from_checkpoint(options, split_dir, [s.name for s in sequences])
        mode = "checkpoint"
    tracking_s = time.monotonic() - started

    # Read and match everything first (cheap): bad input fails before minutes of rendering.
    predictions = {seq.name: read_predictions(results_dir, seq, options.score_thresh if mode == "results" else None)
                   for seq in sequences}
    if mode == "results":
        check_not_all_empty(results_dir, predictions)
    prepared = []
    for seq in sequences:
        pred = predictions[seq.name]
        frames, counts = match_sequence(mot_files.read_gt(seq.path), mot_files.read_ignore(seq.path), pred,
                                        seq.length)
        prepared.append((seq, image_paths_of(seq), frames, counts))

    options.output_dir.mkdir(parents=True, exist_ok=True)
    total_frames = sum(seq.length for seq, *_ in prepared)
    per_sequence: dict[str, Any] = {}
    total = SequenceCounts()
    render_start = time.monotonic()
    with Progress("viz", total_frames) as progress:
        for seq, paths, frames, counts in prepared:
            progress.update(progress.done, seq.name)
            rendered = render_sequence(seq.name, paths, frames, options.output_dir / f"{seq.name}.mp4",
                                       options.output_dir / contact_sheet_name(seq.name), seq.frame_rate,
                                       on_frame=lambda: progress.advance(1), worst_count=options.worst_frames,
                                       scale=options.scale)
            per_sequence[seq.name] = {**counts.to_json(), "video": rendered.video.name,
                                      "contact_sheet": rendered.contact_sheet.name,
                                      "worst_frames": rendered.worst_frames, "codec": rendered.codec}
            for name in ("frames", "gt", "predictions", "tp", "fn", "fp", "idsw", "ignored"):
                setattr(total, name, getattr(total, name) + getattr(counts, name))
    render_s = time.monotonic() - render_start
    summary = {
        "created": datetime.now().isoformat(timespec="seconds"),
        "mode": mode,
        "dataset_root": str(split_dir),
        "results": str(results_dir),
        "config": None if options.config is None else str(options.config),
        "checkpoint": None if options.checkpoint is None else str(options.checkpoint),
        "score_thresh": options.score_thresh,
        "scale": options.scale,
        "iou_threshold": 0.5,
        "sequences": per_sequence,
        "total": total.to_json(),
        "frames_rendered": total_frames,
        "render_seconds": round(render_s, 3),
        "frames_per_second": round(total_frames / max(render_s, 1e-9), 2),
        "tracking_seconds": round(tracking_s, 3) if mode == "checkpoint" else None,
    }
    atomic_write_json(options.output_dir / VIZ_SUMMARY, summary)
    return summary
