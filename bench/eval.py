"""Benchmark our evaluation (``motip eval``'s core, ``motip.eval.metrics.evaluate``) against TrackEval's own route
(``MotChallenge2DBox`` + ``Evaluator``, as scripts/run_mot_challenge.py runs it) on the same files, in one run.

    .venv/bin/python bench/eval.py [--sequences 20] [--frames 1000] [--objects 30] [--workers N] [--json]
    .venv/bin/python bench/eval.py --sequences 2 --frames 50 --objects 5 --json          # seconds

Writes a synthetic val split (``<seq>/seqinfo.ini``, ``gt/gt.txt``: pedestrians only, ``--objects`` tracks alive per
frame, ids renewed as tracks end) and one tracker file per sequence (the ground truth jittered, with misses, identity
switches and short false-positive tracks), then times each on the same files:
  * ours: ``evaluate(split, trackers, classes={"pedestrian": 1})``, end to end with its default worker processes
    (``workers``, or ``--workers``; ``ours_s``: the best of ``--repeat`` runs, alternating with the route's) and in
    one process (``ours_1worker_s``), then, in one process, phase by phase: reading the files, preparing TrackEval's
    per-sequence data (``build_class_data``), HOTA, CLEAR, Identity, combining;
  * the route, single-process as TrackEval runs by default (``USE_PARALLEL`` False): ``trackeval.Evaluator.evaluate``
    on ``MotChallenge2DBox`` (``route_s``, best of ``--repeat``), then phase by phase: loading
    (``get_raw_seq_data``), preprocessing (``get_preprocessed_seq_data``), HOTA, CLEAR, Identity, combining.
``ratio`` = ours_s / route_s (target <= 0.5), ``ratio_1worker`` = ours_1worker_s / route_s; ``max_abs_diff`` = the
largest difference between the route's report and ours (either run) over every HOTA/CLEAR/Identity field (percent
and counts; expected 0). ``load_avg`` is the machine's 1-minute load average before and after. Figures only, no
assertions.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from motip.data.mot_files import make_boxes, read_gt, read_ignore, read_split, read_tracker_file, write_tracker_file
from motip.eval import metrics as M

TRACKER = "bench"
WIDTH, HEIGHT = 1920, 1080


# ----------------------------------------------------------------------------------------------- synthetic data

def _tracks(rng: np.random.Generator, frames: int, objects: int) -> list[tuple[int, int, int, np.ndarray]]:
    """(id, first frame, last frame, xywh per frame) for ``objects`` slots, each a chain of tracks."""
    tracks = []
    next_id = 1
    for _ in range(objects):
        start = 1
        while start <= frames:
            length = int(rng.integers(50, 400))
            end = min(frames, start + length - 1)
            n = end - start + 1
            w, h = rng.uniform(40, 120), rng.uniform(100, 300)
            x0, y0 = rng.uniform(0, WIDTH - w), rng.uniform(0, HEIGHT - h)
            v = rng.normal(0, 2, size=2)
            t = np.arange(n)[:, None]
            xy = np.clip(np.array([x0, y0]) + v * t + rng.normal(0, 1, size=(n, 2)), 0,
                         [WIDTH - w, HEIGHT - h])
            tracks.append((next_id, start, end, np.hstack([xy, np.full((n, 1), w), np.full((n, 1), h)])))
            next_id += 1
            start = end + 1
    return tracks


def write_split(root: Path, *, sequences: int, frames: int, objects: int, seed: int = 0) -> tuple[Path, Path, Path]:
    """(split folder, seqmap, tracker folder holding <seq>.txt) under ``root``."""
    rng = np.random.default_rng(seed)
    split = root / "val"
    tracker_dir = root / "trackers" / TRACKER / "data"
    tracker_dir.mkdir(parents=True)
    names = [f"bench{s:04d}" for s in range(sequences)]
    for name in names:
        seq = split / name
        (seq / "gt").mkdir(parents=True)
        (seq / "seqinfo.ini").write_text(f"[Sequence]\nname={name}\nimDir=img1\nframeRate=20\nseqLength={frames}\n"
                                         f"imWidth={WIDTH}\nimHeight={HEIGHT}\nimExt=.jpg\n", encoding="utf-8")
        gt_lines: list[str] = []
        tr_frame, tr_id, tr_box = [], [], []
        next_tracker_id = 1
        for gid, first, last, boxes in _tracks(rng, frames, objects):
            frame_nos = np.arange(first, last + 1)
            gt_lines += [f"{f},{gid},{x:.2f},{y:.2f},{w:.2f},{h:.2f},1,1,1\n"
                         for f, (x, y, w, h) in zip(frame_nos.tolist(), boxes.tolist())]
            seen = rng.random(len(frame_nos)) > 0.1                              # 10% misses
            ids = np.full(len(frame_nos), next_tracker_id)
            for cut in np.sort(rng.choice(len(frame_nos), size=rng.poisson(0.7), replace=True)):
                ids[cut:] += 1                                                   # identity switches
            next_tracker_id = int(ids[-1]) + 1
            jitter = rng.normal(0, 0.05, size=boxes.shape) * boxes[:, [2, 3, 2, 3]]
            tr_frame.append(frame_nos[seen])
            tr_id.append(ids[seen])
            tr_box.append((boxes + jitter * np.array([1, 1, 0.3, 0.3]))[seen])
        for f in np.nonzero(rng.random(frames) < 0.3)[0] + 1:                    # short false-positive tracks
            n = min(5, frames - f + 1)
            x, y = rng.uniform(0, WIDTH - 80), rng.uniform(0, HEIGHT - 200)
            tr_frame.append(np.arange(f, f + n))
            tr_id.append(np.full(n, next_tracker_id))
            tr_box.append(np.tile([x, y, 60.0, 150.0], (n, 1)))
            next_tracker_id += 1
        (seq / "gt" / "gt.txt").write_text("".join(gt_lines), encoding="utf-8")
        frame_a, id_a, box_a = np.concatenate(tr_frame), np.concatenate(tr_id), np.concatenate(tr_box)
        order = np.lexsort((id_a, frame_a))
        write_tracker_file(tracker_dir / f"{name}.txt",
                           make_boxes(frame_a[order], id_a[order], box_a[order], score=np.full(len(order), 0.9)))
    seqmap = root / "val_seqmap.txt"
    seqmap.write_text("name\n" + "".join(f"{n}\n" for n in names), encoding="utf-8")
    return split, seqmap, tracker_dir


# ----------------------------------------------------------------------------------------------- timing

class Phases:
    """Accumulated seconds per named phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        result = fn()
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
        return result

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.seconds.items()}


def ours_end_to_end(split: Path, seqmap: Path, tracker_dir: Path, workers: int) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    report = M.evaluate(split, tracker_dir, seqmap=seqmap, classes={"pedestrian": 1}, check_fingerprint=False,
                        workers=workers)
    return time.perf_counter() - start, report["metrics"]


def ours_phases(split: Path, seqmap: Path, tracker_dir: Path) -> dict[str, float]:
    """The steps ``evaluate`` takes for one class, timed one by one."""
    phases = Phases()
    hota, clear, identity = M._metric_classes()
    per_seq: dict[str, dict[str, Any]] = {}
    for seq in read_split(split, seqmap):
        gt, ignore, tracker = phases.run("read files", lambda seq=seq: (
            read_gt(seq.path), read_ignore(seq.path), read_tracker_file(tracker_dir / f"{seq.name}.txt")))
        data = phases.run("prepare (build_class_data)",
                          lambda: M.build_class_data(seq, gt, ignore, tracker, 1).data)  # noqa: B023 - Phases.run calls it at once
        res: dict[str, Any] = {}
        for name, metric in (("HOTA", hota), ("CLEAR", clear), ("Identity", identity)):
            res.update(phases.run(name, lambda: metric.eval_sequence(data)))  # noqa: B023 - Phases.run calls it at once
        per_seq[seq.name] = res
    phases.run("combine", lambda: M._combine_sequences(per_seq, (hota, clear, identity)))
    return phases.rounded()


def _route_dataset(split: Path, seqmap: Path, tracker_root: Path, out: Path):
    import trackeval

    return trackeval.datasets.MotChallenge2DBox({
        "GT_FOLDER": str(split), "TRACKERS_FOLDER": str(tracker_root), "SEQMAP_FILE": str(seqmap),
        "SKIP_SPLIT_FOL": True, "BENCHMARK": "MOT17", "SPLIT_TO_EVAL": "train", "PRINT_CONFIG": False,
        "TRACKERS_TO_EVAL": [TRACKER], "OUTPUT_FOLDER": str(out)})


def _route_metrics():
    import trackeval

    quiet = {"PRINT_CONFIG": False}
    return [trackeval.metrics.HOTA(quiet), trackeval.metrics.CLEAR(quiet), trackeval.metrics.Identity(quiet)]


def route_end_to_end(split: Path, seqmap: Path, tracker_root: Path, out: Path) -> tuple[float, dict[str, Any]]:
    import trackeval

    evaluator = trackeval.Evaluator({"USE_PARALLEL": False, "PRINT_RESULTS": False, "PRINT_CONFIG": False,
                                     "TIME_PROGRESS": False, "OUTPUT_SUMMARY": False, "OUTPUT_DETAILED": False,
                                     "PLOT_CURVES": False, "DISPLAY_LESS_PROGRESS": True,
                                     "OUTPUT_EMPTY_CLASSES": False})
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        results, _ = evaluator.evaluate([_route_dataset(split, seqmap, tracker_root, out)], _route_metrics())
    seconds = time.perf_counter() - start
    combined = results["MotChallenge2DBox"][TRACKER]["COMBINED_SEQ"]["pedestrian"]
    flat: dict[str, Any] = {}
    for part in ("HOTA", "CLEAR", "Identity"):
        flat.update(combined[part])
    return seconds, M.summarize(flat)


def route_phases(split: Path, seqmap: Path, tracker_root: Path, out: Path) -> dict[str, float]:
    """The steps ``Evaluator.evaluate`` takes per sequence (trackeval.eval.eval_sequence), timed one by one."""
    phases = Phases()
    dataset = _route_dataset(split, seqmap, tracker_root, out)
    metrics = _route_metrics()
    per_seq: dict[str, dict[str, Any]] = {}
    for seq in dataset.get_eval_info()[1]:
        raw = phases.run("load (get_raw_seq_data)", lambda: dataset.get_raw_seq_data(TRACKER, seq))  # noqa: B023 - Phases.run calls it at once
        data = phases.run("preprocess (get_preprocessed_seq_data)",
                          lambda: dataset.get_preprocessed_seq_data(raw, "pedestrian"))  # noqa: B023 - Phases.run calls it at once
        res: dict[str, Any] = {}
        for metric in metrics:
            res.update(phases.run(metric.get_name(), lambda: metric.eval_sequence(data)))  # noqa: B023 - Phases.run calls it at once
        per_seq[seq] = res
    phases.run("combine", lambda: [m.combine_sequences(per_seq) for m in metrics])
    return phases.rounded()


def compare(ours: dict[str, Any], route: dict[str, Any]) -> tuple[float, str]:
    """(largest absolute difference, its field) over the fields both reports have."""
    worst, field = 0.0, ""
    for name in M.PERCENT_FIELDS + M.COUNT_FIELDS:
        if name in ours and name in route:
            diff = abs(float(ours[name]) - float(route[name]))
            if diff > worst or not field:
                worst, field = diff, name
    return worst, field


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="motip-bench-eval-"))
    try:
        start = time.perf_counter()
        if args.workdir and workdir.exists():
            shutil.rmtree(workdir)
        split, seqmap, tracker_dir = write_split(workdir, sequences=args.sequences, frames=args.frames,
                                                 objects=args.objects)
        write_s = time.perf_counter() - start
        tracker_root = tracker_dir.parent.parent
        out = workdir / "route_out"
        workers = args.workers or M.default_workers(read_split(split, seqmap), tracker_dir)
        load_before = os.getloadavg()[0]
        # Alternate the three, best of --repeat each: a shared machine's load changes between runs.
        ours_times, ours_1_times, route_times = [], [], []
        for _ in range(args.repeat):
            seconds, ours_metrics = ours_end_to_end(split, seqmap, tracker_dir, workers)
            ours_times.append(seconds)
            seconds, route_metrics = route_end_to_end(split, seqmap, tracker_root, out)
            route_times.append(seconds)
            seconds, ours_1_metrics = ours_end_to_end(split, seqmap, tracker_dir, 1)
            ours_1_times.append(seconds)
        ours_s, ours_1_s, route_s = min(ours_times), min(ours_1_times), min(route_times)
        diff, field = max(compare(ours_metrics, route_metrics), compare(ours_1_metrics, route_metrics))
        result: dict[str, Any] = {
            "sequences": args.sequences, "frames": args.frames, "objects": args.objects,
            "gt_rows": sum(len(read_gt(s.path)) for s in read_split(split, seqmap)),
            "write_s": round(write_s, 2), "cpus": M.available_cpus(), "workers": workers,
            "ours_s": round(ours_s, 3), "route_s": round(route_s, 3), "ratio": round(ours_s / route_s, 3),
            "ours_1worker_s": round(ours_1_s, 3), "ratio_1worker": round(ours_1_s / route_s, 3),
            "ours_runs_s": [round(t, 3) for t in ours_times], "route_runs_s": [round(t, 3) for t in route_times],
            "ours_1worker_runs_s": [round(t, 3) for t in ours_1_times],
            "max_abs_diff": diff, "max_abs_diff_field": field,
            "HOTA": round(ours_metrics["HOTA"], 3), "MOTA": round(ours_metrics["MOTA"], 3),
            "IDF1": round(ours_metrics["IDF1"], 3),
        }
        if not args.no_phases:
            result["ours_phases_s"] = ours_phases(split, seqmap, tracker_dir)
            result["route_phases_s"] = route_phases(split, seqmap, tracker_root, out)
        result["load_avg"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        return result
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=20)
    parser.add_argument("--frames", type=int, default=1000, help="frames per sequence")
    parser.add_argument("--objects", type=int, default=30, help="tracks alive per frame")
    parser.add_argument("--workdir", default=None, help="where the split is written (replaced; default a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the written files")
    parser.add_argument("--repeat", type=int, default=2, help="end-to-end runs of each, alternating; the best counts")
    parser.add_argument("--workers", type=int, default=None,
                        help="our worker processes (default: what motip eval picks, see default_workers)")
    parser.add_argument("--no-phases", action="store_true", help="only the end-to-end times")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    args = parser.parse_args(argv)
    result = run(args)
    for key, value in result.items():
        print(f"{key:>18}: {value}")
    print(f"target: ratio <= 0.5 ({'met' if result['ratio'] <= 0.5 else 'NOT met'}); same numbers: "
          f"{'yes' if result['max_abs_diff'] < 1e-6 else 'NO'}")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
