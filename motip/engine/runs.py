"""Run folders and checkpoints.

A run folder (``outputs/<config stem>_<YYYYmmdd_HHMMSS>/`` unless OUTPUT_DIR is set) holds ``config.yaml`` (the
resolved config), ``train.log``, ``run.json``, ``checkpoint_last.pth``, ``checkpoint_epoch_<N>.pth``,
``checkpoint_best_hota.pth``, ``checkpoint_best_idf1.pth``, ``eval/epoch_<N>/{tracker/<seq>.txt, metrics.json}`` and
``metrics.json`` (every epoch's validation). A checkpoint is ``{"model", "optimizer", "scheduler", "states",
"config"}``; ``states`` = {epoch (epochs completed), global_step, best_hota, best_idf1, ...}. Every file that
replaces a good one is written atomically (temp file + rename), so a kill never leaves a torn checkpoint.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from motip.atomic import atomic_open, atomic_write_json
from motip.errors import MotipError

RUN_FILE = "run.json"
LAST = "checkpoint_last.pth"


def default_run_dir(config_path: Path, base_dir: Path, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now()).strftime("%Y%m%d_%H%M%S")
    return base_dir / "outputs" / f"{config_path.stem}_{stamp}"


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
    """Merge ``fields`` into run.json (pid, argv, started_at, ended_at, exit status, ...)."""
    path = run_dir / RUN_FILE
    data: dict[str, Any] = {}
    if path.is_file():
        import json
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
    data.update(fields)
    atomic_write_json(path, data)
    return data


def run_started(run_dir: Path, config_path: Path, resumed: bool) -> None:
    now = datetime.now().isoformat(timespec="seconds")
    fields: dict[str, Any] = {"pid": os.getpid(), "argv": [sys.executable, *sys.argv], "cwd": os.getcwd(),
                              "config": str(config_path), "status": "running", "ended_at": None, "exit_code": None}
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
    if not path.is_file():
        raise MotipError("checkpoint not found", path=path, hint="check RESUME_MODEL / the run folder")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as err:
        raise MotipError(f"cannot read checkpoint: {err}", path=path,
                         hint="the file may be truncated; use checkpoint_epoch_<N>.pth of the same run") from err
    if not isinstance(payload, dict) or "model" not in payload:
        raise MotipError("not a training checkpoint (no 'model' entry)", path=path)
    return payload
