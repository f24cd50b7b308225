"""Starting the core's commands from the TUI: every command's argv, always ``python -m motip ...`` subprocesses.

Builds, viz, dashboard and queue run as detached jobs in ``<workspace>/.motip/jobs/``; training detaches itself
(``motip train <config> --detach`` starts its job and returns; the run folder is read from that job's job.json).
The preflight's ``motip doctor CONFIG --json`` runs in the foreground (``motip_tui.screens.doctor``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from motip.jobs import JobInfo, new_job_dir, start_job
from motip.jobs import launch as launch_job
from motip.rundir import BEST_HOTA, BEST_IDF1, CONFIG_FILE, LAST, TRAIN_LOG, viz_dir
from motip.workspace import Stage, Workspace

MOTIP = [sys.executable, "-m", "motip"]
SCORE_THRESH = 0.4


def build_argv(workspace: Workspace) -> list[str]:
    return [*MOTIP, "build", "--config", str(workspace.path)]


def train_argv(stage: Stage) -> list[str]:
    return [*MOTIP, "train", str(stage.config), "--detach"]


def resume_argv(run_dir: Path) -> list[str]:
    return [*MOTIP, "train", "--resume", str(run_dir), "--detach"]


def doctor_argv(config: Path) -> list[str]:
    return [*MOTIP, "doctor", str(config), "--json"]


def best_checkpoint(run_dir: Path) -> Path:
    """The checkpoint viz tracks with: best IDF1, else best HOTA, else the last one (best IDF1 when none exists)."""
    for name in (BEST_IDF1, BEST_HOTA, LAST):
        if (run_dir / name).exists():
            return run_dir / name
    return run_dir / BEST_IDF1


def run_config(run_dir: Path, fallback: Path | None) -> Path:
    """The run's own resolved config.yaml (what it trained with), else the stage config."""
    own = run_dir / CONFIG_FILE
    return own if own.exists() or fallback is None else fallback


def viz_argv(workspace: Workspace, run_dir: Path, stage: Stage | None) -> list[str]:
    """TRAIN.md's viz defaults: best IDF1 checkpoint, the run's config, the val split, score threshold 0.4."""
    return [*MOTIP, "viz", "--config", str(run_config(run_dir, stage.config if stage else None)),
            "--checkpoint", str(best_checkpoint(run_dir)), "--dataset_root", str(workspace.builder.output / "val"),
            "--output_dir", str(viz_dir(run_dir)), "--score_thresh", str(SCORE_THRESH)]


def dashboard_argv(run_dir: Path) -> list[str]:
    return [*MOTIP, "dashboard", str(run_dir / TRAIN_LOG)]


def queue_start_argv(workspace: Workspace, stage_names: list[str]) -> list[str]:
    return [*MOTIP, "queue", "start", "--config", str(workspace.path), "--stages", *stage_names]


def queue_argv(workspace: Workspace, action: str) -> list[str]:
    """``motip queue stop|resume|status --config config.toml``."""
    return [*MOTIP, "queue", action, "--config", str(workspace.path)]


def start(workspace_root: Path, argv: list[str], kind: str, name: str) -> JobInfo:
    safe = re.sub(r"[^\w.-]+", "_", name)[:40]
    return start_job(argv, new_job_dir(workspace_root, safe), kind=kind, name=name, cwd=workspace_root)


def start_training(workspace_root: Path, argv: list[str], timeout_s: float = 120.0) -> tuple[Path | None, str]:
    """Run ``motip train ... --detach``; return (run_dir, message). The command returns once the run is started;
    the run folder is the one its job recorded in job.json (``motip.jobs.launch``), never parsed from its output."""
    proc, job, why = launch_job(argv, workspace_root, timeout_s=timeout_s)
    if job is None or job.run_dir is None:
        return None, why or f"its job {job.path if job else '?'} records no run folder"
    lines = proc.stdout.strip().splitlines()
    return job.run_dir, lines[-1] if lines else f"started {job.run_dir} (pid {job.pid})"
