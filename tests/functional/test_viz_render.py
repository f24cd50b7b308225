"""`motip viz --results`: a constructed case with one ID switch, one false positive, one miss and an ignore region,
rendered for real and checked in the decoded video (box colours at their positions) and in summary.json."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from motip.viz.matching import Category, FrameBoxes, SequenceMatcher
from motip.viz.render import COLOURS, layout_hud

from tests.helpers.viz_case import (BACKGROUND, FP_BOX, FP_FRAME, FRAMES, GT1, GT2, MISS_FRAME, SWITCH_FRAME, H, W,
                                    make_case, mot_row)


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "motip", "viz", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env={"MOTIP_PROGRESS": "plain", "PATH": "/usr/bin:/bin"})


def decode(video: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def nearest_colour(pixel: np.ndarray) -> str:
    """Which reference colour a decoded (compressed) pixel is closest to."""
    references = {"green": COLOURS[Category.MATCHED], "orange": COLOURS[Category.SWITCHED],
                  "blue": COLOURS[Category.MISSED], "red": COLOURS[Category.FP], "background": BACKGROUND}
    return min(references, key=lambda k: float(np.linalg.norm(pixel.astype(float) - np.array(references[k]))))


def edge_colour(frame: np.ndarray, box: tuple[int, int, int, int]) -> str:
    """Colour of the box's left edge line, sampled in the middle of its height (median over a few pixels)."""
    x, y, w, h = box
    patch = frame[y + h // 2 - 2: y + h // 2 + 3, x - 1: x + 2].reshape(-1, 3)
    return nearest_colour(np.median(patch, axis=0))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("viz")
    split, results = make_case(root)
    out = root / "out"
    proc = run_cli("--results", results, "--dataset-root", split, "--output_dir", out)
    return out, proc


def test_summary_counts(rendered: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, proc = rendered
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    counts = summary["sequences"]["seq01"]
    assert (counts["fn"], counts["fp"], counts["idsw"], counts["tp"]) == (1, 1, 1, 2 * FRAMES - 1)
    assert counts["ignored_predictions"] == FRAMES  # id 7 on the ignore region every frame, never a FP
    assert counts["gt"] == 2 * FRAMES and counts["frames"] == FRAMES
    assert summary["total"]["idsw"] == 1 and summary["frames_per_second"] > 0
    assert "PROGRESS viz" in proc.stderr and "frames/s" in proc.stdout


def test_box_colours_in_decoded_video(rendered: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, _ = rendered
    frames = decode(out / "seq01.mp4")
    # 640x360 is too small for a HUD strip inside the frame (> 8% of it): the HUD is in a margin below the scene
    assert len(frames) == FRAMES and frames[0].shape == (H + layout_hud(W, H, FRAMES).margin, W, 3)
    assert layout_hud(W, H, FRAMES).margin > 0
    frame = lambda t: frames[t - 1]  # noqa: E731 - frames are numbered from 1
    assert edge_colour(frame(3), GT1) == "green"
    assert edge_colour(frame(SWITCH_FRAME - 1), GT1) == "green"
    assert edge_colour(frame(SWITCH_FRAME), GT1) == "orange"       # the switch frame
    assert edge_colour(frame(SWITCH_FRAME + 5), GT1) == "orange"   # stays orange while the switched ID lasts
    assert edge_colour(frame(3), GT2) == "green"
    assert edge_colour(frame(MISS_FRAME), GT2) in ("blue",)      # missed GT (dashed: the sample hits a dash)
    assert edge_colour(frame(MISS_FRAME + 1), GT2) == "green"      # same ID again: no switch, green
    assert edge_colour(frame(FP_FRAME), FP_BOX) == "red"
    assert edge_colour(frame(FP_FRAME + 1), FP_BOX) == "background"
    # The ignored prediction is not drawn red anywhere.
    assert edge_colour(frame(3), (510, 50, 60, 50)) != "red"


def test_contact_sheet(rendered: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, _ = rendered
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["sequences"]["seq01"]["worst_frames"]) >= {SWITCH_FRAME, MISS_FRAME, FP_FRAME}
    sheet = cv2.imread(str(out / "seq01_worst.png"))
    assert sheet is not None and sheet.shape[1] == 3 * 640 and sheet.std() > 5


def test_matcher_keeps_last_match_when_still_valid() -> None:
    """A better-overlapping newcomer does not steal a GT from the tracker it was matched to (CLEAR-MOT)."""
    matcher = SequenceMatcher()
    gt = FrameBoxes(np.array([1]), np.array([[0, 0, 100, 100]], float), np.array([1]))
    first = matcher.step(1, gt, FrameBoxes(np.array([4]), np.array([[0, 0, 100, 100]], float), np.array([1])), None)
    assert first.tp == 1
    both = FrameBoxes(np.array([4, 8]), np.array([[30, 0, 100, 100], [0, 0, 100, 100]], float), np.array([1, 1]))
    second = matcher.step(2, gt, both, None)
    assert second.idsw == 0 and second.fp == 1
    assert [b.label for b in second.boxes if b.category == Category.MATCHED] == ["4"]
    # Different classes never match.
    other = matcher.step(3, gt, FrameBoxes(np.array([4]), np.array([[0, 0, 100, 100]], float), np.array([2])), None)
    assert (other.tp, other.fn, other.fp) == (0, 1, 1)


def test_empty_results_file_is_a_clear_error(tmp_path: Path) -> None:
    split, results = make_case(tmp_path, tracker_text="")
    proc = run_cli("--results", results, "--dataset_root", split, "--output_dir", tmp_path / "out")
    assert proc.returncode == 2
    assert "seq01.txt" in proc.stderr and "empty" in proc.stderr and "Traceback" not in proc.stderr


def test_dataset_root_without_sequences(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "results").mkdir()
    proc = run_cli("--results", tmp_path / "results", "--dataset_root", tmp_path / "empty", "--output_dir",
                   tmp_path / "out")
    assert proc.returncode == 2 and "no sequences" in proc.stderr and "Traceback" not in proc.stderr


def test_unreadable_image(tmp_path: Path) -> None:
    split, results = make_case(tmp_path)
    (split / "seq01" / "img1" / "00000007.jpg").write_bytes(b"not a jpeg")
    proc = run_cli("--results", results, "--dataset_root", split, "--output_dir", tmp_path / "out")
    assert proc.returncode == 2 and "00000007.jpg" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "seq01.mp4").exists()  # no half-written video left behind


def test_duplicate_tracker_id_in_a_frame(tmp_path: Path) -> None:
    split, results = make_case(tmp_path,
                               tracker_text=mot_row(1, 3, GT1, "0.9,1,-1,-1") + mot_row(1, 3, GT2, "0.9,1,-1,-1"))
    proc = run_cli("--results", results, "--dataset_root", split, "--output_dir", tmp_path / "out")
    assert proc.returncode == 2 and "seq01.txt:2" in proc.stderr and "appears twice" in proc.stderr


def test_orange_lasts_while_the_switched_id_stays_on_the_gt() -> None:
    matcher = SequenceMatcher()
    gt = FrameBoxes(np.array([1]), np.array([[0, 0, 100, 100]], float), np.array([1]))
    none = FrameBoxes.empty()

    def on(tracker_id: int) -> FrameBoxes:
        return FrameBoxes(np.array([tracker_id]), np.array([[2, 2, 100, 100]], float), np.array([1]))

    categories = []
    for t, pred in enumerate([on(4), on(6), none, on(6), on(4)], 1):
        result = matcher.step(t, gt, pred, None)
        categories.append([(b.category, b.switch_here) for b in result.boxes])
    assert categories == [
        [(Category.MATCHED, False)],
        [(Category.SWITCHED, True)],    # 4 -> 6: the switch frame
        [(Category.MISSED, False)],     # a missed frame
        [(Category.SWITCHED, False)],   # 6 is back on the GT: still the switched ID, still orange
        [(Category.SWITCHED, True)],    # 6 -> 4 is a switch again
    ]
    assert matcher.counts.idsw == 2 and matcher.counts.fn == 1


def test_one_empty_file_among_others_is_rendered_with_a_warning(tmp_path: Path) -> None:
    split, results = make_case(tmp_path)
    seq2 = split / "seq02"
    shutil.copytree(split / "seq01", seq2)
    (seq2 / "seqinfo.ini").write_text((seq2 / "seqinfo.ini").read_text().replace("name=seq01", "name=seq02"))
    (results / "seq02.txt").write_text("")
    proc = run_cli("--results", results, "--dataset_root", split, "--output_dir", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert "seq02.txt is empty" in proc.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["sequences"]["seq02"]["fn"] == 2 * FRAMES and summary["sequences"]["seq01"]["fn"] == 1


def test_scale_shrinks_the_video(tmp_path: Path) -> None:
    split, results = make_case(tmp_path)
    proc = run_cli("--results", results, "--dataset_root", split, "--output_dir", tmp_path / "out", "--scale", "0.5")
    assert proc.returncode == 0, proc.stderr
    frames = decode(tmp_path / "out" / "seq01.mp4")
    drawn_height = H + layout_hud(W, H, FRAMES).margin
    assert len(frames) == FRAMES and frames[0].shape == (2 * round(drawn_height / 4), W // 2, 3)  # even: H.264
    half = tuple(v // 2 for v in GT1)
    assert edge_colour(frames[2], half) == "green" and edge_colour(frames[SWITCH_FRAME + 2], half) == "orange"
