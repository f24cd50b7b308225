"""The MOTIP runtime tracker (as the official ``models/runtime_tracker.py``) and tracker-file writing.

Per frame: DETR detections with score > DET_THRESH and area > AREA_THRESH; the ID decoder scores each detection
against the ID words of the live trajectories (the last MISS_TOLERANCE frames); ASSIGNMENT_PROTOCOL (object-max,
hungarian or id-max) turns scores into ID words, a word below ID_THRESH or not in use means "newborn"; a newborn
detection is kept only with score > NEWBORN_THRESH and takes a free ID word (the least recently used). Words map to
ever-increasing track ids, so a word recycled for a new object gives a new id.

Output lines (MOTChallenge, 1-based frames and ids, class 1 person / 2 vehicle):
``frame,id,x,y,w,h,score,class,-1,-1``, written by ``motip.data.mot_files.write_tracker_file``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from motip.config.settings import tracker_settings
from motip.data.mot_files import MotBoxes, concat_boxes, make_boxes, read_seqmap, write_tracker_file
from motip.errors import DataError, MotipError

INFERENCE_SHORTER = 800  # official SeqDataset max_shorter
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


class RuntimeTracker:
    def __init__(self, model: torch.nn.Module, sequence_hw: tuple[int, int], *, assignment_protocol: str = "object-max",
                 miss_tolerance: int = 30, det_thresh: float = 0.3, newborn_thresh: float = 0.6,
                 id_thresh: float = 0.2, area_thresh: float = 0, only_detr: bool = False, use_sigmoid: bool = False,
                 dtype: torch.dtype = torch.float32) -> None:
        self.model = model
        self.protocol = assignment_protocol.lower()
        if self.protocol not in ("object-max", "hungarian", "id-max"):
            raise MotipError(f"ASSIGNMENT_PROTOCOL {assignment_protocol!r} is not object-max, hungarian or id-max")
        self.miss_tolerance = miss_tolerance
        # The ID decoder encodes relative time only up to REL_PE_LENGTH frames: never keep a longer history
        # (MISS_TOLERANCE > REL_PE_LENGTH would index past its position table).
        rel_pe_length = getattr(getattr(model, "id_decoder", None), "rel_pe_length", miss_tolerance)
        self.history_frames = max(min(miss_tolerance, rel_pe_length) - 2, 0)
        self.det_thresh, self.newborn_thresh, self.id_thresh = det_thresh, newborn_thresh, id_thresh
        self.area_thresh = area_thresh
        self.only_detr = only_detr or getattr(model, "only_detr", False)
        self.use_sigmoid = use_sigmoid
        self.dtype = dtype
        self.vocab = int(model.num_id_vocabulary)
        self.device = next(model.parameters()).device
        h, w = sequence_hw
        self.unnorm = torch.tensor([w, h, w, h], dtype=torch.float32, device=self.device)
        dim = model.detr.transformer.d_model
        # Trajectory memory, shaped (T, N, ...): the last frames' embeddings of every live ID word.
        self.features = torch.zeros((0, 0, dim), dtype=dtype, device=self.device)
        self.boxes = torch.zeros((0, 0, 4), dtype=dtype, device=self.device)
        self.labels = torch.zeros((0, 0), dtype=torch.int64, device=self.device)
        self.masks = torch.zeros((0, 0), dtype=torch.bool, device=self.device)
        self.word_to_id: dict[int, int] = {}
        self.next_id = 1
        self.word_queue: OrderedDict[int, None] = OrderedDict((i, None) for i in range(self.vocab))

    def _touch(self, word: int) -> None:
        # Most recently used words go to the back; newborns take words from the front.
        self.word_queue.pop(word, None)
        self.word_queue[word] = None

    @torch.no_grad()
    def update(self, frame: torch.Tensor) -> dict[str, torch.Tensor]:
        """``frame``: normalised image [1,3,H,W]. Returns this frame's results: score, category (0-based),
        bbox (x,y,w,h in original pixels), id (track ids)."""
        out = self.model(frames=frame.to(self.device, self.dtype), part="detr")
        scores, categories, boxes, embeds = self._detections(out)
        if self.only_detr or self.labels.numel() == 0 or len(scores) == 0:  # no live trajectory: all newborn
            words = torch.full((len(scores),), self.vocab, dtype=torch.int64, device=self.device)
        else:
            words = self._predict_words(boxes, embeds)
        keep = (words != self.vocab) | (scores > self.newborn_thresh)
        scores, categories, boxes = scores[keep], categories[keep], boxes[keep]
        embeds, words = embeds[keep], words[keep]
        for word in words.tolist():
            if word != self.vocab:
                self._touch(word)
        n_known = int((words != self.vocab).sum())
        free = len(self.word_queue) - n_known
        newborn = torch.nonzero(words == self.vocab)[:, 0]
        if len(newborn) > free:  # more newborns than free ID words: drop the extra ones
            drop = newborn[free:]
            keep = torch.ones(len(words), dtype=torch.bool, device=self.device)
            keep[drop] = False
            scores, categories, boxes, embeds, words = (scores[keep], categories[keep], boxes[keep], embeds[keep],
                                                        words[keep])
        words = self._assign_newborn_words(words)
        xywh = torch.cat([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, 2:]], dim=1).float() * self.unnorm
        result = {"score": scores.float().cpu(), "category": categories.cpu(), "bbox": xywh.cpu(),
                  "id": torch.tensor([self.word_to_id[w] for w in words.tolist()], dtype=torch.int64)}
        for word in words.tolist():
            self._touch(word)
        self._remember(boxes, embeds, words)
        return result

    def _detections(
        self, out: Mapping[str, torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, boxes, embeds = out["pred_logits"][0], out["pred_boxes"][0], out["outputs"][0]
        scores, categories = logits.float().sigmoid().max(dim=-1)
        area = boxes[:, 2].float() * self.unnorm[2] * boxes[:, 3].float() * self.unnorm[3]
        keep = (scores > self.det_thresh) & (area > self.area_thresh)
        return scores[keep], categories[keep], boxes[keep], embeds[keep]

    def _predict_words(self, boxes: torch.Tensor, embeds: torch.Tensor) -> torch.Tensor:
        T = self.features.shape[0]
        n = embeds.shape[0]
        times = torch.arange(T, device=self.device)[:, None].expand_as(self.labels)
        seq_info = {
            "trajectory_features": self.features[None, None], "trajectory_boxes": self.boxes[None, None],
            "trajectory_id_labels": self.labels[None, None], "trajectory_times": times[None, None],
            "trajectory_masks": self.masks[None, None],
            "unknown_features": embeds[None, None, None], "unknown_boxes": boxes[None, None, None],
            "unknown_masks": torch.zeros((1, 1, 1, n), dtype=torch.bool, device=self.device),
            "unknown_times": torch.full((1, 1, 1, n), T, dtype=torch.int64, device=self.device),
        }
        seq_info = self.model(seq_info=seq_info, part="trajectory_modeling")
        id_logits, _, _ = self.model(seq_info=seq_info, part="id_decoder")
        logits = id_logits[0, 0, 0].float()
        id_scores = logits.sigmoid() if self.use_sigmoid else logits.softmax(dim=-1)
        live = set(self.labels[0].tolist())
        if self.protocol == "hungarian":
            labels = self._hungarian(id_scores, live)
        elif self.protocol == "id-max":
            labels = self._id_max(id_scores, live)
        else:
            labels = self._object_max(id_scores, live)
        return torch.tensor(labels, dtype=torch.int64, device=self.device)

    def _object_max(self, id_scores: torch.Tensor, live: set[int]) -> list[int]:
        """Each detection takes its best word unless another detection wants that word more (official)."""
        confs, words = id_scores.max(dim=-1)
        best_conf: dict[int, float] = {}
        for conf, word in zip(confs.tolist(), words.tolist()):
            best_conf[word] = max(best_conf.get(word, -1.0), conf)
        best_conf[self.vocab] = 0.0
        labels: list[int] = []
        for conf, word in zip(confs.tolist(), words.tolist()):
            if word not in live or conf < self.id_thresh or conf < best_conf[word] or word in labels:
                labels.append(self.vocab)
            else:
                labels.append(word)
        return labels

    def _hungarian(self, id_scores: torch.Tensor, live: set[int]) -> list[int]:
        n = len(id_scores)
        if n > 1:  # extra "newborn" columns so several detections can be newborn at once
            id_scores = torch.cat([id_scores, id_scores[:, -1:].repeat(1, n - 1)], dim=-1)
        rows, cols = linear_sum_assignment((1 - id_scores).cpu().numpy())
        labels = [self.vocab] * n
        for row, col in zip(rows.tolist(), cols.tolist()):
            if col < self.vocab and col in live and float(id_scores[row, col]) >= self.id_thresh:
                labels[row] = col
        return labels

    def _id_max(self, id_scores: torch.Tensor, live: set[int]) -> list[int]:
        labels = [self.vocab] * len(id_scores)
        confs, objects = id_scores.max(dim=0)
        best_for_object: dict[int, float] = {}
        for conf, obj in zip(confs.tolist(), objects.tolist()):
            best_for_object[obj] = max(best_for_object.get(obj, -1.0), conf)
        for word, (conf, obj) in enumerate(zip(confs.tolist(), objects.tolist())):
            if word < self.vocab and word in live and conf >= self.id_thresh and conf >= best_for_object[obj] \
                    and labels[obj] == self.vocab:
                labels[obj] = word
        return labels

    def _assign_newborn_words(self, words: torch.Tensor) -> torch.Tensor:
        newborn = torch.nonzero(words == self.vocab)[:, 0]
        if len(newborn) == 0:
            return words
        in_use = set(words.tolist())
        fresh = [w for w in self.word_queue if w not in in_use][: len(newborn)]
        # A recycled word forgets its old trajectory.
        stale = torch.zeros(self.labels.shape[1], dtype=torch.bool, device=self.device)
        for word in fresh:
            if self.labels.shape[0] > 0:
                stale |= self.labels[0] == word
        self._keep_columns(~stale)
        words = words.clone()
        words[newborn] = torch.tensor(fresh, dtype=torch.int64, device=self.device)
        for word in fresh:
            self.word_to_id[word] = self.next_id
            self.next_id += 1
        return words

    def _keep_columns(self, keep: torch.Tensor) -> None:
        self.features, self.boxes = self.features[:, keep], self.boxes[:, keep]
        self.labels, self.masks = self.labels[:, keep], self.masks[:, keep]

    def _remember(self, boxes: torch.Tensor, embeds: torch.Tensor, words: torch.Tensor) -> None:
        # Keep the last MISS_TOLERANCE - 1 frames of history (plus this one), as the official tracker.
        keep_t = self.history_frames
        if self.features.shape[0] > keep_t:
            start = self.features.shape[0] - keep_t
            self.features, self.boxes = self.features[start:], self.boxes[start:]
            self.labels, self.masks = self.labels[start:], self.masks[start:]
        T = self.labels.shape[0]
        known = set(self.labels[0].tolist()) if T > 0 else set()
        new_words = [w for w in words.tolist() if w not in known]
        if new_words:
            n = len(new_words)
            self.labels = torch.cat([self.labels, torch.tensor(new_words, device=self.device).repeat(T, 1)], dim=1)
            self.features = torch.cat([self.features, self.features.new_zeros((T, n, self.features.shape[-1]))], dim=1)
            self.boxes = torch.cat([self.boxes, self.boxes.new_zeros((T, n, 4))], dim=1)
            self.masks = torch.cat([self.masks, torch.ones((T, n), dtype=torch.bool, device=self.device)], dim=1)
        columns = self.labels[0] if T > 0 else torch.tensor(new_words, dtype=torch.int64, device=self.device)
        N = len(columns)
        frame_features = self.features.new_zeros((N, self.features.shape[-1]))
        frame_boxes = self.boxes.new_zeros((N, 4))
        frame_masks = torch.ones((N,), dtype=torch.bool, device=self.device)
        match = torch.nonzero(columns[:, None] == words[None, :])
        frame_features[match[:, 0]] = embeds[match[:, 1]].to(self.dtype)
        frame_boxes[match[:, 0]] = boxes[match[:, 1]].to(self.dtype)
        frame_masks[match[:, 0]] = False
        self.features = torch.cat([self.features, frame_features[None]], dim=0)
        self.boxes = torch.cat([self.boxes, frame_boxes[None]], dim=0)
        self.labels = torch.cat([self.labels, columns[None]], dim=0)
        self.masks = torch.cat([self.masks, frame_masks[None]], dim=0)
        alive = (~self.masks).any(dim=0)  # drop trajectories unseen for the whole window
        self._keep_columns(alive)


def tracker_from_config(model: torch.nn.Module, config: Mapping[str, Any], sequence_hw: tuple[int, int],
                        dtype: torch.dtype = torch.float32) -> RuntimeTracker:
    settings = tracker_settings(config)
    return RuntimeTracker(model, sequence_hw, assignment_protocol=settings.assignment_protocol,
                          miss_tolerance=settings.miss_tolerance, det_thresh=settings.det_thresh,
                          newborn_thresh=settings.newborn_thresh, id_thresh=settings.id_thresh,
                          area_thresh=settings.area_thresh, only_detr=settings.detector_only,
                          use_sigmoid=settings.id_focal_loss, dtype=dtype)


def preprocess(rgb: np.ndarray, max_longer: int, shorter: int = INFERENCE_SHORTER) -> torch.Tensor:
    """RGB uint8 HxWx3 -> normalised [1,3,h,w]: shorter side ``shorter``, longer side at most ``max_longer``."""
    from motip.model.frames import IMAGENET_MEAN, IMAGENET_STD  # the training frames' normalisation
    h, w = rgb.shape[:2]
    scale = shorter / min(h, w)
    if max(h, w) * scale > max_longer:
        scale = max_longer / max(h, w)
    new_w, new_h = max(int(round(w * scale)), 1), max(int(round(h * scale)), 1)
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA)
    image = torch.from_numpy(resized).permute(2, 0, 1).float().div_(255)
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    return ((image - mean) / std)[None].contiguous()


def iter_sequence_frames(seq_dir: Path) -> Iterator[np.ndarray]:
    """RGB frames of a sequence folder (img1/*.jpg in name order, or the folder's own images)."""
    folder = seq_dir / "img1" if (seq_dir / "img1").is_dir() else seq_dir
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not paths:
        raise DataError("no images (img1/*.jpg) in the sequence folder", path=seq_dir)
    for path in paths:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise DataError("cannot read image", path=path)
        yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def iter_video_frames(path: Path) -> Iterator[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise DataError("cannot open video", path=path, hint="check the file (OpenCV must be able to decode it)")
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def result_boxes(frame: int, result: Mapping[str, torch.Tensor]) -> MotBoxes:
    """One frame's tracker output as a ``MotBoxes`` table (class = category + 1: 1 person, 2 vehicle)."""
    ids = result["id"].tolist()
    return make_boxes([frame] * len(ids), ids, result["bbox"].reshape(-1, 4).tolist(),
                      score=result["score"].tolist(), cls=[c + 1 for c in result["category"].tolist()])


@torch.no_grad()
def track_frames(model: torch.nn.Module, config: Mapping[str, Any], frames: Iterable[np.ndarray],
                 out_file: Path, progress: Any | None = None) -> int:
    """Track RGB ``frames`` and write ``out_file`` (``motip.data.mot_files.write_tracker_file``, the one writer of
    tracker files); returns the number of frames."""
    from motip.model import inference_dtype

    dtype = inference_dtype(config)
    model.eval()
    tracker: RuntimeTracker | None = None
    tables: list[MotBoxes] = []
    count = 0
    max_longer = tracker_settings(config).max_longer
    for count, rgb in enumerate(frames, 1):
        if tracker is None:
            tracker = tracker_from_config(model, config, rgb.shape[:2], dtype)
        result = tracker.update(preprocess(rgb, max_longer))
        tables.append(result_boxes(count, result))
        if progress is not None:
            progress.advance(1)
    write_tracker_file(out_file, concat_boxes(tables))
    return count


def track_sequence(model: torch.nn.Module, config: Mapping[str, Any], source: Path, out_dir: Path,
                   progress: Any | None = None) -> Path:
    """Track a sequence folder or a video file into ``out_dir/<name>.txt``."""
    source = Path(source)
    out_dir.mkdir(parents=True, exist_ok=True)
    if source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES:
        frames, name = iter_video_frames(source), source.stem
    elif source.is_dir():
        frames, name = iter_sequence_frames(source), source.name
    else:
        raise DataError("not a sequence folder or a video file", path=source,
                        hint=f"give a folder with img1/*.jpg or a video ({', '.join(sorted(VIDEO_SUFFIXES))})")
    out_file = out_dir / f"{name}.txt"
    track_frames(model, config, frames, out_file, progress)
    return out_file


def split_sequences(dataset_root: Path, seqmap: Path | None = None, seqs: list[str] | None = None) -> list[Path]:
    """Sequence folders of a split: ``seqs`` or the seqmap's names, else every folder holding img1/ (``motip track``
    also takes plain image folders without seqinfo.ini)."""
    dataset_root = Path(dataset_root)
    if not dataset_root.is_dir():
        raise DataError("split folder not found", path=dataset_root, hint="build the dataset or fix GT_FOLDER")
    if seqs is None and seqmap is not None:
        if not Path(seqmap).is_file():
            raise DataError("seqmap file not found", path=seqmap,
                            hint="rebuild the dataset (it writes <split>_seqmap.txt) or set SEQMAP_FILE to null")
        seqs = read_seqmap(seqmap)
    if seqs is None:
        return sorted(p for p in dataset_root.iterdir() if (p / "img1").is_dir())
    missing = [s for s in seqs if not (dataset_root / s).is_dir()]
    if missing:
        raise DataError(f"sequence {missing[0]!r} (of {len(missing)} missing) not found", path=dataset_root,
                        hint="the seqmap and the split folder disagree; rebuild the dataset")
    return [dataset_root / s for s in seqs]


def track_split(config: Mapping[str, Any], checkpoint_or_model: Any, dataset_root: Path, out_dir: Path,
                seqs: list[str] | None = None, seqmap: Path | None = None) -> Path:
    """Write ``out_dir/<seq>.txt`` for every sequence of a split; returns ``out_dir``."""
    from motip.progress import Progress

    model = load_model_for_inference(config, checkpoint_or_model)
    sequences = split_sequences(Path(dataset_root), seqmap, seqs)
    total = sum(sum(1 for _ in (s / "img1").iterdir()) if (s / "img1").is_dir() else 0 for s in sequences)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with Progress("track", total) as progress:
        for seq_dir in sequences:
            track_sequence(model, config, seq_dir, out_dir, progress)
    return out_dir


def pick_device(config: Mapping[str, Any]) -> torch.device:
    """DEVICE as a torch device (``auto``: cuda when available); MotipError when cuda is asked for but absent."""
    wanted = tracker_settings(config).device.lower()
    if wanted == "cuda" and not torch.cuda.is_available():
        raise MotipError("DEVICE is cuda but no CUDA GPU is available", hint="set --DEVICE cpu (or auto)")
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(wanted)


def load_model_for_inference(config: Mapping[str, Any], checkpoint_or_model: Any) -> torch.nn.Module:
    """A model (returned as is, unwrapped from DDP) or a checkpoint path (built from ``config`` and loaded)."""
    if isinstance(checkpoint_or_model, torch.nn.Module):
        return checkpoint_or_model.module if hasattr(checkpoint_or_model, "module") else checkpoint_or_model
    from motip.model import build_model, inference_dtype, load_pretrain

    path = Path(checkpoint_or_model)
    if not path.is_file():
        raise MotipError("checkpoint not found", path=path, hint="give a .pth written by `motip train`")
    model = build_model(config)
    load_pretrain(model, path, config, verbose=False)
    device = pick_device(config)
    return model.to(device=device, dtype=inference_dtype(config)).eval()


__all__ = ["RuntimeTracker", "track_split", "track_sequence", "track_frames", "split_sequences", "preprocess",
           "load_model_for_inference", "pick_device"]
