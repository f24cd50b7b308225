"""Typed settings: what the model, the losses, the optimiser, the data loader, the trainer and the tracker read.

Each concern is a frozen dataclass whose fields name one schema key each (``setting("KEY")`` records which); one
function per concern builds it from a config (``model_settings``, ``loss_settings``, ``optimizer_settings``,
``data_settings``, ``train_settings``, ``tracker_settings``). The value of a field is the config's value, or the
schema's default when the config lacks the key: ``motip.config.schema`` is the only place a default is written. A
resolved config (``load_config``) already holds every schema key; plain dicts (tests, bench scripts, the official
YAML) are completed from the schema the same way. Values are converted to the schema's type (a list becomes a tuple,
so the settings stay immutable).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from motip.config.schema import SCHEMA, VAL_CONFIG_SCHEMA, Key

_KEY = "schema_key"


def setting(key: str) -> Any:
    """A dataclass field read from the schema key ``key`` (its default is the schema's, never written here)."""
    if key not in SCHEMA:
        raise KeyError(f"{key} is not a schema key")
    return field(metadata={_KEY: key})


def setting_keys(settings_type: type) -> dict[str, str]:
    """{field name: schema key} of a settings dataclass."""
    return {f.name: f.metadata[_KEY] for f in dataclasses.fields(settings_type) if _KEY in f.metadata}


def config_value(config: Mapping[str, Any], key: str) -> Any:
    """``config[key]``, or the schema's default when the config lacks the key, converted to the schema's type."""
    return _convert(SCHEMA[key], config[key] if key in config else SCHEMA[key].default)


def val_config_value(val_config: Mapping[str, Any] | None, key: str) -> Any:
    """``val_config[key]``, or the val_config sub-schema's default when it lacks the key (or is None)."""
    val_config = val_config or {}
    return _convert(VAL_CONFIG_SCHEMA[key], val_config[key] if key in val_config else VAL_CONFIG_SCHEMA[key].default)


def _convert(key: Key, value: Any) -> Any:
    if value is None:
        return None
    kind = key.type
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        return bool(value)
    if kind == "str":
        return str(value)
    if kind.startswith("list["):
        item = {"int": int, "float": float, "str": str}[kind[5:-1]]
        return tuple(item(v) for v in value)
    if kind == "dict":
        return dict(value)  # a copy: the caller's mapping stays the config's
    return value


_Settings = TypeVar("_Settings")


def _build(settings_type: type[_Settings], config: Mapping[str, Any]) -> _Settings:
    return settings_type(**{name: config_value(config, key) for name, key in setting_keys(settings_type).items()})


# ----------------------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class ModelSettings:
    """The MOTIP network (``motip.model.build_model``): Deformable DETR, trajectory modeling, ID decoder."""

    num_classes: int = setting("NUM_CLASSES")
    backbone: str = setting("BACKBONE")
    backbone_pretrain: str | None = setting("BACKBONE_PRETRAIN")
    dilation: bool = setting("DILATION")
    detr_framework: str = setting("DETR_FRAMEWORK")
    num_queries: int = setting("DETR_NUM_QUERIES")
    num_feature_levels: int = setting("DETR_NUM_FEATURE_LEVELS")
    aux_loss: bool = setting("DETR_AUX_LOSS")
    with_box_refine: bool = setting("DETR_WITH_BOX_REFINE")
    two_stage: bool = setting("DETR_TWO_STAGE")
    hidden_dim: int = setting("DETR_HIDDEN_DIM")
    masks: bool = setting("DETR_MASKS")
    position_embedding: str = setting("DETR_POSITION_EMBEDDING")
    num_heads: int = setting("DETR_NUM_HEADS")
    enc_layers: int = setting("DETR_ENC_LAYERS")
    dec_layers: int = setting("DETR_DEC_LAYERS")
    dim_feedforward: int = setting("DETR_DIM_FEEDFORWARD")
    dropout: float = setting("DETR_DROPOUT")
    dec_n_points: int = setting("DETR_DEC_N_POINTS")
    enc_n_points: int = setting("DETR_ENC_N_POINTS")
    memory_efficient: bool = setting("MEMORY_EFFICIENT")
    only_detr: bool = setting("ONLY_DETR")
    feature_dim: int = setting("FEATURE_DIM")
    ffn_dim_ratio: int = setting("FFN_DIM_RATIO")
    id_dim: int = setting("ID_DIM")
    id_head_dim: int = setting("HEAD_DIM")
    num_id_decoder_layers: int = setting("NUM_ID_DECODER_LAYERS")
    num_id_vocabulary: int = setting("NUM_ID_VOCABULARY")
    rel_pe_length: int = setting("REL_PE_LENGTH")
    id_aux_loss: bool = setting("USE_AUX_LOSS")
    shared_aux_head: bool = setting("USE_SHARED_AUX_HEAD")


def model_settings(config: Mapping[str, Any]) -> ModelSettings:
    return _build(ModelSettings, config)


# ----------------------------------------------------------------------------------------------- losses
@dataclass(frozen=True)
class LossSettings:
    """The DETR set criterion with its Hungarian matcher, and the ID loss (``motip.model.build_criterion``,
    ``build_id_criterion``)."""

    num_classes: int = setting("NUM_CLASSES")
    dec_layers: int = setting("DETR_DEC_LAYERS")
    aux_loss: bool = setting("DETR_AUX_LOSS")
    cost_class: float = setting("DETR_SET_COST_CLASS")
    cost_bbox: float = setting("DETR_SET_COST_BBOX")
    cost_giou: float = setting("DETR_SET_COST_GIOU")
    cls_loss_coef: float = setting("DETR_CLS_LOSS_COEF")
    bbox_loss_coef: float = setting("DETR_BBOX_LOSS_COEF")
    giou_loss_coef: float = setting("DETR_GIOU_LOSS_COEF")
    focal_alpha: float = setting("DETR_FOCAL_ALPHA")
    criterion_batch_len: int = setting("DETR_CRITERION_BATCH_LEN")
    id_loss_weight: float = setting("ID_LOSS_WEIGHT")
    id_focal_loss: bool = setting("USE_FOCAL_LOSS")


def loss_settings(config: Mapping[str, Any]) -> LossSettings:
    return _build(LossSettings, config)


# ----------------------------------------------------------------------------------------------- optimiser
@dataclass(frozen=True)
class OptimizerSettings:
    """AdamW parameter groups, the warm-up and the step schedule (``motip.engine.optim``)."""

    lr: float = setting("LR")
    lr_backbone: float | None = setting("LR_BACKBONE")
    lr_backbone_scale: float = setting("LR_BACKBONE_SCALE")
    backbone_names: tuple[str, ...] = setting("LR_BACKBONE_NAMES")
    linear_proj_names: tuple[str, ...] = setting("LR_LINEAR_PROJ_NAMES")
    linear_proj_scale: float = setting("LR_LINEAR_PROJ_SCALE")
    dictionary_names: tuple[str, ...] = setting("LR_DICTIONARY_NAMES")
    dictionary_scale: float = setting("LR_DICTIONARY_SCALE")
    weight_decay: float = setting("WEIGHT_DECAY")
    warmup_epochs: int = setting("LR_WARMUP_EPOCHS")
    lr_drop: int | None = setting("LR_DROP")
    scheduler_milestones: tuple[int, ...] = setting("SCHEDULER_MILESTONES")
    scheduler_gamma: float = setting("SCHEDULER_GAMMA")

    @property
    def backbone_lr(self) -> float:
        """LR_BACKBONE (TRAIN.md's absolute value) when set, else LR * LR_BACKBONE_SCALE; 0 freezes the backbone."""
        return self.lr_backbone if self.lr_backbone is not None else self.lr * self.lr_backbone_scale

    @property
    def milestones(self) -> list[int]:
        """[LR_DROP] when LR_DROP is set, else SCHEDULER_MILESTONES."""
        return [self.lr_drop] if self.lr_drop is not None else list(self.scheduler_milestones)


def optimizer_settings(config: Mapping[str, Any]) -> OptimizerSettings:
    return _build(OptimizerSettings, config)


# ----------------------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class DataSettings:
    """Which built splits a training reads, how its clips are sampled and loaded, and the shape facts of a clip
    that the synthetic step (``motip.engine.step``) needs. The augmentation itself reads its AUG_* keys in
    ``motip.data.augment``."""

    data_root: str = setting("DATA_ROOT")
    datasets: tuple[str, ...] = setting("DATASETS")
    dataset_splits: tuple[str, ...] = setting("DATASET_SPLITS")
    num_classes: int = setting("NUM_CLASSES")
    sample_steps: tuple[int, ...] = setting("SAMPLE_STEPS")
    sample_lengths: tuple[int, ...] = setting("SAMPLE_LENGTHS")
    sample_intervals: tuple[int, ...] = setting("SAMPLE_INTERVALS")
    length_per_iteration: int | None = setting("LENGTH_PER_ITERATION")
    num_workers: int = setting("NUM_WORKERS")
    prefetch_factor: int = setting("PREFETCH_FACTOR")
    resize_scales: tuple[int, ...] = setting("AUG_RESIZE_SCALES")
    max_size: int = setting("AUG_MAX_SIZE")
    num_id_groups: int = setting("AUG_NUM_GROUPS")
    num_id_vocabulary: int = setting("NUM_ID_VOCABULARY")
    num_queries: int = setting("DETR_NUM_QUERIES")


def data_settings(config: Mapping[str, Any]) -> DataSettings:
    return _build(DataSettings, config)


# ----------------------------------------------------------------------------------------------- training
@dataclass(frozen=True)
class TrainSettings:
    """The training loop (``motip.engine.train``) and the synthetic step (``motip.engine.step``): what runs with
    gradients, precision, accumulation and clipping, logging, checkpoints, validation and resume."""

    seed: int = setting("SEED")
    device: str = setting("DEVICE")
    epochs: int = setting("EPOCHS")
    batch_size: int = setting("BATCH_SIZE")
    max_steps_per_epoch: int | None = setting("MAX_STEPS_PER_EPOCH")
    accumulate_steps: int = setting("ACCUMULATE_STEPS")
    max_clip_norm: float = setting("MAX_CLIP_NORM")
    separate_clip_norm: bool = setting("SEPARATE_CLIP_NORM")
    train_dtype: str = setting("TRAIN_DTYPE")
    detr_train_frames: int = setting("DETR_NUM_TRAIN_FRAMES")
    detr_checkpoint_frames: int = setting("DETR_NUM_CHECKPOINT_FRAMES")
    decoder_checkpoint: bool = setting("USE_DECODER_CHECKPOINT")
    memory_efficient: bool = setting("MEMORY_EFFICIENT")
    only_detr: bool = setting("ONLY_DETR")
    log_every_steps: int = setting("LOG_EVERY_STEPS")
    val_every_epochs: int = setting("VAL_EVERY_EPOCHS")
    save_checkpoint_every_epochs: int = setting("SAVE_CHECKPOINT_PER_EPOCH")
    keep_last_epoch_checkpoints: int = setting("MULTI_LAST_CHECKPOINTS")
    detr_pretrain: str | None = setting("DETR_PRETRAIN")
    resume_model: str | None = setting("RESUME_MODEL")
    resume_optimizer: bool = setting("RESUME_OPTIMIZER")
    resume_scheduler: bool = setting("RESUME_SCHEDULER")
    resume_states: bool = setting("RESUME_STATES")

    @property
    def use_decoder_checkpoint(self) -> bool:
        """Gradient checkpointing in the ID decoder: USE_DECODER_CHECKPOINT, or MEMORY_EFFICIENT's everywhere."""
        return self.decoder_checkpoint or self.memory_efficient


def train_settings(config: Mapping[str, Any]) -> TrainSettings:
    return _build(TrainSettings, config)


# ----------------------------------------------------------------------------------------------- tracker
@dataclass(frozen=True)
class TrackerSettings:
    """The runtime tracker (``motip.engine.tracking``): device, precision, image size, thresholds, ID assignment."""

    device: str = setting("DEVICE")
    inference_dtype: str = setting("INFERENCE_DTYPE")
    max_longer: int = setting("INFERENCE_MAX_LONGER")
    assignment_protocol: str = setting("ASSIGNMENT_PROTOCOL")
    miss_tolerance: int = setting("MISS_TOLERANCE")
    det_thresh: float = setting("DET_THRESH")
    newborn_thresh: float = setting("NEWBORN_THRESH")
    id_thresh: float = setting("ID_THRESH")
    area_thresh: float = setting("AREA_THRESH")
    only_detr: bool = setting("ONLY_DETR")
    inference_only_detr: bool | None = setting("INFERENCE_ONLY_DETR")
    id_focal_loss: bool = setting("USE_FOCAL_LOSS")

    @property
    def detector_only(self) -> bool:
        """Track with the detector alone: INFERENCE_ONLY_DETR when set, else the model's ONLY_DETR."""
        return self.only_detr if self.inference_only_detr is None else self.inference_only_detr


def tracker_settings(config: Mapping[str, Any]) -> TrackerSettings:
    return _build(TrackerSettings, config)


SETTINGS_TYPES: tuple[type, ...] = (ModelSettings, LossSettings, OptimizerSettings, DataSettings, TrainSettings,
                                    TrackerSettings)


def backbone_lr(config: Mapping[str, Any]) -> float:
    """The backbone's learning rate (``OptimizerSettings.backbone_lr``), read by the optimiser's backbone group and
    by the model, which builds a backbone whose rate is 0 without gradients."""
    return optimizer_settings(config).backbone_lr
