"""motip.rundir's two questions about a folder: what a trainer wrote there (``run_files``, which a new training
refuses) and whether it is a run folder to list (``holds_run``, which the TUI's run table uses)."""

from __future__ import annotations

from pathlib import Path

import pytest

from motip.rundir import epoch_checkpoint, epoch_checkpoints, holds_run, read_viz_summary, run_files
from motip_tui.runs import RunIndex


@pytest.mark.parametrize(("files", "trainer_wrote", "listed"), [
    ((), [], False),                                              # an empty folder
    (("output.log",), [], False),                                 # a job's output alone
    (("job.json", "output.log"), [], True),                       # `motip train --detach` starting it
    (("train.log",), ["train.log"], True),
    (("run.json",), ["run.json"], True),
    (("checkpoint_epoch_3.pth",), ["checkpoint_epoch_3.pth"], True),  # a run killed before its log was kept
    (("job.json", "train.log", "run.json", "checkpoint_last.pth", "checkpoint_best_hota.pth"),
     ["train.log", "run.json", "checkpoint_best_hota.pth", "checkpoint_last.pth"], True),
])
def test_run_files_and_holds_run(tmp_path: Path, files: tuple[str, ...], trainer_wrote: list[str],
                                 listed: bool) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    for name in files:
        (folder / name).write_text("x")
    assert run_files(folder) == trainer_wrote
    assert holds_run(folder) is listed


def test_missing_folder_is_no_run(tmp_path: Path) -> None:
    assert run_files(tmp_path / "absent") == []
    assert holds_run(tmp_path / "absent") is False


def test_tui_lists_the_folders_holds_run_names(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    for name, files in {"a_starting": ["job.json"], "b_trained": ["train.log"], "c_ckpt_only": ["checkpoint_last.pth"],
                        "d_empty": [], "e_output_only": ["output.log"]}.items():
        (outputs / name).mkdir(parents=True)
        for file in files:
            (outputs / name / file).write_text("x")
    (outputs / "stray.txt").write_text("not a folder")
    assert [p.name for p in RunIndex(tmp_path).run_dirs()] == ["a_starting", "b_trained", "c_ckpt_only"]


def test_viz_summary_reader(tmp_path: Path) -> None:
    summary, error = read_viz_summary(tmp_path)
    assert summary is None and error is not None and "summary.json" in error.render()
    (tmp_path / "summary.json").write_text("[1, 2]")
    summary, error = read_viz_summary(tmp_path)
    assert summary is None and error is not None and "summary.json" in error.render()
    (tmp_path / "summary.json").write_text(
        '{"total": {"frames": 4, "idsw": 1}, "sequences": {"s1": {"contact_sheet": "s1_worst.png"}, '
        '"s2": {"contact_sheet": 7}, "s3": "bad"}}')
    summary, error = read_viz_summary(tmp_path)
    assert error is None and summary is not None
    assert summary.total == {"frames": 4, "idsw": 1}
    assert summary.contact_sheets == [tmp_path / "s1_worst.png"]


def test_epoch_checkpoints_oldest_epoch_first(tmp_path: Path) -> None:
    """What `KEEP_LAST_EPOCH_CHECKPOINTS` prunes from: epochs in number order (10 after 9), no other checkpoint."""
    for number in (10, 2, 9, 1):
        (tmp_path / epoch_checkpoint(number)).write_text("x")
    (tmp_path / "checkpoint_last.pth").write_text("x")
    (tmp_path / "checkpoint_best_hota.pth").write_text("x")
    assert [p.name for p in epoch_checkpoints(tmp_path)] == [epoch_checkpoint(n) for n in (1, 2, 9, 10)]
