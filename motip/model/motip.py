"""The MOTIP model: `detr` + `trajectory_modeling` + `id_decoder` (official module names), built from config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from motip.config.settings import model_settings, tracker_settings
from motip.errors import ConfigError
from motip.model.backbone import build_backbone, load_backbone_weights
from motip.model.deformable_detr import DeformableDETR
from motip.model.deformable_transformer import DeformableTransformer
from motip.model.id_decoder import IDDecoder
from motip.model.trajectory_modeling import TrajectoryModeling


class MOTIP(nn.Module):
    """Holds the three parts; `forward(part=..., ...)` mirrors the official call style used by its tracker."""

    def __init__(self, detr: DeformableDETR, only_detr: bool, trajectory_modeling: TrajectoryModeling | None,
                 id_decoder: IDDecoder | None) -> None:
        super().__init__()
        self.detr = detr
        self.detr_framework = "deformable_detr"
        self.only_detr = only_detr
        self.trajectory_modeling = trajectory_modeling
        self.id_decoder = id_decoder
        self.num_id_vocabulary = id_decoder.num_id_vocabulary if id_decoder is not None else 1000

    def forward(self, part: str, **kwargs: Any) -> Any:  # each part returns its own module's output
        if part == "detr":
            frames = kwargs["frames"]
            if kwargs.get("use_checkpoint"):
                return checkpoint(self.detr, frames, use_reentrant=False)
            return self.detr(frames)
        if part == "trajectory_modeling":
            return self.trajectory_modeling(kwargs["seq_info"])
        if part == "id_decoder":
            return self.id_decoder(kwargs["seq_info"],
                                   use_decoder_checkpoint=kwargs.get("use_decoder_checkpoint", False))
        raise ValueError(f"MOTIP forward has no part {part!r}")


_REQUIRED = ("NUM_CLASSES", "BACKBONE", "DETR_NUM_QUERIES", "DETR_NUM_FEATURE_LEVELS", "DETR_HIDDEN_DIM",
             "DETR_NUM_HEADS", "DETR_ENC_LAYERS", "DETR_DEC_LAYERS", "DETR_DIM_FEEDFORWARD")


def build_model(config: Mapping[str, Any]) -> MOTIP:
    """Build MOTIP from the resolved YAML keys (official names, read as ``motip.config.ModelSettings``). Weights are
    random (official init) unless BACKBONE_PRETRAIN names a local torchvision ResNet state dict; use
    `load_pretrain` for checkpoints. The architecture keys (``_REQUIRED``) must be in ``config``; the others default
    to the schema's values."""
    missing = [k for k in _REQUIRED if k not in config]
    if missing:
        raise ConfigError(f"model config lacks {', '.join(missing)}", path=getattr(config, "path", None),
                          hint="set them in the YAML (see configs/r50_deformable_detr_motip_dancetrack.yaml)")
    settings = model_settings(config)
    if settings.detr_framework.lower() != "deformable_detr":
        raise ConfigError(f"DETR_FRAMEWORK {settings.detr_framework!r} is not supported",
                          path=getattr(config, "path", None), hint="use deformable_detr")
    if settings.two_stage or settings.masks:
        raise ConfigError("DETR_TWO_STAGE and DETR_MASKS are not supported (the official MOTIP rejects them too)",
                          path=getattr(config, "path", None), hint="set both to False")
    hidden = settings.hidden_dim
    if hidden % 32:
        raise ConfigError(f"DETR_HIDDEN_DIM {hidden} must be a multiple of 32 (GroupNorm(32) in input_proj)",
                          path=getattr(config, "path", None))

    backbone = build_backbone(config)
    if settings.backbone_pretrain:
        load_backbone_weights(backbone, settings.backbone_pretrain)
    transformer = DeformableTransformer(
        d_model=hidden, nhead=settings.num_heads, num_encoder_layers=settings.enc_layers,
        num_decoder_layers=settings.dec_layers, dim_feedforward=settings.dim_feedforward,
        dropout=settings.dropout, num_feature_levels=settings.num_feature_levels,
        dec_n_points=settings.dec_n_points, enc_n_points=settings.enc_n_points,
    )
    detr = DeformableDETR(backbone, transformer, num_classes=settings.num_classes, num_queries=settings.num_queries,
                          num_feature_levels=settings.num_feature_levels, aux_loss=settings.aux_loss,
                          with_box_refine=settings.with_box_refine)
    if settings.memory_efficient:
        # Our addition for 24 GB cards: recompute encoder/decoder layers in backward.
        detr.set_layer_checkpointing(True)

    trajectory_modeling = id_decoder = None
    if not settings.only_detr:
        feature_dim = settings.feature_dim
        if feature_dim != hidden:
            raise ConfigError(f"FEATURE_DIM ({feature_dim}) must equal DETR_HIDDEN_DIM ({hidden})",
                              path=getattr(config, "path", None),
                              hint="trajectory modeling adds DETR embeddings to FEATURE_DIM features")
        ffn_ratio = settings.ffn_dim_ratio
        trajectory_modeling = TrajectoryModeling(detr_dim=hidden, ffn_dim_ratio=ffn_ratio, feature_dim=feature_dim)
        id_decoder = IDDecoder(
            feature_dim=feature_dim, id_dim=settings.id_dim, ffn_dim_ratio=ffn_ratio,
            num_layers=settings.num_id_decoder_layers, head_dim=settings.id_head_dim,
            num_id_vocabulary=settings.num_id_vocabulary, rel_pe_length=settings.rel_pe_length,
            use_aux_loss=settings.id_aux_loss, use_shared_aux_head=settings.shared_aux_head,
        )
    return MOTIP(detr, settings.only_detr, trajectory_modeling, id_decoder)


def inference_dtype(config: Mapping[str, Any]) -> torch.dtype:
    """INFERENCE_DTYPE (FP32 | FP16 | BF16) as a torch dtype; the tracker casts the model with `.to(dtype)`."""
    name = tracker_settings(config).inference_dtype.upper()
    table = {"FP32": torch.float32, "FP16": torch.float16, "BF16": torch.bfloat16}
    if name not in table:
        raise ConfigError(f"INFERENCE_DTYPE {name!r} is not one of FP32, FP16, BF16",
                          path=getattr(config, "path", None))
    return table[name]
