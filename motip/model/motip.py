"""The MOTIP model: `detr` + `trajectory_modeling` + `id_decoder` (official module names), built from config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

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

    def forward(self, part: str, **kwargs: Any):
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
    """Build MOTIP from the resolved YAML keys (official names). Weights are random (official init) unless
    BACKBONE_PRETRAIN names a local torchvision ResNet state dict; use `load_pretrain` for checkpoints."""
    missing = [k for k in _REQUIRED if k not in config]
    if missing:
        raise ConfigError(f"model config lacks {', '.join(missing)}", path=getattr(config, "path", None),
                          hint="set them in the YAML (see configs/r50_deformable_detr_motip_dancetrack.yaml)")
    if str(config.get("DETR_FRAMEWORK", "deformable_detr")).lower() != "deformable_detr":
        raise ConfigError(f"DETR_FRAMEWORK {config['DETR_FRAMEWORK']!r} is not supported",
                          path=getattr(config, "path", None), hint="use deformable_detr")
    if config.get("DETR_TWO_STAGE", False) or config.get("DETR_MASKS", False):
        raise ConfigError("DETR_TWO_STAGE and DETR_MASKS are not supported (the official MOTIP rejects them too)",
                          path=getattr(config, "path", None), hint="set both to False")
    hidden = int(config["DETR_HIDDEN_DIM"])
    if hidden % 32:
        raise ConfigError(f"DETR_HIDDEN_DIM {hidden} must be a multiple of 32 (GroupNorm(32) in input_proj)",
                          path=getattr(config, "path", None))

    backbone = build_backbone(config)
    if config.get("BACKBONE_PRETRAIN"):
        load_backbone_weights(backbone, config["BACKBONE_PRETRAIN"])
    transformer = DeformableTransformer(
        d_model=hidden, nhead=int(config["DETR_NUM_HEADS"]), num_encoder_layers=int(config["DETR_ENC_LAYERS"]),
        num_decoder_layers=int(config["DETR_DEC_LAYERS"]), dim_feedforward=int(config["DETR_DIM_FEEDFORWARD"]),
        dropout=float(config.get("DETR_DROPOUT", 0.0)), num_feature_levels=int(config["DETR_NUM_FEATURE_LEVELS"]),
        dec_n_points=int(config.get("DETR_DEC_N_POINTS", 4)), enc_n_points=int(config.get("DETR_ENC_N_POINTS", 4)),
    )
    detr = DeformableDETR(backbone, transformer, num_classes=int(config["NUM_CLASSES"]),
                          num_queries=int(config["DETR_NUM_QUERIES"]),
                          num_feature_levels=int(config["DETR_NUM_FEATURE_LEVELS"]),
                          aux_loss=bool(config.get("DETR_AUX_LOSS", True)),
                          with_box_refine=bool(config.get("DETR_WITH_BOX_REFINE", True)))
    if config.get("MEMORY_EFFICIENT", False):
        # Our addition for 24 GB cards: recompute encoder/decoder layers in backward.
        detr.set_layer_checkpointing(True)

    only_detr = bool(config.get("ONLY_DETR", False))
    trajectory_modeling = id_decoder = None
    if not only_detr:
        feature_dim = int(config.get("FEATURE_DIM", hidden))
        if feature_dim != hidden:
            raise ConfigError(f"FEATURE_DIM ({feature_dim}) must equal DETR_HIDDEN_DIM ({hidden})",
                              path=getattr(config, "path", None),
                              hint="trajectory modeling adds DETR embeddings to FEATURE_DIM features")
        ffn_ratio = int(config.get("FFN_DIM_RATIO", 2))
        trajectory_modeling = TrajectoryModeling(detr_dim=hidden, ffn_dim_ratio=ffn_ratio, feature_dim=feature_dim)
        id_decoder = IDDecoder(
            feature_dim=feature_dim, id_dim=int(config.get("ID_DIM", 256)), ffn_dim_ratio=ffn_ratio,
            num_layers=int(config.get("NUM_ID_DECODER_LAYERS", 6)), head_dim=int(config.get("HEAD_DIM", 32)),
            num_id_vocabulary=int(config.get("NUM_ID_VOCABULARY", 50)),
            rel_pe_length=int(config.get("REL_PE_LENGTH", 30)), use_aux_loss=bool(config.get("USE_AUX_LOSS", False)),
            use_shared_aux_head=bool(config.get("USE_SHARED_AUX_HEAD", True)),
        )
    return MOTIP(detr, only_detr, trajectory_modeling, id_decoder)


def inference_dtype(config: Mapping[str, Any]) -> torch.dtype:
    """INFERENCE_DTYPE (FP32 | FP16 | BF16) as a torch dtype; the tracker casts the model with `.to(dtype)`."""
    name = str(config.get("INFERENCE_DTYPE", "FP32")).upper()
    table = {"FP32": torch.float32, "FP16": torch.float16, "BF16": torch.bfloat16}
    if name not in table:
        raise ConfigError(f"INFERENCE_DTYPE {name!r} is not one of FP32, FP16, BF16",
                          path=getattr(config, "path", None))
    return table[name]
