"""`motip train` failure paths and --detach: clear errors before any model is built, NaN stop, detached runs."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.helpers.training import TINY, make_workspace, motip


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("ws"), videos=4, frames=12)


def test_missing_dataset_fails_before_model(tmp_path: Path) -> None:
    result = motip("train", str(TINY), "--OUTPUT_DIR", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 2
    assert "dataset split folder not found" in result.stderr
    assert str(tmp_path / "datasets" / "DanceTrack" / "train") in result.stderr
    assert "motip build" in result.stderr
    assert not (tmp_path / "run").exists()  # nothing half-started


def test_missing_pretrain_fails_before_model(workspace: Path, tmp_path: Path) -> None:
    result = motip("train", str(TINY), "--DETR_PRETRAIN", "./pretrains/nope.pth", "--OUTPUT_DIR",
                   str(tmp_path / "run"), cwd=workspace)
    assert result.returncode == 2
    assert "DETR_PRETRAIN file not found" in result.stderr and "nope.pth" in result.stderr
    assert not (tmp_path / "run").exists()


def test_missing_val_seqmap_is_named(workspace: Path, tmp_path: Path) -> None:
    result = motip("train", str(TINY), "--val_config.SEQMAP_FILE", "missing_seqmap.txt", "--OUTPUT_DIR",
                   str(tmp_path / "run"), cwd=workspace)
    assert result.returncode == 2
    assert "seqmap file not found" in result.stderr and "missing_seqmap.txt" in result.stderr


def test_resume_without_checkpoint_is_refused(workspace: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    from motip.config import dump_config, load_config
    from motip.engine.train import standalone_config
    (run_dir / "config.yaml").write_text(dump_config(standalone_config(load_config(TINY))))
    result = motip("train", "--resume", str(run_dir), cwd=workspace)
    assert result.returncode == 2 and "no checkpoint_last.pth" in result.stderr


def test_nan_loss_stops_with_error_line(workspace: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "nan"
    # A loss weight past float32's range makes the first loss inf (a nan weight is refused as a config value).
    result = motip("train", str(TINY), "--DETR_GIOU_LOSS_COEF", "1e300", "--MAX_STEPS_PER_EPOCH", "2",
                   "--OUTPUT_DIR", str(run_dir), cwd=workspace)
    assert result.returncode == 2
    assert "non-finite loss at epoch 1 step 1" in result.stderr
    lines = (run_dir / "train.log").read_text().splitlines()
    assert "[error]" in lines[-2] and "non-finite loss" in lines[-2]
    assert "[end] status=failed" in lines[-1]
    assert not list(run_dir.glob("checkpoint_*.pth"))  # never a checkpoint of a broken model
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"


def test_detach_prints_run_dir_and_pid(workspace: Path) -> None:
    result = motip("train", str(TINY), "--detach", "--EPOCHS", "1", "--MAX_STEPS_PER_EPOCH", "1",
                   "--VAL_EVERY_EPOCHS", "0", cwd=workspace)
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r"run_dir=(\S+) pid=(\d+)\n", result.stdout)
    assert match, result.stdout
    run_dir = Path(match[1])
    assert run_dir.parent == workspace / "outputs" and run_dir.name.startswith("tiny_cpu_")
    job = json.loads((run_dir / "job.json").read_text())
    assert job["pid"] == int(match[2]) and job["kind"] == "train"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and json.loads((run_dir / "job.json").read_text()).get("exit_code") is None:
        time.sleep(0.5)
    job = json.loads((run_dir / "job.json").read_text())
    assert job["exit_code"] == 0, (run_dir / "output.log").read_text()[-2000:]
    assert "[end] status=finished" in (run_dir / "train.log").read_text()
    assert (run_dir / "checkpoint_last.pth").is_file()


def test_changed_val_set_is_warned(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws", videos=4, frames=12)
    gt = next((workspace / "datasets" / "DanceTrack" / "val").glob("*/gt/gt.txt"))
    gt.write_text(gt.read_text() + "1,999,1,1,10,10,1,1,1\n")  # the locked val set no longer matches its build
    run_dir = workspace / "run"
    result = motip("train", str(TINY), "--EPOCHS", "1", "--MAX_STEPS_PER_EPOCH", "1", "--OUTPUT_DIR", str(run_dir),
                   cwd=workspace)
    assert result.returncode == 0, result.stderr[-2000:]
    warnings = [line for line in (run_dir / "train.log").read_text().splitlines() if "[warning]" in line]
    # The dataset is pinned (no rebuild can swap it), but a file edited in place is still caught: the split against
    # its build report's fingerprint, checked once per eval and warned once (one epoch, one warning).
    assert len([line for line in warnings if "fingerprint" in line]) == 1
    assert any("changed since it was built" in line for line in warnings)
    report = json.loads((run_dir / "eval" / "epoch_1" / "metrics.json").read_text())
    assert sum("changed since it was built" in w for w in report["warnings"]) == 1


def test_sigterm_ends_with_stopped(workspace: Path) -> None:
    from motip.jobs import read_job, stop_job

    result = motip("train", str(TINY), "--detach", "--EPOCHS", "50", "--VAL_EVERY_EPOCHS", "0", cwd=workspace)
    assert result.returncode == 0, result.stderr
    run_dir = Path(re.fullmatch(r"run_dir=(\S+) pid=(\d+)\n", result.stdout)[1])
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and "[train]" not in _text(run_dir / "train.log"):
        time.sleep(0.2)
    stop_job(read_job(run_dir), grace_s=60)
    lines = _text(run_dir / "train.log").splitlines()
    assert "[end] status=stopped" in lines[-1]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "stopped"


def _text(path: Path) -> str:
    return path.read_text() if path.is_file() else ""
