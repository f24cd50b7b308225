"""Training clips from the BUILT dataset: ``<DATA_ROOT>/<DATASETS[i]>/<DATASET_SPLITS[i]>/<seq>/``.

Each sequence folder holds ``img1/%08d.jpg``, ``gt/gt.txt`` (``frame,id,x,y,w,h,1,class,visibility``; class 1 person,
2 vehicle), ``gt/ignore.txt`` (regions never to train on) and ``seqinfo.ini``, all read with ``motip.data.mot_files``
(the format's one home). Like the official ``JointDataset``, annotations are read once into memory; ``__getitem__``
takes ``{"dataset", "split", "sequence", "frame_idxs"}`` (the sampler's items) and returns
``(images, annotations, metas)`` after the clip transforms.

Ignore regions: their pixels are filled with mid-grey in every frame of a clip before augmentation, so the
detector is neither taught that they are background nor asked to find them (the official code has no ignore
regions; this is our handling, see docs/training.md).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from motip.data import mot_files
from motip.errors import DataError

MAX_OBJECTS_PER_FRAME = 300  # official legality rule: a frame with more objects than DETR queries is skipped


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


class BuiltDataset(Dataset):
    """Every sequence of the configured datasets/splits, annotations in memory, images read on demand."""

    def __init__(self, data_root: Path, datasets: list[str], splits: list[str], num_classes: int,
                 transforms: Callable | None = None) -> None:
        if len(datasets) != len(splits):
            raise DataError(f"DATASETS has {len(datasets)} entries but DATASET_SPLITS has {len(splits)}",
                            hint="give one split per dataset")
        self.transforms = transforms
        self.num_classes = num_classes
        self.sequences: dict[tuple[str, str, str], SequenceInfo] = {}
        self.annotations: dict[tuple[str, str, str], list[dict[str, torch.Tensor]]] = {}
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
        by_frame = mot_files.read_gt(seq_dir).boxes_by_frame(seq.length)
        frames: list[dict[str, torch.Tensor]] = []
        for frame in range(1, seq.length + 1):
            rows = by_frame[frame]
            # class 1 person, 2 vehicle; a class above NUM_CLASSES is not trained (NUM_CLASSES 1 = person only)
            keep = (rows.cls >= 1) & (rows.cls <= self.num_classes) & (rows.xywh[:, 2] > 0) & (rows.xywh[:, 3] > 0)
            rows = rows.select(keep)
            ann = {"id": torch.as_tensor(rows.id, dtype=torch.int64),
                   "category": torch.as_tensor(rows.cls - 1, dtype=torch.int64),
                   "bbox": torch.as_tensor(rows.xywh, dtype=torch.float32).reshape(-1, 4),
                   "visibility": torch.as_tensor(rows.visibility, dtype=torch.float32)}
            frames.append(ann)
        ignore = mot_files.read_ignore(seq_dir)
        self.ignores[key] = {frame: rows.xywh for frame, rows in ignore.boxes_by_frame().items()}
        self.sequences[key] = info
        self.annotations[key] = frames
        self.is_legal[key] = torch.tensor([frame_is_legal(a) for a in frames], dtype=torch.bool)

    def statistics(self) -> list[str]:
        by_split: dict[tuple[str, str], list[SequenceInfo]] = {}
        for (dataset, split, _), info in self.sequences.items():
            by_split.setdefault((dataset, split), []).append(info)
        return [f"{d}.{s}: {len(v)} sequences, {sum(i.length for i in v)} frames" for (d, s), v in by_split.items()]

    def __len__(self) -> int:  # the sampler decides what an epoch is
        return sum(info.length for info in self.sequences.values())

    def load_clip_images(self, key: tuple[str, str, str], frame_idxs: list[int]) -> list[torch.Tensor]:
        info = self.sequences[key]
        images = []
        for idx in frame_idxs:
            path = info.image_paths[idx]
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise DataError("cannot read image", path=path, hint="the dataset may be incomplete; rebuild it")
            for x, y, w, h in self.ignores[key].get(idx + 1, ()):
                x0, y0 = max(int(x), 0), max(int(y), 0)
                bgr[y0:max(int(y + h), y0), x0:max(int(x + w), x0)] = 128
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            images.append(torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1))
        return images

    def __getitem__(self, item: Mapping[str, Any]):
        key = (item["dataset"], item["split"], item["sequence"])
        frame_idxs = list(item["frame_idxs"])
        images = self.load_clip_images(key, frame_idxs)
        annotations = [copy.deepcopy(self.annotations[key][i]) for i in frame_idxs]
        metas = [{"dataset": key[0], "split": key[1], "sequence": key[2], "frame_idx": i, "is_begin": n == 0}
                 for n, i in enumerate(frame_idxs)]
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
