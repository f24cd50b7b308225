"""Learning evidence: the demo's Stage 1 trained once per seed; HOTA after the first and the last epoch, CPU and wall.

    OMP_NUM_THREADS=1 .venv/bin/python bench/train_tiny.py [--seeds 0 1 2] [--workdir DIR] [--json] \\
        [-- --KEY VALUE ...]

For each seed S: a demo workspace made by ``motip demo`` with synthetic data of seed S (``create_demo(seed=S)``;
one workspace per seed, reused when the seed comes again), ``motip build --config config.toml``, then
``motip train configs/stage1_demo_foundation.yaml --SEED S`` in a subprocess, exactly as docs/demo.md runs Stage 1.
Everything after ``--`` is passed to ``motip train`` as config overrides (e.g. ``-- --MAX_STEPS_PER_EPOCH 2``).

Per run: HOTA of every epoch's eval (train.log), first -> last, the gain (last - first) and ratio (last / first),
CPU seconds of the training process and its children (user + sys, ``RUSAGE_CHILDREN``; the build not included) and
wall seconds. ``learned``: gain >= ``MIN_GAIN`` HOTA points and ratio >= ``MIN_RATIO``; ``all_learned``: every run
learned. A seed given twice (``--seeds 0 0``) checks determinism: ``same_numbers`` says whether the two runs wrote
identical losses and eval metrics. The load average before and after is printed (the box may be shared).
No assertions; docs/performance.md ("The demo learns") holds the criterion and the measured figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STAGE1_CONFIG = "configs/stage1_demo_foundation.yaml"
MIN_GAIN = 10.0   # HOTA points, last epoch over the first
MIN_RATIO = 1.5   # last / first


def demo_workspace(root: Path, seed: int) -> Path:
    """The demo workspace of data seed ``seed`` under ``root``, created and built once."""
    from motip.demo import create_demo

    folder = create_demo(root / f"demo_seed{seed}", seed=seed)
    if not (folder / "datasets" / "DanceTrack").exists():
        subprocess.run([sys.executable, "-m", "motip", "build", "--config", "config.toml"], cwd=folder, check=True,
                       capture_output=True)
    return folder


def stderr_file(run_dir: Path) -> Path:
    return run_dir.with_name(run_dir.name + ".stderr.txt")  # beside the run folder, which the trainer creates


def start_stage1(folder: Path, seed: int, run_dir: Path, extra: list[str], threads: int) -> subprocess.Popen:
    env = dict(os.environ, MOTIP_PROGRESS="plain", OMP_NUM_THREADS=str(threads))
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with stderr_file(run_dir).open("w", encoding="utf-8") as stderr:
        return subprocess.Popen([sys.executable, "-m", "motip", "train", STAGE1_CONFIG, "--SEED", str(seed), *extra,
                                 "--OUTPUT_DIR", str(run_dir)], cwd=folder, env=env,
                                stdout=subprocess.DEVNULL, stderr=stderr)


def finish_stage1(process: subprocess.Popen, seed: int, run_dir: Path, started: float) -> dict[str, Any]:
    """Wait for one Stage 1 training; its figures (``error`` set when it failed). CPU: user + sys of that process
    and the children it waited for (``os.wait4``), so runs in parallel are told apart."""
    from motip.trainlog import parse_log

    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall, cpu = time.monotonic() - started, usage.ru_utime + usage.ru_stime
    figures: dict[str, Any] = {"seed": seed, "run_dir": str(run_dir), "cpu_s": round(cpu, 1), "wall_s": round(wall, 1)}
    if process.returncode != 0:
        figures["error"] = stderr_file(run_dir).read_text(encoding="utf-8", errors="replace")[-3000:]
        return figures
    log = parse_log(run_dir / "train.log")
    hota = [float(row["HOTA"]) for row in log.eval]
    first, last = (hota[0], hota[-1]) if hota else (math.nan, math.nan)
    gain = last - first
    ratio = last / first if first > 0 else math.inf if last > 0 else math.nan
    figures.update(hota_per_epoch=[round(h, 2) for h in hota], first_hota=round(first, 2), last_hota=round(last, 2),
                   gain=round(gain, 2), ratio=round(ratio, 2) if math.isfinite(ratio) else ratio,
                   learned=bool(gain >= MIN_GAIN and ratio >= MIN_RATIO), steps=len(log.train),
                   # what determinism compares: every logged loss and every eval metric, exactly
                   numbers=[row["loss"] for row in log.train] + [
                       {k: v for k, v in row.items() if k not in ("time", "eval_s")} for row in log.eval])
    return figures


def run_all(root: Path, seeds: list[int], extra: list[str], threads: int, jobs: int) -> list[dict[str, Any]]:
    """One Stage 1 run per entry of ``seeds``, at most ``jobs`` at a time; figures in the order of ``seeds``."""
    stamp = time.strftime("%Y%m%d_%H%M%S")
    pending = list(enumerate(seeds))
    running: list[tuple[int, int, Path, subprocess.Popen, float]] = []
    done: dict[int, dict[str, Any]] = {}
    while pending or running:
        while pending and len(running) < jobs:
            index, seed = pending.pop(0)
            folder = demo_workspace(root, seed)
            run_dir = folder / "outputs" / f"bench_{stamp}_{index}"
            running.append((index, seed, run_dir, start_stage1(folder, seed, run_dir, extra, threads),
                            time.monotonic()))
        index, seed, run_dir, process, started = running.pop(0)  # in start order: each is waited for in turn
        done[index] = finish_stage1(process, seed, run_dir, started)
    return [done[i] for i in range(len(seeds))]


def same_seed_agreement(runs: list[dict[str, Any]]) -> bool | None:
    """True when every seed that ran more than once gave identical numbers; None when no seed repeated."""
    by_seed: dict[int, list[Any]] = {}
    for run in runs:
        if "numbers" in run:
            by_seed.setdefault(run["seed"], []).append(run["numbers"])
    repeated = [numbers for numbers in by_seed.values() if len(numbers) > 1]
    if not repeated:
        return None
    return all(all(n == numbers[0] for n in numbers[1:]) for numbers in repeated)


def main() -> int:
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="one Stage 1 run per seed (data and training); repeat a seed to check determinism")
    parser.add_argument("--workdir", type=Path, help="where the demo workspaces go (default: a new temporary folder)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")),
                        help="OMP_NUM_THREADS of the training (default: the environment's, else 1)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs at a time (default 1; CPU seconds are per run either way, wall times stretch)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    args = parser.parse_args(argv)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="motip_bench_train_tiny_"))
    root.mkdir(parents=True, exist_ok=True)

    load_start = os.getloadavg()
    runs = run_all(root, args.seeds, extra, args.threads, args.jobs)
    for run in runs:
        if "error" in run:
            print(f"seed {run['seed']}: motip train failed ({run['run_dir']}):\n{run['error']}", file=sys.stderr)
            return 1
    load_end = os.getloadavg()

    print(f"workdir {root}  OMP_NUM_THREADS={args.threads}  load average {load_start[0]:.2f} -> {load_end[0]:.2f}")
    print(f"{'seed':>4} {'HOTA first':>10} {'HOTA last':>9} {'gain':>6} {'ratio':>6} {'learned':>7} {'CPU s':>6} "
          f"{'wall s':>6}  HOTA per epoch")
    for run in runs:
        print(f"{run['seed']:>4} {run['first_hota']:>10.2f} {run['last_hota']:>9.2f} {run['gain']:>+6.2f} "
              f"{run['ratio']:>6.2f} {'yes' if run['learned'] else 'NO':>7} {run['cpu_s']:>6.0f} "
              f"{run['wall_s']:>6.0f}  {' -> '.join(f'{h:.2f}' for h in run['hota_per_epoch'])}")
    all_learned = all(run["learned"] for run in runs)
    same = same_seed_agreement(runs)
    print(f"all learned (gain >= {MIN_GAIN:g} HOTA points and last >= {MIN_RATIO:g}x first): "
          f"{'yes' if all_learned else 'NO'}")
    if same is not None:
        print(f"same seed, same numbers: {'yes' if same else 'NO'}")
    if args.json:
        figures = {"seeds": [r["seed"] for r in runs], "first_hota": [r["first_hota"] for r in runs],
                   "last_hota": [r["last_hota"] for r in runs], "gain": [r["gain"] for r in runs],
                   "ratio": [r["ratio"] for r in runs], "hota_per_epoch": [r["hota_per_epoch"] for r in runs],
                   "cpu_s": [r["cpu_s"] for r in runs], "wall_s": [r["wall_s"] for r in runs],
                   "learned": [r["learned"] for r in runs], "all_learned": all_learned, "same_numbers": same,
                   "min_gain": MIN_GAIN, "min_ratio": MIN_RATIO, "threads": args.threads,
                   "load_average": [round(load_start[0], 2), round(load_end[0], 2)], "overrides": extra,
                   "workdir": str(root)}
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
