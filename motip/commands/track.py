"""`motip track --config C --checkpoint P INPUT... --output_dir O`: tracker files for sequence folders or videos.

Each INPUT is a sequence folder (img1/*.jpg, or the images themselves), a video file (read with OpenCV), or a split
folder holding sequence folders; each becomes O/<name>.txt with lines `frame,id,x,y,w,h,score,class,-1,-1`
(class 1 person, 2 vehicle). No ground truth needed. Tracker settings (DET_THRESH, NEWBORN_THRESH, ID_THRESH,
MISS_TOLERANCE, ASSIGNMENT_PROTOCOL, INFERENCE_MAX_LONGER, INFERENCE_DTYPE...) come from the config and overrides.
Checkpoints are loaded safely (weights only; docs/training.md "Safe checkpoint loading"); `--trust-checkpoint`
opts in to full unpickling of a file whose origin you trust.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ACCEPTS_OVERRIDES = True


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                        help="sequence folder, video file, or split folder of sequences")
    parser.add_argument("--config", required=True, type=Path, help="YAML config the checkpoint was trained with")
    parser.add_argument("--checkpoint", required=True, type=Path, help="checkpoint (.pth) to track with")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="load a checkpoint that a safe (weights-only) load refuses with full unpickling; only "
                             "for files whose origin you trust, since unpickling can run any code")
    parser.add_argument("--output_dir", required=True, type=Path, help="folder for the <name>.txt tracker files")
    parser.epilog = "Any --KEY VALUE overrides a config key, e.g. --DET_THRESH 0.4 --DEVICE cpu."


def run(args: argparse.Namespace) -> int:
    from motip.config import load_config
    from motip.engine.tracking import VIDEO_SUFFIXES, load_model_for_inference, track_sequence
    from motip.errors import DataError
    from motip.model.pretrain import trust_checkpoints
    from motip.progress import Progress

    if args.trust_checkpoint:
        trust_checkpoints()
    config = load_config(args.config, list(getattr(args, "overrides", []) or []))
    sources: list[Path] = []
    for item in args.inputs:
        if item.is_file() and item.suffix.lower() in VIDEO_SUFFIXES:
            sources.append(item)
        elif item.is_dir() and ((item / "img1").is_dir() or any(p.suffix.lower() in (".jpg", ".jpeg", ".png")
                                                                 for p in item.iterdir())):
            sources.append(item)
        elif item.is_dir() and any((p / "img1").is_dir() for p in item.iterdir()):
            sources.extend(sorted(p for p in item.iterdir() if (p / "img1").is_dir()))
        else:
            raise DataError("not a sequence folder, split folder or video file", path=item,
                            hint=f"videos: {', '.join(sorted(VIDEO_SUFFIXES))}; sequences: <seq>/img1/*.jpg")
    model = load_model_for_inference(config, args.checkpoint)
    with Progress("track", len(sources)) as progress:
        for source in sources:
            out = track_sequence(model, config, source, args.output_dir)
            progress.advance(1, source.name)
            print(f"wrote {out}", flush=True)
    return 0
