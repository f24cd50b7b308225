"""Training clips from the BUILT dataset: ``<DATA_ROOT>/<DATASETS[i]>/<DATASET_SPLITS[i]>/<seq>/``.

Each sequence folder holds ``img1/%08d.jpg``, ``gt/gt.txt`` (``frame,id,x,y,w,h,1,class,visibility``; class 1 person,
2 vehicle), ``gt/ignore.txt`` (regions never to train on) and ``seqinfo.ini``, all read with ``motip.data.mot_files``
(the format's one home). Like the official ``JointDataset``, annotations are read once into memory; ``__getitem__``
takes ``{"dataset", "split", "sequence", "frame_idxs"}`` (the sampler's items) and returns
``(images, annotations, metas)`` after the clip transforms. With ``ClipTransform`` the clip's geometry is drawn
first and each JPEG is decoded once, reduced when the clip is shrunk to about half or less, straight to its output
size (``ClipTransform.plan``/``finish``; figures in docs/performance.md).

Ignore regions: their pixels are filled with mid-grey in every frame of a clip before augmentation, so the
detector is neither taught that they are background nor asked to find them (the official code has no ignore
regions; this is our handling, see docs/training.md).
"""

from __future__ import annotations

import gc
import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from motip.data import mot_files
from motip.errors import DataError

MAX_OBJECTS_PER_FRAME = 300  # official legality rule: a frame with more objects than DETR queries is skipped
_DECODE_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                 8: cv2.IMREAD_REDUCED_COLOR_8}


@dataclass
class SequenceInfo:
    dataset: str
    split: str
    name: str
    folder: Path
    width: int
    height: int
    length: int
    image_paths: list[Path] = field(default_factory=list)


def list_sequences(split_dir: Path) -> list[Path]:
    """The sequence folders of a built split, sorted by name (``motip.data.mot_files.list_sequences``: the seqmap's
    names, or every folder holding a seqinfo.ini)."""
    return [split_dir / name for name in sorted(mot_files.list_sequences(split_dir))]


class SequenceAnnotations:
    """A sequence's boxes in a few flat arrays (rows sorted by frame, ``offsets[t]:offsets[t+1]`` = frame t, 0-based)
    instead of a dict of tensors per frame: a handful of Python objects per sequence, so DataLoader workers, which
    share the dataset copy-on-write, never copy it page by page as reference counts change (MOTIP's own issue #31:
    its loader filled 32-128 GB of host RAM). Indexing gives frame ``t``'s dict of new tensors (``id``,
    ``category`` = class - 1, ``bbox`` xywh float32 [N,4], ``visibility``), which callers may keep and change."""

    def __init__(self, offsets: np.ndarray, ids: np.ndarray, category: np.ndarray, bbox: np.ndarray,
                 visibility: np.ndarray) -> None:
        self.offsets, self.ids, self.category, self.bbox, self.visibility = offsets, ids, category, bbox, visibility

    @classmethod
    def from_rows(cls, rows: mot_files.MotBoxes, length: int) -> SequenceAnnotations:
        order = np.argsort(rows.frame, kind="stable")  # file order within a frame, as boxes_by_frame keeps it
        frame = rows.frame[order]
        offsets = np.searchsorted(frame, np.arange(1, length + 2), side="left").astype(np.int64)
        return cls(offsets, rows.id[order].astype(np.int64), (rows.cls[order] - 1).astype(np.int64),
                   rows.xywh[order].astype(np.float32).reshape(-1, 4), rows.visibility[order].astype(np.float32))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, t: int) -> dict[str, torch.Tensor]:
        if not -len(self) <= t < len(self):
            raise IndexError(t)
        t %= len(self)
        a, b = int(self.offsets[t]), int(self.offsets[t + 1])
        return {"id": torch.tensor(self.ids[a:b]), "category": torch.tensor(self.category[a:b]),
                "bbox": torch.tensor(self.bbox[a:b]).reshape(-1, 4), "visibility": torch.tensor(self.visibility[a:b])}

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        return (self[t] for t in range(len(self)))

    def legal(self) -> np.ndarray:
        """Per frame: the official rule of ``frame_is_legal`` (objects, at most 300, unique ids)."""
        counts = np.diff(self.offsets)
        out = (counts > 0) & (counts <= MAX_OBJECTS_PER_FRAME)
        for t in np.nonzero(out)[0]:
            ids = self.ids[self.offsets[t]:self.offsets[t + 1]]
            out[t] = len(np.unique(ids)) == len(ids)
        return out


class BuiltDataset(Dataset):
    """Every sequence of the configured datasets/splits, annotations in memory, images read on demand."""

    def __init__(self, data_root: Path, datasets: list[str], splits: list[str], num_classes: int,
                 transforms: Callable | None = None) -> None:
        if len(datasets) != len(splits):
            raise DataError(f"DATASETS has {len(datasets)} entries but DATASET_SPLITS has {len(splits)}",
                            hint="give one split per dataset")
        self.transforms = transforms
        self.num_classes = num_classes
        self._frozen_in: int | None = None
        self.sequences: dict[tuple[str, str, str], SequenceInfo] = {}
        self.annotations: dict[tuple[str, str, str], SequenceAnnotations] = {}
        self.ignores: dict[tuple[str, str, str], dict[int, np.ndarray]] = {}
        self.is_legal: dict[tuple[str, str, str], torch.Tensor] = {}
        for dataset, split in zip(datasets, splits):
            split_dir = Path(data_root) / dataset / split
            check_split_dir(split_dir)
            for seq_dir in list_sequences(split_dir):
                self._load_sequence(dataset, split, seq_dir)
        if not self.sequences:
            raise DataError("no training sequences found", path=Path(data_root),
                            hint="build the dataset with `motip build` and check DATA_ROOT / DATASETS")

    def _load_sequence(self, dataset: str, split: str, seq_dir: Path) -> None:
        seq = mot_files.read_sequence(seq_dir)
        if seq.width < 1 or seq.height < 1:
            raise DataError("seqinfo.ini lacks imWidth/imHeight", path=seq_dir / mot_files.SEQINFO_FILE,
                            hint="it needs [Sequence] imWidth, imHeight, seqLength; rebuild with `motip build`")
        key = (dataset, split, seq_dir.name)
        info = SequenceInfo(dataset, split, seq_dir.name, seq_dir, seq.width, seq.height, seq.length,
                            [seq.frame_path(t) for t in range(1, seq.length + 1)])
        if not seq.has_gt:
            raise DataError("training sequence has no gt/gt.txt", path=seq_dir,
                            hint="only splits with ground truth can be trained on")
        gt = mot_files.read_gt(seq_dir)
        # class 1 person, 2 vehicle; a class above NUM_CLASSES is not trained (NUM_CLASSES 1 = person only)
        keep = ((gt.cls >= 1) & (gt.cls <= self.num_classes) & (gt.xywh[:, 2] > 0) & (gt.xywh[:, 3] > 0)
                & (gt.frame >= 1) & (gt.frame <= seq.length))
        frames = SequenceAnnotations.from_rows(gt.select(keep), seq.length)
        ignore = mot_files.read_ignore(seq_dir)
        self.ignores[key] = {frame: rows.xywh for frame, rows in ignore.boxes_by_frame().items()}
        self.sequences[key] = info
        self.annotations[key] = frames
        self.is_legal[key] = torch.from_numpy(frames.legal())

    def statistics(self) -> list[str]:
        by_split: dict[tuple[str, str], list[SequenceInfo]] = {}
        for (dataset, split, _), info in self.sequences.items():
            by_split.setdefault((dataset, split), []).append(info)
        return [f"{d}.{s}: {len(v)} sequences, {sum(i.length for i in v)} frames" for (d, s), v in by_split.items()]

    def __len__(self) -> int:  # the sampler decides what an epoch is
        return sum(info.length for info in self.sequences.values())

    def read_frame(self, key: tuple[str, str, str], idx: int, reduction: int = 1) -> np.ndarray:
        """Frame ``idx`` (0-based) of a sequence as H x W x 3 uint8 BGR, decoded once at 1/``reduction`` of its size
        (libjpeg's scaled decode; 1, 2, 4 or 8), with its ignore regions painted mid-grey."""
        info = self.sequences[key]
        path = info.image_paths[idx]
        bgr = cv2.imread(str(path), _DECODE_FLAGS[reduction])
        if bgr is None:
            raise DataError("cannot read image", path=path, hint="the dataset may be incomplete; rebuild it")
        expected = (-(-info.height // reduction), -(-info.width // reduction))
        if bgr.shape[:2] != expected:
            # The boxes are scaled from seqinfo.ini's size, so a frame of another size would misplace them.
            raise DataError(f"image is {bgr.shape[1] * reduction}x{bgr.shape[0] * reduction} but seqinfo.ini says "
                            f"{info.width}x{info.height}", path=path,
                            hint="the dataset is inconsistent; rebuild it with `motip build`")
        regions = self.ignores[key].get(idx + 1)
        if regions is not None and len(regions):
            sy, sx = bgr.shape[0] / info.height, bgr.shape[1] / info.width
            for x, y, w, h in regions:
                if reduction == 1:
                    x0, y0 = max(int(x), 0), max(int(y), 0)
                    x1, y1 = max(int(x + w), x0), max(int(y + h), y0)
                else:
                    x0, y0 = max(int(x * sx), 0), max(int(y * sy), 0)
                    x1, y1 = max(math.ceil((x + w) * sx), x0), max(math.ceil((y + h) * sy), y0)
                bgr[y0:y1, x0:x1] = 128
        return bgr

    def load_clip_images(self, key: tuple[str, str, str], frame_idxs: list[int]) -> list[torch.Tensor]:
        """Full-size frames as [3,H,W] uint8 RGB tensors (ignore regions painted)."""
        images = []
        for idx in frame_idxs:
            rgb = cv2.cvtColor(self.read_frame(key, idx), cv2.COLOR_BGR2RGB)
            images.append(torch.from_numpy(rgb).permute(2, 0, 1))
        return images

    def __getitem__(
        self, item: Mapping[str, Any],
    ) -> tuple[torch.Tensor | list[torch.Tensor], list[dict[str, torch.Tensor]], list[dict[str, Any]]]:
        if self._frozen_in != os.getpid() and get_worker_info() is not None:
            # A DataLoader worker shares the parent's heap copy-on-write; Python's cyclic collector would touch
            # (and so copy) every inherited object's page at its first full collection. Frozen objects are never
            # visited (moving them is O(1)), so the worker's memory stays what it adds itself.
            gc.freeze()
            self._frozen_in = os.getpid()
        key = (item["dataset"], item["split"], item["sequence"])
        frame_idxs = list(item["frame_idxs"])
        annotations = [self.annotations[key][i] for i in frame_idxs]  # new small tensors per frame
        metas = [{"dataset": key[0], "split": key[1], "sequence": key[2], "frame_idx": i, "is_begin": n == 0}
                 for n, i in enumerate(frame_idxs)]
        plan = getattr(self.transforms, "plan", None)
        if plan is not None:
            # Geometry first, then each frame decoded once (reduced when the clip is shrunk enough) straight to its
            # output size: no full-size clip tensor, no float copy of a full-size frame.
            info = self.sequences[key]
            geometry, annotations = plan(info.height, info.width, annotations)
            reduction = geometry.decode_reduction()
            frames = [geometry.apply(self.read_frame(key, i, reduction)) for i in frame_idxs]
            return self.transforms.finish(frames, annotations, metas, bgr=True)
        images = self.load_clip_images(key, frame_idxs)
        if self.transforms is not None:
            images, annotations, metas = self.transforms(images, annotations, metas)
        return images, annotations, metas


def frame_is_legal(annotation: Mapping[str, torch.Tensor]) -> bool:
    """Official rule: at least one object, unique ids, at most 300 objects."""
    ids = annotation["id"]
    return 0 < len(ids) <= MAX_OBJECTS_PER_FRAME and len(torch.unique(ids)) == len(ids)


def check_split_dir(split_dir: Path) -> None:
    """Raise a DataError naming the folder when a split to train or validate on is missing or empty."""
    if not split_dir.is_dir():
        raise DataError("dataset split folder not found", path=split_dir,
                        hint="build the dataset with `motip build` (or fix DATA_ROOT / DATASETS / DATASET_SPLITS; "
                             "relative paths start at root_path or the working directory)")
    if not list_sequences(split_dir):
        raise DataError("dataset split folder holds no sequences (<seq>/seqinfo.ini)", path=split_dir,
                        hint="build the dataset with `motip build`")
