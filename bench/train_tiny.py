"""Learning evidence: build synthetic data with `motip build`, train configs/tiny_cpu.yaml, print per-epoch
HOTA/IDF1 (overall and per class) and seconds per step.

    OMP_NUM_THREADS=1 .venv/bin/python bench/train_tiny.py [--workdir DIR] [--videos 5] [--frames 30] \\
        [-- --KEY VALUE ...]

Everything after `--` is passed to `motip train` as config overrides (e.g. `-- --DEVICE cuda --EPOCHS 6`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build_workspace(root: Path, videos: int, frames: int) -> None:
    from motip.data.synthetic import write_synthetic_manifest, write_synthetic_sources

    sources = write_synthetic_sources(root / "data", seed=0, dancetrack_videos=videos, bdd_videos=videos,
                                      visdrone_videos=0, frames_per_video=frames)
    write_synthetic_manifest(sources, root / "manifest.json")
    budget = (videos - 3) * frames
    (root / "config.toml").write_text(
        f'[dancetrack]\nenabled = true\nroot = "data/dancetrack"\nframe_budget = {budget}\n\n'
        f'[bdd]\nenabled = true\nroot = "data/bdd100k"\nframe_budget = {budget}\n\n'
        '[visdrone]\nenabled = false\nroot = "data/visdrone"\nframe_budget = 0\n\n'
        '[builder]\noutput = "datasets/DanceTrack"\nmanifest = "manifest.json"\nseed = 1\n', encoding="utf-8")
    subprocess.run([sys.executable, "-m", "motip", "build", "--config", str(root / "config.toml")], cwd=root,
                   check=True, capture_output=True)


def main() -> int:
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, help="workspace folder (default: a new temporary folder)")
    parser.add_argument("--videos", type=int, default=5, help="synthetic videos per source (train = videos - 3)")
    parser.add_argument("--frames", type=int, default=30, help="frames per synthetic video")
    args = parser.parse_args(argv)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="motip_bench_train_"))
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "datasets" / "DanceTrack").exists():
        build_workspace(root, args.videos, args.frames)
    run_dir = root / "outputs" / f"bench_{int(time.time())}"
    env = dict(os.environ, MOTIP_PROGRESS="plain")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "motip", "train", str(REPO / "configs" / "tiny_cpu.yaml"),
                             *extra, "--OUTPUT_DIR", str(run_dir)], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - started
    if result.returncode != 0:
        print(result.stderr[-3000:], file=sys.stderr)
        return result.returncode

    from motip.trainlog import parse_log

    log = parse_log(run_dir / "train.log")
    print(f"workspace {root}\nrun {run_dir}\nwall {wall:.0f} s for {len(log.train)} logged steps")
    print(f"{'epoch':>5} {'HOTA':>6} {'DetA':>6} {'AssA':>6} {'IDF1':>6} {'MOTA':>8} {'ped HOTA':>9} {'veh HOTA':>9} "
          f"{'s/step':>7} {'loss':>7}")
    for row in log.eval:
        epoch = row["epoch"]
        steps = [r for r in log.train if r["epoch"] == epoch]
        s_step = statistics.median(r["s_per_step"] for r in steps) if steps else float("nan")
        loss = statistics.mean(r["loss"] for r in steps) if steps else float("nan")
        per = row.get("per_class", {})
        print(f"{epoch:>5} {row['HOTA']:>6.2f} {row['DetA']:>6.2f} {row['AssA']:>6.2f} {row['IDF1']:>6.2f} "
              f"{row['MOTA']:>8.2f} {per.get('pedestrian', {}).get('HOTA', float('nan')):>9.2f} "
              f"{per.get('vehicle', {}).get('HOTA', float('nan')):>9.2f} {s_step:>7.3f} {loss:>7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
