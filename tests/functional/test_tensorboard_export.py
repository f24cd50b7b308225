"""`motip log RUN/train.log --tensorboard DIR`: scalars as TensorBoard event files, read back with EventAccumulator."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from motip.trainlog import TrainLogWriter

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402 - after importorskip
from tests.helpers.paths import REPO



def _write_run(run_dir: Path, *, resumed: bool = False) -> Path:
    """Two epochs of 3 steps with two evals; ``resumed`` replays epoch 2's steps with other values (a resume)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "train.log"
    with TrainLogWriter(path) as log:
        log.run_start(run=str(run_dir), config="configs/tiny.yaml", epochs=2)
        for epoch in (1, 2):
            for step in (1, 2, 3):
                global_step = (epoch - 1) * 3 + step
                log.train_step(epoch=epoch, step=step, total_steps=3, global_step=global_step,
                               loss=10.0 - global_step, loss_ce=1.0 + global_step / 10, loss_id=0.5,
                               grad_norm=float("inf") if global_step == 5 else 2.0 * global_step,
                               grad_norm_detr=1.5, lr=2e-4, lr_backbone=2e-5, s_per_step=0.25)
            log.eval(epoch=epoch, metrics={"HOTA": 40.0 + epoch, "IDF1": 45.0 + epoch, "MOTA": 30.0, "DetA": 41.0,
                                           "AssA": 39.0, "IDSW": 12},
                     per_class={"pedestrian": {"HOTA": 50.0 + epoch, "IDF1": 52.0},
                                "vehicle": {"HOTA": 20.0 + epoch, "IDF1": 22.0}})
        if resumed:
            log.resume(checkpoint="checkpoint_epoch_1.pth", epoch=2, global_step=3)
            for step in (1, 2, 3):
                log.train_step(epoch=2, step=step, total_steps=3, global_step=3 + step, loss=100.0 + step,
                               loss_ce=1.0, loss_id=0.5, grad_norm=1.0, grad_norm_detr=1.0, lr=1e-4,
                               lr_backbone=1e-5, s_per_step=0.25)
        log.run_end(status="finished", epoch=2)
    return path


def _cli(*args: str | Path, env_prefix: str = "") -> subprocess.CompletedProcess[str]:
    code = f"{env_prefix}import sys; from motip.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


def _scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


def test_export_values_steps_and_idempotent(tmp_path: Path) -> None:
    run = tmp_path / "outputs" / "stage1_demo_20261124_100000"
    log = _write_run(run)
    before = sorted(p.name for p in run.iterdir())
    out = tmp_path / "tb"
    result = _cli("log", log, "--tensorboard", out)
    assert result.returncode == 0, result.stderr
    assert "points" in result.stdout
    folder = out / run.name
    series = _scalars(folder)
    assert series["loss/loss"] == [(s, 10.0 - s) for s in range(1, 7)]
    assert [v for _, v in series["loss/loss_ce"]] == pytest.approx([1.0 + s / 10 for s in range(1, 7)])
    assert math.isinf(dict(series["grad_norm/grad_norm"])[5]) and dict(series["grad_norm/grad_norm"])[2] == 4.0
    assert series["lr/lr"][0] == (1, pytest.approx(2e-4)) and "lr/lr_backbone" in series
    assert "train/s_per_step" in series and "grad_norm/grad_norm_detr" in series
    for metric in ("HOTA", "IDF1", "MOTA", "DetA", "AssA"):
        assert [s for s, _ in series[f"eval/{metric}"]] == [1, 2]
    assert series["eval/HOTA"] == [(1, 41.0), (2, 42.0)]
    assert series["eval_per_class/pedestrian.HOTA"] == [(1, 51.0), (2, 52.0)]
    assert series["eval_per_class/vehicle.HOTA"] == [(1, 21.0), (2, 22.0)]
    assert not any(tag.endswith(("epoch", "global_step", "total_steps")) for tag in series)

    # Again, after the run was resumed: one file, each step once, the replayed steps' last values.
    _write_run(run, resumed=True)
    assert _cli("log", log, "--tensorboard", out).returncode == 0
    files = [p.name for p in folder.iterdir()]
    assert len(files) == 1 and files[0].startswith("events.out.tfevents.") and files[0].endswith(".motip")
    series = _scalars(folder)
    assert series["loss/loss"] == [(1, 9.0), (2, 8.0), (3, 7.0), (4, 101.0), (5, 102.0), (6, 103.0)]
    assert series["eval/HOTA"] == [(1, 41.0), (2, 42.0)]
    assert sorted(p.name for p in run.iterdir()) == before  # the run folder is only read


def test_second_run_beside_the_first_and_name(tmp_path: Path) -> None:
    from motip.tensorboard_export import export_tensorboard

    out = tmp_path / "tb"
    first = export_tensorboard(_write_run(tmp_path / "a"), out)
    second = export_tensorboard(_write_run(tmp_path / "b"), out, run_name="stage2")
    assert first.event_file.parent == out / "a" and second.event_file.parent == out / "stage2"
    assert first.evals == 2 and first.train_steps == 6 and "eval/IDF1" in first.tags
    assert _scalars(out / "a")["eval/IDF1"] == [(1, 46.0), (2, 47.0)]


def test_refusals(tmp_path: Path) -> None:
    from motip.errors import MotipError
    from motip.tensorboard_export import export_tensorboard

    log = _write_run(tmp_path / "run")
    inside = _cli("log", log, "--tensorboard", tmp_path / "run" / "tb")  # through the CLI: exit 2, no traceback
    assert inside.returncode == 2 and "inside the run folder" in inside.stderr + inside.stdout
    assert "Traceback" not in inside.stderr and not (tmp_path / "run" / "tb").exists()
    # DIR = the folder holding the runs: DIR/<run> would be the run folder itself (or another run's).
    with pytest.raises(MotipError, match="inside the run folder"):
        export_tensorboard(log, tmp_path)
    _write_run(tmp_path / "other")
    with pytest.raises(MotipError, match=r"holds a run \(train.log\)"):
        export_tensorboard(log, tmp_path, run_name="other")
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["train.log"]
    with pytest.raises(MotipError, match="plain folder name"):
        export_tensorboard(log, tmp_path / "tb", run_name="../x")
    empty = tmp_path / "empty" / "train.log"
    empty.parent.mkdir()
    empty.write_text("2026-11-24T10:00:00 [start] run=x config=y epochs=1\n")
    with pytest.raises(MotipError, match=r"no \[train\] or \[eval\] line"):
        export_tensorboard(empty, tmp_path / "tb")
    assert not (tmp_path / "tb").exists()
    # Without the optional extra: exit 2 and the install line, no traceback.
    missing = _cli("log", log, "--tensorboard", tmp_path / "tb2",
                   env_prefix="import sys; sys.modules['tensorboard'] = None; ")
    assert missing.returncode == 2, missing.stderr
    assert "pip install 'motip-control-center[tensorboard]'" in missing.stderr + missing.stdout
    assert "Traceback" not in missing.stderr
