"""Load official MOTIP checkpoints, DETR-only pretrains and our own checkpoints into a MOTIP model.

Accepted files (torch.save'd):
  * official full MOTIP checkpoint: {"model": state_dict with "detr."-prefixed keys, "optimizer", ...}
  * DETR-only pretrain (e.g. r50_deformable_detr_coco_dancetrack.pth, COCO Deformable DETR): {"model": keys
    without the "detr." prefix}; trajectory_modeling / id_decoder keep their fresh initialisation
  * our own checkpoints (same layout as the official ones) or a bare state dict; a DDP "module." prefix is dropped.
Class-head surgery (detr.class_embed.*) when the checkpoint's class count differs from NUM_CLASSES:
  * 91 (COCO) -> N: row 1 (person) becomes class 0; for N >= 2 row 3 (car) becomes class 1; N > 2 is refused.
  * C -> N with C < N: rows 0..C-1 are kept, rows C..N-1 keep the fresh initialisation of the new model
    (nn.Linear default weight, bias -log(99) = -4.595, the focal-loss prior of probability 0.01).
  * anything else fails with MotipError.
Loading is safe: ``torch.load(weights_only=True)`` with an allow-list (SAFE_GLOBALS: argparse.Namespace, which
official Deformable-DETR/MOTIP checkpoints hold as "args"); anything else needs the opt-in ``--trust-checkpoint``
(``trust_checkpoints()``), never a silent fallback to full unpickling.
"""

from __future__ import annotations

import argparse
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from motip.errors import MotipError

COCO_PERSON_ROW = 1
COCO_CAR_ROW = 3
COCO_NUM_CLASSES = 91


_ALIAS_PREFIXES = (("detr.bbox_embed.", "detr.transformer.decoder.bbox_embed."),
                   ("detr.transformer.decoder.bbox_embed.", "detr.bbox_embed."))


def _alias_partner(key: str) -> str | None:
    """The other name of an aliased tensor: box heads (box refinement) and the shared ID head."""
    for prefix, other in _ALIAS_PREFIXES:
        if key.startswith(prefix):
            return other + key[len(prefix):]
    if key.startswith("id_decoder.embed_to_word_layers."):
        return "id_decoder.embed_to_word_layers.0." + key.split(".", 3)[3]
    return None


@dataclass
class LoadReport:
    """What load_pretrain did: counts of tensors loaded, widened and left at their fresh initialisation."""

    kind: str  # "motip" | "detr-only"
    loaded: int = 0
    class_head: str = ""  # e.g. "1 -> 2 (person row kept, vehicle row fresh init)"
    fresh: dict[str, int] = field(default_factory=dict)  # top-level module -> number of fresh tensors

    def summary(self) -> str:
        parts = [f"loaded {self.loaded} tensors ({self.kind} checkpoint)"]
        if self.class_head:
            parts.append(f"class head {self.class_head}")
        if self.fresh:
            parts.append("fresh init: " + ", ".join(f"{k} ({v})" for k, v in sorted(self.fresh.items())))
        return "; ".join(parts)


# Safe loading. Every checkpoint/pretrain is read with torch.load(weights_only=True): tensors, plain containers and
# the few classes below, never arbitrary pickled objects (a downloaded .pth could otherwise run code on load).
# Official Deformable-DETR / MOTIP checkpoints store their argparse arguments under "args": allow exactly that class.
SAFE_GLOBALS: list[Any] = [argparse.Namespace]
TRUST_FLAG = "--trust-checkpoint"
TRUST_ENV = "MOTIP_TRUST_CHECKPOINT"  # set by --trust-checkpoint so worker processes and detached runs inherit it


def trust_checkpoints(enabled: bool = True) -> None:
    """Opt in (the CLI's --trust-checkpoint) to full unpickling of checkpoints that a safe load refuses. Only for
    files whose origin you trust: unpickling runs whatever code the file names."""
    if enabled:
        os.environ[TRUST_ENV] = "1"
    else:
        os.environ.pop(TRUST_ENV, None)


def checkpoints_trusted() -> bool:
    return os.environ.get(TRUST_ENV, "") not in ("", "0")


def load_checkpoint_file(path: str | Path, what: str = "checkpoint") -> Any:
    """``torch.load`` of a checkpoint on the CPU, safely (weights_only=True + SAFE_GLOBALS) unless trusted.

    A file a safe load refuses is never unpickled as a fallback: MotipError naming the file and --trust-checkpoint.
    A truncated or foreign file: MotipError naming the file (exit 2, no traceback).
    """
    path = Path(path)
    if not path.is_file():
        raise MotipError(f"{what} not found", path=path, hint="check the path (DETR_PRETRAIN, --checkpoint, the run)")
    trusted = checkpoints_trusted()
    try:
        if trusted:
            return torch.load(path, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        globals_line = next((line.strip() for line in text.splitlines() if "GLOBAL" in line), None)
        if not trusted and "weights only load failed" in text.lower() and globals_line is None:
            reason = next((line.strip() for line in text.splitlines() if "nsupported" in line), "")
            raise MotipError(f"cannot read {what}: damaged or not a torch checkpoint ({reason})", path=path,
                             hint="pick another file (e.g. checkpoint_epoch_<N>.pth of the same run); a file of "
                                  f"an unusual old format from a source you trust: {TRUST_FLAG}") from None
        if not trusted and globals_line is not None:
            reason = globals_line
            raise MotipError(f"{what} holds Python objects beyond tensors, which a safe load refuses ({reason}); "
                             "it was not unpickled", path=path,
                             hint=f"only if you trust where this file comes from (unpickling can run any code), "
                                  f"pass {TRUST_FLAG}") from None
        raise MotipError(f"cannot read {what}: {text.splitlines()[0] if text else type(exc).__name__}", path=path,
                         hint="the file may be truncated or not a torch checkpoint; pick another file") from None
    except MotipError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to parse the file is a bad file, not a bug of ours
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MotipError(f"cannot read {what}: {first}", path=path,
                         hint="the file may be truncated or not a torch checkpoint; pick another file "
                              "(e.g. checkpoint_epoch_<N>.pth of the same run)") from None


def read_checkpoint_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict stored in a checkpoint file (under "model" when present), loaded safely."""
    path = Path(path)
    obj = load_checkpoint_file(path)
    state = obj.get("model", obj) if isinstance(obj, Mapping) else None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise MotipError("not a model checkpoint (no state dict of tensors, neither top-level nor under 'model')",
                         path=path)
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def _class_rows(src_classes: int, dst_classes: int, path: Path) -> tuple[list[int], str]:
    """Which source rows fill the first destination rows, and a description for the summary."""
    if src_classes == COCO_NUM_CLASSES and dst_classes != COCO_NUM_CLASSES:
        if dst_classes == 1:
            return [COCO_PERSON_ROW], "91 -> 1 (COCO person row)"
        if dst_classes == 2:
            return [COCO_PERSON_ROW, COCO_CAR_ROW], "91 -> 2 (COCO person row -> person, COCO car row -> vehicle)"
        raise MotipError(f"cannot map a COCO class head (91) onto NUM_CLASSES={dst_classes}", path=path,
                         hint="only person (1) or person+vehicle (2) are mapped")
    if src_classes < dst_classes:
        new = dst_classes - src_classes
        return list(range(src_classes)), (f"{src_classes} -> {dst_classes} (rows 0..{src_classes - 1} kept, "
                                          f"{new} new row{'s' if new > 1 else ''} fresh init)")
    raise MotipError(f"checkpoint has {src_classes} classes but NUM_CLASSES is {dst_classes}", path=path,
                     hint="set NUM_CLASSES to match the checkpoint, or widen (fewer -> more classes)")


def load_pretrain(model: nn.Module, path: str | Path, config: Mapping[str, Any] | None = None,
                  verbose: bool = True) -> LoadReport:
    """Load `path` into `model` (a MOTIP from build_model); prints and returns a short LoadReport."""
    path = Path(path)
    src = read_checkpoint_state(path)
    target = model.state_dict()
    detr_only = not any(k.startswith("detr.") for k in src)
    if detr_only:
        src = {f"detr.{k}": v for k, v in src.items()}
    report = LoadReport(kind="detr-only" if detr_only else "motip")
    src = {k: v for k, v in src.items() if not k.endswith("num_batches_tracked")}

    # Aliased keys (one tensor saved under two names): accept checkpoints that carry only one of the names.
    for key in target:
        if key not in src:
            partner = _alias_partner(key)
            if partner is not None and partner in src:
                src[key] = src[partner]

    unexpected = [k for k in src if k not in target]
    if unexpected:
        raise MotipError(f"checkpoint key {unexpected[0]!r} has no place in this model "
                         f"({len(unexpected)} such keys)", path=path,
                         hint="the checkpoint was built with another architecture/config (layers, levels, backbone)")

    merged: dict[str, torch.Tensor] = {}
    for key, dst in target.items():
        if key not in src:
            continue
        value = src[key]
        if key.startswith("detr.class_embed.") and value.shape[0] != dst.shape[0] and value.dim() == dst.dim():
            rows, report.class_head = _class_rows(value.shape[0], dst.shape[0], path)
            widened = dst.clone()
            widened[: len(rows)] = value[rows].to(dst.dtype)
            value = widened
        if value.shape != dst.shape:
            raise MotipError(f"shape mismatch at {key!r}: checkpoint {tuple(value.shape)} vs model "
                             f"{tuple(dst.shape)}", path=path,
                             hint="the checkpoint's config (hidden dim, queries, ID vocabulary...) differs")
        merged[key] = value.to(dst.dtype)

    missing = [k for k in target if k not in merged]
    # A DETR-only pretrain legitimately lacks the MOTIP heads; any other gap is an incompatible file.
    real_missing = [k for k in missing if not (detr_only and not k.startswith("detr."))]
    if real_missing:
        raise MotipError(f"checkpoint lacks {real_missing[0]!r} (model shape {tuple(target[real_missing[0]].shape)})"
                         f" and {len(real_missing) - 1} more", path=path,
                         hint="the checkpoint was built with another architecture/config")
    for key in missing:
        module = key.split(".")[0]
        report.fresh[module] = report.fresh.get(module, 0) + 1
        merged[key] = target[key]
    model.load_state_dict(merged, strict=True)
    report.loaded = len(target) - len(missing)
    if verbose:
        print(f"load_pretrain {path.name}: {report.summary()}")
    return report
