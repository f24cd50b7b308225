"""`motip viz` in checkpoint mode: a real tiny MOTIP (configs/tiny_cpu.yaml) runs through the training engineer's
track_split, then the videos are rendered; a checkpoint that does not fit the config is a clear error (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers.paths import REPO
from tests.helpers.training import TINY
from tests.helpers.viz_case import FRAMES, make_case


def save_checkpoint(path: Path, overrides: list[str]) -> Path:
    from motip.config import load_config
    from motip.model import build_model

    torch.manual_seed(0)
    model = build_model(load_config(TINY, overrides))
    torch.save({"model": model.state_dict()}, path)
    return path


def viz(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "motip", "viz", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=REPO, env={"MOTIP_PROGRESS": "plain", "PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vizck")
    make_case(root)
    return root


def test_checkpoint_mode_renders(case: Path) -> None:
    checkpoint = save_checkpoint(case / "fresh.pth", ["--DEVICE", "cpu"])
    out = case / "out"
    proc = viz("--config", TINY, "--checkpoint", checkpoint, "--dataset-root", case / "val", "--output-dir", out,
               "--score_thresh", "0.4", "--DEVICE", "cpu")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "checkpoint" and summary["score_thresh"] == 0.4
    assert (out / "tracker" / "seq01.txt").is_file() and (out / "seq01.mp4").stat().st_size > 0
    row = summary["sequences"]["seq01"]
    # Every GT box is either matched or missed, whatever an untrained model predicts.
    assert row["frames"] == FRAMES and row["tp"] + row["fn"] == 2 * FRAMES


def test_checkpoint_not_fitting_the_config(case: Path) -> None:
    checkpoint = save_checkpoint(case / "narrow.pth", ["--DETR_HIDDEN_DIM", "32", "--FEATURE_DIM", "32",
                                                       "--ID_DIM", "32"])
    proc = viz("--config", TINY, "--checkpoint", checkpoint, "--dataset_root", case / "val", "--output_dir",
               case / "out_bad", "--DEVICE", "cpu")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "narrow.pth" in proc.stderr and "shape mismatch" in proc.stderr and "Traceback" not in proc.stderr
    assert not (case / "out_bad" / "seq01.mp4").exists()


def test_results_and_checkpoint_together_is_refused(case: Path) -> None:
    proc = viz("--results", case / "results", "--checkpoint", case / "x.pth", "--dataset_root", case / "val",
               "--output_dir", case / "o")
    assert proc.returncode == 2 and "either --results" in proc.stderr
