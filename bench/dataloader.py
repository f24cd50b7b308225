"""Benchmark the training data pipeline: throughput, CPU per clip against the JPEG-decode floor, host memory.

    .venv/bin/python bench/dataloader.py [--frames 30000] [--samples 500] [--workers 4] [--json]
    .venv/bin/python bench/dataloader.py --frames 3000 --samples 60 --json      # what fits a small box

Writes a synthetic BUILT dataset (the layout `motip build` writes: ``<split>/<seq>/img1/%08d.jpg``, ``gt/gt.txt``,
``gt/ignore.txt``, ``seqinfo.ini``) of ``--frames`` train frames at ``--width`` x ``--height`` with ``--objects``
tracked objects per frame (DanceTrack-like), then feeds it through the trainer's pipeline: ``BuiltDataset`` +
``ClipTransform`` (the config's augmentation settings, Stage 1 by default) + ``ClipSampler`` (SAMPLE_LENGTHS: 30-frame
clips) + ``collate_clips`` in a ``DataLoader`` with NUM_WORKERS workers and PREFETCH_FACTOR, as the trainer builds it.

Each sequence holds ``--unique-images`` distinct JPEGs; its other frames are hard links to them, so the build takes
little disk and time at the user's scale while every frame is still a real file decoded in full (page-cache effects of
a real 30,000-frame set are not reproduced: this measures CPU and memory, not disk).

Figures, in one run:
  * samples/s through the DataLoader (wall time of ``--samples`` clips after ``--warmup`` clips);
  * CPU seconds per clip: user+sys CPU of the main process and all workers, divided by the clips the workers made;
  * the decode floor: CPU seconds of plain full-size ``cv2.imread`` of the same frames, for ``--floor-samples``
    of the clips received, timed in the main process during the run (same machine load; taken out of the
    pipeline's CPU); ``ratio`` = CPU per clip / floor (target <= 1.5);
  * host memory: the sum of PSS (proportional set size: shared pages split between the processes that map them)
    of the main process and its workers after the warm-up, every 25 clips, and after the last clip (target <= 4 GB,
    growth from the first to the last reading < 10%), with the finished clips the DataLoader held at each reading
    (``buffered_clips_series``: it delivers clips in order, so up to NUM_WORKERS x PREFETCH_FACTOR wait there), the
    clips made but not yet taken (``in_flight_clips_series``; each holds ``clip_mb`` of shared memory), and PSS less
    those (``pss_gb_baseline_series``): a leak grows the baseline, a backlog only the in-flight count.
No assertions; docs/performance.md holds the targets and the measured figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import psutil
import torch
from torch.utils.data import DataLoader

from motip.config import load_config
from motip.data.augment import ClipTransform, collate_clips
from motip.data.dataset import BuiltDataset
from motip.data.sampler import ClipSampler

DATASET, SPLIT = "Bench", "train"


def _background(rng: np.random.Generator, width: int, height: int, noise: np.ndarray) -> np.ndarray:
    """A smooth colour field plus fine noise (a rolled copy of the sequence's noise field): a JPEG about as costly
    to decode as a real 1080p video frame, cheap to make."""
    coarse = rng.integers(40, 220, size=(9, 16, 3), dtype=np.uint8)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    shifted = np.roll(noise, (int(rng.integers(0, height)), int(rng.integers(0, width))), axis=(0, 1))
    return np.clip(image + shifted, 0, 255).astype(np.uint8)


def write_sequence(split_dir: Path, name: str, *, length: int, width: int, height: int, objects: int,
                   unique_images: int, seed: int, with_ignore: bool) -> None:
    """One sequence: ``objects`` tracks moving linearly (ids renewed when they leave), gt.txt, an optional ignore
    region, seqinfo.ini, and ``length`` frames of which ``unique_images`` are distinct JPEGs (others hard links)."""
    rng = np.random.default_rng(seed)
    seq = split_dir / name
    (seq / "img1").mkdir(parents=True, exist_ok=True)
    (seq / "gt").mkdir(exist_ok=True)
    (seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname={name}\nimDir=img1\nframeRate=20\nseqLength={length}\nimWidth={width}\n"
        f"imHeight={height}\nimExt=.jpg\n", encoding="utf-8")
    # Tracks: size, start, velocity; a track that leaves the frame is replaced by a new id.
    sizes = np.stack([rng.uniform(0.04, 0.10, objects) * width, rng.uniform(0.2, 0.45, objects) * height], 1)
    pos = np.stack([rng.uniform(0, width, objects), rng.uniform(0, height * 0.6, objects)], 1)
    vel = rng.normal(0, 3, size=(objects, 2))
    ids = np.arange(1, objects + 1)
    next_id = objects + 1
    lines: list[str] = []
    boxes_by_frame: list[np.ndarray] = []
    for frame in range(1, length + 1):
        pos += vel
        out = (pos[:, 0] < -sizes[:, 0]) | (pos[:, 0] > width) | (pos[:, 1] < -sizes[:, 1]) | (pos[:, 1] > height)
        for i in np.nonzero(out)[0]:
            pos[i] = rng.uniform(0, width), rng.uniform(0, height * 0.6)
            ids[i] = next_id
            next_id += 1
        x0 = np.clip(pos[:, 0], 0, width - 2)
        y0 = np.clip(pos[:, 1], 0, height - 2)
        w = np.minimum(pos[:, 0] + sizes[:, 0], width) - x0
        h = np.minimum(pos[:, 1] + sizes[:, 1], height) - y0
        boxes = np.stack([x0, y0, w, h], 1)
        boxes_by_frame.append(boxes)
        for i in range(objects):
            cls = 1 if i % 3 else 2
            lines.append(f"{frame},{ids[i]},{x0[i]:.2f},{y0[i]:.2f},{w[i]:.2f},{h[i]:.2f},1,{cls},1\n")
    (seq / "gt" / "gt.txt").write_text("".join(lines), encoding="utf-8")
    if with_ignore:
        x, y = width * 0.8, height * 0.05
        (seq / "gt" / "ignore.txt").write_text(
            "".join(f"{f},-1,{x:.1f},{y:.1f},{width * 0.15:.1f},{height * 0.1:.1f},0,-1,-1\n"
                    for f in range(1, length + 1)), encoding="utf-8")
    pool = []
    noise = rng.normal(0, 7, size=(height, width, 3)).astype(np.int16)
    for k in range(min(unique_images, length)):
        image = _background(rng, width, height, noise)
        for (bx, by, bw, bh), colour in zip(boxes_by_frame[k], rng.integers(0, 255, size=(objects, 3))):
            cv2.rectangle(image, (int(bx), int(by)), (int(bx + bw), int(by + bh)), colour.tolist(), -1)
        path = seq / "img1" / f"{k + 1:08d}.jpg"
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        pool.append(path)
    for frame in range(len(pool) + 1, length + 1):
        os.link(pool[(frame - 1) % len(pool)], seq / "img1" / f"{frame:08d}.jpg")


def write_dataset(root: Path, *, frames: int, frames_per_sequence: int, width: int, height: int, objects: int,
                  unique_images: int, seed: int = 0) -> Path:
    """The synthetic built dataset under ``root`` (DATA_ROOT); reused when its marker says it has this shape."""
    shape = {"frames": frames, "frames_per_sequence": frames_per_sequence, "width": width, "height": height,
             "objects": objects, "unique_images": unique_images, "seed": seed}
    marker = root / "bench_dataset.json"
    if marker.is_file() and json.loads(marker.read_text()) == shape:
        return root
    shutil.rmtree(root / DATASET, ignore_errors=True)
    split_dir = root / DATASET / SPLIT
    split_dir.mkdir(parents=True)
    n_seq = max(1, -(-frames // frames_per_sequence))
    for s in range(n_seq):
        length = min(frames_per_sequence, frames - s * frames_per_sequence)
        write_sequence(split_dir, f"bench{s:04d}", length=length, width=width, height=height, objects=objects,
                       unique_images=unique_images, seed=seed * 100003 + s, with_ignore=s % 3 == 0)
    marker.write_text(json.dumps(shape), encoding="utf-8")
    return root


class CountedDataset(torch.utils.data.Dataset):
    """The dataset, counting finished clips in shared memory (the workers' CPU is divided by this count)."""

    def __init__(self, dataset: BuiltDataset) -> None:
        self.dataset = dataset
        self.done = multiprocessing.Value("q", 0)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: dict[str, Any]):
        result = self.dataset[item]
        with self.done.get_lock():
            self.done.value += 1
        return result


def _worker_init(worker_id: int) -> None:  # the trainer's worker seeding
    seed = torch.initial_seed() % (2 ** 32)
    random.seed(seed)
    np.random.seed(seed)


def _processes() -> list[psutil.Process]:
    me = psutil.Process()
    return [me] + me.children(recursive=True)


def _cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _buffered(it: Any) -> int | None:
    """Finished clips the DataLoader holds for ordered delivery (a private field; None if torch renamed it): up to
    NUM_WORKERS x PREFETCH_FACTOR clips wait there when one worker is behind the others."""
    task_info = getattr(it, "_task_info", None)
    if not isinstance(task_info, dict):
        return None
    return sum(1 for info in task_info.values() if len(info) == 2)


def pss_bytes() -> int:
    """Sum of PSS of this process and its children (bytes)."""
    total = 0
    for p in _processes():
        try:
            total += p.memory_full_info().pss
        except psutil.Error:
            pass
    return total


def decode_floor(dataset: BuiltDataset, metas: list[dict[str, Any]]) -> float:
    """CPU seconds of plain full-size ``cv2.imread`` of a clip's frames (one thread, this process)."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        start = time.process_time()
        for meta in metas:
            info = dataset.sequences[(meta["dataset"], meta["split"], meta["sequence"])]
            path = info.image_paths[meta["frame_idx"]]
            if cv2.imread(str(path), cv2.IMREAD_COLOR) is None:
                raise RuntimeError(f"cannot read {path}")
        return time.process_time() - start
    finally:
        cv2.setNumThreads(threads)


def run(args: argparse.Namespace) -> dict[str, Any]:
    cfg = dict(load_config(args.config))
    workers = cfg["NUM_WORKERS"] if args.workers is None else args.workers
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="motip-bench-data-"))
    t0 = time.perf_counter()
    write_dataset(workdir, frames=args.frames, frames_per_sequence=args.frames_per_sequence, width=args.width,
                  height=args.height, objects=args.objects, unique_images=args.unique_images)
    build_s = time.perf_counter() - t0
    torch.manual_seed(int(cfg.get("SEED", 42)))
    dataset = BuiltDataset(workdir, [DATASET], [SPLIT], int(cfg["NUM_CLASSES"]), ClipTransform(cfg))
    sampler = ClipSampler(dataset, cfg["SAMPLE_STEPS"], cfg["SAMPLE_LENGTHS"], cfg["SAMPLE_INTERVALS"],
                          seed=int(cfg.get("SEED", 42)))
    sampler.prepare_for_epoch(0)
    prefetch = int(cfg["PREFETCH_FACTOR"]) if workers > 0 else None
    # Enough clips that the workers' queues stay as full at the end as during the run (memory read at the end).
    wanted = args.warmup + args.samples + workers * (prefetch or 0)
    if len(sampler) < wanted:
        raise SystemExit(f"only {len(sampler)} clips in the dataset, {wanted} needed; "
                         "lower --samples or raise --frames")
    sampler.items = sampler.items[:wanted]
    counted = CountedDataset(dataset)
    loader = DataLoader(counted, sampler=sampler, batch_size=1, num_workers=workers, prefetch_factor=prefetch,
                        collate_fn=collate_clips, pin_memory=False, worker_init_fn=_worker_init,
                        persistent_workers=False)
    main_cpu_start = _cpu_seconds([psutil.Process()])
    it = iter(loader)
    for _ in range(args.warmup):  # workers started, their first clips made
        first = next(it)
    clip_shape = tuple(first["images"].tensors.shape)
    clip_bytes = first["images"].tensors.nbytes + first["images"].mask.nbytes
    del first
    pss_start = pss_bytes()
    wall_start = time.perf_counter()
    pss_series = [pss_start]
    buffered_series = [_buffered(it)]
    # Clips made but not yet taken (in the workers' queue or the DataLoader's reorder buffer): each holds its pixels
    # in shared memory, so the PSS sum moves with this count (bounded by NUM_WORKERS x PREFETCH_FACTOR).
    in_flight_series = [counted.done.value - args.warmup]
    floor_cpu, floor_clips = 0.0, 0
    every = max(args.samples // max(args.floor_samples, 1), 1)
    for n, batch in enumerate(it, 1):
        if n % every == 0 and floor_clips < args.floor_samples:
            # The floor is timed here, interleaved with the run, so it sees the same machine load as the pipeline;
            # this CPU is taken out of the main process's below.
            floor_cpu += decode_floor(dataset, batch["metas"][0])
            floor_clips += 1
        if n % 25 == 0:
            pss_series.append(pss_bytes())
            buffered_series.append(_buffered(it))
            in_flight_series.append(counted.done.value - args.warmup - n)
        del batch
        if n == args.samples:
            break
    wall = time.perf_counter() - wall_start
    # All CPU of the (fresh) workers plus the main process's since it started them, read before the workers exit,
    # over the clips finished so far (the few half-made ones at that instant are within a percent at 500 clips).
    cpu = _cpu_seconds(_processes()) - main_cpu_start - floor_cpu
    clips_done = counted.done.value
    pss_end = pss_bytes()
    pss_series.append(pss_end)
    buffered_series.append(_buffered(it))
    in_flight_series.append(counted.done.value - args.warmup - args.samples)
    del it
    floor = floor_cpu / max(floor_clips, 1)
    cpu_per = cpu / max(clips_done, 1)
    result = {
        "samples": args.samples, "clips_made": clips_done, "workers": workers, "prefetch_factor": prefetch,
        "frames": args.frames, "size": f"{args.width}x{args.height}", "objects_per_frame": args.objects,
        "clip_length": cfg["SAMPLE_LENGTHS"][0], "config": args.config, "first_clip_shape": list(clip_shape),
        "build_s": round(build_s, 1),
        "samples_per_s": round(args.samples / wall, 3),
        "cpu_s_per_sample": round(cpu_per, 4),
        "decode_floor_s_per_sample": round(floor, 4),
        "ratio": round(cpu_per / floor, 3),
        "pss_gb_start": round(pss_start / 1e9, 3),
        "pss_gb_end": round(pss_end / 1e9, 3),
        "pss_gb_peak": round(max(pss_series) / 1e9, 3),
        "pss_gb_series": [round(v / 1e9, 3) for v in pss_series],
        "buffered_clips_series": buffered_series,
        "in_flight_clips_series": in_flight_series,
        "clip_mb": round(clip_bytes / 1e6, 1),
        # PSS less the in-flight clips' pixels: what the processes hold besides the clips waiting to be taken.
        "pss_gb_baseline_series": [round((p - k * clip_bytes) / 1e9, 3) for p, k in zip(pss_series, in_flight_series)],
        "pss_growth": round(pss_end / pss_start - 1, 4),
        "cpu_count": os.cpu_count(),
    }
    if not args.workdir and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(Path(__file__).resolve().parent.parent / "configs" /
                                                "stage1_universal_foundation.yaml"),
                        help="augmentation, sampling, NUM_WORKERS and PREFETCH_FACTOR come from here")
    parser.add_argument("--frames", type=int, default=30000, help="train frames to build (the user's: 30000)")
    parser.add_argument("--frames-per-sequence", type=int, default=1000)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--objects", type=int, default=12, help="tracked objects per frame")
    parser.add_argument("--unique-images", type=int, default=12, help="distinct JPEGs per sequence")
    parser.add_argument("--samples", type=int, default=500, help="clips to time (after the first)")
    parser.add_argument("--warmup", type=int, default=8,
                        help="clips taken before the clock and the first memory reading start (>= 1)")
    parser.add_argument("--floor-samples", type=int, default=20, help="clips whose frames time the decode floor")
    parser.add_argument("--workers", type=int, default=None, help="default: the config's NUM_WORKERS")
    parser.add_argument("--workdir", default=None, help="where the dataset is written (reused when it matches)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary dataset")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    args = parser.parse_args(argv)
    if args.warmup < 1 or args.samples < 1:
        parser.error("--warmup and --samples must be at least 1")
    result = run(args)
    for key, value in result.items():
        print(f"{key:>26}: {value}")
    print(f"targets: ratio <= 1.5 ({'met' if result['ratio'] <= 1.5 else 'NOT met'}), PSS <= 4 GB "
          f"({'met' if result['pss_gb_peak'] <= 4 else 'NOT met'}), growth < 10% "
          f"({'met' if result['pss_growth'] < 0.10 else 'NOT met'})")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
