"""Runs and stages as the TUI shows them: run folders under <workspace>/outputs, their best metrics, stage estimates.

Everything here reads files only (torch-free). Summaries of big train.logs read just the lines that matter
(start/eval/end and the last train steps), so listing many runs stays fast. Which folders are runs
(``motip.rundir.holds_run``) and a run's state (running, dead, ...: ``motip.rundir.run_state``) are decided there,
never here.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motip.rundir import OUTPUTS, TRAIN_LOG, RunState, holds_run, run_state
from motip.trainlog import TrainLog, TrainLogParser, finite_value, parse_lines
from motip_tui.tailer import FileTailer
from motip.workspace import Stage, Workspace

_LAST_TRAIN_LINES = 200


@dataclass
class RunSummary:
    name: str
    dir: Path
    config: str | None = None
    state: str = "unknown"  # motip.rundir.run_state's state (RUN_STATES)
    epoch: int | None = None
    best_hota: float | None = None
    best_idf1: float | None = None
    best_class_hota: dict[str, float] = field(default_factory=dict)
    s_per_step: float | None = None
    total_steps: int | None = None
    bad_lines: int = 0
    problem: str | None = None
    run_state: RunState | None = None  # the whole answer: source, pid, exit code, message

    @property
    def train_log(self) -> Path:
        return self.dir / TRAIN_LOG


def summarize_log(log: TrainLog) -> dict[str, Any]:
    """Best HOTA/IDF1 (overall and per class) and the measured seconds per step of a parsed log."""
    best: dict[str, Any] = {"best_hota": None, "best_idf1": None, "best_class_hota": {}}
    for row in log.eval:
        for key, name in (("HOTA", "best_hota"), ("IDF1", "best_idf1")):
            value = finite_value(row.get(key))
            if value is not None and (best[name] is None or value > best[name]):
                best[name] = value
        for cls_name, metrics in row.get("per_class", {}).items():
            value = finite_value(metrics.get("HOTA"))
            if value is not None and value > best["best_class_hota"].get(cls_name, -math.inf):
                best["best_class_hota"][cls_name] = value
    steps = [finite_value(row.get("s_per_step")) for row in log.train[-_LAST_TRAIN_LINES:]]
    steps = [s for s in steps if s is not None and s > 0]
    best["s_per_step"] = statistics.median(steps) if steps else None
    best["total_steps"] = log.train[-1].get("total_steps") if log.train else None
    return best


class _RunEntry:
    """One run folder's train.log, read incrementally (only appended bytes) so rescans of big logs stay cheap."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir
        self.parser = TrainLogParser()  # every line except steps
        self.recent_steps: deque[str] = deque(maxlen=_LAST_TRAIN_LINES)
        self.tailer = FileTailer(run_dir / TRAIN_LOG, self._on_lines, use_watchdog=False)  # no thread: read_available

    def _on_lines(self, lines: list[str], reset: bool) -> None:
        if reset:
            self.parser = TrainLogParser()
            self.recent_steps.clear()
        steps = [line for line in lines if " [train] " in line[:40]]
        self.recent_steps.extend(steps[-_LAST_TRAIN_LINES:])
        self.parser.feed(line for line in lines if " [train] " not in line[:40])

    def summary(self) -> RunSummary:
        found = run_state(self.dir)
        run = RunSummary(name=self.dir.name, dir=self.dir, state=found.state, run_state=found,
                         problem=found.problems[0] if found.problems else None)
        try:
            self.tailer.read_available()
        except FileNotFoundError:
            run.problem = run.problem or "no train.log yet"
            return run
        except OSError as err:
            run.problem = f"train.log unreadable: {err}"
            return run
        if not (self.dir / TRAIN_LOG).exists():
            run.problem = run.problem or "no train.log yet"
            return run
        return summarize_run(self.dir, self.parser.log, parse_lines(self.recent_steps).train, found)


def summarize_run(run_dir: Path, events: TrainLog, steps: list[dict[str, Any]],
                  found: RunState | None = None) -> RunSummary:
    """A run's summary from its parsed events (start/eval/end...) and its last step rows. Its state is
    ``motip.rundir.run_state`` (``found`` when the caller has it): train.log alone cannot tell a run that is
    training from one whose trainer was killed."""
    found = found or run_state(run_dir)
    run = RunSummary(name=run_dir.name, dir=run_dir, state=found.state, run_state=found)
    run.bad_lines = events.bad_lines
    run.config = events.status.get("config")
    run.epoch = steps[-1].get("epoch") if steps else (events.eval[-1].get("epoch") if events.eval else None)
    for key, value in summarize_log(TrainLog(train=steps, eval=events.eval)).items():
        setattr(run, key, value)
    if events.lines and not events.events and not steps and not events.eval:
        run.problem = "train.log has no readable events"
    run.problem = (found.problems[0] if found.problems else None) or run.problem
    return run


class RunIndex:
    """Summaries of every run folder under <workspace>/outputs, kept between scans."""

    def __init__(self, workspace_root: Path) -> None:
        self.folder = workspace_root / OUTPUTS
        self._entries: dict[Path, _RunEntry] = {}

    def run_dirs(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return [p for p in sorted(self.folder.iterdir()) if p.is_dir() and holds_run(p)]

    def newest(self) -> Path | None:
        """The run whose train.log changed last (what the user most likely wants to watch), without parsing."""
        def mtime(path: Path) -> float:
            try:
                return (path / TRAIN_LOG).stat().st_mtime
            except OSError:
                return 0.0
        dirs = self.run_dirs()
        return max(dirs, key=mtime) if dirs else None

    def scan(self, watched: dict[Path, Callable[[], RunSummary]] | None = None) -> list[RunSummary]:
        """``watched``: folders already parsed by a RunWatch, summarized from it instead of read a second time."""
        watched = watched or {}
        dirs = self.run_dirs()
        for gone in set(self._entries) - set(dirs):
            del self._entries[gone]
        for path in watched:
            self._entries.pop(path, None)  # read afresh if it stops being watched
        return [watched[d]() if d in watched else self._entries.setdefault(d, _RunEntry(d)).summary() for d in dirs]


def read_run(run_dir: Path) -> RunSummary:
    """Summarize one run folder; a missing or garbage train.log gives a summary with ``problem`` set, never an error."""
    return _RunEntry(run_dir).summary()


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
    for source, settings in workspace.sources.items():     # custom [sources.NAME] ones too
        budget = stage.budgets.get(source, 0)
        if (budget > 0) != settings.enabled or (budget > 0 and settings.frame_budget != budget):
            return False
    return True
