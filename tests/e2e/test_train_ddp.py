"""`torchrun --nproc_per_node 2 -m motip train ...` on CPU (gloo): both ranks train, only rank 0 writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers.processes import free_port
from tests.helpers.training import TINY, env, make_workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("ws"), videos=4, frames=12)


def test_ddp_two_cpu_processes(workspace: Path) -> None:
    torchrun = Path(sys.executable).with_name("torchrun")
    run_dir = workspace / "outputs" / "ddp"
    result = subprocess.run([str(torchrun), "--nproc_per_node", "2", "--master_port", str(free_port()), "-m", "motip",
                             "train", str(TINY), "--EPOCHS", "1", "--MAX_STEPS_PER_EPOCH", "2",
                             "--VAL_EVERY_EPOCHS", "0", "--OUTPUT_DIR", str(run_dir)],
                            cwd=workspace, env=env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    text = (run_dir / "train.log").read_text()
    assert text.count("[start]") == 1 and "world_size=2" in text  # one writer
    assert text.count("[train]") == 2 and "[end] status=finished" in text
    state = torch.load(run_dir / "checkpoint_last.pth", map_location="cpu", weights_only=False)
    assert not any(k.startswith("module.") for k in state["model"])  # saved unwrapped
    assert state["states"]["global_step"] == 2
