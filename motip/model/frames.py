"""Tensor plumbing between a training clip and the MOTIP parts (the official trainer's helpers).

``clip_pixels``: a batch's padded uint8 frames -> normalised float pixels on the device (zeros in the padding).
``detr_on_clip``: DETR on every frame of the clips, DETR_NUM_TRAIN_FRAMES random frames of each with gradients (in
chunks of DETR_NUM_CHECKPOINT_FRAMES with activation checkpointing when set), the rest without; the outputs come
back in (clip, frame) order, in float32. ``prepare_for_motip``: the matched DETR embeddings gathered into the
trajectory/unknown tensors [B,G,T,N,...] that trajectory modeling and the ID decoder take.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

# ImageNet's per-channel mean/std (RGB, pixels in [0, 1]) that the backbone was pretrained with: every frame fed to
# the model (training clips here, tracking in motip.engine.tracking.preprocess) is normalised with them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def clip_pixels(images: Any, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(pixels [B,T,3,H,W] normalised with ImageNet's mean/std, zeros in the padding; padding mask [B,T,H,W]) of
    ``images`` (``motip.data.augment.NestedFrames``: uint8 frames and their mask)."""
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 1, 3, 1, 1)
    pixels = images.tensors.to(device, non_blocking=True).float().div_(255)
    pad = images.mask.to(device, non_blocking=True)
    pixels = ((pixels - mean) / std) * (~pad)[:, :, None].float()  # zeros in the padding (official)
    return pixels, pad


def cat_outputs(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any]:
    """DETR outputs of two frame batches as one (tensors and aux-layer lists concatenated along frames)."""
    if a is None or b is None:
        return a if b is None else b
    out: dict[str, Any] = {}
    for key, value in a.items():
        if isinstance(value, torch.Tensor):
            out[key] = torch.cat([value, b[key]], dim=0)
        elif isinstance(value, list):
            out[key] = [cat_outputs(x, y) for x, y in zip(value, b[key])]
    return out


def index_outputs(outputs: dict[str, Any], index: torch.Tensor) -> dict[str, Any]:
    """The frames ``index`` of DETR outputs, in that order (aux layers too)."""
    out: dict[str, Any] = {}
    for key, value in outputs.items():
        if isinstance(value, torch.Tensor):
            out[key] = value.index_select(0, index)
        elif isinstance(value, list):
            out[key] = [index_outputs(v, index) for v in value]
    return out


def detr_in_chunks(model: torch.nn.Module, frames: torch.Tensor, masks: torch.Tensor, chunk: int,
                   checkpointed: bool) -> dict[str, Any]:
    """DETR on ``frames`` [N,3,H,W]: in one pass when ``chunk`` is 0 or covers them all (official), else
    ``chunk`` frames at a time (activation checkpointing when ``checkpointed``)."""
    from motip.data.augment import NestedFrames

    if chunk <= 0 or chunk >= len(frames):
        return model(frames=NestedFrames(frames, masks), part="detr")
    result = None
    for start in range(0, len(frames), chunk):
        part = NestedFrames(frames[start:start + chunk], masks[start:start + chunk])
        result = cat_outputs(result, model(frames=part, part="detr", use_checkpoint=checkpointed))
    return result


def detr_on_clip(model: torch.nn.Module, pixels: torch.Tensor, pad: torch.Tensor, train_frames: int,
                 checkpoint_frames: int) -> dict[str, Any]:
    """DETR outputs for every frame of ``pixels`` [B,T,...], flattened to B*T frames in (clip, frame) order, float32.

    ``train_frames`` random frame positions (the same in every clip) run with gradients, in chunks of
    ``checkpoint_frames`` with activation checkpointing when it is > 0; the others run under no_grad in chunks
    four times as large."""
    B, T = pixels.shape[:2]
    order = torch.randperm(T)
    train_t, frozen_t = order[:min(train_frames, T)], order[min(train_frames, T):]
    flat = lambda x, idx: x[:, idx].flatten(0, 1)  # noqa: E731 - [B,T,...] -> [B*len(idx),...]
    outputs = None
    if len(frozen_t):
        with torch.no_grad():
            outputs = detr_in_chunks(model, flat(pixels, frozen_t), flat(pad, frozen_t), checkpoint_frames * 4, False)
    if len(train_t):
        trained = detr_in_chunks(model, flat(pixels, train_t), flat(pad, train_t), checkpoint_frames,
                                 checkpoint_frames > 0)
        outputs = cat_outputs(trained, outputs)
    # Outputs are ordered [train frames (clip-major), frozen frames (clip-major)]; restore (clip, frame) order.
    position = torch.empty(B * T, dtype=torch.long)
    slots = [(b, int(t)) for b in range(B) for t in train_t] + [(b, int(t)) for b in range(B) for t in frozen_t]
    for i, (b, t) in enumerate(slots):
        position[b * T + t] = i
    outputs = index_outputs(outputs, position.to(pixels.device))
    return {k: (v.float() if isinstance(v, torch.Tensor) else [{kk: vv.float() for kk, vv in a.items()} for a in v])
            for k, v in outputs.items()}


def prepare_for_motip(detr_outputs: Mapping[str, torch.Tensor], annotations: list[list[dict]],
                      indices: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Gather the matched DETR embeddings into trajectory/unknown tensors [B,G,T,N,...] (official helper)."""
    B, T = len(annotations), len(annotations[0])
    G, _, N = annotations[0][0]["trajectory_id_labels"].shape
    device = detr_outputs["pred_logits"].device
    dim = detr_outputs["outputs"].shape[-1]
    seq: dict[str, torch.Tensor] = {}
    for side in ("trajectory", "unknown"):
        seq[f"{side}_id_labels"] = -torch.ones((B, G, T, N), dtype=torch.int64, device=device)
        seq[f"{side}_times"] = -torch.ones((B, G, T, N), dtype=torch.int64, device=device)
        seq[f"{side}_masks"] = torch.ones((B, G, T, N), dtype=torch.bool, device=device)
        seq[f"{side}_boxes"] = torch.zeros((B, G, T, N, 4), dtype=torch.float32, device=device)
        seq[f"{side}_features"] = torch.zeros((B, G, T, N, dim), dtype=torch.float32, device=device)
    for b in range(B):
        for t in range(T):
            flat = b * T + t
            query_idx, target_idx = indices[flat]
            order = torch.argsort(target_idx)  # row k = the query matched to GT box k of the frame
            queries = query_idx[order].to(device)
            embeds = detr_outputs["outputs"][flat][queries].float()
            boxes = detr_outputs["pred_boxes"][flat][queries].float()
            ann = annotations[b][t]
            for side in ("trajectory", "unknown"):
                masks = ann[f"{side}_id_masks"][:, 0, :].to(device)
                rows = ann[f"{side}_ann_idxs"][:, 0, :].to(device)
                seq[f"{side}_id_labels"][b, :, t] = ann[f"{side}_id_labels"][:, 0, :].to(device)
                seq[f"{side}_times"][b, :, t] = ann[f"{side}_times"][:, 0, :].to(device)
                seq[f"{side}_masks"][b, :, t] = masks
                valid = ~masks
                feats = seq[f"{side}_features"][b, :, t]
                feats[valid] = embeds[rows[valid]]
                seq[f"{side}_boxes"][b, :, t][valid] = boxes[rows[valid]]
    return seq
