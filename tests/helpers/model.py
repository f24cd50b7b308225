"""Small model configs, the official config and state-dict manifests, and synthetic inputs for the model tests."""

from __future__ import annotations

import json
from typing import Any

import torch
import yaml

from tests.helpers.paths import DATA_DIR

SPEC_DIR = DATA_DIR / "spec"  # copies of the official state-dict manifests (tests/data/README.md)


def tiny_config(**overrides: Any) -> dict[str, Any]:
    """A CPU-sized MOTIP config using the official key names."""
    cfg: dict[str, Any] = {
        "NUM_CLASSES": 2, "BACKBONE": "resnet18", "DILATION": False, "LR": 1e-4, "LR_BACKBONE_SCALE": 0.1,
        "DETR_NUM_QUERIES": 12, "DETR_NUM_FEATURE_LEVELS": 4, "DETR_AUX_LOSS": True, "DETR_WITH_BOX_REFINE": True,
        "DETR_TWO_STAGE": False, "DETR_HIDDEN_DIM": 64, "DETR_MASKS": False, "DETR_POSITION_EMBEDDING": "sine",
        "DETR_NUM_HEADS": 8, "DETR_ENC_LAYERS": 1, "DETR_DEC_LAYERS": 2, "DETR_DIM_FEEDFORWARD": 128,
        "DETR_DROPOUT": 0.0, "DETR_DEC_N_POINTS": 4, "DETR_ENC_N_POINTS": 4,
        "DETR_CLS_LOSS_COEF": 2.0, "DETR_BBOX_LOSS_COEF": 5.0, "DETR_GIOU_LOSS_COEF": 2.0, "DETR_FOCAL_ALPHA": 0.25,
        "DETR_SET_COST_CLASS": 2.0, "DETR_SET_COST_BBOX": 5.0, "DETR_SET_COST_GIOU": 2.0,
        "DETR_CRITERION_BATCH_LEN": 2,
        "ONLY_DETR": False, "NUM_ID_VOCABULARY": 10, "FEATURE_DIM": 64, "FFN_DIM_RATIO": 2, "ID_DIM": 64,
        "HEAD_DIM": 32, "NUM_ID_DECODER_LAYERS": 2, "REL_PE_LENGTH": 8, "USE_AUX_LOSS": False,
        "USE_SHARED_AUX_HEAD": True, "ID_LOSS_WEIGHT": 1.0, "USE_FOCAL_LOSS": False,
    }
    cfg.update(overrides)
    return cfg


def official_config(**overrides: Any) -> dict[str, Any]:
    """The official DanceTrack config (a copy of MCG-NJU/MOTIP's file, tests/data/README.md)."""
    cfg = yaml.safe_load((DATA_DIR / "official_r50_deformable_detr_motip_dancetrack.yaml").read_text())
    cfg.update(overrides)
    return cfg


def load_spec(name: str) -> list[dict[str, Any]]:
    return json.loads((SPEC_DIR / name).read_text())["state_dict"]


def synthetic_seq_info(b: int = 1, g: int = 2, t: int = 4, n: int = 3, dim: int = 64, vocab: int = 10,
                       seed: int = 0) -> dict[str, torch.Tensor]:
    """A clip of t frames with n objects (some padded), shaped like the official prepare_for_motip output."""
    gen = torch.Generator().manual_seed(seed)
    masks = torch.rand((b, g, t, n), generator=gen) < 0.2
    labels = torch.stack([torch.randperm(vocab, generator=gen)[:n] for _ in range(b * g * t)]).view(b, g, t, n)
    # The same object keeps its label within a group; unknowns may be "newborn" (label = vocab).
    labels = labels[:, :, :1].expand(b, g, t, n).clone()
    times = torch.arange(t).view(1, 1, t, 1).expand(b, g, t, n).clone()
    unknown_labels = labels.clone()
    unknown_labels[:, :, :, -1] = vocab
    return {
        "trajectory_features": torch.randn((b, g, t, n, dim), generator=gen),
        "trajectory_id_labels": labels.masked_fill(masks, -1).clamp(min=0),
        "trajectory_times": times.clone(),
        "trajectory_masks": masks.clone(),
        "unknown_features": torch.randn((b, g, t, n, dim), generator=gen),
        "unknown_id_labels": unknown_labels,
        "unknown_times": times.clone(),
        "unknown_masks": masks.clone(),
    }


def synthetic_targets(num_frames: int, num_classes: int = 2, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    targets = []
    for i in range(num_frames):
        n = 1 + i % 3
        centres = torch.rand((n, 2), generator=gen) * 0.6 + 0.2
        sizes = torch.rand((n, 2), generator=gen) * 0.2 + 0.05
        targets.append({"boxes": torch.cat([centres, sizes], 1),
                        "labels": torch.randint(0, num_classes, (n,), generator=gen)})
    return targets
