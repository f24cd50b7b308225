"""Run folders and checkpoints.

A run folder (``outputs/<config stem>_<YYYYmmdd_HHMMSS>/`` unless OUTPUT_DIR is set) holds ``config.yaml`` (the
resolved config), ``train.log``, ``run.json``, ``checkpoint_last.pth``, ``checkpoint_epoch_<N>.pth``,
``checkpoint_best_hota.pth``, ``checkpoint_best_idf1.pth``, ``eval/epoch_<N>/{tracker/<seq>.txt, metrics.json}`` and
``metrics.json`` (every epoch's validation). A checkpoint is ``{"model", "optimizer", "scheduler", "states",
"config"}``; ``states`` = {epoch (epochs completed), global_step, best_hota, best_idf1, ...}. Every file that
replaces a good one is written atomically (temp file + rename), so a kill never leaves a torn checkpoint; a full
disk is a clear ``motip.atomic.DiskFullError`` and keeps the previous file. The folder's names, the existing-run
refusal and the one-trainer lock (``train.lock``) live in the torch-free ``motip.rundir``. Checkpoints are read
safely (``motip.model.pretrain.load_checkpoint_file``: weights_only=True, ``--trust-checkpoint`` to opt out).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from motip.atomic import atomic_open
from motip.errors import MotipError
from motip.records import RunRecord
from motip.rundir import LAST, OUTPUTS, RUN_FILE  # noqa: F401 - the run folder's names live in motip.rundir


def default_run_dir(config_path: Path, base_dir: Path, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now()).strftime("%Y%m%d_%H%M%S")
    return base_dir / OUTPUTS / f"{config_path.stem}_{stamp}"


def resolve_run_dir(config: Mapping[str, Any], config_path: Path) -> Path:
    """OUTPUT_DIR (or the official OUTPUTS_DIR) when set, else a fresh timestamped folder under outputs/."""
    chosen = config.get("OUTPUT_DIR") or config.get("OUTPUTS_DIR")
    if chosen:
        return Path(config.resolve_path(chosen)) if hasattr(config, "resolve_path") else Path(chosen)
    base = config.base_dir if hasattr(config, "base_dir") else Path.cwd()
    run_dir = default_run_dir(config_path, base)
    while run_dir.exists():  # two runs started in the same second
        run_dir = run_dir.with_name(run_dir.name + "_1")
    return run_dir


def write_run_json(run_dir: Path, **fields: Any) -> dict[str, Any]:
    """Set ``fields`` in run.json (pid, argv, started_at, ended_at, exit status, ...), keeping the rest, through
    its one reader and writer (``motip.records.RunRecord``). A damaged run.json is replaced by what we know now."""
    path = run_dir / RUN_FILE
    record, _ = RunRecord.try_read(path) if path.exists() else (None, None)
    updated = (record or RunRecord()).merged(**fields)
    updated.write(path)
    return updated.to_json()


def run_started(run_dir: Path, config_path: Path, resumed: bool, data: Mapping[str, str] | None = None) -> None:
    """``data``: {configured dataset path: the concrete (pinned) folder this run reads}, see motip.data.pins."""
    now = datetime.now().isoformat(timespec="seconds")
    fields: dict[str, Any] = {"pid": os.getpid(), "argv": [sys.executable, *sys.argv], "cwd": os.getcwd(),
                              "config": str(config_path), "status": "running", "ended_at": None, "exit_code": None}
    if data is not None:
        fields["data"] = dict(data)
    if resumed:
        fields["resumed_at"] = now
    else:
        fields["started_at"] = now
    write_run_json(run_dir, **fields)


def run_ended(run_dir: Path, status: str, exit_code: int, message: str = "") -> None:
    write_run_json(run_dir, status=status, exit_code=exit_code, message=message,
                   ended_at=datetime.now().isoformat(timespec="seconds"))


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def save_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
                    scheduler: Any | None, states: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    payload = {"model": unwrap(model).state_dict(),
               "optimizer": optimizer.state_dict() if optimizer is not None else None,
               "scheduler": scheduler.state_dict() if scheduler is not None else None,
               "states": dict(states), "config": dict(config)}
    with atomic_open(path, "wb") as handle:
        torch.save(payload, handle)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A training checkpoint, loaded safely (motip.model.pretrain.load_checkpoint_file: weights_only=True)."""
    from motip.model.pretrain import load_checkpoint_file

    if not path.is_file():
        raise MotipError("checkpoint not found", path=path, hint="check RESUME_MODEL / the run folder")
    payload = load_checkpoint_file(path)
    if not isinstance(payload, dict) or not isinstance(payload.get("model"), Mapping):
        raise MotipError(
            "not a training checkpoint (no 'model' entry)", path=path,
            hint="give a checkpoint written by `motip train` (checkpoint_last.pth, checkpoint_epoch_N.pth)")
    return payload


def model_state(payload: Mapping[str, Any], model: torch.nn.Module, path: Path) -> dict[str, Any]:
    """The checkpoint's model state, checked against ``model`` key by key: MotipError naming the first key that is
    missing, unexpected or of another shape (a checkpoint of another architecture/config), instead of
    load_state_dict's traceback."""
    state = {(k[7:] if k.startswith("module.") else k): v for k, v in payload["model"].items()}
    target = unwrap(model).state_dict()
    hint = ("the checkpoint was written by a model of another architecture/config (layers, classes, queries, "
            "backbone); resume with the run's own config.yaml and no architecture overrides")
    for key, value in target.items():
        if key not in state:
            raise MotipError(f"checkpoint lacks {key!r} (model shape {tuple(value.shape)})", path=path, hint=hint)
        have = state[key]
        if not isinstance(have, torch.Tensor) or tuple(have.shape) != tuple(value.shape):
            shape = tuple(have.shape) if isinstance(have, torch.Tensor) else type(have).__name__
            raise MotipError(f"shape mismatch at {key!r}: checkpoint {shape} vs model {tuple(value.shape)}",
                             path=path, hint=hint)
    extra = [k for k in state if k not in target]
    if extra:
        raise MotipError(f"checkpoint key {extra[0]!r} has no place in this model ({len(extra)} such keys)",
                         path=path, hint=hint)
    return state
