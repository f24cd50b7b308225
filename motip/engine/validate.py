"""Validation of one epoch: track the val split (val_config GT_FOLDER / SEQMAP_FILE), score it with TrackEval
(``motip.eval.metrics.evaluate``, classes from ``motip.eval.classes.classes_to_eval``) and check the val set against
its build report's fingerprint (``motip.eval.fingerprint``), once per eval.

Writes ``<run>/eval/epoch_<N>/{tracker/<seq>.txt, metrics.json}``. When the tracker finds nothing at all (an early
epoch of a model trained from scratch) every metric is 0 and a warning says so, instead of failing the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from motip.errors import ConfigError, DataError
from motip.eval.classes import classes_to_eval
from motip.trainlog import EVAL_METRICS


def val_settings(config: Mapping[str, Any]) -> tuple[Path, Path | None, dict[str, int]]:
    """(GT folder, seqmap or None, {class name: id}) from val_config, paths resolved against the config."""
    val = config.get("val_config") or {}
    resolve = getattr(config, "resolve_path", lambda p: Path(p) if p else None)
    gt_folder = resolve(val.get("GT_FOLDER"))
    if gt_folder is None:
        raise ConfigError("val_config.GT_FOLDER is not set", hint="set it, or VAL_EVERY_EPOCHS: 0 to skip validation")
    seqmap = resolve(val.get("SEQMAP_FILE")) if val.get("SEQMAP_FILE") else None
    classes = classes_to_eval(val, path=getattr(config, "path", None))  # the one mapping `motip eval` uses too
    return Path(gt_folder), (Path(seqmap) if seqmap else None), classes


def check_val_inputs(config: Mapping[str, Any]) -> None:
    """Fail before training starts when the val split or its seqmap is missing."""
    from motip.engine.tracking import split_sequences

    gt_folder, seqmap, _ = val_settings(config)
    if not gt_folder.is_dir():
        raise DataError("validation folder (val_config.GT_FOLDER) not found", path=gt_folder,
                        hint="build the dataset with `motip build`, fix val_config.GT_FOLDER, or set "
                             "VAL_EVERY_EPOCHS: 0 to train without validation")
    if not split_sequences(gt_folder, seqmap):
        raise DataError("validation folder holds no sequences", path=gt_folder, hint="rebuild the dataset")


def validate(model: torch.nn.Module, config: Mapping[str, Any], out_dir: Path) -> dict[str, Any]:
    """Track + evaluate; returns {"metrics": {...}, "per_class": {name: {...}}, "warnings": [...]} and writes
    ``out_dir/metrics.json``.

    The val set is checked against its build report's fingerprint here, once per eval, whether or not the tracker
    found anything; a change is the first of ``warnings`` (the trainer logs each warning once)."""
    from motip.engine.tracking import track_split
    from motip.eval.fingerprint import check_val_fingerprint
    from motip.eval.metrics import METRICS_FILE, evaluate, write_metrics

    gt_folder, seqmap, classes = val_settings(config)
    changed = check_val_fingerprint(gt_folder)
    fingerprint_warnings = [changed] if changed else []
    tracker_dir = out_dir / "tracker"
    was_training = model.training
    try:
        track_split(config, model, gt_folder, tracker_dir, seqmap=seqmap)
    finally:
        model.train(was_training)
    has_rows = any(p.stat().st_size > 0 for p in tracker_dir.glob("*.txt"))
    if not has_rows:
        zeros = {name: 0.0 for name in EVAL_METRICS} | {"IDSW": 0}
        report = {"metrics": dict(zeros), "per_class": {name: dict(zeros) for name in classes},
                  "warnings": [*fingerprint_warnings,
                               "the tracker found no objects in any val sequence (DET_THRESH too high or an "
                               "untrained detector): every metric is 0"]}
        write_metrics(out_dir / METRICS_FILE, report)
        return report
    # One process: forking the trainer (CUDA, data-loader threads) for worker processes could deadlock the run.
    report = evaluate(gt_folder, tracker_dir, seqmap=seqmap, classes=classes, check_fingerprint=False, workers=1)
    report["warnings"] = [*fingerprint_warnings, *report["warnings"]]  # where evaluate's own check puts it
    write_metrics(out_dir / METRICS_FILE, report)
    return report


def metric_row(report: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """The train.log eval fields: top-level metrics and per-class metrics (EVAL_METRICS only)."""
    top = {k: report["metrics"].get(k, float("nan")) for k in EVAL_METRICS}
    per_class = {name: {k: values.get(k, float("nan")) for k in EVAL_METRICS}
                 for name, values in report.get("per_class", {}).items()}
    return top, per_class
