"""Benchmark one MOTIP training step and DETR inference speed.

A training step follows the official loop: a clip of --frames frames at --max-size (longer side), of which
DETR_NUM_TRAIN_FRAMES run with gradients (checkpointed in chunks of DETR_NUM_CHECKPOINT_FRAMES when
MEMORY_EFFICIENT / the official setting asks) and the rest without; the DETR criterion on all frames; the
trajectory modeling + ID decoder over the whole clip (AUG_NUM_GROUPS groups, --objects objects per frame,
USE_DECODER_CHECKPOINT); backward; AdamW step. Reports seconds/step and peak memory (CUDA) for fp32 and bf16
autocast, and DETR inference frames/s in INFERENCE_DTYPE-style fp32/fp16 (fp16 on CUDA only).

    .venv/bin/python bench/model_step.py --config configs/stage1_universal_foundation.yaml --device cuda
    .venv/bin/python bench/model_step.py --config configs/tiny_cpu.yaml --device cpu --frames 8 --max-size 320
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch


def synthetic_batch(cfg, frames: int, height: int, width: int, objects: int, device: torch.device):
    images = torch.randn(frames, 3, height, width, device=device)
    targets = []
    for _ in range(frames):
        centres = torch.rand(objects, 2, device=device) * 0.6 + 0.2
        sizes = torch.rand(objects, 2, device=device) * 0.1 + 0.05
        targets.append({"boxes": torch.cat([centres, sizes], 1),
                        "labels": torch.randint(0, int(cfg["NUM_CLASSES"]), (objects,), device=device)})
    return images, targets


def seq_info_from(outputs, indices, cfg, frames: int, objects: int, device: torch.device) -> dict:
    """Trajectory/unknown tokens = matched DETR embeddings of every frame, in every group (like prepare_for_motip)."""
    groups = int(cfg.get("AUG_NUM_GROUPS", 6))
    vocab = int(cfg.get("NUM_ID_VOCABULARY", 50))
    embeds = torch.stack([outputs["outputs"][f][indices[f][0][torch.argsort(indices[f][1])]] for f in range(frames)])
    feats = embeds[None, None].expand(1, groups, frames, objects, embeds.shape[-1])
    labels = torch.stack([torch.randperm(vocab, device=device)[:objects] for _ in range(groups)])
    labels = labels[None, :, None, :].expand(1, groups, frames, objects).contiguous()
    times = torch.arange(frames, device=device).view(1, 1, frames, 1).expand(1, groups, frames, objects).contiguous()
    masks = torch.zeros(1, groups, frames, objects, dtype=torch.bool, device=device)
    return {"trajectory_features": feats, "trajectory_id_labels": labels, "trajectory_times": times,
            "trajectory_masks": masks, "unknown_features": feats, "unknown_id_labels": labels,
            "unknown_times": times, "unknown_masks": masks}


def cat_outputs(parts: list[dict]) -> dict:
    out = {k: torch.cat([p[k] for p in parts]) for k in ("pred_logits", "pred_boxes", "outputs")}
    if "aux_outputs" in parts[0]:
        out["aux_outputs"] = [{k: torch.cat([p["aux_outputs"][i][k] for p in parts]) for k in ("pred_logits", "pred_boxes")}
                              for i in range(len(parts[0]["aux_outputs"]))]
    return out


def train_step(model, criterion, id_criterion, optimizer, cfg, images, targets, objects, autocast_dtype, device):
    frames = images.shape[0]
    n_train = min(int(cfg.get("DETR_NUM_TRAIN_FRAMES", 4)), frames)
    ckpt_frames = int(cfg.get("DETR_NUM_CHECKPOINT_FRAMES", 0) or 0)
    use_ckpt = bool(cfg.get("MEMORY_EFFICIENT", False)) or ckpt_frames > 0
    chunk = max(ckpt_frames, 1) if use_ckpt else n_train
    amp = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype else contextlib.nullcontext()
    with amp:
        parts = [model(part="detr", frames=images[i:i + chunk], use_checkpoint=use_ckpt)
                 for i in range(0, n_train, chunk)]
        with torch.no_grad():
            step = max(ckpt_frames * 4, 1) if use_ckpt else frames
            parts += [model(part="detr", frames=images[i:i + step]) for i in range(n_train, frames, step)]
        outputs = cat_outputs(parts)
        detr_losses, indices = criterion(outputs, targets)
        info = seq_info_from(outputs, indices, cfg, frames, objects, device)
        info = model(part="trajectory_modeling", seq_info=info)
        logits, labels, masks = model(part="id_decoder", seq_info=info,
                                      use_decoder_checkpoint=bool(cfg.get("USE_DECODER_CHECKPOINT", False)))
        loss = criterion.weighted_loss(detr_losses) + id_criterion(logits, labels, masks) * id_criterion.weight
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), float(cfg.get("MAX_CLIP_NORM", 0.1)))
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/stage1_universal_foundation.yaml")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--frames", type=int, default=30, help="clip length (SAMPLE_LENGTHS)")
    parser.add_argument("--max-size", type=int, default=None, help="longer image side (default AUG_MAX_SIZE)")
    parser.add_argument("--objects", type=int, default=20, help="objects per frame")
    parser.add_argument("--steps", type=int, default=3, help="timed steps (after one warm-up)")
    parser.add_argument("--dtypes", default="fp32,bf16")
    parser.add_argument("--set", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="override a config key (YAML value), e.g. --set MEMORY_EFFICIENT False")
    args = parser.parse_args()

    import yaml
    from motip.config import load_config
    from motip.model import build_criterion, build_id_criterion, build_model

    cfg = dict(load_config(args.config))
    for key, value in args.set:
        cfg[key] = yaml.safe_load(value)
    device = torch.device(args.device)
    longer = args.max_size or int(cfg.get("AUG_MAX_SIZE", 1000))
    height, width = (longer * 9 // 16) // 32 * 32, longer // 32 * 32  # 16:9 frame like DanceTrack/BDD
    torch.manual_seed(0)
    model = build_model(cfg).to(device).train()
    criterion, id_criterion = build_criterion(cfg), build_id_criterion(cfg)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    images, targets = synthetic_batch(cfg, args.frames, height, width, args.objects, device)
    print(f"config {args.config}  device {device}  clip {args.frames}x3x{height}x{width}  objects {args.objects}  "
          f"MEMORY_EFFICIENT={cfg.get('MEMORY_EFFICIENT', False)} USE_DECODER_CHECKPOINT="
          f"{cfg.get('USE_DECODER_CHECKPOINT', False)} DETR_NUM_TRAIN_FRAMES={cfg.get('DETR_NUM_TRAIN_FRAMES')} "
          f"DETR_NUM_CHECKPOINT_FRAMES={cfg.get('DETR_NUM_CHECKPOINT_FRAMES')}")
    for name in args.dtypes.split(","):
        dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]
        train_step(model, criterion, id_criterion, optimizer, cfg, images, targets, args.objects, dtype, device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        sync(device)
        start = time.perf_counter()
        for _ in range(args.steps):
            loss = train_step(model, criterion, id_criterion, optimizer, cfg, images, targets, args.objects, dtype,
                              device)
        sync(device)
        per_step = (time.perf_counter() - start) / args.steps
        peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if device.type == "cuda" else "n/a (CPU)"
        print(f"train {name:>4}: {per_step:.3f} s/step  peak memory {peak}  loss {loss:.3f}")

    model.eval()
    for name in ["fp32"] + (["fp16"] if device.type == "cuda" else []):
        infer = model if name == "fp32" else model.half()
        frame = images[:1].to(torch.float16 if name == "fp16" else torch.float32)
        with torch.no_grad():
            infer.detr(frame)
            sync(device)
            start = time.perf_counter()
            n = max(args.steps * 3, 5)
            for _ in range(n):
                infer.detr(frame)
            sync(device)
        print(f"inference {name}: {n / (time.perf_counter() - start):.2f} frames/s (DETR, batch 1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
