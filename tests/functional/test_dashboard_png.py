"""`motip dashboard` on real train.log files written by motip.trainlog.TrainLogWriter."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from motip.trainlog import TrainLogWriter
from motip.viz.dashboard import render_dashboard, smooth

from tests.helpers.paths import DATA_DIR, REPO


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


REAL_LOG = DATA_DIR / "dashboard_real_tiny_train.log"


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


# ------------------------------------------------------------------------------------------------- nothing hides data
# Checked from matplotlib's own artists (window extents in display pixels), on the real tiny-training log and on a
# two-run overlay: legends, gutter labels and target marks lie outside every panel, every data point lies inside its
# panel, targets are drawn in range and marked at the edge otherwise, and each series' last value is written.

def _figure(paths: list[Path]) -> Any:
    from motip.viz.dashboard import build_figure

    fig = build_figure(paths)
    fig.canvas.draw()
    return fig


def _data_points(ax: Any) -> np.ndarray:
    """Display coordinates of every finite point of the panel's data lines (what a legend must never cover)."""
    from motip.viz.dashboard import AUX

    points = []
    for line in ax.get_lines():
        if line.get_gid() == AUX:
            continue
        xy = np.column_stack([np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)])
        xy = xy[np.isfinite(xy).all(axis=1)]
        if len(xy):
            points.append(line.get_transform().transform(xy))
    return np.concatenate(points) if points else np.zeros((0, 2))


def _labels(fig: Any) -> list[tuple[str, Any]]:
    """Every legend and every piece of text the dashboard adds (gutter values, target marks, titles)."""
    renderer = fig.canvas.get_renderer()
    found = [("figure legend", legend.get_window_extent(renderer)) for legend in fig.legends]
    for ax in fig.axes:
        if ax.get_legend() is not None:
            found.append((f"legend of {ax.get_title()!r}", ax.get_legend().get_window_extent(renderer)))
        found += [(f"text {t.get_text()!r}", t.get_window_extent(renderer)) for t in ax.texts if t.get_text()]
        found.append((f"title {ax.get_title()!r}", ax.title.get_window_extent(renderer)))
    return found


def _overlay(tmp_path: Path) -> list[Path]:
    return [write_log(tmp_path / "stage1_universal_foundation_20261124_035355" / "train.log", per_class=False),
            write_log(tmp_path / "stage2_specialization_20261125_101010" / "train.log", per_class=False,
                      hota0=40.0)]


def _real(tmp_path: Path) -> list[Path]:
    log = tmp_path / "stage1_demo" / "train.log"
    log.parent.mkdir()
    log.write_bytes(REAL_LOG.read_bytes())
    return [log]


@pytest.mark.parametrize("case", ["real", "overlay", "per_class_high"])
def test_no_legend_or_label_over_the_data(tmp_path: Path, case: str) -> None:
    paths = {"real": _real, "overlay": _overlay,
             "per_class_high": lambda p: [write_log(p / "r" / "train.log", hota0=66.0)]}[case](tmp_path)
    fig = _figure(paths)
    boxes = [ax.bbox for ax in fig.axes]
    labels = _labels(fig)
    assert len(labels) > 20
    for name, extent in labels:
        for ax, box in zip(fig.axes, boxes):
            assert not extent.overlaps(box), f"{name} overlaps the panel {ax.get_title()!r}"
            points = _data_points(ax)
            inside = ((points[:, 0] >= extent.x0) & (points[:, 0] <= extent.x1) & (points[:, 1] >= extent.y0)
                      & (points[:, 1] <= extent.y1))
            assert not inside.any(), f"{name} covers {int(inside.sum())} data point(s) of {ax.get_title()!r}"
    # Every panel's y-range fits its data: all points inside the panel, and a non-flat series fills it.
    for ax in fig.axes:
        points = _data_points(ax)
        assert len(points), ax.get_title()
        box = ax.bbox
        assert (points[:, 1] >= box.y0 - 0.5).all() and (points[:, 1] <= box.y1 + 0.5).all(), ax.get_title()
        span = np.ptp(points[:, 1])
        if span > 1:
            assert span > 0.6 * box.height, f"{ax.get_title()!r}: data squeezed into {span / box.height:.0%}"
    import matplotlib.pyplot as plt

    plt.close(fig)


def _panel(fig: Any, title_start: str) -> Any:
    return next(ax for ax in fig.axes if ax.get_title().startswith(title_start))


def _gutter(ax: Any) -> dict[str, Any]:
    return {t.get_text(): t for t in ax.texts}


def test_targets_in_range_drawn_out_of_range_marked_at_the_edge(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    real = _figure(_real(tmp_path))  # HOTA 0 after 2 epochs: 54 and the 40s far above the range
    ax = _panel(real, "HOTA and IDF1")
    assert not [line for line in ax.get_lines() if list(line.get_ydata()) == [54.0, 54.0]]
    marks = _gutter(ax)
    assert {"▲ target 54", "▲ 40s band"} <= set(marks)
    renderer = real.canvas.get_renderer()
    for text in ("▲ target 54", "▲ 40s band"):  # at the panel's top edge
        extent = marks[text].get_window_extent(renderer)
        assert abs((extent.y0 + extent.y1) / 2 - ax.bbox.y1) < 2.5 * extent.height, text
    assert ax.get_ylim()[1] < 10  # the targets did not stretch the range
    plt.close(real)

    overlay = _figure(_overlay(tmp_path))  # HOTA/IDF1 44..59: both in range
    ax = _panel(overlay, "HOTA and IDF1")
    assert [line for line in ax.get_lines() if list(line.get_ydata()) == [54.0, 54.0]]
    assert not [t for t in _gutter(ax) if "target" in t or "band" in t]
    assert {"target 54", "regression band (40s)"} <= {t.get_text() for t in ax.get_legend().get_texts()}
    plt.close(overlay)

    high = _figure([write_log(tmp_path / "high" / "train.log", hota0=66.0)])  # per-class 71..79: both below
    ax = _panel(high, "per-class HOTA")
    assert {"▼ target 54", "▼ 40s band"} <= set(_gutter(ax))
    plt.close(high)


def test_last_values_and_runs_listed_once(tmp_path: Path) -> None:
    import matplotlib.colors as mcolors
    import matplotlib.pyplot as plt

    fig = _figure(_overlay(tmp_path))
    assert len(fig.legends) == 1
    runs = [t.get_text() for t in fig.legends[0].get_texts()]
    # short, distinct (no timestamps); numbered, since they are long to repeat beside the loss terms' values
    assert runs == ["#1 stage1_universal_foundation", "#2 stage2_specialization"]
    for ax in fig.axes:  # no panel repeats the runs in its own legend
        legend = ax.get_legend()
        assert legend is None or not {t.get_text() for t in legend.get_texts()} & set(runs)
        assert legend is None or not any("stage" in t.get_text() for t in legend.get_texts())
    ax = _panel(fig, "HOTA and IDF1")
    gutter = _gutter(ax)
    # write_log: HOTA = hota0 + 4 * epoch, IDF1 = HOTA + 2; 3 epochs
    assert {"HOTA 57.0", "IDF1 59.0", "HOTA 52.0", "IDF1 54.0"} <= set(gutter)
    assert mcolors.to_hex(gutter["HOTA 57.0"].get_color()) == mcolors.to_hex("tab:blue")   # first run's colour
    assert mcolors.to_hex(gutter["HOTA 52.0"].get_color()) == mcolors.to_hex("tab:orange")
    renderer = fig.canvas.get_renderer()
    last = ax.transData.transform((3, 57.0))
    extent = gutter["HOTA 57.0"].get_window_extent(renderer)
    assert extent.x0 >= ax.bbox.x1 and abs((extent.y0 + extent.y1) / 2 - last[1]) < 1.5 * extent.height
    for title in ("total loss", "loss terms", "grad norm", "learning rate"):
        texts = [t.get_text() for t in _panel(fig, title).texts]
        assert len(texts) >= 2, (title, texts)  # one per run at least
    # loss terms are coloured by term, so their values name the run
    assert "#1 id 0.108" in _gutter(_panel(fig, "loss terms"))
    plt.close(fig)
    short = _figure([write_log(tmp_path / name / "train.log", per_class=False) for name in ("base", "lr_half")])
    assert [t.get_text() for t in short.legends[0].get_texts()] == ["base", "lr_half"]
    assert "lr_half id 0.108" in _gutter(_panel(short, "loss terms"))
    fig = short
    plt.close(fig)


def test_short_names() -> None:
    from motip.viz.dashboard import short_names

    assert short_names(["stage1_a_20261124_035355", "stage2_b_20261125_010101"]) == ["stage1_a", "stage2_b"]
    same = short_names(["stage1_a_20261124_035355", "stage1_a_20261125_010101"])
    assert same == ["stage1_a_20261124_035355", "stage1_a_20261125_010101"]  # the stamp is what tells them apart
    long = short_names(["x" * 60 + "_one", "x" * 60 + "_two"])
    assert all(len(n) <= 32 for n in long) and len(set(long)) == 2


def test_image_size_is_what_help_and_docs_say(tmp_path: Path) -> None:
    from motip.viz.dashboard import figure_size_px

    with_classes, without = figure_size_px(True), figure_size_px(False)
    assert with_classes == (1600, 1760) and without == (1600, 1340)
    proc = subprocess.run([sys.executable, "-m", "motip", "dashboard", "--help"], capture_output=True, text=True,
                          timeout=60)
    help_text = " ".join(proc.stdout.split())
    docs = (REPO / "docs" / "viz.md").read_text()
    for w, h in (with_classes, without):
        assert f"{w}x{h}" in help_text and f"{w}x{h}" in docs
    out = render_dashboard([write_log(tmp_path / "r" / "train.log", per_class=False)], tmp_path / "d.png", dpi=50)
    with Image.open(out) as image:
        assert image.size == figure_size_px(False, 50) == (800, 670)


def test_flat_non_negative_series_never_get_an_axis_below_zero(tmp_path: Path) -> None:
    # The real tiny log: HOTA/IDF1 are 0 at both evals and the lr is flat. A flat 0 reads 0..1 (not -1..1) and a
    # flat lr of 2e-4 is padded in proportion to itself, not by 1.
    fig = _figure(_real(tmp_path))
    for title in ("HOTA and IDF1", "per-class HOTA"):
        ax = _panel(fig, title)
        lo, hi = ax.get_ylim()
        assert -0.05 < lo < 0 and 0 < hi <= 1.0  # a sliver below 0 keeps the flat line off the axis
        assert all(tick >= 0 for tick in ax.get_yticks() if lo <= tick <= hi)  # no negative tick label
    lo, hi = _panel(fig, "learning rate").get_ylim()
    assert lo >= -1e-5 and hi < 1e-3
