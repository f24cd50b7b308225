"""One synthetic MOTIP training step (shared by ``motip doctor`` and bench/model_step.py).

A step follows the official loop on random pixels and random boxes: a batch of BATCH_SIZE clips of ``frames``
frames at ``height`` x ``width``, through the trainer's own DETR pass (``motip.model.frames.detr_on_clip``:
DETR_NUM_TRAIN_FRAMES per clip with gradients, checkpointed in chunks of DETR_NUM_CHECKPOINT_FRAMES when > 0, the
rest without); the DETR criterion on all frames; trajectory modeling + ID decoder over every clip (AUG_NUM_GROUPS
groups, ``objects`` objects per frame, checkpointed when USE_DECODER_CHECKPOINT or MEMORY_EFFICIENT); backward;
gradient clipping; an AdamW step (so Adam's two state tensors per trainable parameter are allocated, as in a real
run). It measures what a real step costs (time, peak memory) without data.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from motip.config.settings import data_settings, train_settings
from motip.model.frames import detr_on_clip


def largest_frame(config: Mapping[str, Any]) -> tuple[int, int]:
    """(height, width) of the largest padded frame the augmentation can produce: the shorter side at the largest
    AUG_RESIZE_SCALES (capped by AUG_MAX_SIZE) and the longer side at AUG_MAX_SIZE (a frame of aspect ratio
    AUG_MAX_SIZE / scale reaches both at once; any other aspect ratio gives fewer pixels)."""
    data = data_settings(config)
    longer = data.max_size
    shorter = min(max(data.resize_scales), longer)
    return shorter, longer


def objects_per_frame(config: Mapping[str, Any], wanted: int = 20) -> int:
    """Objects per synthetic frame: ``wanted``, at most the queries (the matcher needs one each) and the ID
    vocabulary (each object of a clip takes its own ID label)."""
    data = data_settings(config)
    return max(1, min(wanted, data.num_queries, data.num_id_vocabulary))


def synthetic_batch(cfg: Mapping[str, Any], frames: int, height: int, width: int, objects: int,
                    device: torch.device) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """Random frames [frames, 3, H, W] and per-frame targets (normalised cxcywh boxes, class labels)."""
    images = torch.randn(frames, 3, height, width, device=device)
    targets = []
    for _ in range(frames):
        centres = torch.rand(objects, 2, device=device) * 0.6 + 0.2
        sizes = torch.rand(objects, 2, device=device) * 0.1 + 0.05
        targets.append({"boxes": torch.cat([centres, sizes], 1),
                        "labels": torch.randint(0, data_settings(cfg).num_classes, (objects,), device=device)})
    return images, targets


def seq_info_from(outputs: Mapping[str, Any], indices: list, cfg: Mapping[str, Any], clips: int, frames: int,
                  objects: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Trajectory/unknown tokens [clips, G, T, N, C] = the matched DETR embeddings of every frame, in every group
    (like the trainer's prepare_for_motip). ``outputs`` hold clips * frames frames, clip-major."""
    data = data_settings(cfg)
    groups, vocab = data.num_id_groups, data.num_id_vocabulary
    total = clips * frames
    embeds = torch.stack([outputs["outputs"][f][indices[f][0][torch.argsort(indices[f][1])]] for f in range(total)])
    embeds = embeds.view(clips, frames, objects, embeds.shape[-1])
    feats = embeds[:, None].expand(clips, groups, frames, objects, embeds.shape[-1])
    labels = torch.stack([torch.stack([torch.randperm(vocab, device=device)[:objects] for _ in range(groups)])
                          for _ in range(clips)])
    labels = labels[:, :, None, :].expand(clips, groups, frames, objects).contiguous()
    times = torch.arange(frames, device=device).view(1, 1, frames, 1).expand(clips, groups, frames, objects)
    times = times.contiguous()
    masks = torch.zeros(clips, groups, frames, objects, dtype=torch.bool, device=device)
    return {"trajectory_features": feats, "trajectory_id_labels": labels, "trajectory_times": times,
            "trajectory_masks": masks, "unknown_features": feats, "unknown_id_labels": labels,
            "unknown_times": times, "unknown_masks": masks}


def train_step(model: torch.nn.Module, criterion: Any, id_criterion: Any, optimizer: torch.optim.Optimizer | None,
               cfg: Mapping[str, Any], images: torch.Tensor, targets: list, objects: int,
               autocast_dtype: torch.dtype | None, device: torch.device, clips: int = 1) -> float:
    """Forward + backward (+ clip + optimizer step when ``optimizer``) of ``clips`` clips held in ``images``
    ([clips * frames, 3, H, W], clip-major). Returns the loss."""
    frames = images.shape[0] // clips
    settings = train_settings(cfg)
    pixels = images.view(clips, frames, *images.shape[1:])
    pad = torch.zeros(clips, frames, *images.shape[2:], dtype=torch.bool, device=images.device)
    amp = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype else contextlib.nullcontext()
    with amp:
        # The trainer's own DETR pass (frames with and without gradients, checkpointed chunks), so the step
        # measured here is the step that training will run.
        outputs = detr_on_clip(model, pixels, pad, settings.detr_train_frames, settings.detr_checkpoint_frames)
        detr_losses, indices = criterion(outputs, targets)
        info = seq_info_from(outputs, indices, cfg, clips, frames, objects, device)
        info = model(part="trajectory_modeling", seq_info=info)
        logits, labels, masks = model(part="id_decoder", seq_info=info,
                                      use_decoder_checkpoint=settings.use_decoder_checkpoint)
        loss = criterion.weighted_loss(detr_losses) + id_criterion(logits, labels, masks) * id_criterion.weight
    loss.backward()
    if optimizer is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_clip_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return float(loss.item())


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast_dtype(config: Mapping[str, Any]) -> torch.dtype | None:
    """TRAIN_DTYPE as the trainer uses it (FP32: no autocast)."""
    name = train_settings(config).train_dtype.upper()
    return {"FP32": None, "BF16": torch.bfloat16, "FP16": torch.float16}.get(name)


@dataclass
class StepResult:
    seconds: float          # mean seconds of the timed steps
    peak_bytes: int | None  # torch.cuda.max_memory_allocated over the timed steps (None off CUDA)
    total_bytes: int | None  # the CUDA device's memory (None off CUDA)
    loss: float
    steps: int


def measure_steps(model: torch.nn.Module, criterion: Any, id_criterion: Any, optimizer: torch.optim.Optimizer | None,
                  cfg: Mapping[str, Any], *, clips: int, frames: int, height: int, width: int, objects: int,
                  device: torch.device, dtype: torch.dtype | None, warmup: int = 1, steps: int = 1,
                  seed: int = 0) -> StepResult:
    """``warmup`` untimed steps, then ``steps`` timed ones on one synthetic batch; peak CUDA memory covers all of
    them (the first step allocates Adam's states)."""
    torch.manual_seed(seed)
    images, targets = synthetic_batch(cfg, clips * frames, height, width, objects, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    loss = float("nan")
    for _ in range(warmup):
        loss = train_step(model, criterion, id_criterion, optimizer, cfg, images, targets, objects, dtype, device,
                          clips)
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        loss = train_step(model, criterion, id_criterion, optimizer, cfg, images, targets, objects, dtype, device,
                          clips)
    sync(device)
    seconds = (time.perf_counter() - start) / max(steps, 1)
    peak = total = None
    if device.type == "cuda":
        peak = int(torch.cuda.max_memory_allocated(device))
        total = int(torch.cuda.get_device_properties(device).total_memory)
    return StepResult(seconds, peak, total, loss, steps)
