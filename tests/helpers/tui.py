"""For the TUI tests: a small workspace with stages, run folders with train.logs, waiting under Pilot."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

from tests.helpers.paths import REPO
from tests.helpers.trainlog import end_line, start_line, written


CONFIG = """\
# test workspace
[dancetrack]
enabled = true
root = "src/dancetrack"
frame_budget = 30   # people
splits = ["train"]

[bdd]
enabled = true
root = "src/bdd100k"
frame_budget = 25   # cars

[visdrone]
enabled = false
root = "src/visdrone"
frame_budget = 0

[builder]
output = "datasets/DanceTrack"
manifest = "manifest.json"
seed = 0

[[stages]]
name = "Foundation"
config = "configs/stage1_universal_foundation.yaml"
budgets = { bdd = 25, dancetrack = 30 }
epochs = 10
hours_per_epoch = 2.05
cost_per_hour = 1.212

[[stages]]
name = "Refinement"
config = "configs/stage2_universal_refine.yaml"
budgets = { bdd = 40, dancetrack = 40 }
epochs = 10
hours_per_epoch = 6.5
cost_per_hour = 1.212
"""


def make_workspace(root: Path, *, with_data: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "configs", root / "configs")
    if with_data:
        from motip.data.synthetic import write_synthetic_manifest, write_synthetic_sources

        sources = write_synthetic_sources(root / "src", dancetrack_videos=5, bdd_videos=5, visdrone_videos=0,
                                          frames_per_video=20)
        write_synthetic_manifest(sources, root / "manifest.json")
    path = root / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def train_line(step: int, *, epoch: int = 1, loss: float = 2.0, grad: float = 1.0, total: int = 100) -> str:
    return written("2026-11-24T10:00:00", lambda log: log.train_step(
        epoch=epoch, step=step, total_steps=total, global_step=step, loss=loss, grad_norm=grad, lr=2e-05,
        s_per_step=1.5))


def eval_line(epoch: int, hota: float, idf1: float, pedestrian: float | None = None) -> str:
    per_class = {"pedestrian": {"HOTA": pedestrian}} if pedestrian is not None else None
    return written("2026-11-24T11:00:00", lambda log: log.eval(epoch=epoch, metrics={"HOTA": hota, "IDF1": idf1},
                                                                per_class=per_class))


def make_run(workspace: Path, name: str, lines: list[str],
             config: str = "configs/stage1_universal_foundation.yaml") -> Path:
    run = workspace / "outputs" / name
    run.mkdir(parents=True, exist_ok=True)
    (run / "train.log").write_text(start_line(f"outputs/{name}", config) + "".join(lines), encoding="utf-8")
    return run


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Let the app run until ``condition()`` holds (or the timeout passes); returns the last value."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if condition():
            return True
        await pilot.pause(0.05)
    return bool(condition())


def make_snapshot_workspace(root: Path) -> Path:
    """The fixed workspace of the snapshot tests: two stages, three Foundation runs (finished with evals, stopped,
    failed) and two ended jobs, every time and mtime fixed, so a screenshot depends on nothing but the code."""
    import json
    import os

    config = make_workspace(root)
    end = {"finished": end_line("finished", 2), "stopped": end_line("stopped", 1, "SIGTERM"),
           "failed": end_line("failed", 1, "CUDA out of memory")}
    runs = (("stage1_universal_foundation_20261124_100000", "finished", [(1, 48.2, 50.1, 47.0), (2, 53.6, 55.9, 52.4)]),
            ("stage1_universal_foundation_20261125_090000", "stopped", [(1, 49.0, 51.3, 48.1)]),
            ("stage1_universal_foundation_20261126_080000", "failed", []))
    for index, (name, state, evals) in enumerate(runs):
        lines = [train_line(step, epoch=1 + step // 60, loss=2.0 - step / 200) for step in range(1, 121, 7)]
        lines += [eval_line(epoch, hota, idf1, pedestrian=ped) for epoch, hota, idf1, ped in evals]
        lines.append(end[state])
        run = make_run(root, name, lines)
        stamp = 1_795_000_000 + 3600 * index
        os.utime(run / "train.log", (stamp, stamp))
    for index, (name, kind, code, output) in enumerate((
            ("build Foundation", "build", 0, "PROGRESS build 40/40 100% 12.0/s eta=0s\nbuilt datasets/DanceTrack\n"),
            ("training of Refinement", "train", 2, "motip train: error: configs/stage2_universal_refine.yaml: "
             "SUPER_CONFIG_PATH 'base.yaml' not found\n  hint: run from the project folder or fix the path\n"))):
        job = root / ".motip" / "jobs" / f"20261124_10000{index}_000000-{name.replace(' ', '_')}"
        job.mkdir(parents=True)
        (job / "output.log").write_text(output, encoding="utf-8")
        started = 1_795_000_000.0 + 600 * index
        (job / "job.json").write_text(json.dumps({
            "name": name, "kind": kind, "argv": ["python", "-m", "motip", kind], "cwd": str(root), "run_dir": None,
            "started_at": "2026-11-24T10:00:00", "started_at_epoch": started, "boot_id": "snapshot", "pid": None,
            "create_time": None, "exit_code": code, "ended_at": "2026-11-24T10:05:00",
            "ended_at_epoch": started + 95}), encoding="utf-8")
    return config
