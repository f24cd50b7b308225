"""Every known YAML experiment-config key: its type, default and one-line meaning.

The defaults are the official MOTIP DanceTrack config (MCG-NJU/MOTIP ``configs/r50_deformable_detr_motip_dancetrack.yaml``)
plus the keys TRAIN.md uses (LR_DROP, LR_BACKBONE, MEMORY_EFFICIENT, OUTPUT_DIR, val_config, root_path) and a few of
ours (marked "ours"). ``configs/r50_deformable_detr_motip_dancetrack.yaml`` spells the same defaults out; a test keeps
the two in agreement.

Types: ``int``, ``float`` (an int is accepted), ``bool``, ``str``, ``list[int]``, ``list[float]``, ``list[str]``,
``dict`` (val_config only, with its own sub-schema). ``nullable`` keys may be ``null``.

Value rules (``Key.problem``, checked by the loader for every file and override, so ``motip train`` refuses a value
that cannot work before it creates a run folder): a float must be finite (``nan``/``inf`` never train), and the keys
in ``_VALUE_RULES`` have a minimum (``EPOCHS >= 1``, ``NUM_WORKERS >= 0``, ...) and lists a minimum length
(``SAMPLE_LENGTHS`` not empty).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Key:
    name: str
    type: str
    default: Any
    meaning: str
    nullable: bool = False
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None      # for numbers, and for each item of a list of numbers
    min_items: int | None = None      # for lists

    def problem(self, value: Any) -> str | None:
        """Why an already type-checked ``value`` cannot work for this key (None when it can)."""
        if value is None:
            return None
        items = value if isinstance(value, list) else [value]
        if self.min_items is not None and isinstance(value, list) and len(value) < self.min_items:
            return f"needs at least {self.min_items} item{'s' if self.min_items > 1 else ''}, got {value!r}"
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                continue
            if isinstance(item, float) and not math.isfinite(item):
                return f"must be a finite number, got {item}"
            if self.minimum is not None and item < self.minimum:
                which = "every item " if isinstance(value, list) else ""
                return f"{which}must be >= {self.minimum:g}, got {item:g}"
        return None


def _k(name: str, type_: str, default: Any, meaning: str, nullable: bool = False,
       choices: tuple[Any, ...] | None = None) -> Key:
    return Key(name, type_, default, meaning, nullable or default is None, choices)


_KEYS: list[Key] = [
    # --- inheritance and paths
    _k("SUPER_CONFIG_PATH", "str", None, "parent config to inherit from (child keys override; val_config merges key by key)"),
    _k("root_path", "str", None, "folder that relative paths in this config are relative to (default: the working directory)"),
    # --- seed and system
    _k("SEED", "int", 42, "random seed for sampling, augmentation and initialisation"),
    _k("NUM_WORKERS", "int", 6, "data-loader worker processes"),
    _k("PREFETCH_FACTOR", "int", 6, "batches each data-loader worker prepares ahead"),
    _k("DEVICE", "str", "cuda", "device to train/infer on: cuda, cpu, or auto (cuda when available)", choices=("cuda", "cpu", "auto")),
    # --- data paths
    _k("DATA_ROOT", "str", "./datasets/", "folder holding the built datasets (the builder's output symlink lives here)"),
    _k("DATASETS", "list[str]", ["DanceTrack"], "dataset folders under DATA_ROOT to train on"),
    _k("DATASET_SPLITS", "list[str]", ["train"], "split of each dataset in DATASETS to train on"),
    # --- sampling
    _k("SAMPLE_STEPS", "list[int]", [0], "epochs at which the next SAMPLE_LENGTHS/SAMPLE_INTERVALS entry takes effect"),
    _k("SAMPLE_LENGTHS", "list[int]", [30], "frames per training clip (per SAMPLE_STEPS stage)"),
    _k("SAMPLE_INTERVALS", "list[int]", [4], "max frame gap between consecutive sampled frames (per SAMPLE_STEPS stage)"),
    _k("LENGTH_PER_ITERATION", "int", None, "frames processed per iteration (the clip length must be divisible by it); null = whole clip"),
    # --- image augmentation
    _k("AUG_RESIZE_SCALES", "list[int]", [480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800], "shorter-side sizes for random resize"),
    _k("AUG_MAX_SIZE", "int", 1440, "longer-side cap after resize (lower it to save memory)"),
    _k("AUG_RANDOM_RESIZE", "list[int]", [400, 500, 600], "sizes for the resize-crop-resize branch"),
    _k("AUG_RANDOM_CROP_MIN", "int", 384, "minimum random crop size"),
    _k("AUG_RANDOM_CROP_MAX", "int", 600, "maximum random crop size"),
    _k("AUG_MAX_SHIFT_RATIO", "float", 0.06, "max random shift between frames of a clip, as a share of the image size"),
    _k("AUG_OVERFLOW_BBOX", "bool", False, "keep boxes that overflow the crop instead of clipping them"),
    _k("AUG_BRIGHTNESS", "float", 0.4, "colour jitter: brightness"),
    _k("AUG_CONTRAST", "float", 0.4, "colour jitter: contrast"),
    _k("AUG_SATURATION", "float", 0.4, "colour jitter: saturation"),
    _k("AUG_HUE", "float", 0.2, "colour jitter: hue"),
    _k("AUG_COLOR_JITTER_V2", "bool", False, "use the per-frame colour jitter variant"),
    _k("AUG_NUM_GROUPS", "int", 6, "ID-assignment groups per clip (trajectory augmentation)"),
    _k("AUG_TRAJECTORY_OCCLUSION_PROB", "float", 0.5, "probability of randomly occluding trajectory tokens"),
    _k("AUG_TRAJECTORY_SWITCH_PROB", "float", 0.5, "probability of randomly switching trajectory ids"),
    # --- MOTIP model
    _k("ONLY_DETR", "bool", False, "train the detector only (no ID decoder)"),
    _k("NUM_CLASSES", "int", 1, "object classes (1 = person; 2 = person + vehicle as in TRAIN.md)"),
    _k("NUM_ID_VOCABULARY", "int", 50, "ID words in the ID dictionary (plus one newborn token)"),
    _k("DETR_FRAMEWORK", "str", "deformable_detr", "detector framework", choices=("deformable_detr",)),
    _k("FEATURE_DIM", "int", 256, "trajectory feature dimension"),
    _k("FFN_DIM_RATIO", "int", 2, "FFN width as a multiple of FEATURE_DIM in the ID decoder"),
    _k("ID_DIM", "int", 256, "ID embedding dimension"),
    _k("HEAD_DIM", "int", 32, "attention head dimension in the ID decoder"),
    _k("NUM_ID_DECODER_LAYERS", "int", 6, "ID decoder layers"),
    _k("ID_LOSS_WEIGHT", "float", 1.0, "weight of the ID loss"),
    _k("REL_PE_LENGTH", "int", 30, "length of the relative position encoding (frames)"),
    _k("USE_AUX_LOSS", "bool", False, "ID loss on every ID decoder layer"),
    _k("USE_SHARED_AUX_HEAD", "bool", True, "share the ID head across decoder layers"),
    _k("USE_FOCAL_LOSS", "bool", False, "focal loss for the ID loss"),
    # --- Deformable DETR
    _k("BACKBONE", "str", "resnet50", "torchvision backbone", choices=("resnet18", "resnet34", "resnet50", "resnet101")),
    _k("BACKBONE_PRETRAIN", "str", None, "ours: local torchvision ResNet weights file (never downloaded); null = as loaded from DETR_PRETRAIN"),
    _k("DILATION", "bool", False, "dilate the last backbone stage"),
    _k("DETR_NUM_QUERIES", "int", 300, "detection queries"),
    _k("DETR_NUM_FEATURE_LEVELS", "int", 4, "feature levels of the deformable transformer"),
    _k("DETR_AUX_LOSS", "bool", True, "detection loss on every decoder layer"),
    _k("DETR_WITH_BOX_REFINE", "bool", True, "iterative box refinement"),
    _k("DETR_TWO_STAGE", "bool", False, "two-stage Deformable DETR"),
    _k("DETR_HIDDEN_DIM", "int", 256, "transformer width"),
    _k("DETR_MASKS", "bool", False, "segmentation head (unsupported, keep False)"),
    _k("DETR_POSITION_EMBEDDING", "str", "sine", "position embedding", choices=("sine", "learned")),
    _k("DETR_NUM_HEADS", "int", 8, "attention heads"),
    _k("DETR_ENC_LAYERS", "int", 6, "encoder layers"),
    _k("DETR_DEC_LAYERS", "int", 6, "decoder layers"),
    _k("DETR_DIM_FEEDFORWARD", "int", 1024, "transformer FFN width"),
    _k("DETR_DROPOUT", "float", 0.0, "transformer dropout"),
    _k("DETR_DEC_N_POINTS", "int", 4, "sampling points per head and level in the decoder"),
    _k("DETR_ENC_N_POINTS", "int", 4, "sampling points per head and level in the encoder"),
    _k("DETR_CLS_LOSS_COEF", "float", 2.0, "classification loss weight"),
    _k("DETR_BBOX_LOSS_COEF", "float", 5.0, "L1 box loss weight"),
    _k("DETR_GIOU_LOSS_COEF", "float", 2.0, "GIoU loss weight"),
    _k("DETR_FOCAL_ALPHA", "float", 0.25, "focal loss alpha"),
    _k("DETR_SET_COST_CLASS", "float", 2.0, "matcher: class cost"),
    _k("DETR_SET_COST_BBOX", "float", 5.0, "matcher: L1 box cost"),
    _k("DETR_SET_COST_GIOU", "float", 2.0, "matcher: GIoU cost"),
    _k("DETR_CRITERION_BATCH_LEN", "int", 10, "frames per chunk when computing the DETR criterion"),
    # --- training
    _k("BATCH_SIZE", "int", 1, "clips per step per GPU"),
    _k("LR", "float", 1.0e-4, "base learning rate (AdamW)"),
    _k("LR_BACKBONE", "float", None, "TRAIN.md: absolute backbone learning rate; when set it replaces LR * LR_BACKBONE_SCALE"),
    _k("LR_BACKBONE_NAMES", "list[str]", ["backbone.0"], "parameter-name parts that belong to the backbone group"),
    _k("LR_BACKBONE_SCALE", "float", 0.1, "backbone LR = LR * this (unless LR_BACKBONE is set)"),
    _k("LR_LINEAR_PROJ_NAMES", "list[str]", ["reference_points", "sampling_offsets"], "parameter-name parts of the linear-projection group"),
    _k("LR_LINEAR_PROJ_SCALE", "float", 0.05, "linear-projection LR = LR * this"),
    _k("LR_DICTIONARY_NAMES", "list[str]", ["word_to_embed", "embed_to_word"], "parameter-name parts of the ID-dictionary group"),
    _k("LR_DICTIONARY_SCALE", "float", 1.0, "ID-dictionary LR = LR * this"),
    _k("LR_WARMUP_EPOCHS", "int", 1, "epochs of linear LR warm-up"),
    _k("LR_DROP", "int", None, "TRAIN.md: epoch at which the LR is multiplied by SCHEDULER_GAMMA; when set it replaces SCHEDULER_MILESTONES with [LR_DROP]"),
    _k("WEIGHT_DECAY", "float", 0.0005, "AdamW weight decay"),
    _k("MAX_CLIP_NORM", "float", 0.1, "gradient clipping max norm (0 = no clipping; the norm is still logged)"),
    _k("EPOCHS", "int", 10, "training epochs"),
    _k("SCHEDULER_MILESTONES", "list[int]", [6, 9], "epochs at which the LR is multiplied by SCHEDULER_GAMMA"),
    _k("SCHEDULER_GAMMA", "float", 0.1, "LR multiplier at each milestone"),
    _k("DETR_NUM_TRAIN_FRAMES", "int", 4, "frames of each clip that get DETR gradients (the rest run without grad)"),
    _k("DETR_NUM_CHECKPOINT_FRAMES", "int", 5, "frames per DETR gradient-checkpoint chunk (0 = off)"),
    _k("USE_DECODER_CHECKPOINT", "bool", False, "gradient checkpointing in the ID decoder"),
    _k("MEMORY_EFFICIENT", "bool", False, "TRAIN.md: trade compute for memory (checkpointing everywhere) to fit 24 GB"),
    _k("ACCUMULATE_STEPS", "int", 1, "gradient accumulation steps per optimizer step"),
    _k("SEPARATE_CLIP_NORM", "bool", True, "clip DETR and ID-decoder gradients separately"),
    _k("USE_ACCELERATE_CLIP_NORM", "bool", True, "official option kept for compatibility (clipping is always done by torch)"),
    _k("TRAIN_DTYPE", "str", "FP32", "ours: autocast dtype for training (AMP)", choices=("FP32", "BF16", "FP16")),
    _k("MAX_STEPS_PER_EPOCH", "int", None, "ours: cap the steps of each epoch (quick runs)"),
    _k("LOG_EVERY_STEPS", "int", 1, "ours: write a train.log step line every N optimizer steps"),
    _k("VAL_EVERY_EPOCHS", "int", 1, "ours: validate every N epochs (0 = never)"),
    # --- resume and pretrain
    _k("DETR_PRETRAIN", "str", "./pretrains/r50_deformable_detr_coco_dancetrack.pth", "weights to start from (official MOTIP checkpoint, DETR-only pretrain or one of ours); null = from scratch", nullable=True),
    _k("RESUME_MODEL", "str", None, "checkpoint to resume from"),
    _k("RESUME_OPTIMIZER", "bool", True, "also restore the optimizer state when resuming"),
    _k("RESUME_SCHEDULER", "bool", True, "also restore the LR scheduler when resuming"),
    _k("RESUME_STATES", "bool", True, "also restore epoch/step counters when resuming"),
    # --- inference and tracking
    _k("INFERENCE_MODEL", "str", None, "model path for inference"),
    _k("INFERENCE_DATASET", "str", "DanceTrack", "dataset for inference"),
    _k("INFERENCE_SPLIT", "str", "val", "split for inference"),
    _k("INFERENCE_MODE", "str", "evaluate", "evaluate or submit", choices=("evaluate", "submit")),
    _k("INFERENCE_GROUP", "str", "default", "group name for inference outputs"),
    _k("INFERENCE_MAX_LONGER", "int", 1440, "longer-side cap of inference images"),
    _k("INFERENCE_DTYPE", "str", "FP32", "inference precision", choices=("FP32", "FP16", "BF16")),
    _k("ASSIGNMENT_PROTOCOL", "str", "object-max", "runtime ID assignment", choices=("object-max", "hungarian", "id-max")),
    _k("MISS_TOLERANCE", "int", 30, "frames a lost trajectory is kept"),
    _k("DET_THRESH", "float", 0.3, "detection score threshold"),
    _k("NEWBORN_THRESH", "float", 0.6, "score threshold for starting a new trajectory"),
    _k("ID_THRESH", "float", 0.2, "ID confidence threshold"),
    _k("AREA_THRESH", "float", 0, "minimum box area"),
    _k("INFERENCE_ONLY_DETR", "bool", None, "inference with the detector only"),
    # --- outputs
    _k("OUTPUT_DIR", "str", None, "TRAIN.md: run folder; null = outputs/<config stem>_<YYYYmmdd_HHMMSS>"),
    _k("OUTPUTS_DIR", "str", None, "official name of the outputs directory (OUTPUT_DIR wins)"),
    _k("USE_WANDB", "bool", False, "log to Weights & Biases (unsupported here; keep False)"),
    _k("EXP_OWNER", "str", "hellorpg", "experiment owner (official, informational)"),
    _k("EXP_PROJECT", "str", "MOTIP", "experiment project (official, informational)"),
    _k("EXP_GROUP", "str", None, "experiment group (official, informational)"),
    _k("EXP_NAME", "str", None, "experiment name (official, informational)"),
    _k("GIT_VERSION", "str", None, "code version (official, informational)"),
    _k("SAVE_CHECKPOINT_PER_EPOCH", "int", 1, "save a per-epoch checkpoint every N epochs"),
    _k("MULTI_LAST_CHECKPOINTS", "int", 0, "keep only the last N per-epoch checkpoints (0 = keep all)"),
    _k("USE_PREVIOUS_CHECKPOINT", "bool", False, "load checkpoints of the previous MOTIP version"),
    # --- validation
    _k("val_config", "dict", None, "TrackEval settings for validation (merged key by key with the parent's)"),
]

# Values that cannot work: key -> (minimum, min_items). A typo like EPOCHS 0 or SAMPLE_LENGTHS [] would otherwise
# be found hours into a paid run, or silently train nothing.
_VALUE_RULES: dict[str, tuple[float | None, int | None]] = {
    "NUM_WORKERS": (0, None), "PREFETCH_FACTOR": (1, None),
    "SAMPLE_STEPS": (0, 1), "SAMPLE_LENGTHS": (1, 1), "SAMPLE_INTERVALS": (1, 1),
    "EPOCHS": (1, None), "BATCH_SIZE": (1, None), "ACCUMULATE_STEPS": (1, None), "MAX_STEPS_PER_EPOCH": (1, None),
    "LOG_EVERY_STEPS": (1, None), "VAL_EVERY_EPOCHS": (0, None), "LR_WARMUP_EPOCHS": (0, None),
    "SAVE_CHECKPOINT_PER_EPOCH": (1, None), "MULTI_LAST_CHECKPOINTS": (0, None),
    "LR": (0, None), "LR_BACKBONE": (0, None), "LR_BACKBONE_SCALE": (0, None), "WEIGHT_DECAY": (0, None),
    "MAX_CLIP_NORM": (0, None), "NUM_CLASSES": (1, None), "NUM_ID_VOCABULARY": (1, None),
    # Sizes and frame counts the trainer, the criterion and the tracker divide or chunk by.
    "AUG_RESIZE_SCALES": (1, 1), "AUG_MAX_SIZE": (1, None), "INFERENCE_MAX_LONGER": (1, None),
    "DETR_CRITERION_BATCH_LEN": (1, None), "DETR_NUM_TRAIN_FRAMES": (0, None), "DETR_NUM_CHECKPOINT_FRAMES": (0, None),
}
_KEYS = [dataclasses.replace(key, minimum=_VALUE_RULES[key.name][0], min_items=_VALUE_RULES[key.name][1])
         if key.name in _VALUE_RULES else key for key in _KEYS]

SCHEMA: dict[str, Key] = {key.name: key for key in _KEYS}

# val_config sub-schema (TrackEval MotChallenge-style names, as TRAIN.md writes them).
VAL_CONFIG_SCHEMA: dict[str, Key] = {k.name: k for k in [
    _k("GT_FOLDER", "str", "./datasets/DanceTrack/val", "folder of ground-truth sequences (<seq>/gt/gt.txt)"),
    _k("SEQMAP_FILE", "str", "./datasets/DanceTrack/val_seqmap.txt", "seqmap listing the sequences to evaluate (null = every folder)"),
    _k("SPLIT_TO_EVAL", "str", "val", "split name"),
    dataclasses.replace(_k("CLASSES_TO_EVAL", "list[str]", ["pedestrian"],
                           "class names to evaluate ('pedestrian' catches forgetting)"), min_items=1),
    _k("CLASS_NAME_TO_ID", "dict", {"pedestrian": 1}, "class name -> class id in gt.txt (1 person, 2 vehicle)"),
    _k("BENCHMARK", "str", None, "benchmark name (informational)"),
    _k("TRACKERS_FOLDER", "str", None, "where tracker files go (default: the run's eval folder)"),
    _k("PRINT_RESULTS", "bool", False, "print TrackEval's own tables"),
]}


def default_config() -> dict[str, Any]:
    """The schema defaults as a plain dict (val_config filled from its sub-schema)."""
    import copy

    config = {name: copy.deepcopy(key.default) for name, key in SCHEMA.items()}
    config["val_config"] = {name: copy.deepcopy(key.default) for name, key in VAL_CONFIG_SCHEMA.items()}
    return config
