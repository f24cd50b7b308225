"""Multi-process training: ``torchrun --nproc_per_node N -m motip train ...`` sets RANK/WORLD_SIZE/LOCAL_RANK.

NCCL on CUDA (one GPU per local rank), gloo on CPU. Rank 0 alone writes train.log, checkpoints and runs validation;
the others wait at a barrier.
"""

from __future__ import annotations

import os
from datetime import timedelta
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun; returns the rank info and this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(), device
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        # Long timeout: the other ranks wait at a barrier while rank 0 validates (minutes on a real val split).
        dist.init_process_group(backend=backend, rank=rank, world_size=world, timeout=timedelta(hours=2))
    return DistInfo(rank, world, local_rank), device


def wrap_model(model: torch.nn.Module, info: DistInfo, device: torch.device) -> torch.nn.Module:
    """The module a training step calls: DistributedDataParallel (gradients averaged across ranks) under torchrun,
    else ``model`` itself."""
    if not info.enabled:
        return model
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=False)


def barrier(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()


def any_rank(info: DistInfo, flag: bool, device: torch.device) -> bool:
    """True when ``flag`` is True on any rank (so every rank stops together, e.g. on a non-finite loss)."""
    if not info.enabled:
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item() > 0)


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
