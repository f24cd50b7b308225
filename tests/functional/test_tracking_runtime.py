"""The runtime tracker: ID assignment protocols on hand-made ID scores, the tracker loop with a real (untrained) tiny
model, and `motip track` on a sequence folder and a video file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from motip.config import load_config
from motip.engine.runs import save_checkpoint
from motip.engine.tracking import RuntimeTracker, preprocess, track_sequence
from motip.model import build_model

from tests.helpers.training import TINY, motip


@pytest.fixture(scope="module")
def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(load_config(TINY)).eval()


def _tracker(model: torch.nn.Module, **kw) -> RuntimeTracker:
    return RuntimeTracker(model, (96, 160), **kw)


def test_object_max_gives_contested_word_to_best_detection(tiny_model: torch.nn.Module) -> None:
    tracker = _tracker(tiny_model, id_thresh=0.2)
    V = tracker.vocab
    scores = torch.zeros((3, V + 1))
    scores[0, 4], scores[1, 4] = 0.6, 0.9    # both want word 4; detection 1 is surer
    scores[2, 7] = 0.15                      # below ID_THRESH -> newborn
    assert tracker._object_max(scores, live={4, 7}) == [V, 4, V]


def test_object_max_word_not_live_is_newborn(tiny_model: torch.nn.Module) -> None:
    tracker = _tracker(tiny_model)
    V = tracker.vocab
    scores = torch.zeros((1, V + 1))
    scores[0, 3] = 0.95
    assert tracker._object_max(scores, live={5}) == [V]


def test_hungarian_assignment_is_one_to_one(tiny_model: torch.nn.Module) -> None:
    tracker = _tracker(tiny_model, id_thresh=0.2, assignment_protocol="hungarian")
    V = tracker.vocab
    scores = torch.zeros((2, V + 1))
    scores[0, 1], scores[0, 2] = 0.8, 0.7
    scores[1, 1], scores[1, 2] = 0.9, 0.1
    # Greedy would give word 1 to detection 1 and leave detection 0 with 2; the optimum is the same here,
    # but both must differ and stay above the threshold.
    assert tracker._hungarian(scores, live={1, 2}) == [2, 1]
    scores[1, 1] = 0.05
    scores[1, V] = 0.9  # detection 1 is surely new
    labels = tracker._hungarian(scores, live={1, 2})
    assert labels[1] == V and labels[0] in (1, 2)


def test_tracker_ids_and_memory(tiny_model: torch.nn.Module) -> None:
    # DET_THRESH 0 and NEWBORN_THRESH 0: every query is a detection, so the ID decoder runs from frame 2 on.
    tracker = _tracker(tiny_model, det_thresh=0.0, newborn_thresh=0.0, miss_tolerance=3)
    frame = preprocess(np.full((96, 160, 3), 90, np.uint8), max_longer=160)
    seen: set[int] = set()
    for _ in range(5):
        result = tracker.update(frame)
        ids = result["id"].tolist()
        assert len(ids) == len(set(ids))  # unique ids within a frame
        assert len(ids) <= tracker.vocab
        seen.update(ids)
        assert tracker.features.shape[0] <= 2  # MISS_TOLERANCE 3 keeps at most 2 past frames (official)
        boxes = result["bbox"]
        assert boxes.shape[1] == 4 and (boxes[:, 2:] >= 0).all()
    assert min(seen) >= 1


def test_history_never_exceeds_rel_pe_length(tiny_model: torch.nn.Module) -> None:
    # MISS_TOLERANCE 30 with the tiny model's REL_PE_LENGTH 10: the window is capped so the ID decoder's relative
    # position table is never indexed past its end (this crashed at frame 10 before the cap).
    tracker = _tracker(tiny_model, det_thresh=0.0, newborn_thresh=0.0, miss_tolerance=30)
    frame = preprocess(np.full((96, 160, 3), 90, np.uint8), max_longer=160)
    for _ in range(tiny_model.id_decoder.rel_pe_length + 3):
        tracker.update(frame)
        assert tracker.features.shape[0] <= tiny_model.id_decoder.rel_pe_length - 1


def _write_sequence(folder: Path, frames: int = 6) -> None:
    (folder / "img1").mkdir(parents=True)
    for i in range(1, frames + 1):
        image = np.full((96, 160, 3), 40, np.uint8)
        cv2.rectangle(image, (10 + 5 * i, 20), (40 + 5 * i, 80), (0, 0, 220), -1)
        cv2.imwrite(str(folder / "img1" / f"{i:08d}.jpg"), image)


def test_track_sequence_writes_mot_lines(tiny_model: torch.nn.Module, tmp_path: Path) -> None:
    config = load_config(TINY, ["--DET_THRESH", "0.0", "--NEWBORN_THRESH", "0.0"])
    _write_sequence(tmp_path / "seqA")
    out = track_sequence(tiny_model, config, tmp_path / "seqA", tmp_path / "out")
    lines = out.read_text().splitlines()
    assert out.name == "seqA.txt" and lines
    frames = set()
    for line in lines:
        fields = line.split(",")
        assert len(fields) == 10 and fields[8:] == ["-1", "-1"]
        assert int(fields[7]) in (1, 2) and int(fields[1]) >= 1
        frames.add(int(fields[0]))
    assert frames == set(range(1, 7))


def test_motip_track_cli_on_folder_and_video(tiny_model: torch.nn.Module, tmp_path: Path) -> None:
    checkpoint = tmp_path / "model.pth"
    save_checkpoint(checkpoint, tiny_model, None, None, {"epoch": 0, "global_step": 0}, {})
    _write_sequence(tmp_path / "seqB", frames=4)
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (160, 96))
    for i in range(5):
        writer.write(np.full((96, 160, 3), 30 * i, np.uint8))
    writer.release()
    result = motip("track", str(tmp_path / "seqB"), str(video), "--config", str(TINY), "--checkpoint",
                   str(checkpoint), "--output_dir", str(tmp_path / "out"), "--DET_THRESH", "0.0",
                   "--NEWBORN_THRESH", "0.0", "--DEVICE", "cpu", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    seq_lines = (tmp_path / "out" / "seqB.txt").read_text().splitlines()
    video_lines = (tmp_path / "out" / "clip.txt").read_text().splitlines()
    assert {int(line.split(",")[0]) for line in seq_lines} == {1, 2, 3, 4}
    assert {int(line.split(",")[0]) for line in video_lines} == {1, 2, 3, 4, 5}


def test_motip_track_rejects_bad_input(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    result = motip("track", str(tmp_path / "notes.txt"), "--config", str(TINY), "--checkpoint", "x.pth",
                   "--output_dir", str(tmp_path / "o"), cwd=tmp_path)
    assert result.returncode == 2 and "not a sequence folder" in result.stderr
