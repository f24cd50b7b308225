"""One writer per format (issue 14 item 4): tracker files, the val class mapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from motip.data.mot_files import concat_boxes, read_tracker_file, write_tracker_file
from motip.engine.tracking import result_boxes
from motip.engine.validate import val_settings
from motip.errors import ConfigError
from motip.eval.classes import classes_to_eval


def _result(ids: list[int], boxes: list[list[float]], scores: list[float], categories: list[int]) -> dict:
    return {"id": torch.tensor(ids, dtype=torch.int64), "bbox": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "score": torch.tensor(scores), "category": torch.tensor(categories, dtype=torch.int64)}


def test_tracker_output_round_trips_through_mot_files(tmp_path: Path) -> None:
    frames = [_result([2, 1], [[10.256, 20.0, 30.5, 40.126], [0.0, 1.0, 2.0, 3.0]], [0.91234, 0.5], [0, 1]),
              _result([], [], [], []),  # a frame where the tracker found nothing
              _result([1], [[5.0, 6.0, 7.0, 8.0]], [0.25], [1])]
    path = tmp_path / "seq.txt"
    write_tracker_file(path, concat_boxes(result_boxes(t, r) for t, r in enumerate(frames, 1)))
    lines = path.read_text().splitlines()
    # Sorted by frame then id; boxes to 0.01 px, score to 4 decimals, class = category + 1.
    assert lines == ["1,1,0,1,2,3,0.5000,2,-1,-1", "1,2,10.26,20,30.5,40.13,0.9123,1,-1,-1",
                     "3,1,5,6,7,8,0.2500,2,-1,-1"]
    back = read_tracker_file(path)
    assert back.frame.tolist() == [1, 1, 3] and back.id.tolist() == [1, 2, 1] and back.cls.tolist() == [2, 1, 2]
    np.testing.assert_allclose(back.xywh[1], [10.26, 20.0, 30.5, 40.13])


def test_a_sequence_without_detections_writes_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    write_tracker_file(path, concat_boxes([result_boxes(1, _result([], [], [], []))]))
    assert path.read_text() == "" and len(read_tracker_file(path)) == 0


def test_classes_to_eval_defaults_known_ids_and_overrides() -> None:
    assert classes_to_eval(None) == {"pedestrian": 1}
    assert classes_to_eval({"CLASSES_TO_EVAL": ["pedestrian", "vehicle"], "CLASS_NAME_TO_ID": {"pedestrian": 1}}) \
        == {"pedestrian": 1, "vehicle": 2}
    assert classes_to_eval({"CLASSES_TO_EVAL": ["car"], "CLASS_NAME_TO_ID": {"car": 3}}) == {"car": 3}


def test_classes_to_eval_refuses_an_unmapped_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        classes_to_eval({"CLASSES_TO_EVAL": ["bicycle"]}, path=tmp_path / "c.yaml")
    assert "bicycle" in str(err.value) and err.value.path == str(tmp_path / "c.yaml") and err.value.hint


def test_training_eval_and_motip_eval_use_the_same_mapping(tmp_path: Path) -> None:
    # Vehicle listed but not mapped: one mapping decides for both (training must not refuse what eval accepts).
    val = {"GT_FOLDER": str(tmp_path), "CLASSES_TO_EVAL": ["pedestrian", "vehicle"],
           "CLASS_NAME_TO_ID": {"pedestrian": 1}}
    from motip.commands import eval as eval_command

    assert val_settings({"val_config": val})[2] == classes_to_eval(val) == {"pedestrian": 1, "vehicle": 2}
    assert not hasattr(eval_command, "classes_from_config")  # no second mapping in the eval command
