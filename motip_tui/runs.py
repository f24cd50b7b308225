"""Runs and stages as the TUI shows them: run folders under <workspace>/outputs, their best metrics, stage estimates.

Everything here reads files only (torch-free). Summaries of big train.logs read just the lines that matter
(start/eval/end and the last train steps), so listing many runs stays fast.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motip.trainlog import TrainLog, parse_lines
from motip.workspace import SOURCES, Stage, Workspace

OUTPUTS = "outputs"
TRAIN_LOG = "train.log"
_LAST_TRAIN_LINES = 200


@dataclass
class RunSummary:
    name: str
    dir: Path
    config: str | None = None
    state: str = "empty"
    epoch: int | None = None
    best_hota: float | None = None
    best_idf1: float | None = None
    best_class_hota: dict[str, float] = field(default_factory=dict)
    s_per_step: float | None = None
    total_steps: int | None = None
    bad_lines: int = 0
    problem: str | None = None

    @property
    def train_log(self) -> Path:
        return self.dir / TRAIN_LOG


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def summarize_log(log: TrainLog) -> dict[str, Any]:
    """Best HOTA/IDF1 (overall and per class) and the measured seconds per step of a parsed log."""
    best: dict[str, Any] = {"best_hota": None, "best_idf1": None, "best_class_hota": {}}
    for row in log.eval:
        for key, name in (("HOTA", "best_hota"), ("IDF1", "best_idf1")):
            value = _finite(row.get(key))
            if value is not None and (best[name] is None or value > best[name]):
                best[name] = value
        for cls_name, metrics in row.get("per_class", {}).items():
            value = _finite(metrics.get("HOTA"))
            if value is not None and value > best["best_class_hota"].get(cls_name, -math.inf):
                best["best_class_hota"][cls_name] = value
    steps = [_finite(row.get("s_per_step")) for row in log.train[-_LAST_TRAIN_LINES:]]
    steps = [s for s in steps if s is not None and s > 0]
    best["s_per_step"] = statistics.median(steps) if steps else None
    best["total_steps"] = log.train[-1].get("total_steps") if log.train else None
    return best


def read_run(run_dir: Path) -> RunSummary:
    """Summarize one run folder; a missing or garbage train.log gives a summary with ``problem`` set, never an error."""
    run = RunSummary(name=run_dir.name, dir=run_dir)
    try:
        data = (run_dir / TRAIN_LOG).read_bytes()
    except FileNotFoundError:
        run.problem = "no train.log yet"
        return run
    except OSError as err:
        run.problem = f"train.log unreadable: {err}"
        return run
    lines = data.split(b"\n")[:-1]  # the last element is a partial line or empty
    # Everything but step lines (few), then the last step lines: enough for best metrics and s_per_step.
    kept = [line for line in lines if b" [train] " not in line[:40]]
    tail = [line for line in lines[-4 * _LAST_TRAIN_LINES:] if b" [train] " in line[:40]]
    log = parse_lines(line.decode("utf-8", errors="replace") for line in kept + tail)
    run.bad_lines = log.bad_lines
    run.state = str(log.status.get("state", "empty"))
    run.config = log.status.get("config")
    run.epoch = log.status.get("epoch") or (log.eval[-1].get("epoch") if log.eval else None)
    for key, value in summarize_log(log).items():
        setattr(run, key, value)
    if lines and not log.events and not log.train and not log.eval:
        run.problem = "train.log has no readable events"
    return run


def list_runs(workspace_root: Path) -> list[RunSummary]:
    folder = workspace_root / OUTPUTS
    if not folder.is_dir():
        return []
    runs = [read_run(p) for p in sorted(folder.iterdir()) if p.is_dir()]
    return [r for r in runs if (r.dir / TRAIN_LOG).exists() or (r.dir / "job.json").exists()]


def stage_of_run(run: RunSummary, stages: list[Stage], workspace_root: Path) -> Stage | None:
    """The stage whose config the run trained (from the [start] line), else the one whose config stem prefixes
    the run folder name (``stage1_universal_foundation_20261124_...``)."""
    if run.config:
        candidate = Path(run.config)
        candidate = candidate if candidate.is_absolute() else workspace_root / candidate
        for stage in stages:
            try:
                if stage.config.resolve() == candidate.resolve():
                    return stage
            except OSError:
                continue
    matches = [s for s in stages if run.name.startswith(s.config.stem)]
    return max(matches, key=lambda s: len(s.config.stem)) if matches else None


@dataclass
class Estimate:
    hours: float
    cost: float
    measured: bool  # True when recalibrated from a real run's seconds per step
    basis: str


def estimate_stage(stage: Stage, runs_by_stage: dict[str, list[RunSummary]], stages: list[Stage]) -> Estimate:
    """Hours and cost for the stage. Recalibrated from measured s_per_step x steps per epoch when a run measured
    them: the stage's own run first, else another stage's run with steps scaled by the frame budgets."""
    def measured(runs: list[RunSummary]) -> RunSummary | None:
        usable = [r for r in runs if r.s_per_step and r.total_steps]
        return usable[-1] if usable else None

    own = measured(runs_by_stage.get(stage.name, []))
    if own is not None:
        hours_per_epoch = own.s_per_step * own.total_steps / 3600
        basis = f"measured {own.s_per_step:.2f} s/step x {own.total_steps} steps ({own.name})"
        return Estimate(stage.epochs * hours_per_epoch, stage.epochs * hours_per_epoch * stage.cost_per_hour,
                        True, basis)
    for other in stages:
        run = measured(runs_by_stage.get(other.name, []))
        if run is not None and other.total_frames and stage.total_frames:
            steps = run.total_steps * stage.total_frames / other.total_frames
            hours_per_epoch = run.s_per_step * steps / 3600
            basis = f"measured {run.s_per_step:.2f} s/step on {other.name}, steps scaled by frames"
            return Estimate(stage.epochs * hours_per_epoch, stage.epochs * hours_per_epoch * stage.cost_per_hour,
                            True, basis)
    return Estimate(stage.estimated_hours, stage.estimated_cost, False, "hours_per_epoch from config.toml")


def budget_mix(stage: Stage) -> str:
    """``BDD 5k+DT 5k 50/50%``; for stages with VisDrone the ground replay share: ``VD 10k+BDD 2k+DT 2k replay 29%``."""
    parts = [f"{SHORT.get(src, src)} {_k(n)}" for src, n in stage.budgets.items() if n]
    text = "+".join(parts) or "no budgets"
    if stage.budgets.get("visdrone") and stage.total_frames:
        ground = sum(n for s, n in stage.budgets.items() if s != "visdrone")
        text += f" replay {100 * ground / stage.total_frames:.0f}%"
    elif len(parts) > 1:
        text += " " + "/".join(f"{100 * stage.share(s):.0f}" for s, n in stage.budgets.items() if n) + "%"
    return text


SHORT = {"dancetrack": "DT", "bdd": "BDD", "visdrone": "VD"}


def _k(n: int) -> str:
    return f"{n / 1000:g}k" if n >= 1000 else str(n)


def sources_match_stage(workspace: Workspace, stage: Stage) -> bool:
    """True when the source sections already hold the stage's budgets (so a build builds this stage's data)."""
    for source in SOURCES:
        settings = workspace.sources[source]
        budget = stage.budgets.get(source, 0)
        if (budget > 0) != settings.enabled or (budget > 0 and settings.frame_budget != budget):
            return False
    return True
