"""AdamW with the official MOTIP parameter groups, the LR warm-up and the step LR schedule.

Groups (by parameter-name substrings, as the official ``get_param_groups``): backbone (LR_BACKBONE_NAMES) at
LR_BACKBONE when set (TRAIN.md's absolute value) else LR * LR_BACKBONE_SCALE; linear projections
(LR_LINEAR_PROJ_NAMES) at LR * LR_LINEAR_PROJ_SCALE; ID dictionary (LR_DICTIONARY_NAMES) at LR * LR_DICTIONARY_SCALE;
everything else at LR. Each group keeps ``lr_scale`` = its LR / LR, which the warm-up uses.

Schedule: MultiStepLR stepped once after every epoch with milestones [LR_DROP] when LR_DROP is set, else
SCHEDULER_MILESTONES, factor SCHEDULER_GAMMA. Milestone m means: the LR is multiplied when 0-based epoch m starts,
i.e. after m epochs. TRAIN.md's ``LR_DROP: 7`` with 10 epochs trains epochs 1-7 (1-based, as train.log numbers
them) at LR and epochs 8-10 at LR * SCHEDULER_GAMMA.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn
from torch.optim import AdamW
from torch.optim.lr_scheduler import MultiStepLR

from motip.config.settings import optimizer_settings


def _matches(name: str, parts: list[str]) -> bool:
    return any(part in name for part in parts)


def param_groups(model: nn.Module, config: Mapping[str, Any]) -> list[dict[str, Any]]:
    settings = optimizer_settings(config)
    lr = settings.lr
    backbone_scale = settings.backbone_lr / lr
    backbone, linear_proj, dictionary = (list(settings.backbone_names), list(settings.linear_proj_names),
                                         list(settings.dictionary_names))
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        ("backbone", backbone_scale, [p for n, p in named if _matches(n, backbone)]),
        ("linear_proj", settings.linear_proj_scale,
         [p for n, p in named if _matches(n, linear_proj) and not _matches(n, backbone)]),
        ("dictionary", settings.dictionary_scale,
         [p for n, p in named if _matches(n, dictionary) and not _matches(n, backbone + linear_proj)]),
        ("other", 1.0, [p for n, p in named if not _matches(n, backbone + linear_proj + dictionary)]),
    ]
    return [{"params": params, "lr": lr * scale, "lr_scale": scale, "name": name} for name, scale, params in groups]


def build_optimizer(model: nn.Module, config: Mapping[str, Any]) -> tuple[AdamW, MultiStepLR]:
    settings = optimizer_settings(config)
    optimizer = AdamW(param_groups(model, config), lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = MultiStepLR(optimizer, milestones=settings.milestones, gamma=settings.scheduler_gamma)
    return optimizer, scheduler


def warmup_lr(optimizer: AdamW, base_lr: float, epoch: int, step: int, steps_per_epoch: int,
              warmup_epochs: int) -> None:
    """Linear warm-up over the first ``warmup_epochs`` epochs (official ``lr_warmup``), per step."""
    total = max(warmup_epochs * steps_per_epoch, 1)
    lr = base_lr * (epoch * steps_per_epoch + step + 1) / total
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


def group_lr(optimizer: AdamW, name: str) -> float:
    for group in optimizer.param_groups:
        if group.get("name") == name:
            return float(group["lr"])
    return float(optimizer.param_groups[-1]["lr"])
