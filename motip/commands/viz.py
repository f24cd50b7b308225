"""`motip viz`: Ground Truth vs Prediction videos (TRAIN.md's viz.py), from a checkpoint or existing tracker files.

    motip viz --config C --checkpoint P --dataset_root datasets/DanceTrack/val --output_dir O --score_thresh 0.4
    motip viz --results outputs/run/tracker --dataset_root datasets/DanceTrack/val --output_dir O

Green: matched, stable ID. Orange: matched, ID switched (thick on the switch frame). Blue dashed: missed GT.
Red: false positive. Grey: prediction on an ignore region (not counted). See docs/viz.md.
Checkpoints are loaded safely (weights only; docs/training.md "Safe checkpoint loading"); `--trust-checkpoint`
opts in to full unpickling of a file whose origin you trust.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ACCEPTS_OVERRIDES = True  # --KEY VALUE config overrides for checkpoint mode


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = ("colours: green = matched with a stable ID, orange = matched after an ID switch (thick box and "
                     "'IDSW' on the switch frame), blue dashed = missed GT, red = false positive, grey = on an ignore "
                     "region (not counted).\nWrites <seq>.mp4, <seq>_worst.png and summary.json into --output_dir. "
                     "Unknown --KEY VALUE pairs override the config (checkpoint mode).")
    parser.add_argument("--config", type=Path, help="YAML experiment config (checkpoint mode)")
    parser.add_argument("--checkpoint", type=Path, help="model checkpoint .pth (checkpoint mode)")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="load a checkpoint that a safe (weights-only) load refuses with full unpickling; only "
                             "for files whose origin you trust, since unpickling can run any code")
    parser.add_argument("--results", type=Path, metavar="DIR",
                        help="folder of existing MOTChallenge tracker files <seq>.txt: no model, no config needed")
    parser.add_argument("--dataset_root", "--dataset-root", dest="dataset_root", type=Path, required=True,
                        help="split folder holding the sequence folders, e.g. datasets/DanceTrack/val")
    parser.add_argument("--output_dir", "--output-dir", dest="output_dir", type=Path, required=True,
                        help="folder for the videos, contact sheets and summary.json")
    parser.add_argument("--score_thresh", "--score-thresh", dest="score_thresh", type=float, default=None,
                        help="detection score threshold (checkpoint mode: sets DET_THRESH, default 0.4; "
                             "results mode: drops tracker rows below it, default keep all)")
    parser.add_argument("--seqs", nargs="+", metavar="SEQ", help="only these sequences (default: all of the split)")
    parser.add_argument("--worst_frames", "--worst-frames", dest="worst_frames", type=int, default=6,
                        help="frames per contact sheet (default 6)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="video size relative to the frames, e.g. 0.5 for a quarter of the pixels: ~4x smaller "
                             "files (OpenCV's mp4v bitrate is fixed at 1.5 bit/pixel/frame) and faster (default 1)")


def run(args: argparse.Namespace) -> int:
    from motip.errors import MotipError
    from motip.model.pretrain import trust_checkpoints

    if getattr(args, "trust_checkpoint", False):
        trust_checkpoints()
    from motip.viz.runner import VizOptions, run_viz

    overrides = list(getattr(args, "overrides", []) or [])
    if args.results is not None and (args.config is not None or args.checkpoint is not None):
        raise MotipError("give either --results DIR or --config/--checkpoint, not both")
    if args.results is not None and overrides:
        raise MotipError(f"unexpected arguments {' '.join(overrides)} (config overrides need checkpoint mode)")
    if not 0.05 <= args.scale <= 1.0:
        raise MotipError(f"--scale {args.scale} must be between 0.05 and 1")
    score = args.score_thresh
    if args.results is None and score is None:
        score = 0.4  # TRAIN.md's value
    options = VizOptions(dataset_root=args.dataset_root, output_dir=args.output_dir, results=args.results,
                         config=args.config, checkpoint=args.checkpoint, score_thresh=score, seqs=args.seqs,
                         overrides=overrides, worst_frames=args.worst_frames, scale=args.scale)
    summary = run_viz(options)
    total = summary["total"]
    for name, row in summary["sequences"].items():
        print(f"{name}: FN {row['fn']}  FP {row['fp']}  IDSW {row['idsw']}  MOTA {row['mota']}  -> "
              f"{args.output_dir / row['video']}")
    print(f"total: {total['frames']} frames, FN {total['fn']}  FP {total['fp']}  IDSW {total['idsw']}  "
          f"MOTA {total['mota']}")
    print(f"rendered at {summary['frames_per_second']:.1f} frames/s; summary: {args.output_dir / 'summary.json'}")
    sys.stdout.flush()
    return 0
