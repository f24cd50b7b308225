"""Benchmark `motip build`: 30,000 train frames from synthetic sources vs `cp -rs` of the same images.

    .venv/bin/python bench/build.py [--frames 30000] [--workdir DIR] [--keep] [--repeat 5]

Writes synthetic DanceTrack/BDD100K/VisDrone releases (once, reused when --workdir already holds them), builds
``--frames`` train frames split evenly over the three sources, then times ``cp -rs`` of exactly the image files the
build linked (the same source folders, same disk) into a sibling folder. Repeats build + copies (fresh outputs, sync
before each timing) and prints medians, frames/s and the ratio; the target is build time <= 2x the copy-of-links time.
Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from motip.data.builder import build
from motip.data.settings import load_build_settings
from motip.data.synthetic import write_synthetic_manifest, write_synthetic_sources

FRAMES_PER_VIDEO = 400


def _one_run(workdir: Path, settings) -> dict:
    """One build, then `cp -rs` of the image folders it linked (per folder, then in one call); fresh outputs."""
    for folder in ("datasets", "cp-rs", "cp-rs-one"):
        shutil.rmtree(workdir / folder, ignore_errors=True)
    os.sync()
    start = time.perf_counter()
    with open(os.devnull, "w") as quiet:
        result = build(settings, progress_stream=quiet)
    build_s = time.perf_counter() - start

    video_dirs = sorted({os.path.dirname(os.readlink(next((seq / "img1").iterdir())))
                         for split in ("train", "val", "test") for seq in (result.build_dir / split).iterdir()})
    copy_root = workdir / "cp-rs"
    copy_root.mkdir()
    os.sync()
    start = time.perf_counter()
    for index, folder in enumerate(video_dirs):
        subprocess.run(["cp", "-rs", folder, str(copy_root / f"{index:05d}")], check=True)
    copy_s = time.perf_counter() - start
    # The same copy in a single cp call (no process start per folder): the stricter baseline.
    copy_root_1 = workdir / "cp-rs-one"
    copy_root_1.mkdir()
    os.sync()
    start = time.perf_counter()
    subprocess.run(["cp", "-rs", "--parents", *video_dirs, str(copy_root_1)], check=True)
    copy_one_s = time.perf_counter() - start
    return {"build_s": build_s, "cp_rs_per_video_s": copy_s, "cp_rs_single_call_s": copy_one_s,
            "cp_rs_images": sum(len(os.listdir(d)) for d in video_dirs), "report": result.report}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=30_000, help="train frames to build (default 30000)")
    parser.add_argument("--workdir", type=Path, default=None, help="where sources and builds go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    parser.add_argument("--repeat", type=int, default=5, help="build/copy rounds; medians are reported (default 5)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="motip-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    per_source = args.frames // 3
    videos = -(-per_source // FRAMES_PER_VIDEO) + 4          # enough training videos + val/test ones
    src = workdir / "src"
    if not src.exists():
        start = time.perf_counter()
        sources = write_synthetic_sources(src, dancetrack_videos=videos, bdd_videos=videos, visdrone_videos=videos,
                                          frames_per_video=FRAMES_PER_VIDEO)
        write_synthetic_manifest(sources, workdir / "manifest.json")
        print(f"wrote synthetic sources: {3 * videos} videos x {FRAMES_PER_VIDEO} frames "
              f"in {time.perf_counter() - start:.1f}s")
    budgets = {"dancetrack": per_source, "bdd": per_source, "visdrone": args.frames - 2 * per_source}
    folders = {"dancetrack": "dancetrack", "bdd": "bdd100k", "visdrone": "visdrone"}
    (workdir / "config.toml").write_text("".join(
        f'[{s}]\nenabled = true\nroot = "src/{folders[s]}"\nframe_budget = {b}\n\n' for s, b in budgets.items())
        + '[builder]\noutput = "datasets/DanceTrack"\nmanifest = "manifest.json"\nseed = 0\n')
    settings = load_build_settings(workdir / "config.toml")
    runs = [_one_run(workdir, settings) for _ in range(args.repeat)]
    median = {key: statistics.median(run[key] for run in runs) for key in ("build_s", "cp_rs_per_video_s",
                                                                            "cp_rs_single_call_s")}
    report = runs[-1]["report"]
    total = sum(report["splits"][s]["frames"] for s in ("train", "val", "test"))
    figures = {
        "train_frames": report["splits"]["train"]["frames"], "all_frames": total,
        "sequences": sum(report["splits"][s]["sequences"] for s in ("train", "val", "test")),
        "cp_rs_images": runs[-1]["cp_rs_images"], "repeats": args.repeat,
        "median_build_s": round(median["build_s"], 3),
        "median_build_frames_per_s": round(total / median["build_s"], 1),
        "median_cp_rs_per_video_s": round(median["cp_rs_per_video_s"], 3),
        "median_cp_rs_single_call_s": round(median["cp_rs_single_call_s"], 3),
        "ratio_vs_per_video_cp": round(median["build_s"] / median["cp_rs_per_video_s"], 2),
        "ratio_vs_single_cp": round(median["build_s"] / median["cp_rs_single_call_s"], 2),
        "runs": [{k: round(v, 3) for k, v in run.items() if isinstance(v, float)} for run in runs],
        "target": "build_s <= 2 x cp -rs", "cpu_count": os.cpu_count(), "python": sys.version.split()[0],
    }
    print(json.dumps(figures, indent=2))
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
