"""Clip transforms (same for every frame of a clip) and the trajectory augmentation of MOTIP, plus the collate.

Order as in the official ``build_transforms``: boxes xywh -> xyxy, horizontal flip (p 0.5), then with p 0.5 either
a resize (shorter side from AUG_RESIZE_SCALES, longer side capped at AUG_MAX_SIZE) or resize (AUG_RANDOM_RESIZE) ->
random crop (AUG_RANDOM_CROP_MIN..MAX) -> resize, boxes -> normalised cx,cy,w,h, colour jitter (AUG_BRIGHTNESS/
CONTRAST/SATURATION/HUE, one draw per clip; AUG_COLOR_JITTER_V2 = photometric distort), then the ID labels:
AUG_NUM_GROUPS random ID-word assignments per clip, trajectory occlusion (AUG_TRAJECTORY_OCCLUSION_PROB) and
switch (AUG_TRAJECTORY_SWITCH_PROB). Images stay uint8; normalisation happens in the training loop (as upstream).
The static-image shift simulation (AUG_MAX_SHIFT_RATIO) applies to static image datasets only; built datasets are
videos, so it is not used.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torchvision.ops import box_convert
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

Annotation = dict[str, torch.Tensor]


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
    for ann in anns:
        ann["bbox"] = ann["bbox"][:, [2, 1, 0, 3]] * torch.tensor([-1, 1, -1, 1]) + torch.tensor([width, 0, width, 0])
    return F.horizontal_flip(images)


def resized_hw(h: int, w: int, shorter: int, max_size: int | None) -> tuple[int, int]:
    """New (h, w) with the shorter side ``shorter`` and the longer side at most ``max_size``."""
    if max_size is not None:
        lo, hi = float(min(h, w)), float(max(h, w))
        if hi / lo * shorter > max_size:
            shorter = int(math.floor(max_size * lo / hi))
    if w < h:
        return int(round(shorter * h / w)), shorter
    return shorter, int(round(shorter * w / h))


def resize(images: torch.Tensor, anns: list[Annotation], sizes: list[int], max_size: int | None) -> torch.Tensor:
    h, w = images.shape[-2:]
    new_h, new_w = resized_hw(h, w, random.choice(sizes), max_size)
    scale = torch.tensor([new_w / w, new_h / h] * 2)
    for ann in anns:
        ann["bbox"] = ann["bbox"] * scale
    return F.resize(images, [new_h, new_w], antialias=True)


def random_crop(images: torch.Tensor, anns: list[Annotation], min_size: int, max_size: int,
                overflow_bbox: bool) -> tuple[torch.Tensor, list[Annotation]]:
    """One crop for the clip; kept only when every frame still has a legal annotation (else unchanged)."""
    h, w = images.shape[-2:]
    crop_h = random.randint(min(min_size, h), min(max_size, h))
    crop_w = random.randint(min(min_size, w), min(max_size, w))
    top, left = random.randint(0, h - crop_h), random.randint(0, w - crop_w)
    cropped = []
    for ann in anns:
        new = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in ann.items()}
        boxes = new["bbox"] - torch.tensor([left, top, left, top], dtype=torch.float32)
        clipped = torch.min(boxes.reshape(-1, 2, 2), torch.tensor([crop_w, crop_h], dtype=torch.float32)).clamp(min=0)
        keep = torch.all(clipped[:, 1, :] > clipped[:, 0, :], dim=1)
        new["bbox"] = boxes if overflow_bbox else clipped.reshape(-1, 4)
        _filter_boxes(new, keep)
        if len(new["id"]) == 0:
            return images, anns
        cropped.append(new)
    return F.crop(images, top, left, crop_h, crop_w), cropped


class ClipTransform:
    """The official training transform chain for one clip (see the module docstring)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.resize_scales = list(config["AUG_RESIZE_SCALES"])
        self.max_size = config["AUG_MAX_SIZE"]
        self.random_resize = list(config["AUG_RANDOM_RESIZE"])
        self.crop_min, self.crop_max = int(config["AUG_RANDOM_CROP_MIN"]), int(config["AUG_RANDOM_CROP_MAX"])
        self.overflow_bbox = bool(config["AUG_OVERFLOW_BBOX"])
        if config.get("AUG_COLOR_JITTER_V2"):
            self.color = v2.RandomPhotometricDistort()
        else:
            self.color = v2.ColorJitter(brightness=config["AUG_BRIGHTNESS"], contrast=config["AUG_CONTRAST"],
                                        saturation=config["AUG_SATURATION"], hue=config["AUG_HUE"])
        self.id_labels = TrajectoryAugment(num_id_vocabulary=int(config["NUM_ID_VOCABULARY"]),
                                           num_groups=int(config["AUG_NUM_GROUPS"]),
                                           occlusion_prob=float(config["AUG_TRAJECTORY_OCCLUSION_PROB"]),
                                           switch_prob=float(config["AUG_TRAJECTORY_SWITCH_PROB"]))

    def __call__(self, images: list[torch.Tensor], anns: list[Annotation], metas: list[dict]):
        clip = torch.stack(images)  # [T,3,H,W] uint8
        for ann in anns:
            ann["bbox"] = box_convert(ann["bbox"], "xywh", "xyxy")
        if random.random() < 0.5:
            clip = hflip(clip, anns)
        if random.random() < 0.5:
            clip = resize(clip, anns, self.resize_scales, self.max_size)
        else:
            clip = resize(clip, anns, self.random_resize, None)
            clip, anns = random_crop(clip, anns, self.crop_min, self.crop_max, self.overflow_bbox)
            clip = resize(clip, anns, self.resize_scales, self.max_size)
        h, w = clip.shape[-2:]
        for ann in anns:
            ann["bbox"] = box_convert(ann["bbox"], "xyxy", "cxcywh") / torch.tensor([w, h, w, h], dtype=torch.float32)
        clip = self.color(clip)  # one parameter draw for the whole clip (a [T,3,H,W] batch)
        anns = self.id_labels(anns)
        return clip.contiguous(), anns, metas


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
        ids = sorted({int(i) for ann in anns for i in ann["id"].tolist()})
        column = {obj: n for n, obj in enumerate(ids)}
        N = len(ids)
        base_masks = torch.ones((T, N), dtype=torch.bool)
        base_idxs = -torch.ones((T, N), dtype=torch.int64)
        for t, ann in enumerate(anns):
            for row, obj in enumerate(ann["id"].tolist()):
                base_masks[t, column[obj]] = False
                base_idxs[t, column[obj]] = row
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
            for g in range(G):
                for t in range(T):
                    picked = torch.nonzero(torch.bernoulli(torch.full((N,), self.switch_prob)))[:, 0]
                    if len(picked) > 1:
                        shuffled = picked[torch.randperm(len(picked))]
                        traj_idxs[g, t, picked] = traj_idxs[g, t, shuffled]
                        traj_masks[g, t, picked] = traj_masks[g, t, shuffled]
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
    tensors = torch.zeros((B, T, 3, H, W), dtype=clips[0].dtype)
    mask = torch.ones((B, T, H, W), dtype=torch.bool)
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
