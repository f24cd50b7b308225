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
  * samples/s: clips the workers made per second of wall time while the main process took ``--samples`` clips
    (after ``--warmup`` clips and a full queue);
  * CPU seconds per clip: user+sys CPU of the main process and all workers, divided by the clips the workers made;
  * the decode floor: CPU seconds of plain full-size ``cv2.imread`` of the same frames, for ``--floor-samples``
    of the clips received, timed in the main process during the run (same machine load; taken out of the
    pipeline's CPU); ``ratio`` = CPU per clip / floor (target <= 1.5);
  * host memory: the sum of PSS (proportional set size: shared pages split between the processes that map them)
    of the main process and its workers after the warm-up, every 25 clips, and after the last clip (target <= 4 GB,
    growth from the first to the last reading < 10%). The first and the last reading wait until the workers have
    made every clip the loader asked for (NUM_WORKERS x PREFETCH_FACTOR made, not yet taken: the most the pipeline
    holds), so both see the queue in the same state (``queue_full_at_first_last_reading``). With each reading: the
    finished clips the DataLoader held (``buffered_clips_series``: it delivers clips in order, so up to NUM_WORKERS x
    PREFETCH_FACTOR wait there), the clips made but not yet taken (``in_flight_clips_series``; each holds its pixels
    and mask in shared memory, ``clip_mb`` for the first clip), and PSS less their bytes (``pss_gb_baseline_series``):
    a leak grows the baseline, a backlog only the in-flight count.
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


class CountedCollate:
    """``collate_clips``, counting in shared memory the batches the workers finished (the workers' CPU is divided by
    this count) and their bytes (pixels and mask: what a batch waiting to be taken holds in shared memory)."""

    def __init__(self) -> None:
        self.counts = multiprocessing.Array("q", 2)  # batches, bytes; one lock for both

    def __call__(self, batch: list[Any]) -> dict[str, Any]:
        out = collate_clips(batch)
        with self.counts.get_lock():
            self.counts[0] += 1
            self.counts[1] += batch_bytes(out)
        return out

    def made(self) -> tuple[int, int]:
        """(batches, bytes) finished so far."""
        with self.counts.get_lock():
            return self.counts[0], self.counts[1]


def batch_bytes(batch: dict[str, Any]) -> int:
    return batch["images"].tensors.nbytes + batch["images"].mask.nbytes


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


def wait_for_full_queue(counted: CountedCollate, taken: int, bound: int, timeout: float) -> bool:
    """Wait until the workers have made every clip the loader asked for (``bound`` made but not yet taken, past the
    ``taken`` clips); False when ``timeout`` seconds pass first."""
    deadline = time.perf_counter() + timeout
    while counted.made()[0] - taken < bound:
        if time.perf_counter() > deadline:
            return False
        time.sleep(0.1)
    return True


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
    counted = CountedCollate()
    loader = DataLoader(dataset, sampler=sampler, batch_size=1, num_workers=workers, prefetch_factor=prefetch,
                        collate_fn=counted, pin_memory=False, worker_init_fn=_worker_init,
                        persistent_workers=False)
    main_cpu_start = _cpu_seconds([psutil.Process()])
    it = iter(loader)
    taken_bytes = 0
    for _ in range(args.warmup):  # workers started, their first clips made
        first = next(it)
        taken_bytes += batch_bytes(first)
    clip_shape = tuple(first["images"].tensors.shape)
    clip_bytes = batch_bytes(first)
    del first
    queue_bound = workers * (prefetch or 0)
    # The first and last memory readings are taken with every clip the loader has asked for made (the most it
    # holds: NUM_WORKERS x PREFETCH_FACTOR clips), so that growth between them is what the processes keep, not
    # how full the queue happens to be at either instant.
    filled = [wait_for_full_queue(counted, args.warmup, queue_bound, args.fill_timeout)]

    def reading(taken: int) -> tuple[int, int, int]:
        """(PSS bytes, clips made but not yet taken, their bytes)."""
        made, made_bytes = counted.made()
        return pss_bytes(), made - taken, made_bytes - taken_bytes

    readings = [reading(args.warmup)]
    wall_start = time.perf_counter()
    made_start = counted.made()[0]
    # Clips made but not yet taken (in the workers' queue or the DataLoader's reorder buffer) hold their pixels in
    # shared memory, so the PSS sum moves with them (bounded by NUM_WORKERS x PREFETCH_FACTOR clips).
    buffered_series = [_buffered(it)]
    floor_cpu, floor_clips = 0.0, 0
    every = max(args.samples // max(args.floor_samples, 1), 1)
    for n, batch in enumerate(it, 1):
        taken_bytes += batch_bytes(batch)
        if n % every == 0 and floor_clips < args.floor_samples:
            # The floor is timed here, interleaved with the run, so it sees the same machine load as the pipeline;
            # this CPU is taken out of the main process's below.
            floor_cpu += decode_floor(dataset, batch["metas"][0])
            floor_clips += 1
        if n % 25 == 0:
            readings.append(reading(args.warmup + n))
            buffered_series.append(_buffered(it))
        del batch
        if n == args.samples:
            break
    wall = time.perf_counter() - wall_start
    # All CPU of the (fresh) workers plus the main process's since it started them, read before the workers exit,
    # over the clips finished so far (the few half-made ones at that instant are within a percent at 500 clips).
    cpu = _cpu_seconds(_processes()) - main_cpu_start - floor_cpu
    clips_done = counted.made()[0]
    made_timed = clips_done - made_start
    filled.append(wait_for_full_queue(counted, args.warmup + args.samples, queue_bound, args.fill_timeout))
    readings.append(reading(args.warmup + args.samples))
    buffered_series.append(_buffered(it))
    del it
    pss_series = [r[0] for r in readings]
    pss_start, pss_end = pss_series[0], pss_series[-1]
    floor = floor_cpu / max(floor_clips, 1)
    cpu_per = cpu / max(clips_done, 1)
    result = {
        "samples": args.samples, "clips_made": clips_done, "workers": workers, "prefetch_factor": prefetch,
        "frames": args.frames, "size": f"{args.width}x{args.height}", "objects_per_frame": args.objects,
        "clip_length": cfg["SAMPLE_LENGTHS"][0], "config": args.config, "first_clip_shape": list(clip_shape),
        "build_s": round(build_s, 1),
        "samples_per_s": round(made_timed / wall, 3),
        "cpu_s_per_sample": round(cpu_per, 4),
        "decode_floor_s_per_sample": round(floor, 4),
        "ratio": round(cpu_per / floor, 3),
        "pss_gb_start": round(pss_start / 1e9, 3),
        "pss_gb_end": round(pss_end / 1e9, 3),
        "pss_gb_peak": round(max(pss_series) / 1e9, 3),
        "pss_gb_series": [round(v / 1e9, 3) for v in pss_series],
        "buffered_clips_series": buffered_series,
        "in_flight_clips_series": [r[1] for r in readings],
        "clip_mb": round(clip_bytes / 1e6, 1),
        # PSS less the in-flight clips' pixels and masks: what the processes hold besides the clips waiting there.
        "pss_gb_baseline_series": [round((p - b) / 1e9, 3) for p, _, b in readings],
        "pss_growth": round(pss_end / pss_start - 1, 4),
        "queue_full_at_first_last_reading": filled,
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
    parser.add_argument("--fill-timeout", type=float, default=600.0,
                        help="seconds to wait for a full queue before the first and the last memory reading")
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
