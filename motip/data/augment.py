"""Clip transforms (same for every frame of a clip) and the trajectory augmentation of MOTIP, plus the collate.

Order as in the official ``build_transforms``: boxes xywh -> xyxy, horizontal flip (p 0.5), then with p 0.5 either
a resize (shorter side from AUG_RESIZE_SCALES, longer side capped at AUG_MAX_SIZE) or resize (AUG_RANDOM_RESIZE) ->
random crop (AUG_RANDOM_CROP_MIN..MAX) -> resize, boxes -> normalised cx,cy,w,h, colour jitter (AUG_BRIGHTNESS/
CONTRAST/SATURATION/HUE, one draw per clip; AUG_COLOR_JITTER_V2 = photometric distort), then the ID labels:
AUG_NUM_GROUPS random ID-word assignments per clip, trajectory occlusion (AUG_TRAJECTORY_OCCLUSION_PROB) and
switch (AUG_TRAJECTORY_SWITCH_PROB). Images stay uint8; normalisation happens in the training loop (as upstream).
The static-image shift simulation (AUG_MAX_SHIFT_RATIO) applies to static image datasets only; built datasets are
videos, so it is not used.

Cost (bench/dataloader.py, docs/performance.md): the geometry is drawn from the frame size and boxes before any pixel
is decoded (``ClipTransform.plan``), so ``BuiltDataset`` decodes each JPEG once, at a reduced scale when the first
resize is to about half the size or less (``DECODE_ENLARGEMENT``), and resizes/crops/mirrors each frame straight to
its output size (``resample``); colour jitter runs on the small uint8 frames with lookup tables and OpenCV
(``FrameColorJitter``); in a DataLoader worker the clip is written straight into shared memory. No float copy of a
full-size frame or clip is made.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import get_worker_info
from torchvision.ops import box_convert
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

Annotation = dict[str, torch.Tensor]

# A reduced JPEG decode may be enlarged by up to 5% to reach the first resize's target: at 1080p, Stage 1's most
# common target (shorter side 562, AUG_MAX_SIZE 1000) then decodes at 540 lines instead of 1080 (libjpeg's scaled
# IDCT skips most of the work; no full-size antialiased resize). The pixels differ from the full decode's by 0.75
# levels on average, as much as a reduced decode below half the size already does (0.5-0.7); 1.0 keeps every
# resize a reduction. Figures in docs/performance.md.
DECODE_ENLARGEMENT = 1.05


@dataclass
class NestedFrames:
    """Padded images [B,T,3,H,W] (uint8 or float) and their padding mask [B,T,H,W] (True = padding)."""

    tensors: torch.Tensor
    mask: torch.Tensor


def _filter_boxes(ann: Annotation, keep: torch.Tensor) -> None:
    for name in ("bbox", "category", "id", "visibility"):
        ann[name] = ann[name][keep]


def hflip(images: torch.Tensor, anns: list[Annotation]) -> torch.Tensor:
    width = images.shape[-1]
    flip_boxes(width, anns)
    return F.horizontal_flip(images)


def flip_boxes(width: int, anns: list[Annotation]) -> None:
    for ann in anns:
        ann["bbox"] = ann["bbox"][:, [2, 1, 0, 3]] * torch.tensor([-1, 1, -1, 1]) + torch.tensor([width, 0, width, 0])


def resized_hw(h: int, w: int, shorter: int, max_size: int | None) -> tuple[int, int]:
    """New (h, w) with the shorter side ``shorter`` and the longer side at most ``max_size``."""
    if max_size is not None:
        lo, hi = float(min(h, w)), float(max(h, w))
        if hi / lo * shorter > max_size:
            shorter = int(math.floor(max_size * lo / hi))
    if w < h:
        return int(round(shorter * h / w)), shorter
    return shorter, int(round(shorter * w / h))


def resize_boxes(hw: tuple[int, int], anns: list[Annotation], sizes: list[int],
                 max_size: int | None) -> tuple[int, int]:
    """Draw the shorter side from ``sizes``, scale the boxes; returns the new (h, w)."""
    h, w = hw
    new_h, new_w = resized_hw(h, w, random.choice(sizes), max_size)
    scale = torch.tensor([new_w / w, new_h / h] * 2)
    for ann in anns:
        ann["bbox"] = ann["bbox"] * scale
    return new_h, new_w


def resize(images: torch.Tensor, anns: list[Annotation], sizes: list[int], max_size: int | None) -> torch.Tensor:
    new_h, new_w = resize_boxes(tuple(images.shape[-2:]), anns, sizes, max_size)
    return F.resize(images, [new_h, new_w], antialias=True)


def crop_boxes(hw: tuple[int, int], anns: list[Annotation], min_size: int, max_size: int,
               overflow_bbox: bool) -> tuple[tuple[int, int, int, int] | None, list[Annotation]]:
    """Draw one crop (top, left, h, w) for the clip; kept only when every frame still has a legal annotation, else
    (None, the annotations unchanged)."""
    h, w = hw
    crop_h = random.randint(min(min_size, h), min(max_size, h))
    crop_w = random.randint(min(min_size, w), min(max_size, w))
    top, left = random.randint(0, h - crop_h), random.randint(0, w - crop_w)
    cropped = []
    for ann in anns:
        new = dict(ann)  # every field below is replaced, never modified in place
        boxes = new["bbox"] - torch.tensor([left, top, left, top], dtype=torch.float32)
        clipped = torch.min(boxes.reshape(-1, 2, 2), torch.tensor([crop_w, crop_h], dtype=torch.float32)).clamp(min=0)
        keep = torch.all(clipped[:, 1, :] > clipped[:, 0, :], dim=1)
        new["bbox"] = boxes if overflow_bbox else clipped.reshape(-1, 4)
        _filter_boxes(new, keep)
        if len(new["id"]) == 0:
            return None, anns
        cropped.append(new)
    return (top, left, crop_h, crop_w), cropped


def random_crop(images: torch.Tensor, anns: list[Annotation], min_size: int, max_size: int,
                overflow_bbox: bool) -> tuple[torch.Tensor, list[Annotation]]:
    """One crop for the clip; kept only when every frame still has a legal annotation (else unchanged)."""
    crop, anns = crop_boxes(tuple(images.shape[-2:]), anns, min_size, max_size, overflow_bbox)
    if crop is None:
        return images, anns
    return F.crop(images, *crop), anns


# ------------------------------------------------------------------------------------- per-frame fast path

@dataclass(frozen=True)
class ClipGeometry:
    """The geometric augmentation of one clip, drawn from the frame size and the annotations alone (so it is known
    before any pixel is decoded): ``steps`` are ("resize", h, w) and ("crop", top, left, h, w) in order, with crop
    positions in the coordinates of the mirrored frame when ``flip`` (the chain flips first); the mirror itself is
    applied last, to the small frame (resizing commutes with mirroring)."""

    height: int
    width: int
    steps: tuple[tuple[Any, ...], ...]
    flip: bool

    @property
    def output_hw(self) -> tuple[int, int]:
        last = [s for s in self.steps if s[0] == "resize"][-1]
        return last[1], last[2]

    def decode_reduction(self) -> int:
        """The largest JPEG decode reduction (1, 2, 4 or 8: libjpeg's scaled IDCT) that leaves the frame at least
        1 / DECODE_ENLARGEMENT of the first resize's target on both sides, so that resize is a down-scale or an
        enlargement of at most DECODE_ENLARGEMENT. 1 when the first target is more than that above half the frame."""
        _, first_h, first_w = self.steps[0]
        for r in (8, 4, 2):
            if (-(-self.height // r) * DECODE_ENLARGEMENT >= first_h
                    and -(-self.width // r) * DECODE_ENLARGEMENT >= first_w):
                return r
        return 1

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """One decoded frame (H x W x 3 uint8, any channel order, any decode reduction) -> the augmented frame
        (output_hw, same channel order): each resize by ``resample``, the crop as a view, the mirror last."""
        x = frame
        for step in self.steps:
            if step[0] == "resize":
                x = resample(x, step[1], step[2])
            else:
                top, left, crop_h, crop_w = step[1:]
                if self.flip:  # the crop was drawn on the mirrored frame
                    left = x.shape[1] - left - crop_w
                x = x[top:top + crop_h, left:left + crop_w]
        out = np.ascontiguousarray(x)
        return cv2.flip(out, 1) if self.flip else out


def resample(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """An H x W x 3 uint8 frame at ``height`` x ``width``: torchvision's antialiased bilinear when either side
    shrinks (the reference chain's filter; its uint8 kernel on the channels-last view takes a third of the time of
    OpenCV's INTER_AREA at Stage 1's scales), OpenCV's bilinear for an enlargement (antialiasing changes nothing
    there; the same filter within a level, in half the time). The frame itself when the size is already right."""
    h, w = frame.shape[:2]
    if (h, w) == (height, width):
        return frame
    if height < h or width < w:
        x = F.resize(torch.from_numpy(frame).permute(2, 0, 1), [height, width], antialias=True)
        return x.permute(1, 2, 0).numpy()  # channels-last in, channels-last out: a view, no copy
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)


class FrameColorJitter:
    """torchvision's ``ColorJitter`` for uint8 frames, one parameter draw per clip (``v2.ColorJitter.make_params``:
    the same random draws as the reference), applied frame by frame with lookup tables and OpenCV instead of float
    tensors of the whole clip: brightness is exact (the same float32 formula in a 256-entry table), contrast and
    saturation within one level, hue within a few levels (OpenCV's 8-bit HSV, hue in 1.4 degree steps, instead of
    float HSV; tests/unit/test_data_augment.py bounds the difference). The frames may be BGR (``bgr=True``) or RGB.

    ``steps`` turns a draw into the clip's operations once: brightness and contrast next to each other in the drawn
    order become one table (the composition of 8-bit tables is exact), saturation one 3 x 4 colour matrix."""

    def __init__(self, brightness: float, contrast: float, saturation: float, hue: float) -> None:
        self.reference = v2.ColorJitter(brightness=brightness, contrast=contrast, saturation=saturation, hue=hue)

    def draw(self) -> dict[str, Any]:
        return self.reference.make_params([])

    @staticmethod
    def _mean_gray(sample: np.ndarray, bgr: bool) -> float:
        """The mean of torchvision's floored float grey (0.2989 R + 0.587 G + 0.114 B) of ``sample``, every 4th pixel
        of every 4th row of a frame: contrast blends towards this one number, which the subsample gives to well
        within a level."""
        weights = [0.114, 0.587, 0.2989] if bgr else [0.2989, 0.587, 0.114]
        return float(np.floor(cv2.transform(sample, np.array([weights], np.float32))).mean(dtype=np.float64))

    @staticmethod
    def _table(factor: float, offset: float = 0.0) -> np.ndarray:
        values = torch.arange(256, dtype=torch.float32).mul(factor)
        if offset:
            values = values.add_(torch.tensor(offset, dtype=torch.float32), alpha=1.0 - factor)
        return values.clamp_(0, 255).to(torch.uint8).numpy()

    def steps(self, params: Mapping[str, Any], *, bgr: bool) -> list[tuple[str, Any]]:
        """The drawn operations in their drawn order: ("tables", [("brightness", table) | ("contrast", factor),
        ...]) for a run of per-level operations, ("matrix", 3 x 4 float32) for saturation, ("hue", shift of the
        8-bit hue)."""
        out: list[tuple[str, Any]] = []

        def add_table(entry: tuple[str, Any]) -> None:
            if out and out[-1][0] == "tables":
                out[-1][1].append(entry)
            else:
                out.append(("tables", [entry]))

        for fn_id in params["fn_idx"].tolist():
            if fn_id == 0 and params["brightness_factor"] is not None:
                add_table(("brightness", self._table(float(params["brightness_factor"]))))
            elif fn_id == 1 and params["contrast_factor"] is not None:
                add_table(("contrast", float(params["contrast_factor"])))
            elif fn_id == 2 and params["saturation_factor"] is not None:
                # factor * pixel + (1 - factor) * grey in one pass; the grey unfloored (within a level of
                # torchvision's floored one); -0.5: OpenCV rounds where torchvision truncates (values >= 0)
                factor = float(params["saturation_factor"])
                weights = np.array([0.114, 0.587, 0.2989] if bgr else [0.2989, 0.587, 0.114], np.float32)
                matrix = np.zeros((3, 4), np.float32)
                matrix[:, :3] = (1.0 - factor) * weights[None, :] + factor * np.eye(3, dtype=np.float32)
                matrix[:, 3] = -0.5
                out.append(("matrix", matrix))
            elif fn_id == 3 and params["hue_factor"] is not None:
                out.append(("hue", np.uint8(int(round(float(params["hue_factor"]) * 256)) % 256)))
        return out

    def _combined_table(self, frame: np.ndarray, entries: list[tuple[str, Any]], bgr: bool) -> np.ndarray:
        """One table for a run of brightness/contrast operations on ``frame``; a contrast's mean grey is taken from
        the subsample mapped through the tables before it (what the frame would be at that point)."""
        table: np.ndarray | None = None
        for kind, value in entries:
            if kind == "contrast":
                sample = np.ascontiguousarray(frame[::4, ::4])
                mean = self._mean_gray(sample if table is None else cv2.LUT(sample, table), bgr)
                value = self._table(value, mean)
            table = value if table is None else value[table]
        assert table is not None
        return table

    def apply_steps(self, frame: np.ndarray, steps: list[tuple[str, Any]], *, bgr: bool) -> np.ndarray:
        out = frame
        for kind, value in steps:
            if kind == "tables":
                out = cv2.LUT(out, self._combined_table(out, value, bgr))
            elif kind == "matrix":
                out = cv2.transform(out, value)
            else:
                to_hsv, from_hsv = ((cv2.COLOR_BGR2HSV_FULL, cv2.COLOR_HSV2BGR_FULL) if bgr
                                    else (cv2.COLOR_RGB2HSV_FULL, cv2.COLOR_HSV2RGB_FULL))
                hsv = cv2.cvtColor(out, to_hsv)
                hue = hsv[..., 0]
                hue += value  # wraps modulo 256 = 360 degrees
                out = cv2.cvtColor(hsv, from_hsv)
        return out

    def apply(self, frame: np.ndarray, params: Mapping[str, Any], *, bgr: bool) -> np.ndarray:
        return self.apply_steps(frame, self.steps(params, bgr=bgr), bgr=bgr)


def loader_tensor(shape: tuple[int, ...], dtype: torch.dtype, *, zeros: bool = False) -> torch.Tensor:
    """A new tensor for a clip's batch, uninitialised or ``zeros``. In a DataLoader worker it is made in shared
    memory, where the loader would otherwise copy it to send it to the main process (as torch's own
    ``default_collate`` does); new shared memory is a file extended by ``ftruncate``, which reads as zeros, so a zero
    tensor there costs nothing until it is read."""
    if get_worker_info() is None:
        return torch.zeros(shape, dtype=dtype) if zeros else torch.empty(shape, dtype=dtype)
    storage = torch.empty(0, dtype=dtype)._typed_storage()._new_shared(math.prod(shape), device="cpu")
    return torch.empty(0, dtype=dtype).new(storage).view(shape)


def frames_to_clip(frames: list[np.ndarray], *, bgr: bool) -> torch.Tensor:
    """H x W x 3 uint8 frames -> a contiguous [T,3,H,W] uint8 RGB clip (in shared memory in a DataLoader worker),
    each frame split by OpenCV straight into its three planes."""
    h, w = frames[0].shape[:2]
    clip = loader_tensor((len(frames), 3, h, w), torch.uint8)
    planes = clip.numpy()
    for t, frame in enumerate(frames):
        channels = [planes[t, 0], planes[t, 1], planes[t, 2]]
        cv2.split(frame, channels[::-1] if bgr else channels)
    return clip


class ClipTransform:
    """The official training transform chain for one clip (see the module docstring).

    Two entries with the same random draws (python ``random`` for the geometry, torch's RNG for colour and ID
    labels, in the same order): ``plan`` (geometry from the frame size and annotations) + ``finish`` (colour and ID
    labels of frames already geometrically transformed, e.g. decoded straight to their size by
    ``BuiltDataset``), and ``__call__`` on full-size [3,H,W] uint8 RGB tensors, which runs the same two steps.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.resize_scales = list(config["AUG_RESIZE_SCALES"])
        self.max_size = config["AUG_MAX_SIZE"]
        self.random_resize = list(config["AUG_RANDOM_RESIZE"])
        self.crop_min, self.crop_max = int(config["AUG_RANDOM_CROP_MIN"]), int(config["AUG_RANDOM_CROP_MAX"])
        self.overflow_bbox = bool(config["AUG_OVERFLOW_BBOX"])
        self.color: FrameColorJitter | None = None
        self.clip_color: v2.Transform | None = None
        if config.get("AUG_COLOR_JITTER_V2"):
            self.clip_color = v2.RandomPhotometricDistort()
        else:
            self.color = FrameColorJitter(brightness=config["AUG_BRIGHTNESS"], contrast=config["AUG_CONTRAST"],
                                          saturation=config["AUG_SATURATION"], hue=config["AUG_HUE"])
        self.id_labels = TrajectoryAugment(num_id_vocabulary=int(config["NUM_ID_VOCABULARY"]),
                                           num_groups=int(config["AUG_NUM_GROUPS"]),
                                           occlusion_prob=float(config["AUG_TRAJECTORY_OCCLUSION_PROB"]),
                                           switch_prob=float(config["AUG_TRAJECTORY_SWITCH_PROB"]))

    def plan(self, height: int, width: int, anns: list[Annotation]) -> tuple[ClipGeometry, list[Annotation]]:
        """Draw the clip's geometry and transform its boxes (xywh pixels -> normalised cx,cy,w,h). ``anns`` are
        dicts of tensors that are replaced, never modified in place (callers may pass shallow copies)."""
        anns = [dict(ann, bbox=box_convert(ann["bbox"], "xywh", "xyxy")) for ann in anns]
        hw = (height, width)
        steps: list[tuple[Any, ...]] = []
        flip = random.random() < 0.5
        if flip:
            flip_boxes(width, anns)
        if random.random() < 0.5:
            hw = resize_boxes(hw, anns, self.resize_scales, self.max_size)
            steps.append(("resize", *hw))
        else:
            hw = resize_boxes(hw, anns, self.random_resize, None)
            steps.append(("resize", *hw))
            crop, anns = crop_boxes(hw, anns, self.crop_min, self.crop_max, self.overflow_bbox)
            if crop is not None:
                steps.append(("crop", *crop))
                hw = crop[2], crop[3]
            hw = resize_boxes(hw, anns, self.resize_scales, self.max_size)
            steps.append(("resize", *hw))
        h, w = hw
        for ann in anns:
            ann["bbox"] = box_convert(ann["bbox"], "xyxy", "cxcywh") / torch.tensor([w, h, w, h], dtype=torch.float32)
        return ClipGeometry(height, width, tuple(steps), flip), anns

    def finish(self, frames: list[np.ndarray], anns: list[Annotation], metas: list[dict], *,
               bgr: bool) -> tuple[torch.Tensor, list[Annotation], list[dict]]:
        """Colour (one draw for the clip) and ID labels of geometrically transformed H x W x 3 uint8 frames;
        returns ([T,3,H,W] uint8 RGB, annotations, metas)."""
        if self.color is not None:
            steps = self.color.steps(self.color.draw(), bgr=bgr)
            frames = [self.color.apply_steps(frame, steps, bgr=bgr) for frame in frames]
        clip = frames_to_clip(frames, bgr=bgr)
        if self.clip_color is not None:
            clip = self.clip_color(clip).contiguous()  # one parameter draw for the whole clip
        return clip, self.id_labels(anns), metas

    def __call__(self, images: list[torch.Tensor], anns: list[Annotation],
                 metas: list[dict]) -> tuple[torch.Tensor, list[Annotation], list[dict]]:
        height, width = images[0].shape[-2:]
        geometry, anns = self.plan(int(height), int(width), anns)
        frames = [geometry.apply(image.permute(1, 2, 0).numpy()) for image in images]
        return self.finish(frames, anns, metas, bgr=False)


class TrajectoryAugment:
    """ID labels for a clip (official GenerateIDLabels + TurnIntoTrajectoryAndUnknown).

    Adds to each frame's annotation (G = groups, N = objects of the clip) tensors shaped [G,1,N]:
    trajectory_/unknown_ ``id_labels``, ``id_masks`` (True = absent), ``ann_idxs`` (row in the frame's boxes),
    ``times``. Unknown labels become NUM_ID_VOCABULARY ("newborn") until an object has been seen.
    """

    def __init__(self, num_id_vocabulary: int, num_groups: int, occlusion_prob: float, switch_prob: float) -> None:
        self.vocab = num_id_vocabulary
        self.groups = num_groups
        self.occlusion_prob = occlusion_prob
        self.switch_prob = switch_prob

    def __call__(self, anns: list[Annotation]) -> list[Annotation]:
        T, G = len(anns), self.groups
        # Column n = the n-th smallest id of the clip; each frame's rows scattered into it in one assignment (a
        # repeated id in a frame: numpy keeps the last row, as a loop over the rows would).
        frame_ids = [ann["id"].numpy() for ann in anns]
        counts = np.array([len(ids) for ids in frame_ids], dtype=np.int64)
        ids, column = np.unique(np.concatenate(frame_ids).astype(np.int64), return_inverse=True)
        N = len(ids)
        frame = np.repeat(np.arange(T), counts)
        row = np.arange(len(column)) - np.repeat(np.cumsum(counts) - counts, counts)
        masks_np = np.ones((T, N), dtype=bool)
        idxs_np = np.full((T, N), -1, dtype=np.int64)
        masks_np[frame, column] = False
        idxs_np[frame, column] = row
        base_masks, base_idxs = torch.from_numpy(masks_np), torch.from_numpy(idxs_np)
        if N > self.vocab:  # more objects than ID words: train on a random subset
            chosen = torch.randperm(N)[: self.vocab]
            base_masks, base_idxs, N = base_masks[:, chosen], base_idxs[:, chosen], self.vocab
        labels = torch.stack([torch.randperm(self.vocab)[:N].repeat(T, 1) for _ in range(G)])  # [G,T,N]
        masks = base_masks.repeat(G, 1, 1)
        idxs = base_idxs.repeat(G, 1, 1)
        times = torch.arange(T)[None, :, None].repeat(G, 1, N)

        traj_labels, traj_masks, traj_idxs = labels.clone(), masks.clone(), idxs.clone()
        unk_labels, unk_masks = labels.clone(), masks.clone()
        if self.occlusion_prob > 0:
            # Hide a random time span of some trajectories (both as history and as current detections).
            occl = torch.zeros((G, N, T), dtype=torch.bool)
            for g in range(G):
                for n in range(N):
                    if random.random() < self.occlusion_prob:
                        begin = random.randint(0, T - 1)
                        end = begin + math.ceil((T - 1 - begin) * random.random())
                        occl[g, n, begin:end] = True
            occl = occl.permute(0, 2, 1)
            traj_masks |= occl
            unk_masks |= occl
        if self.switch_prob > 0:
            # Swap which detection carries which ID word in the history (teaches robustness to past ID errors).
            # torch draws (the same stream as ever), NumPy views for the swaps (a tenth of torch's indexing cost)
            probs = torch.full((N,), self.switch_prob)
            idxs_view, masks_view = traj_idxs.numpy(), traj_masks.numpy()
            for g in range(G):
                for t in range(T):
                    picked = torch.nonzero(torch.bernoulli(probs))[:, 0].numpy()
                    if len(picked) > 1:
                        shuffled = picked[torch.randperm(len(picked)).numpy()]
                        idxs_view[g, t, picked] = idxs_view[g, t, shuffled]
                        masks_view[g, t, picked] = masks_view[g, t, shuffled]
        # An unknown is "newborn" until its trajectory has appeared in an earlier frame.
        seen = torch.cumsum((~traj_masks).to(torch.int64), dim=1) > 0  # [G,T,N]
        born_before = torch.cat([torch.zeros((G, 1, N), dtype=torch.bool), seen[:, :-1]], dim=1)
        unk_labels[~born_before] = self.vocab
        for t, ann in enumerate(anns):
            sl = slice(t, t + 1)
            ann.update(trajectory_id_labels=traj_labels[:, sl], trajectory_id_masks=traj_masks[:, sl],
                       trajectory_ann_idxs=traj_idxs[:, sl], trajectory_times=times[:, sl],
                       unknown_id_labels=unk_labels[:, sl], unknown_id_masks=unk_masks[:, sl],
                       unknown_ann_idxs=idxs[:, sl].clone(), unknown_times=times[:, sl].clone())
        return anns


_ID_FIELDS_PAD = (("trajectory_id_labels", -1), ("trajectory_id_masks", True), ("trajectory_ann_idxs", -1),
                  ("unknown_id_labels", -1), ("unknown_id_masks", True), ("unknown_ann_idxs", -1))


def collate_clips(batch: list[tuple[torch.Tensor, list[Annotation], list[dict]]]) -> dict[str, Any]:
    """Pad clips to one size ([B,T,3,H,W] uint8 + mask) and the ID tensors of all clips to one object count."""
    clips, annotations, metas = zip(*batch)
    B, T = len(clips), clips[0].shape[0]
    H = max(c.shape[-2] for c in clips)
    W = max(c.shape[-1] for c in clips)
    if B == 1:  # nothing to pad (BATCH_SIZE 1, the usual case): the clip itself, not a copy
        tensors = clips[0].unsqueeze(0)
        mask = loader_tensor((B, T, H, W), torch.bool, zeros=True)
    else:
        tensors = loader_tensor((B, T, 3, H, W), clips[0].dtype, zeros=True)
        mask = loader_tensor((B, T, H, W), torch.bool).fill_(True)
        for b, clip in enumerate(clips):
            h, w = clip.shape[-2:]
            tensors[b, :, :, :h, :w] = clip
            mask[b, :, :h, :w] = False
    max_n = max(anns[0]["trajectory_id_labels"].shape[-1] for anns in annotations)
    for anns in annotations:
        for t, ann in enumerate(anns):
            g, _, n = ann["trajectory_id_labels"].shape
            if n == max_n:
                continue
            for name, fill in _ID_FIELDS_PAD:
                pad = torch.full((g, 1, max_n - n), fill, dtype=ann[name].dtype)
                ann[name] = torch.cat([ann[name], pad], dim=-1)
            for name in ("trajectory_times", "unknown_times"):
                ann[name] = torch.cat([ann[name], torch.full((g, 1, max_n - n), t, dtype=torch.int64)], dim=-1)
    return {"images": NestedFrames(tensors, mask), "annotations": list(annotations), "metas": list(metas)}
