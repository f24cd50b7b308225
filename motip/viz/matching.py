"""Per-frame CLEAR-MOT matching of predictions to ground truth, and the colour category of every drawn box.

Rules (as in CLEAR-MOT / TrackEval's CLEAR metric, IoU >= 0.5, per class):

1. A GT that was matched in the previous frame keeps its tracker ID when that ID is present again, same class,
   with IoU >= 0.5 (matches are sticky: a better-overlapping newcomer does not steal it).
2. The remaining GT and predictions are matched by maximum total IoU (``scipy.optimize.linear_sum_assignment``),
   pairs below the threshold or of different classes are not matched.
3. A GT matched to a tracker ID different from the last one it was matched to (in any earlier frame) is an ID switch.
4. Unmatched predictions lying on an ignore region (intersection over the prediction's area >= 0.5) are ignored:
   drawn faintly, not counted as false positives. Unmatched GT are misses (FN).

Box categories (and what the video draws):
  MATCHED  green         matched, and the (GT, tracker ID) pair did not start with a switch
  SWITCHED orange        matched by a tracker ID the GT switched to; orange as long as that ID stays on the GT
                         (through missed frames too), until the GT switches again
  MISSED   blue dashed   GT no prediction matched
  FP       red           prediction matched to no GT and not on an ignore region
  IGNORED  faint grey    prediction on an ignore region (not counted)
A prediction whose class is unknown (< 1, e.g. the ``-1`` of a single-class tracker file) matches GT of any class.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from scipy.optimize import linear_sum_assignment

from motip.data.mot_files import MotBoxes
from motip.eval.metrics import box_ious

IOU_THRESHOLD = 0.5
IGNORE_IOA_THRESHOLD = 0.5


class Category(IntEnum):
    MATCHED = 0
    SWITCHED = 1
    MISSED = 2
    FP = 3
    IGNORED = 4


@dataclass
class FrameBoxes:
    """Boxes of one frame: ``ids`` (N,), ``boxes`` (N, 4) as x, y, w, h in pixels, ``classes`` (N,)."""

    ids: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray

    @staticmethod
    def empty() -> FrameBoxes:
        return FrameBoxes(np.zeros(0, np.int64), np.zeros((0, 4), np.float64), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class DrawnBox:
    box: tuple[float, float, float, float]  # x, y, w, h
    category: Category
    label: str           # text drawn beside the box, e.g. "7" or "7>3" (tracker 7 on GT 3)
    switch_here: bool = False  # the ID switch happens in this frame (the video marks it)


@dataclass
class FrameResult:
    frame: int
    boxes: list[DrawnBox]
    ignore_regions: np.ndarray  # (M, 4) x, y, w, h
    tp: int = 0
    fn: int = 0
    fp: int = 0
    idsw: int = 0
    ignored: int = 0

    @property
    def badness(self) -> int:
        """How bad a frame looks, to pick the contact sheet's worst frames (switches weigh most)."""
        return self.fn + self.fp + 3 * self.idsw


@dataclass
class SequenceCounts:
    frames: int = 0
    gt: int = 0
    predictions: int = 0
    tp: int = 0
    fn: int = 0
    fp: int = 0
    idsw: int = 0
    ignored: int = 0

    def add(self, result: FrameResult, gt_count: int, pred_count: int) -> None:
        self.frames += 1
        self.gt += gt_count
        self.predictions += pred_count
        self.tp += result.tp
        self.fn += result.fn
        self.fp += result.fp
        self.idsw += result.idsw
        self.ignored += result.ignored

    @property
    def mota(self) -> float | None:
        return None if self.gt == 0 else 100.0 * (1.0 - (self.fn + self.fp + self.idsw) / self.gt)

    def to_json(self) -> dict[str, float | int | None]:
        mota = self.mota
        return {"frames": self.frames, "gt": self.gt, "predictions": self.predictions, "tp": self.tp,
                "fn": self.fn, "fp": self.fp, "idsw": self.idsw, "ignored_predictions": self.ignored,
                "mota": None if mota is None else round(mota, 3)}


@dataclass
class SequenceMatcher:
    """Feed frames in order with ``step``; keeps the CLEAR-MOT state between frames."""

    iou_threshold: float = IOU_THRESHOLD
    counts: SequenceCounts = field(default_factory=SequenceCounts)
    _prev_match: dict[int, int] = field(default_factory=dict)       # gt id -> tracker id matched last frame
    _last_tracker: dict[int, int] = field(default_factory=dict)     # gt id -> last tracker id ever matched
    _switched_pairs: set[tuple[int, int]] = field(default_factory=set)  # (gt, tracker) pairs begun by a switch

    def step(self, frame: int, gt: FrameBoxes, pred: FrameBoxes,
             ignore_regions: np.ndarray | None = None) -> FrameResult:
        regions = np.zeros((0, 4)) if ignore_regions is None else ignore_regions
        iou = box_ious(gt.boxes, pred.boxes)  # evaluation's IoU: the drawn counts equal motip eval's
        # A pair can match only with IoU >= threshold and compatible classes (unknown prediction class: any).
        same_class = (gt.classes[:, None] == pred.classes[None, :]) | (pred.classes[None, :] < 1)
        allowed = (iou >= self.iou_threshold - 1e-9) & same_class

        matches: dict[int, int] = {}  # gt row -> pred row
        taken: set[int] = set()
        pred_row_of_id = {int(t): j for j, t in enumerate(pred.ids)}
        for i, gt_id in enumerate(gt.ids):  # 1. keep last frame's matches that are still valid
            previous = self._prev_match.get(int(gt_id))
            j = None if previous is None else pred_row_of_id.get(previous)
            if j is not None and allowed[i, j] and j not in taken:
                matches[i] = j
                taken.add(j)
        free_gt = [i for i in range(len(gt)) if i not in matches]
        free_pred = [j for j in range(len(pred)) if j not in taken]
        if free_gt and free_pred:  # 2. maximum-IoU assignment of the rest
            sub = np.where(allowed[np.ix_(free_gt, free_pred)], iou[np.ix_(free_gt, free_pred)], 0.0)
            rows, cols = linear_sum_assignment(sub, maximize=True)
            for r, c in zip(rows, cols):
                if sub[r, c] > 0:
                    matches[free_gt[r]] = free_pred[c]

        result = FrameResult(frame=frame, boxes=[], ignore_regions=regions)
        new_prev: dict[int, int] = {}
        for i, j in sorted(matches.items()):
            gt_id, tracker_id = int(gt.ids[i]), int(pred.ids[j])
            last = self._last_tracker.get(gt_id)
            switch_here = last is not None and last != tracker_id  # 3. CLEAR-MOT ID switch
            if switch_here:  # the new ID is orange for as long as it stays on this GT (gaps included)
                self._switched_pairs.discard((gt_id, last))
                self._switched_pairs.add((gt_id, tracker_id))
                result.idsw += 1
            self._last_tracker[gt_id] = tracker_id
            new_prev[gt_id] = tracker_id
            switched = (gt_id, tracker_id) in self._switched_pairs
            label = f"{tracker_id} (was {last})" if switch_here else f"{tracker_id}"
            result.boxes.append(DrawnBox(_box(pred.boxes[j]), Category.SWITCHED if switched else Category.MATCHED,
                                         label, switch_here))
        self._prev_match = new_prev
        result.tp = len(matches)

        matched_gt = set(matches)
        for i in range(len(gt)):
            if i not in matched_gt:
                result.boxes.append(DrawnBox(_box(gt.boxes[i]), Category.MISSED, f"gt {int(gt.ids[i])}"))
                result.fn += 1
        matched_pred = set(matches.values())
        unmatched = [j for j in range(len(pred)) if j not in matched_pred]
        on_ignore = np.zeros(len(unmatched), bool)
        if unmatched and len(regions):  # 4. predictions on ignore regions are not false positives
            on_ignore = (box_ious(pred.boxes[unmatched], regions, ioa=True) >= IGNORE_IOA_THRESHOLD).any(axis=1)
        for j, ignored in zip(unmatched, on_ignore):
            category = Category.IGNORED if ignored else Category.FP
            result.boxes.append(DrawnBox(_box(pred.boxes[j]), category, f"{int(pred.ids[j])}"))
            if ignored:
                result.ignored += 1
            else:
                result.fp += 1
        self.counts.add(result, len(gt), len(pred))
        return result


def _box(row: Iterable[float]) -> tuple[float, float, float, float]:
    x, y, w, h = (float(v) for v in row)
    return x, y, w, h


def frame_boxes(rows: MotBoxes) -> FrameBoxes:
    """A frame's rows of a ``motip.data.mot_files.MotBoxes`` table as ``FrameBoxes``."""
    return FrameBoxes(rows.id, rows.xywh, rows.cls)


def match_sequence(gt: MotBoxes, ignore: MotBoxes, pred: MotBoxes, length: int,
                   iou_threshold: float = IOU_THRESHOLD) -> tuple[list[FrameResult], SequenceCounts]:
    """Match a whole sequence (frames 1..length). GT rows with conf 0 (MOTChallenge "do not count") join the
    ignore regions, like the rows of ignore.txt."""
    counted = gt.score != 0
    gt_by_frame = gt.select(counted).boxes_by_frame(length)
    # (boxes_by_frame without a length fails on an empty table, so pass the length.)
    ignore_by_frame = _merge_regions(ignore.boxes_by_frame(length), gt.select(~counted).boxes_by_frame(length))
    pred_by_frame = pred.boxes_by_frame(length)
    matcher = SequenceMatcher(iou_threshold=iou_threshold)
    results = []
    for t in range(1, length + 1):
        results.append(matcher.step(t, frame_boxes(gt_by_frame[t]), frame_boxes(pred_by_frame[t]),
                                    ignore_by_frame.get(t)))
    return results, matcher.counts


def _merge_regions(*tables: dict[int, MotBoxes]) -> dict[int, np.ndarray]:
    merged: dict[int, list[np.ndarray]] = {}
    for table in tables:
        for t, rows in table.items():
            if len(rows):
                merged.setdefault(t, []).append(rows.xywh)
    return {t: np.concatenate(parts) for t, parts in merged.items()}
