"""HOTA / CLEAR (MOTA) / Identity (IDF1) per class with TrackEval's metric classes, on data we prepare ourselves.

Why not TrackEval's MotChallenge2DBox dataset: it treats class 2 as a "person on vehicle" distractor and silently
deletes tracker boxes matched to it, so vehicles could never be scored. We read the files (``motip.data.mot_files``),
build TrackEval's per-sequence data dicts per class, and call the ``HOTA``, ``CLEAR`` and ``Identity`` metric classes.

Per class ``c``, per frame (the MOTChallenge preprocessing, with ignore boxes in the role of distractors):

1. tracker boxes of class ``c`` are matched (Hungarian, IoU >= 0.5) against every GT row of the frame (all classes,
   conf 0 rows too) plus the ignore boxes (``gt/ignore.txt``); tracker boxes matched to an ignore box are removed;
2. tracker boxes still unmatched that lie at least ``ignore_cover`` (default 0.5) of their area inside one ignore box
   are removed too (large ignore regions, e.g. VisDrone's, that no box matches by IoU);
3. GT = rows of class ``c`` with conf != 0. Ignore boxes are never GT.

Top-level metrics are the plain mean over the evaluated classes (TrackEval's "class averaged" combination, counts
summed), so with one class they equal that class's. All ratios are reported in percent (0-100).

Memory guard: TrackEval's Identity builds (gt ids + tracker ids)^2 dense matrices, which an early-epoch model that
gives every box a new id turns into hundreds of GB. Above ``max_dense_bytes`` we compute the same optimum exactly from
sparse counts (a min-weight bipartite matching on the non-zero gt/tracker co-occurrences). HOTA's gt x tracker
matrices are made smaller by folding tracker ids that never overlap any GT into one (exact); if still too big we
refuse with a clear message.

Speed: per sequence, the IoU matrices of all frames of one shape are computed at once (``frame_ious``, TrackEval's
arithmetic element by element) and the per-frame ignore matching runs only in frames that have ignore boxes. Large
splits are scored in worker processes (``default_workers``: on Linux, min(CPUs, sequences, 8) when the GT and tracker
files hold >= 4 MB; this process scores too); the report is the same as from one process.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import math
import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from motip.data.mot_files import GT_FILE, MotBoxes, Sequence, read_gt, read_ignore, read_split, read_tracker_file
from motip.errors import DataError, MotipError
from motip.eval import IGNORE_COVER, MAX_DENSE_BYTES
from motip.records import METRICS_FILE, MetricsReport

DEFAULT_CLASSES: dict[str, int] = {"pedestrian": 1}
MATCH_IOU = 0.5
EPS = np.finfo("float").eps
DEFAULT_MAX_DENSE_BYTES = MAX_DENSE_BYTES

# Reported fields: ratios (x100, percent) and counts, in the order tables print them.
PERCENT_FIELDS = ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA", "OWTA", "HOTA(0)", "LocA(0)",
                  "HOTALocA(0)", "MOTA", "MOTP", "MODA", "CLR_Re", "CLR_Pr", "MTR", "PTR", "MLR", "sMOTA", "CLR_F1",
                  "MOTAL", "IDF1", "IDR", "IDP")
COUNT_FIELDS = ("IDSW", "CLR_TP", "CLR_FN", "CLR_FP", "MT", "PT", "ML", "Frag", "IDTP", "IDFN", "IDFP",
                "CLR_Frames", "GT_Dets", "GT_IDs", "Dets", "IDs")
OTHER_FIELDS = ("FP_per_frame",)
def _metric_classes() -> tuple[Any, Any, Any]:
    from trackeval.metrics import CLEAR, HOTA, Identity  # heavy-ish import, kept local

    quiet = {"PRINT_CONFIG": False}
    return HOTA(quiet), CLEAR({**quiet, "THRESHOLD": MATCH_IOU}), Identity({**quiet, "THRESHOLD": MATCH_IOU})


def box_ious(boxes1: np.ndarray, boxes2: np.ndarray, *, ioa: bool = False) -> np.ndarray:
    """IoU (or intersection over the area of ``boxes1`` when ``ioa``) of xywh boxes, TrackEval's own function."""
    from trackeval.datasets._base_dataset import _BaseDataset

    if len(boxes1) == 0 or len(boxes2) == 0:
        return np.zeros((len(boxes1), len(boxes2)))
    return _BaseDataset._calculate_box_ious(boxes1, boxes2, box_format="xywh", do_ioa=ioa)


# ----------------------------------------------------------------------------------------------- per-sequence data

@dataclass
class ClassData:
    """TrackEval's per-sequence, per-class data dict plus what our preprocessing removed."""

    data: dict[str, Any]
    ignored_tracker_boxes: int = 0
    tracker_id_values: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def _check_unique_ids(boxes: MotBoxes, what: str) -> None:
    """TrackEval refuses an id twice in one frame; so do we, naming the line."""
    if len(boxes) == 0:
        return
    keys = boxes.frame * (1 << 32) + (boxes.id - boxes.id.min())
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = first[np.argmax(counts > 1)]
        duplicates = np.nonzero(keys == keys[dup])[0]
        raise DataError(f"{what} id {boxes.id[dup]} appears {len(duplicates)} times in frame {boxes.frame[dup]} "
                        f"(lines {', '.join(str(boxes.line[i]) for i in duplicates[:5])})",
                        path=boxes.source, line=int(boxes.line[duplicates[-1]]),
                        hint="each id may have one box per frame")


def _check_frames(boxes: MotBoxes, seq: Sequence, what: str) -> None:
    bad = np.nonzero(boxes.frame > seq.length)[0]
    if len(bad):
        i = bad[0]
        raise DataError(f"{what} frame {boxes.frame[i]} is beyond the sequence's {seq.length} frames "
                        f"(seqinfo.ini seqLength of {seq.path})", path=boxes.source, line=int(boxes.line[i]),
                        hint="tracker files must be made for this split's sequences")


def _frame_order(boxes: MotBoxes, length: int, rows: np.ndarray | None = None) -> tuple[MotBoxes, np.ndarray]:
    """(the rows of frames 1..length (of ``rows``, a bool mask, when given), in frame order and file order within a
    frame, as ``boxes_by_frame`` gives them; the number of rows per frame, index 0 for frame 1)."""
    keep = (boxes.frame >= 1) & (boxes.frame <= length)
    if rows is not None:
        keep &= rows
    index = np.flatnonzero(keep)
    frames = boxes.frame[index]
    if len(frames) > 1 and (frames[1:] < frames[:-1]).any():        # files are usually in frame order already
        order = np.argsort(frames, kind="stable")
        index, frames = index[order], frames[order]
    return boxes.select(index), np.bincount(frames - 1, minlength=length)


def _split_rows(values: np.ndarray, per_frame: np.ndarray) -> list[np.ndarray]:
    """``values`` (frame-ordered rows) cut into one array per frame."""
    ends = np.cumsum(per_frame).tolist()
    return [values[end - n:end] for end, n in zip(ends, per_frame.tolist(), strict=True)]


def _kept_tracker_rows(seq: Sequence, gt: MotBoxes, ignore: MotBoxes, tracker: MotBoxes,
                       ignore_cover: float | None) -> np.ndarray:
    """Which rows of ``tracker`` (one class, frame-ordered as ``_frame_order`` gives them) survive steps 1-2 of the
    module docstring. Only frames with ignore boxes can lose a row: elsewhere no tracker box can match an ignore box."""
    keep = np.ones(len(tracker), dtype=bool)
    if len(ignore) == 0 or len(tracker) == 0:
        return keep
    tracker_start = np.concatenate([[0], np.cumsum(np.bincount(tracker.frame - 1, minlength=seq.length))])
    gt_frames = gt.boxes_by_frame()
    none = MotBoxes.empty()
    for t, ig in ignore.boxes_by_frame().items():
        if t > seq.length or tracker_start[t] == tracker_start[t - 1]:
            continue
        rows = np.arange(tracker_start[t - 1], tracker_start[t])
        g, tr = gt_frames.get(t, none), tracker.select(rows)
        keep_tr = np.ones(len(tr), dtype=bool)
        candidates = np.concatenate([g.xywh, ig.xywh])               # all GT rows + ignore boxes of the frame
        scores = box_ious(candidates, tr.xywh)
        scores[scores < MATCH_IOU - EPS] = 0
        match_rows, match_cols = linear_sum_assignment(-scores)
        matched = scores[match_rows, match_cols] > EPS
        match_rows, match_cols = match_rows[matched], match_cols[matched]
        keep_tr[match_cols[match_rows >= len(g)]] = False             # matched to an ignore box
        if ignore_cover is not None:
            unmatched = np.setdiff1d(np.arange(len(tr)), match_cols)
            if len(unmatched):
                cover = box_ious(tr.xywh[unmatched], ig.xywh, ioa=True).max(axis=1)
                keep_tr[unmatched[cover >= ignore_cover - EPS]] = False
        keep[rows] = keep_tr
    return keep


def _corners(xywh: np.ndarray) -> tuple[np.ndarray, ...]:
    """x0, y0, x1, y1 and area of xywh boxes, computed as ``_calculate_box_ious`` computes them."""
    x0, y0 = xywh[:, 0], xywh[:, 1]
    x1, y1 = x0 + xywh[:, 2], y0 + xywh[:, 3]
    return x0, y0, x1, y1, (x1 - x0) * (y1 - y0)


def frame_ious(gt: MotBoxes, gt_per_frame: np.ndarray, tracker: MotBoxes,
               tracker_per_frame: np.ndarray) -> list[np.ndarray]:
    """Per frame, the IoU matrix of its GT rows x its tracker rows (both frame-ordered, ``*_per_frame`` rows per
    frame): ``box_ious`` of each frame, computed at once for all frames of the same matrix shape.

    The same arithmetic as TrackEval's ``_calculate_box_ious``, element by element, so the same doubles."""
    out: list[np.ndarray] = [np.zeros((0, 0))] * len(gt_per_frame)
    gt_corners, tracker_corners = _corners(gt.xywh), _corners(tracker.xywh)
    gt_start = np.cumsum(gt_per_frame) - gt_per_frame
    tracker_start = np.cumsum(tracker_per_frame) - tracker_per_frame
    shape = gt_per_frame * (int(tracker_per_frame.max(initial=0)) + 1) + tracker_per_frame
    order = np.argsort(shape, kind="stable")
    for frames in np.split(order, np.flatnonzero(np.diff(shape[order])) + 1):
        rows, cols = int(gt_per_frame[frames[0]]), int(tracker_per_frame[frames[0]])
        if rows == 0 or cols == 0:
            for t in frames.tolist():
                out[t] = np.zeros((rows, cols))
            continue
        # (frames, rows, 1) GT values against (frames, 1, cols) tracker values
        x0g, y0g, x1g, y1g, area_g = (c[(gt_start[frames][:, None] + np.arange(rows))][:, :, None]
                                      for c in gt_corners)
        x0t, y0t, x1t, y1t, area_t = (c[(tracker_start[frames][:, None] + np.arange(cols))][:, None, :]
                                      for c in tracker_corners)
        inter = np.maximum(np.minimum(x1g, x1t) - np.maximum(x0g, x0t), 0)
        inter *= np.maximum(np.minimum(y1g, y1t) - np.maximum(y0g, y0t), 0)
        union = area_g + area_t - inter
        for empty in (area_g <= 0 + EPS, area_t <= 0 + EPS):
            if empty.any():
                inter[np.broadcast_to(empty, inter.shape)] = 0
        degenerate = union <= 0 + EPS
        if degenerate.any():
            inter[degenerate] = 0
            union[degenerate] = 1
        for t, ious in zip(frames.tolist(), inter / union, strict=True):
            out[t] = ious
    return out


def build_class_data(seq: Sequence, gt: MotBoxes, ignore: MotBoxes, tracker: MotBoxes, cls_id: int, *,
                     ignore_cover: float | None = IGNORE_COVER) -> ClassData:
    """TrackEval's data dict for one sequence and one class (see the module docstring for the rules)."""
    tracker_c, tr_per_frame = _frame_order(tracker, seq.length, tracker.cls == cls_id)
    keep = _kept_tracker_rows(seq, gt, ignore, tracker_c, ignore_cover)
    tr = tracker_c
    if not keep.all():
        tr, tr_per_frame = _frame_order(tracker_c, seq.length, keep)
    g, gt_per_frame = _frame_order(gt, seq.length, (gt.cls == cls_id) & (gt.score != 0))
    # TrackEval wants ids 0..N-1 per sequence.
    gt_values, gt_index = np.unique(g.id, return_inverse=True)
    tr_values, tr_index = np.unique(tr.id, return_inverse=True)
    data = {
        "gt_ids": _split_rows(gt_index, gt_per_frame),
        "tracker_ids": _split_rows(tr_index, tr_per_frame),
        "similarity_scores": frame_ious(g, gt_per_frame, tr, tr_per_frame),
        "num_gt_dets": len(g),
        "num_tracker_dets": len(tr),
        "num_gt_ids": int(len(gt_values)),
        "num_tracker_ids": int(len(tr_values)),
        "num_timesteps": seq.length,
        "seq": seq.name,
    }
    return ClassData(data, int((~keep).sum()), tr_values)


# ----------------------------------------------------------------------------------------------- guarded metrics

def sparse_identity(data: dict[str, Any], threshold: float = MATCH_IOU) -> dict[str, int]:
    """IDTP/IDFN/IDFP with the optimum of TrackEval's Identity, without its dense (gt+tracker)^2 matrices.

    Identity's assignment cost is sum(gt dets) + sum(tracker dets) - 2 * sum of matched co-occurrence counts, so its
    optimum is a maximum-weight matching on the (sparse) gt x tracker co-occurrence counts. Every gt id gets a private
    "unmatched" column so a full matching of the gt side always exists.
    """
    num_gt_dets, num_tr_dets = data["num_gt_dets"], data["num_tracker_dets"]
    if num_tr_dets == 0 or num_gt_dets == 0:
        return {"IDTP": 0, "IDFN": num_gt_dets, "IDFP": num_tr_dets}
    pairs_g, pairs_t = [], []
    for gt_ids, tr_ids, sim in zip(data["gt_ids"], data["tracker_ids"], data["similarity_scores"], strict=True):
        g, t = np.nonzero(sim >= threshold)
        pairs_g.append(gt_ids[g])
        pairs_t.append(tr_ids[t])
    gi, ti = np.concatenate(pairs_g), np.concatenate(pairs_t)
    if len(gi) == 0:
        return {"IDTP": 0, "IDFN": num_gt_dets, "IDFP": num_tr_dets}
    cols, ti = np.unique(ti, return_inverse=True)                    # only tracker ids that co-occur with a gt id
    num_g, num_c = data["num_gt_ids"], len(cols)
    counts = sparse.coo_matrix((np.ones(len(gi)), (gi, ti)), shape=(num_g, num_c)).tocsr()
    counts.sum_duplicates()
    big = float(counts.max()) + 1.0                                   # costs big - count > 0; dummy = big
    coo = counts.tocoo()
    rows = np.concatenate([coo.row, np.arange(num_g)])
    colsi = np.concatenate([coo.col, num_c + np.arange(num_g)])
    weights = np.concatenate([big - coo.data, np.full(num_g, big)])
    graph = sparse.csr_matrix((weights, (rows, colsi)), shape=(num_g, num_c + num_g))
    row_ind, col_ind = min_weight_full_bipartite_matching(graph)
    real = col_ind < num_c
    idtp = int(round(counts[row_ind[real], col_ind[real]].sum()))
    return {"IDTP": idtp, "IDFN": num_gt_dets - idtp, "IDFP": num_tr_dets - idtp}


def _identity_dense_bytes(data: dict[str, Any]) -> int:
    n = data["num_gt_ids"] + data["num_tracker_ids"]
    return 3 * n * n * 8                                              # fp_mat, fn_mat and their sum


def _hota_dense_bytes(data: dict[str, Any]) -> int:
    return 23 * data["num_gt_ids"] * data["num_tracker_ids"] * 8     # ~19 alpha match counts + 4 helper matrices


def merge_non_overlapping_tracker_ids(data: dict[str, Any]) -> dict[str, Any]:
    """The same data with every tracker id that never overlaps (IoU > 0) any GT box folded into one shared id.

    Exact for HOTA, whose matrices are gt ids x tracker ids: such ids have zero alignment with every GT id, so the
    per-frame score matrices, matches and counts are unchanged; their boxes still count as false positives."""
    used = np.zeros(data["num_tracker_ids"], dtype=bool)
    for tr_ids, sim in zip(data["tracker_ids"], data["similarity_scores"], strict=True):
        if sim.size:
            used[tr_ids[(sim > 0).any(axis=0)]] = True
    num_used = int(used.sum())
    new_index = np.where(used, np.cumsum(used) - 1, num_used)       # never-overlapping ids -> id num_used
    out = dict(data)
    out["tracker_ids"] = [new_index[tr_ids] for tr_ids in data["tracker_ids"]]
    out["num_tracker_ids"] = num_used + 1
    return out


def evaluate_class_data(data: dict[str, Any], *, max_dense_bytes: int = DEFAULT_MAX_DENSE_BYTES,
                        metrics: tuple[Any, Any, Any] | None = None) -> dict[str, Any]:
    """HOTA + CLEAR + Identity raw results (TrackEval fields, fractions) for one sequence and class."""
    hota, clear, identity = metrics or _metric_classes()
    hota_data = data
    if _hota_dense_bytes(data) > max_dense_bytes:
        hota_data = merge_non_overlapping_tracker_ids(data)
        if _hota_dense_bytes(hota_data) > max_dense_bytes:
            need = _hota_dense_bytes(hota_data) / 2**30
            raise MotipError(
                f"sequence {data['seq']}: HOTA would need {need:.1f} GiB ({hota_data['num_gt_ids']} GT ids x "
                f"{hota_data['num_tracker_ids']} tracker ids overlapping GT), above the {max_dense_bytes / 2**30:.1f} "
                "GiB bound", hint="the tracker gives (almost) every box a new id; check ID_THRESH/MISS_TOLERANCE "
                "or raise max_dense_bytes (motip eval --max_dense_gib) if the machine has the memory")
    res: dict[str, Any] = {}
    res.update(hota.eval_sequence(hota_data))
    res.update(clear.eval_sequence(data))
    if _identity_dense_bytes(data) > max_dense_bytes:
        from trackeval.metrics import Identity

        res.update(Identity._compute_final_fields(sparse_identity(data)))
    else:
        res.update(identity.eval_sequence(data))
    return res


# ----------------------------------------------------------------------------------------- sequences, in parallel

MAX_WORKERS = 8
PARALLEL_MIN_BYTES = 4 << 20   # below ~4 MB of GT + tracker text (~1-2 s of work) worker start-up costs more


@dataclass(frozen=True)
class _SequenceTask:
    """What scoring one sequence needs (picklable, for a worker process)."""

    seq: Sequence
    tracker_path: Path
    classes: dict[str, int]
    ignore_cover: float | None
    max_dense_bytes: int


@dataclass
class _SequenceScores:
    """One sequence's TrackEval results and counts per class name."""

    raw: dict[str, dict[str, Any]]
    counts: dict[str, dict[str, int]]
    ignored: dict[str, int]
    tracker_boxes: int


@dataclass(frozen=True)
class _WorkerError:
    """A ``MotipError`` raised in a worker, carried back whole (an exception pickles only its text)."""

    kind: type
    message: str
    path: str | None
    line: int | None
    hint: str | None

    def error(self) -> MotipError:
        kind = self.kind if self.kind in (MotipError, DataError) else MotipError
        return kind(self.message, path=self.path, line=self.line, hint=self.hint)


def _score_sequence(task: _SequenceTask, metrics: tuple[Any, Any, Any] | None = None) -> _SequenceScores:
    """Read one sequence's GT, ignore and tracker files, check them and score every class."""
    seq = task.seq
    gt, ign = read_gt(seq.path), read_ignore(seq.path)
    tracker = (read_tracker_file(task.tracker_path) if task.tracker_path.is_file()
               else MotBoxes.empty(task.tracker_path))
    _check_frames(gt, seq, "gt")
    _check_frames(tracker, seq, "tracker")
    _check_unique_ids(gt, "gt")
    _check_unique_ids(tracker, "tracker")
    metrics = metrics or _metric_classes()
    scores = _SequenceScores({}, {}, {}, len(tracker))
    for name, cls_id in task.classes.items():
        prepared = build_class_data(seq, gt, ign, tracker, cls_id, ignore_cover=task.ignore_cover)
        scores.raw[name] = evaluate_class_data(prepared.data, max_dense_bytes=task.max_dense_bytes, metrics=metrics)
        scores.counts[name] = _count_fields(prepared.data)
        scores.ignored[name] = prepared.ignored_tracker_boxes
    return scores


def _score_sequence_in_worker(task: _SequenceTask) -> _SequenceScores | _WorkerError:
    try:
        return _score_sequence(task)
    except MotipError as err:
        return _WorkerError(type(err), err.message, err.path, err.line, err.hint)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                                            # macOS, Windows
        return os.cpu_count() or 1


def default_workers(sequences: list[Sequence], tracker_folder: Path) -> int:
    """Processes ``evaluate`` scores sequences in by default: min(available CPUs, sequences, ``MAX_WORKERS``) on
    Linux when the GT and tracker files hold at least ``PARALLEL_MIN_BYTES``; else 1 (this process only). A process
    that loaded torch (``motip eval --config`` tracked first; a trainer) is never forked: CUDA and torch's threads
    do not survive a fork safely."""
    if sys.platform != "linux" or "torch" in sys.modules:             # fork is Linux's (see _start_pool)
        return 1
    size = 0
    for seq in sequences:
        for path in (seq.path / GT_FILE, tracker_folder / f"{seq.name}.txt"):
            with contextlib.suppress(OSError):
                size += path.stat().st_size
    if size < PARALLEL_MIN_BYTES:
        return 1
    return max(1, min(available_cpus(), len(sequences), MAX_WORKERS))


def _score_sequences(tasks: list[_SequenceTask], workers: int, warnings: list[str],
                     on_done: Callable[[_SequenceTask], None]) -> list[_SequenceScores]:
    """Each task's scores (in task order), ``on_done`` called as each finishes.

    With ``workers`` > 1 this process scores sequences from the end of the list while ``workers - 1`` worker
    processes take them from the front. The first error in task order is raised, as one process would. A pool that
    cannot start or loses a worker (killed, e.g. out of memory) leaves its sequences to this process, with a
    warning."""
    results: list[_SequenceScores | None] = [None] * len(tasks)
    errors: dict[int, MotipError] = {}
    metrics = _metric_classes()

    def score_here(i: int) -> None:
        try:
            results[i] = _score_sequence(tasks[i], metrics)
            on_done(tasks[i])
        except MotipError as err:
            errors[i] = err

    def needed(i: int) -> bool:                                       # nothing after a failed sequence is
        return not errors or i < min(errors)

    helpers = min(workers, len(tasks)) - 1
    pool = _start_pool(helpers, warnings)
    front, back = 0, len(tasks) - 1                                   # tasks front..back are not started
    in_flight: dict[Future, int] = {}
    try:
        while True:
            # each worker: one sequence running, one queued
            while pool is not None and len(in_flight) < 2 * helpers and front <= back and needed(front):
                in_flight[pool.submit(_score_sequence_in_worker, tasks[front])] = front
                front += 1
            finished = [future for future in in_flight if future.done()]
            if not finished and front <= back:
                if needed(back):
                    score_here(back)
                back -= 1
                continue
            if not finished and in_flight:
                finished = list(wait(in_flight, return_when=FIRST_COMPLETED).done)
            if not finished:
                break
            for future in finished:
                i = in_flight.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool as err:
                    if pool is not None:
                        warnings.append(f"an evaluation worker process failed ({err}); its sequences were scored "
                                        "in the main process")
                        pool.shutdown(wait=False, cancel_futures=True)
                        pool = None
                    if needed(i):
                        score_here(i)
                    continue
                if isinstance(result, _WorkerError):
                    errors[i] = result.error()
                else:
                    results[i] = result
                    on_done(tasks[i])
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)            # idle workers exit by themselves
    if errors:
        raise errors[min(errors)]
    return [r for r in results if r is not None]


def _start_pool(processes: int, warnings: list[str]) -> ProcessPoolExecutor | None:
    """A pool of ``processes`` forked worker processes; None when ``processes`` < 1 or it cannot start (no working
    semaphores, e.g.), with a warning.

    Fork, as PyTorch's DataLoader workers on Linux: the workers start in milliseconds with every module loaded, and
    nothing re-imports the caller's main script (spawn would run an unguarded one again). They only run numpy and
    scipy code on files: no CUDA, no BLAS thread pools, none of the parent's locks."""
    if processes < 1:
        return None
    try:
        return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"))
    except (OSError, NotImplementedError, ImportError, ValueError) as err:
        warnings.append(f"no evaluation worker processes ({type(err).__name__}: {err}); scored in one process")
        return None


# ------------------------------------------------------------------------------------------------- reporting

def _scalar(value: Any) -> float:
    value = np.asarray(value, dtype=float)
    return float(value.mean()) if value.ndim else float(value)


def summarize(raw: dict[str, Any]) -> dict[str, float | int]:
    """Flat report fields from TrackEval results: percent ratios (alpha-averaged for HOTA), integer counts."""
    out: dict[str, float | int] = {}
    for name in PERCENT_FIELDS:
        if name in raw:
            out[name] = 100.0 * _scalar(raw[name])
    for name in COUNT_FIELDS:
        if name in raw:
            out[name] = int(round(_scalar(raw[name])))
    for name in OTHER_FIELDS:
        if name in raw:
            out[name] = _scalar(raw[name])
    # Friendly aliases used by tables, train.log and the dashboard.
    for alias, source in (("TP", "CLR_TP"), ("FP", "CLR_FP"), ("FN", "CLR_FN")):
        if source in out:
            out[alias] = out[source]
    return out


def _combine_sequences(per_seq: dict[str, dict[str, Any]], metrics: tuple[Any, Any, Any]) -> dict[str, Any]:
    res: dict[str, Any] = {}
    for metric in metrics:
        res.update(metric.combine_sequences(per_seq))
    return res


def _combine_classes(per_class: dict[str, dict[str, Any]], metrics: tuple[Any, Any, Any]) -> dict[str, Any]:
    res: dict[str, Any] = {}
    for metric in metrics:
        res.update(metric.combine_classes_class_averaged(per_class, ignore_empty_classes=False))
    return res


def _count_fields(data: dict[str, Any]) -> dict[str, int]:
    return {"GT_Dets": data["num_gt_dets"], "GT_IDs": data["num_gt_ids"], "Dets": data["num_tracker_dets"],
            "IDs": data["num_tracker_ids"]}


def evaluate(gt_folder: str | Path, tracker_folder: str | Path, *, seqmap: str | Path | None = None,
             classes: dict[str, int] | None = None, output_dir: str | Path | None = None,
             ignore_cover: float | None = IGNORE_COVER, max_dense_bytes: int = DEFAULT_MAX_DENSE_BYTES,
             progress: bool = False, check_fingerprint: bool = True,
             require_detections: bool = False, workers: int | None = None) -> dict[str, Any]:
    """Score the tracker files ``<tracker_folder>/<seq>.txt`` against the split ``gt_folder``.

    Returns (and writes to ``output_dir/metrics.json`` when given) the report described in docs/eval.md:
    ``metrics`` (class-averaged), ``per_class``, ``per_sequence``, plus counts and warnings.
    A sequence without a tracker file is scored as an empty result (all misses) and warned about; so is a split
    whose fingerprint no longer matches its build report (``check_fingerprint``). Tracker files that are all empty
    score 0 with a warning, or raise ``DataError`` when ``require_detections``.
    Sequences are scored in ``workers`` processes (None: ``default_workers``); the report is the same either way.
    """
    gt_folder, tracker_folder = Path(gt_folder), Path(tracker_folder)
    classes = dict(classes or DEFAULT_CLASSES)
    if not classes:
        raise MotipError("no classes to evaluate", hint="pass e.g. {'pedestrian': 1}")
    if not tracker_folder.is_dir():
        raise DataError("tracker results folder not found", path=tracker_folder,
                        hint="pass the folder holding <sequence>.txt tracker files")
    sequences = [s for s in read_split(gt_folder, seqmap)]
    if not sequences:
        raise DataError("the split has no sequences (no seqmap entries, no folders with seqinfo.ini)",
                        path=gt_folder)
    warnings: list[str] = []
    if check_fingerprint:
        from motip.eval.fingerprint import check_val_fingerprint

        changed = check_val_fingerprint(gt_folder)
        if changed:
            warnings.append(changed)
    no_gt = [s.name for s in sequences if not s.has_gt]
    if no_gt:
        raise DataError(f"{len(no_gt)} sequence(s) have no gt/gt.txt: {', '.join(no_gt[:5])}", path=gt_folder,
                        hint="a split without ground truth (e.g. test) cannot be evaluated")
    missing = [s.name for s in sequences if not (tracker_folder / f"{s.name}.txt").is_file()]
    if len(missing) == len(sequences):
        raise DataError(f"no tracker file for any of the {len(sequences)} sequence(s) "
                        f"(looked for e.g. {sequences[0].name}.txt)", path=tracker_folder,
                        hint="the results folder must hold one <sequence>.txt per sequence of the split")
    if missing:
        warnings.append(f"{len(missing)} sequence(s) without a tracker file scored as empty: {', '.join(missing[:5])}")

    metric_objs = _metric_classes()
    raw_by_class: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in classes}
    counts_by_class: dict[str, dict[str, dict[str, int]]] = {name: {} for name in classes}
    ignored: dict[str, int] = {name: 0 for name in classes}
    total_tracker_boxes = 0
    from motip.progress import Progress

    tasks = [_SequenceTask(seq, tracker_folder / f"{seq.name}.txt", classes, ignore_cover, max_dense_bytes)
             for seq in sequences]
    if workers is None:
        workers = default_workers(sequences, tracker_folder)
    # Plain PROGRESS lines / a bar only for the CLI; library callers (the trainer) stay quiet.
    bar_stream = None if progress else io.StringIO()
    with Progress("eval", len(sequences) * len(classes), stream=bar_stream) as bar:
        scored = _score_sequences(tasks, workers, warnings, lambda task: bar.advance(len(classes), task.seq.name))
    for task, scores in zip(tasks, scored, strict=True):
        total_tracker_boxes += scores.tracker_boxes
        for name in classes:
            raw_by_class[name][task.seq.name] = scores.raw[name]
            counts_by_class[name][task.seq.name] = scores.counts[name]
            ignored[name] += scores.ignored[name]
    if total_tracker_boxes == 0:
        # An early-epoch model may detect nothing: validation scores it 0 with a warning; `motip eval --results`
        # treats it as bad input (require_detections).
        if require_detections:
            raise DataError("every tracker file is empty: nothing to score", path=tracker_folder,
                            hint="check that the tracker ran (DET_THRESH too high?)")
        warnings.append(f"every tracker file in {tracker_folder} is empty: the tracker output no boxes")

    per_class_raw: dict[str, dict[str, Any]] = {}
    per_class: dict[str, dict[str, Any]] = {}
    per_sequence: dict[str, dict[str, Any]] = {s.name: {} for s in sequences}
    for name in classes:
        combined = _combine_sequences(raw_by_class[name], metric_objs)
        per_class_raw[name] = combined
        totals = {key: sum(c[key] for c in counts_by_class[name].values())
                  for key in ("GT_Dets", "Dets")}
        per_class[name] = summarize(combined) | totals
        for seq_name, raw in raw_by_class[name].items():
            per_sequence[seq_name][name] = summarize(raw) | counts_by_class[name][seq_name]
        if totals["GT_Dets"] == 0:
            warnings.append(f"class {name!r} (id {classes[name]}) has no ground truth in this split; "
                            "its scores (and the class average) are not meaningful")
    metrics = summarize(_combine_classes(per_class_raw, metric_objs))

    report: dict[str, Any] = {
        "version": MetricsReport.VERSION,
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "gt_folder": str(gt_folder.absolute()),
        "tracker_folder": str(tracker_folder.absolute()),
        "seqmap": None if seqmap is None else str(Path(seqmap).absolute()),
        "classes": classes,
        "combine": "mean over classes",
        "sequences": [s.name for s in sequences],
        "metrics": metrics,
        "per_class": per_class,
        "per_sequence": per_sequence,
        "ignored_tracker_boxes": ignored,
        "warnings": warnings,
    }
    if output_dir is not None:
        write_metrics(Path(output_dir) / METRICS_FILE, report)
    return report


def json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def write_metrics(path: Path, report: dict[str, Any]) -> None:
    """Write a report to metrics.json through its one writer (``motip.records.MetricsReport``: non-finite numbers
    as null, validated, atomic); ``MetricsReport.read`` reads it back."""
    MetricsReport.from_report(report, path).write(path)
