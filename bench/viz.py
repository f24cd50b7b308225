"""Benchmark `motip viz --results`: rendering frames/s at 1920x1080 with 30 objects, encoding included.

    .venv/bin/python bench/viz.py [--frames 300] [--objects 30] [--width 1920] [--height 1080] [--scale 1]
                                  [--keep DIR] [--no-stages] [--json]

Generates a synthetic sequence in a temp dir (textured JPEG frames like natural images, GT of moving boxes, a
tracker file with misses, false positives and ID switches), runs the real ``run_viz`` and prints frames/s (decode +
draw + encode, the export's own figure), the CPU time per frame of all threads, then times the stages alone (decode,
match, draw, encode) to show where the time goes. Prints figures; asserts nothing. ``--json``: the last line is one
JSON object (``fps``, ``cpu_ms_per_frame``, ``bound_fps_2_idle_cores``, ``load_avg_before``/``after`` ...).

The script imports the ``motip`` of the tree it sits in, so a copy of it in an older checkout (``git worktree add``)
measures that code side by side with this one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from motip.data import mot_files  # noqa: E402 - after sys.path finds the checkout
from motip.viz.matching import match_sequence  # noqa: E402 - after sys.path finds the checkout
from motip.viz.render import FrameDrawer, read_frame  # noqa: E402 - after sys.path finds the checkout
from motip.viz.runner import VizOptions, run_viz  # noqa: E402 - after sys.path finds the checkout


def textured_frame(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Blobs, edges and mild grain: about 300 KB as a quality-90 JPEG at 1920x1080, like a DanceTrack frame
    (pure noise would decode and encode far slower than any camera image)."""
    small = rng.integers(0, 255, (max(1, height // 24), max(1, width // 24), 3), dtype=np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(40):  # sharp-edged shapes, like people and cars
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.rectangle(image, (x, y), (x + int(rng.integers(20, 200)), y + int(rng.integers(40, 300))), colour, -1)
    grain = rng.integers(0, 6, (height, width, 1), dtype=np.uint8)
    return cv2.add(image, np.broadcast_to(grain, image.shape).copy())


def make_sequence(root: Path, frames: int, objects: int, width: int, height: int, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    seq = root / "val" / "bench01"
    (seq / "img1").mkdir(parents=True)
    (seq / "gt").mkdir()
    backgrounds = [textured_frame(rng, width, height) for _ in range(8)]
    for t in range(1, frames + 1):
        frame = np.roll(backgrounds[t % len(backgrounds)], t * 3, axis=1)
        cv2.imwrite(str(seq / "img1" / f"{t:08d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    (seq / "seqinfo.ini").write_text(f"[Sequence]\nname=bench01\nimDir=img1\nframeRate=20\nseqLength={frames}\n"
                                     f"imWidth={width}\nimHeight={height}\nimExt=.jpg\n")
    scale = height / 1080  # box sizes and motion relative to a 1080p frame
    size = rng.uniform([60, 120], [160, 300], (objects, 2)) * scale
    start = rng.uniform([0, 0], [width - 160 * scale, height - 300 * scale], (objects, 2))
    velocity = rng.uniform(-3, 3, (objects, 2)) * scale
    gt_rows, pred_rows = [], []
    next_id = objects + 1
    tracker_of = list(range(1, objects + 1))
    for t in range(1, frames + 1):
        for k in range(objects):
            x, y = np.clip(start[k] + velocity[k] * t, 0, [width - size[k, 0], height - size[k, 1]])
            w, h = size[k]
            gt_rows.append(f"{t},{k + 1},{x:.1f},{y:.1f},{w:.1f},{h:.1f},1,{1 + k % 2},1\n")
            if rng.random() < 0.005:  # an ID switch now and then
                tracker_of[k], next_id = next_id, next_id + 1
            if rng.random() < 0.05:   # a miss
                continue
            jx, jy = rng.normal(0, 3, 2) * scale
            pred_rows.append(f"{t},{tracker_of[k]},{x + jx:.1f},{y + jy:.1f},{w:.1f},{h:.1f},0.9,{1 + k % 2},-1,-1\n")
        for _ in range(rng.poisson(1.0)):  # false positives, each a short-lived id of its own
            x, y = rng.uniform([0, 0], [width - 100 * scale, height - 100 * scale])
            pred_rows.append(f"{t},{next_id},{x:.1f},{y:.1f},{80 * scale:.1f},{100 * scale:.1f},0.5,1,-1,-1\n")
            next_id += 1
    (seq / "gt" / "gt.txt").write_text("".join(gt_rows))
    ignore = f"{20 * scale:.0f},{20 * scale:.0f},{300 * scale:.0f},{200 * scale:.0f}"
    (seq / "gt" / "ignore.txt").write_text("".join(f"{t},-1,{ignore},0,-1,-1\n" for t in range(1, frames + 1)))
    results = root / "results"
    results.mkdir()
    (results / "bench01.txt").write_text("".join(pred_rows))
    return root / "val", results


def stage_times(split: Path, results: Path, out: Path) -> dict[str, float]:
    """Seconds per frame of each stage run alone, single-threaded."""
    seq = mot_files.read_sequence(split / "bench01")
    paths = [seq.img_dir / f"{t:08d}.jpg" for t in range(1, seq.length + 1)]
    t0 = time.perf_counter()
    images = [read_frame(p) for p in paths[:100]]
    decode = (time.perf_counter() - t0) / len(images)
    t0 = time.perf_counter()
    frames, _ = match_sequence(mot_files.read_gt(seq.path), mot_files.read_ignore(seq.path),
                               mot_files.read_tracker_file(results / "bench01.txt"), seq.length)
    match = (time.perf_counter() - t0) / seq.length
    height, width = images[0].shape[:2]
    drawer = FrameDrawer(width, height, seq.length)
    t0 = time.perf_counter()
    for image, result in zip(images, frames):
        drawer.draw(image, result)
    draw = (time.perf_counter() - t0) / len(images)
    try:
        from motip.viz.video import VideoSink
    except ImportError:  # an older tree (side-by-side runs): the sink lived in render.py
        from motip.viz.render import VideoSink  # type: ignore[attr-defined,no-redef]
    sink = VideoSink(out / "encode_only.mp4", width, height, 20)
    t0 = time.perf_counter()
    for image in images:
        sink.write(image)
    sink.close()
    encode = (time.perf_counter() - t0) / len(images)
    return {"decode": decode, "match": match, "draw": draw, "encode": encode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--objects", type=int, default=30)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--scale", type=float, default=1.0, help="motip viz --scale (video size, default 1)")
    parser.add_argument("--keep", type=Path, default=None, help="write the data and video here instead of a temp dir")
    parser.add_argument("--no-stages", action="store_true", help="skip the stages-alone timings")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    args = parser.parse_args()
    os.environ.setdefault("MOTIP_PROGRESS", "plain")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        t0 = time.perf_counter()
        split, results = make_sequence(root, args.frames, args.objects, args.width, args.height)
        jpeg_kb = (split / "bench01" / "img1" / "00000001.jpg").stat().st_size / 1e3
        print(f"generated {args.frames} frames {args.width}x{args.height} (JPEG ~{jpeg_kb:.0f} KB), "
              f"{args.objects} objects in {time.perf_counter() - t0:.1f}s")
        load_before = os.getloadavg()[0]
        print(f"load average before: {load_before:.2f} on {os.cpu_count()} cores (shared machine)")
        t0, times0 = time.perf_counter(), os.times()
        summary = run_viz(VizOptions(dataset_root=split, output_dir=root / "out", results=results, scale=args.scale))
        wall, times1 = time.perf_counter() - t0, os.times()
        cpu = (times1.user + times1.system) - (times0.user + times0.system)  # every thread of this process
        row = summary["sequences"]["bench01"]
        fps = float(summary["frames_per_second"])
        print(f"counts: FN {row['fn']} FP {row['fp']} IDSW {row['idsw']} (codec {row['codec']})")
        print(f"render (decode + draw + encode, pipelined, --scale {args.scale:g}): {fps:.1f} frames/s")
        print(f"whole run_viz incl. reading + matching: {args.frames / wall:.1f} frames/s ({wall:.2f}s)")
        # CPU time (all threads) depends far less on how busy the shared machine is: it bounds what 2 idle cores do.
        cpu_ms = 1000 * cpu / args.frames
        bound = 2000 / cpu_ms if cpu_ms > 0 else float("inf")
        print(f"CPU time {cpu_ms:.1f} ms/frame (all threads) -> at most {bound:.0f} frames/s on 2 idle cores")
        load_after = os.getloadavg()[0]
        stages = {} if args.no_stages else stage_times(split, results, root / "out")
        if stages:
            print("stages alone at full size (wall clock, inflated by load), ms/frame: "
                  + ", ".join(f"{k} {v * 1000:.2f}" for k, v in stages.items()))
        size = (root / "out" / "bench01.mp4").stat().st_size
        print(f"video: {size / 1e6:.1f} MB for {args.frames} frames; cpu count {os.cpu_count()}, "
              f"load avg {load_after:.2f}")
        if args.json:
            print(json.dumps({
                "fps": round(fps, 2), "whole_run_fps": round(args.frames / wall, 2),
                "cpu_ms_per_frame": round(cpu_ms, 2), "bound_fps_2_idle_cores": round(bound, 1),
                "frames": args.frames, "objects": args.objects, "width": args.width, "height": args.height,
                "scale": args.scale, "codec": row["codec"], "video_mb": round(size / 1e6, 2),
                "stages_ms": {k: round(v * 1000, 2) for k, v in stages.items()},
                "load_avg_before": round(load_before, 2), "load_avg_after": round(load_after, 2),
                "cpu_count": os.cpu_count(),
            }))


if __name__ == "__main__":
    main()
