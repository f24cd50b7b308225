"""End to end on CPU: build synthetic data with `motip build`, train the tiny config for 2 epochs with real TrackEval
validation, SIGKILL it mid-epoch 2, `--resume` it to the end, parse train.log with `motip log --json`; then a
resume whose loss is NaN stops with an error line and leaves checkpoint_last.pth untouched."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.helpers.training import TINY, env, make_workspace, motip

# Small and quick: 4 steps per epoch, every box above 0.05 reported so TrackEval always has something to score.
FAST = ["--EPOCHS", "2", "--MAX_STEPS_PER_EPOCH", "4", "--DET_THRESH", "0.05", "--NEWBORN_THRESH", "0.05",
        "--AUG_NUM_GROUPS", "1", "--SEED", "3"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("ws"), videos=5, frames=20)


def _wait_for(path: Path, needle: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and needle in path.read_text(encoding="utf-8"):
            return
        if proc.poll() is not None:
            raise AssertionError(f"training exited early ({proc.returncode}): {proc.stdout.read()[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} never appeared in {path}")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_train_kill_resume_and_parse(workspace: Path) -> None:
    run_dir = workspace / "outputs" / "e2e"
    log = run_dir / "train.log"
    proc = subprocess.Popen([sys.executable, "-m", "motip", "train", str(TINY), *FAST, "--OUTPUT_DIR", str(run_dir)],
                            cwd=workspace, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(log, "[train] epoch=2 step=1 ", proc, timeout=600)
        proc.send_signal(signal.SIGKILL)  # a real kill mid-epoch: no handler runs
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (run_dir / "checkpoint_last.pth").is_file()
    killed = torch.load(run_dir / "checkpoint_last.pth", map_location="cpu", weights_only=False)
    assert killed["states"]["epoch"] == 1 and killed["states"]["global_step"] == 4
    assert "[end]" not in log.read_text()

    resumed = motip("train", "--resume", str(run_dir), cwd=workspace)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]

    parsed = motip("log", str(log), "--json", cwd=workspace)
    assert parsed.returncode == 0, parsed.stderr
    data = json.loads(parsed.stdout)
    assert data["status"]["state"] == "finished"
    assert [e["event"] for e in data["events"]].count("resume") == 1
    # Epoch 2 restarted from its first step with the same numbering: global steps 5..8 after the resume.
    after_resume = [row for row in data["train"] if row["epoch"] == 2][-4:]
    assert [row["global_step"] for row in after_resume] == [5, 6, 7, 8]
    for row in data["train"]:
        for key in ("loss", "loss_ce", "loss_bbox", "loss_giou", "loss_id", "grad_norm", "lr", "s_per_step"):
            assert key in row, key
    assert [row["epoch"] for row in data["eval"]] == [1, 2]
    for row in data["eval"]:
        for metric in ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW"):
            assert isinstance(row[metric], (int, float))
        assert set(row["per_class"]) == {"pedestrian", "vehicle"}
    # TrackEval really ran: its report is on disk, with DetA > 0 since every box above 0.05 was reported.
    report = json.loads((run_dir / "eval" / "epoch_2" / "metrics.json").read_text())
    assert "per_sequence" in report and report["metrics"]["DetA"] > 0
    history = json.loads((run_dir / "metrics.json").read_text())
    assert [e["epoch"] for e in history["epochs"]] == [1, 2]
    for name in ("checkpoint_last.pth", "checkpoint_epoch_1.pth", "checkpoint_epoch_2.pth",
                 "checkpoint_best_hota.pth", "checkpoint_best_idf1.pth", "config.yaml", "run.json"):
        assert (run_dir / name).is_file(), name
    final = torch.load(run_dir / "checkpoint_last.pth", map_location="cpu", weights_only=False)
    assert final["states"]["epoch"] == 2 and final["states"]["global_step"] == 8
    run_json = json.loads((run_dir / "run.json").read_text())
    assert run_json["status"] == "finished" and run_json["exit_code"] == 0 and run_json["ended_at"]

    # A checkpoint of ours loads into a fresh model with the model engineer's loader.
    from motip.config import load_config
    from motip.model import build_model, load_pretrain
    model = build_model(load_config(TINY))
    assert load_pretrain(model, run_dir / "checkpoint_best_hota.pth", verbose=False).loaded > 0

    # A third epoch whose loss is not finite (a loss weight past float32's range; nan is refused as a config value):
    # stops at its first step, keeps the last good checkpoint byte for byte.
    before = _sha(run_dir / "checkpoint_last.pth")
    bad = motip("train", "--resume", str(run_dir), "--EPOCHS", "3", "--DETR_BBOX_LOSS_COEF", "1e300", cwd=workspace)
    assert bad.returncode != 0
    assert "non-finite loss" in bad.stderr
    assert _sha(run_dir / "checkpoint_last.pth") == before
    assert not (run_dir / "checkpoint_epoch_3.pth").exists()
    text = log.read_text()
    assert "[error]" in text and "non-finite loss at epoch 3 step 1" in text
    assert text.rstrip().splitlines()[-1].split(" ", 2)[1] == "[end]" and "status=failed" in text.splitlines()[-1]
