"""Benchmark one MOTIP training step and DETR inference speed.

A training step follows the official loop: a clip of --frames frames at --max-size (longer side), of which
DETR_NUM_TRAIN_FRAMES run with gradients (checkpointed in chunks of DETR_NUM_CHECKPOINT_FRAMES when > 0) and the
rest without, through the trainer's own DETR pass; the DETR criterion on all frames; the trajectory modeling + ID
decoder over the whole clip (AUG_NUM_GROUPS groups, --objects objects per frame, checkpointed when
USE_DECODER_CHECKPOINT or MEMORY_EFFICIENT); backward; AdamW step. Reports seconds/step and peak memory (CUDA) for
fp32 and bf16 autocast, and DETR inference frames/s in INFERENCE_DTYPE-style fp32/fp16 (fp16 on CUDA only).

    .venv/bin/python bench/model_step.py --config configs/stage1_universal_foundation.yaml --device cuda
    .venv/bin/python bench/model_step.py --config configs/tiny_cpu.yaml --device cpu --frames 8 --max-size 320
"""

from __future__ import annotations

import argparse
import time

import torch

# The step itself lives in the core (motip doctor runs it too).
from motip.engine.step import objects_per_frame, sync, synthetic_batch, train_step


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
    args.objects = objects_per_frame(cfg, args.objects)  # at most the queries and the ID vocabulary
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
