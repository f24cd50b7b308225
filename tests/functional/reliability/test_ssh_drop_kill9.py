"""Reliability drill: what an SSH drop and a hard kill do to a training run.

1. A launcher process (standing in for the TUI in an SSH session) starts ``motip train --detach``; the launcher's
   whole process group gets SIGHUP, as on an SSH drop. The training must go on (train.log keeps growing).
2. ``kill -9`` of the training process in the middle of epoch 2; every checkpoint on disk must still load, and
   ``motip train --resume RUN_DIR`` must finish the run: a [resume] event in the same train.log, epochs numbered on
   from where the last checkpoint left off, no epoch run twice past it, status finished.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from motip.trainlog import parse_log

from tests.helpers.processes import wait_until as wait_for

pytestmark = pytest.mark.slow

# Short epochs, a step logged each time, no validation (this drill is about processes and files, not metrics).
ENV = dict(os.environ, OMP_NUM_THREADS="1")  # faster on a shared CPU (docs/training.md)
OVERRIDES = ["--EPOCHS", "2", "--MAX_STEPS_PER_EPOCH", "12", "--LOG_EVERY_STEPS", "1", "--VAL_EVERY_EPOCHS", "0"]




def train_rows(run_dir: Path) -> list[dict]:
    path = run_dir / "train.log"
    return parse_log(path).train if path.is_file() else []


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from motip.demo import create_demo

    folder = create_demo(tmp_path_factory.mktemp("drill") / "demo")
    out = subprocess.run([sys.executable, "-m", "motip", "build", "--config", "config.toml"], cwd=folder,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return folder


def test_sighup_to_the_launcher_then_kill9_and_resume(workspace: Path) -> None:
    import torch

    # 1. The launcher: starts the detached training, reports the run folder, then idles like a TUI would.
    launcher_code = (
        "import subprocess, sys, time\n"
        f"out = subprocess.run([sys.executable, '-m', 'motip', 'train', 'configs/stage1_demo_foundation.yaml', "
        f"'--detach', *{OVERRIDES!r}], capture_output=True, text=True)\n"
        "open('launcher.out', 'w').write(out.stdout + out.stderr + '\\nDONE\\n')\n"
        "time.sleep(600)\n"
    )
    launcher = subprocess.Popen([sys.executable, "-c", launcher_code], cwd=workspace, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=ENV)
    report = workspace / "launcher.out"
    try:
        wait_for(lambda: report.is_file() and "DONE" in report.read_text(), 120, "motip train --detach to return")
        text = report.read_text()
        assert "run_dir=" in text, text
        run_dir = Path(text.split("run_dir=", 1)[1].split()[0])
        run_dir = run_dir if run_dir.is_absolute() else workspace / run_dir
        wait_for(lambda: len(train_rows(run_dir)) >= 2, 180, "the first train steps")
        os.killpg(launcher.pid, signal.SIGHUP)  # the SSH drop: the whole session's foreground group
        launcher.wait(timeout=10)
        assert launcher.returncode == -signal.SIGHUP
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()

    seen = len(train_rows(run_dir))
    wait_for(lambda: len(train_rows(run_dir)) > seen + 2, 120, "training to go on after the hang-up")
    job = json.loads((run_dir / "job.json").read_text())
    trainer = psutil.Process(job["child_pid"])
    assert trainer.is_running()

    # 2. kill -9 mid-epoch 2 (epoch 1 is checkpointed by then).
    wait_for(lambda: any(r["epoch"] == 2 and r["step"] >= 3 for r in train_rows(run_dir)), 300, "epoch 2 to start")
    os.kill(trainer.pid, signal.SIGKILL)
    wait_for(lambda: json.loads((run_dir / "job.json").read_text()).get("exit_code") is not None, 30,
             "the supervisor to record the kill")
    job = json.loads((run_dir / "job.json").read_text())
    assert job.get("signal") == "SIGKILL", job

    checkpoints = sorted(run_dir.glob("*.pth"))
    assert run_dir / "checkpoint_last.pth" in checkpoints
    for path in checkpoints:  # none torn by the kill
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        assert "model" in checkpoint
    last = torch.load(run_dir / "checkpoint_last.pth", map_location="cpu", weights_only=False)
    epochs_done = int(last["states"]["epoch"])
    assert epochs_done == 1, last["states"]
    steps_before = len(train_rows(run_dir))

    # 3. resume in the foreground: the same run folder and log go on.
    out = subprocess.run([sys.executable, "-m", "motip", "train", "--resume", str(run_dir)], cwd=workspace,
                         capture_output=True, text=True, timeout=600, env=ENV)
    assert out.returncode == 0, out.stderr[-3000:]
    log = parse_log(run_dir / "train.log")
    assert log.status["state"] == "finished", log.status
    resumes = [e for e in log.events if e["event"] == "resume"]
    assert len(resumes) == 1 and int(resumes[0]["epoch"]) == epochs_done, resumes
    after = log.train[steps_before:]
    assert after and all(row["epoch"] == epochs_done + 1 for row in after)
    assert after[0]["step"] == 1  # the interrupted epoch is redone from its start
    assert max(row["epoch"] for row in log.train) == 2  # no epoch 3: the count is right
    assert [row["step"] for row in after] == list(range(1, 13))
    final = torch.load(run_dir / "checkpoint_last.pth", map_location="cpu", weights_only=False)
    assert int(final["states"]["epoch"]) == 2
