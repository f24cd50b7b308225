"""`motip dashboard` on real train.log files written by motip.trainlog.TrainLogWriter."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from motip.trainlog import TrainLogWriter
from motip.viz.dashboard import render_dashboard, smooth


def write_log(path: Path, epochs: int = 3, steps: int = 20, per_class: bool = True, hota0: float = 45.0) -> Path:
    with TrainLogWriter(path) as writer:
        writer.run_start(run=str(path.parent), config="configs/tiny_cpu.yaml", epochs=epochs)
        global_step = 0
        for epoch in range(1, epochs + 1):
            for step in range(1, steps + 1):
                global_step += 1
                loss = 3.0 * math.exp(-global_step / 20) + 0.5
                grad = math.inf if global_step == 7 else (math.nan if global_step == 11 else 5.0 + step % 3)
                writer.train_step(epoch=epoch, step=step, total_steps=steps, global_step=global_step, loss=loss,
                                  loss_cls=loss / 3, loss_bbox=loss / 4, loss_giou=loss / 4, loss_id=loss / 6,
                                  grad_norm=grad, lr=2e-5 if epoch < 3 else 2e-6, s_per_step=0.5)
            hota = hota0 + 4 * epoch
            writer.eval(epoch=epoch, metrics={"HOTA": hota, "DetA": hota + 4, "AssA": hota - 3, "MOTA": hota + 10,
                                              "IDF1": hota + 2, "IDSW": 40 - epoch},
                        per_class={"pedestrian": {"HOTA": hota + 1, "IDF1": hota + 3}} if per_class else None)
        writer.run_end(status="finished", epoch=epochs)
    return path


def image_stats(path: Path) -> tuple[tuple[int, int], int, float]:
    """Size, number of distinct colours, and the inked fraction of the emptiest panel cell (2 columns of panels,
    rows of ~420 px): every panel must carry axes, text and curves."""
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"))
    colours = len(np.unique(rgb.reshape(-1, 3)[::7], axis=0))
    inked = rgb.min(axis=2) < 200
    rows = (rgb.shape[0] - 80) // 420
    cells = [inked[40 + r * 420: 40 + (r + 1) * 420, c * 800: (c + 1) * 800] for r in range(rows) for c in range(2)]
    return (rgb.shape[1], rgb.shape[0]), colours, min(float(cell.mean()) for cell in cells)


def test_cli_writes_dashboard_beside_the_log(tmp_path: Path) -> None:
    log = write_log(tmp_path / "stage1_20261124" / "train.log")
    proc = subprocess.run([sys.executable, "-m", "motip", "dashboard", str(log)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    png = log.parent / "dashboard.png"
    assert png.is_file() and str(png) in proc.stdout
    size, colours, non_white = image_stats(png)
    assert size == (1600, 1760)  # 4 panel rows: per-class curves are present
    assert colours > 50 and 0.005 < non_white < 0.6  # every panel inked, none a solid block


def test_overlaid_runs_and_no_per_class_row(tmp_path: Path) -> None:
    a = write_log(tmp_path / "a" / "train.log", per_class=False)
    b = write_log(tmp_path / "b" / "train.log", per_class=False, hota0=40.0)
    out = render_dashboard([a, b], tmp_path / "both.png")
    size, colours, _ = image_stats(out)
    assert size == (1600, 1340)  # 3 panel rows without per-class metrics


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    not_a_log = tmp_path / "train.log"
    not_a_log.write_text("hello\nworld\n")
    proc = subprocess.run([sys.executable, "-m", "motip", "dashboard", str(not_a_log), str(tmp_path / "nope.log")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no [train] or [eval] lines" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "dashboard.png").exists()


def test_smooth_skips_non_finite_and_follows_the_trend() -> None:
    values = np.array([10.0, math.nan, 10.0, math.inf, 0.0, 0.0, 0.0, 0.0])
    out = smooth(values, weight=0.5)
    assert math.isnan(out[1]) and math.isnan(out[3])
    assert out[0] == 10.0 and out[2] == 10.0 and 0 < out[-1] < out[4] < 10.0


REAL_LOG = Path(__file__).parent / "data" / "dashboard_real_tiny_train.log"


def test_real_tiny_training_log(tmp_path: Path) -> None:
    """A train.log written by a real `motip train` (demo workspace, tiny_cpu model, 2 epochs x 4 steps, CPU; about
    12 minutes to produce, so it is committed rather than regenerated here)."""
    log = tmp_path / "stage1_demo" / "train.log"
    log.parent.mkdir()
    log.write_bytes(REAL_LOG.read_bytes())
    proc = subprocess.run([sys.executable, "-m", "motip", "dashboard", str(log)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    size, colours, non_white = image_stats(log.parent / "dashboard.png")
    assert size == (1600, 1760)  # pedestrian/vehicle per-class rows
    assert colours > 50 and 0.005 < non_white < 0.6
