"""The fast paths of evaluation give exactly what the plain ones give: the bulk MOT-file reader against the
line-by-line parser (same tables, same errors), the per-sequence IoU against TrackEval's own per-frame function,
and scoring in worker processes against scoring in one (same report, same errors)."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from motip.data import mot_files
from motip.data.mot_files import MotBoxes, read_sequence
from motip.errors import DataError
from motip.eval import metrics as M

from tests.helpers.eval_files import as_tracker, two_walkers, write_seq, write_seqmap, write_tracker

GT_DEFAULTS = (1.0, 1.0, 1.0)
TRACKER_DEFAULTS = (1.0, -1.0, 1.0)
FIELDS = ("frame", "id", "xywh", "score", "cls", "visibility", "line")


def parse_both(tmp_path: Path, content: bytes, defaults=TRACKER_DEFAULTS):
    """(what the reader gives, what the line parser gives): a MotBoxes or the DataError text, for each."""
    path = tmp_path / "rows.txt"
    path.write_bytes(content)
    out = []
    for parse in (mot_files._parse_rows, mot_files._parse_lines):
        try:
            out.append(parse(path, kind="tracker", defaults=defaults))
        except DataError as err:
            out.append(str(err))
    return out


def assert_same(fast, slow) -> None:
    if isinstance(slow, str):
        assert fast == slow
        return
    assert isinstance(fast, MotBoxes), fast
    for name in FIELDS:
        a, b = getattr(fast, name), getattr(slow, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert a.tobytes() == b.tobytes(), name                     # bit for bit (-0.0 included)


ROW10 = b"1,7,10.5,20.25,30,40,0.9000,1,-1,-1\n"
PLAIN = {
    "10 columns": ROW10 + b"2,8,11,21.75,31.01,41,0.5,2,-1,-1\n",
    "9 columns": b"1,1,10,20,30,40,1,1,0.25\n3,2,0,0,1,1,0,2,1\n",
    "8 columns": b"1,1,10,20,30,40,0.9,2\n",
    "7 columns": b"1,1,10,20,30,40,0.9\n",
    "6 columns": b"1,1,10,20,30,40\n2,3,1,2,3,4\n",
    "blank lines": b"\n\n" + ROW10 + b"\n\n\n" + ROW10.replace(b"1,7", b"2,7") + b"\n\n",
    "CRLF": ROW10.replace(b"\n", b"\r\n") * 3,
    "no final newline": ROW10 + ROW10.strip(),
    "signs and dots": b"+1,-0,.5,5.,0007.250,12,-.5,+2,-1\n",
    "negative position": b"1,-3,-10.5,-20,30,40,1,1,1\n",
    "15 digits": b"1,1,12345678.1234567,1,2,3,1,1,1\n",
    "empty file": b"",
    "only blank lines": b"\n\r\n\n",
}
LINE_BY_LINE = {
    "16 digits": b"1,1,123456789.1234567,1,2,3,1,1,1\n",
    "exponent": b"1,1,1e1,2,3,4,1,1,1\n",
    "spaces": b"1 1 10 20 30 40 1 1 1\n",
    "spaces after commas": b"1, 1, 10, 20, 30, 40\n",
    "tab-indented": b"\t1,1,10,20,30,40\n",
    "lone CR": b"1,1,10,20,30,40\r2,1,10,20,30,40\n",
    "trailing comma after 10": ROW10.replace(b"\n", b",\n"),
    "trailing comma after 9": b"1,1,10,20,30,40,1,1,1,\n",
    "garbage in column 10": b"1,1,10,20,30,40,1,1,1,abc\n",
    "ragged lines": b"1,1,10,20,30,40,1,1,1\n" + ROW10,
    "BOM": b"\xef\xbb\xbf" + ROW10,
}
ERRORS = {
    "trailing comma after 6": b"1,1,10,20,30,40,\n",
    "five columns": ROW10 + b"3,7,10,10,5\n",
    "negative width": ROW10 + b"2,1,10,20,-30,40,1,1,1\n",
    "negative height": ROW10 + b"2,1,10,20,30,-0.5,1,1,1\n",
    "frame 0": b"0,1,10,20,30,40\n",
    "fractional frame": ROW10 + b"1.5,1,10,20,30,40\n",
    "fractional id": b"\n" + ROW10 + b"2,2.5,10,20,30,40\n",
    "two dots": b"1,1,1.2.3,20,30,40\n",
    "double sign": b"1,--1,10,20,30,40\n",
    "sign inside": b"1,1,10-2,20,30,40\n",
    "lone sign": b"1,1,-,20,30,40\n",
    "lone dot": b"1,1,.,20,30,40\n",
    "empty value": b"1,1,,20,30,40\n",
    "nan": b"1,1,nan,20,30,40\n",
    "infinite": b"1,1,1e999,20,30,40\n",
    "not UTF-8": b"1,1,10,20,30,\xff\n",
}


@pytest.mark.parametrize("name", PLAIN)
def test_plain_files_take_the_bulk_path_and_give_the_line_parsers_table(tmp_path, name):
    assert mot_files._parse_plain(PLAIN[name]) is not None            # the fast path really runs
    for defaults in (TRACKER_DEFAULTS, GT_DEFAULTS):
        assert_same(*parse_both(tmp_path, PLAIN[name], defaults))


@pytest.mark.parametrize("name", LINE_BY_LINE)
def test_other_files_are_read_line_by_line_with_the_same_result(tmp_path, name):
    assert mot_files._parse_plain(LINE_BY_LINE[name]) is None
    fast, slow = parse_both(tmp_path, LINE_BY_LINE[name])
    assert_same(fast, slow)


@pytest.mark.parametrize("name", ERRORS)
def test_bad_values_give_the_line_parsers_error_naming_file_and_line(tmp_path, name):
    fast, slow = parse_both(tmp_path, ERRORS[name])
    assert isinstance(slow, str) and fast == slow
    assert str(tmp_path / "rows.txt") in fast


def test_bad_line_number_counts_blank_lines(tmp_path):
    path = tmp_path / "seq.txt"
    path.write_bytes(b"\n" + ROW10 + b"\n\n" + b"2,1,10,20,-30,40,1,1,1\n")
    with pytest.raises(DataError) as info:
        mot_files.read_tracker_file(path)
    assert (info.value.path, info.value.line) == (str(path), 5)


def test_random_files_agree(tmp_path):
    """Random lines from numbers, near-numbers and separators: the two parsers agree on every file."""
    rng = np.random.default_rng(7)
    tokens = ["1", "2", "17", "-1", "+3", "0", "-0", "0.5", ".25", "7.", "12.75", "-3.5", "1e2", "", " 4",
              "1.2.3", "-", "nan", "123456789012345", "1234567890123456", "0.000000000000001"]
    plain = 0
    for _ in range(400):
        lines = []
        for _ in range(int(rng.integers(0, 5))):
            columns = int(rng.choice([5, 6, 7, 8, 9, 10, 11]))
            values = [str(int(rng.integers(1, 4))), str(int(rng.integers(-2, 9)))]
            values += [str(rng.choice(tokens)) if rng.random() < 0.15
                       else f"{rng.uniform(0, 99):.{rng.integers(0, 4)}f}" for _ in range(columns - 2)]
            lines.append(",".join(values))
            if rng.random() < 0.1:
                lines.append("")
        content = ("\n".join(lines) + ("\n" if rng.random() < 0.8 else "")).encode()
        plain += mot_files._parse_plain(content) is not None
        assert_same(*parse_both(tmp_path, content))
    assert plain > 40                                                 # both paths are exercised


def test_blocks_split_at_lines(tmp_path, monkeypatch):
    """A file longer than one parse block gives the same table; a ragged line in a later block still falls back."""
    monkeypatch.setattr(mot_files, "_BLOCK_BYTES", 50)
    rows = b"".join(f"{t},{i},{t * 1.25:.2f},{i * 3.5},10,20,0.9,1,-1,-1\n".encode()
                    for t in range(1, 30) for i in range(1, 4))
    assert mot_files._parse_plain(rows) is not None
    assert_same(*parse_both(tmp_path, rows))
    ragged = rows + b"40,1,1,1,1,1,1\n"
    assert mot_files._parse_plain(ragged) is None
    assert_same(*parse_both(tmp_path, ragged))


# ----------------------------------------------------------------------------------------------- similarity

def random_boxes(rng, n: int, length: int) -> MotBoxes:
    frames = rng.integers(1, length + 1, n)
    xy = rng.integers(0, 40, (n, 2)) + rng.choice([0, 0.5, 0.25], (n, 2))
    wh = rng.integers(0, 25, (n, 2)).astype(float)                    # zero-size boxes included
    return MotBoxes(frames, rng.integers(1, 9, n), np.hstack([xy, wh]), np.ones(n), np.ones(n, np.int64),
                    np.ones(n), np.arange(1, n + 1))


def test_frame_ious_equal_trackeval_box_ious_per_frame():
    rng = np.random.default_rng(3)
    for _ in range(50):
        length = int(rng.integers(1, 15))
        gt, gt_per_frame = M._frame_order(random_boxes(rng, int(rng.integers(0, 60)), length), length)
        tr, tr_per_frame = M._frame_order(random_boxes(rng, int(rng.integers(0, 60)), length), length)
        ious = M.frame_ious(gt, gt_per_frame, tr, tr_per_frame)
        assert len(ious) == length
        gt_frames, tr_frames = gt.boxes_by_frame(length), tr.boxes_by_frame(length)
        for t in range(1, length + 1):
            expected = M.box_ious(gt_frames[t].xywh, tr_frames[t].xywh)
            assert ious[t - 1].shape == expected.shape and ious[t - 1].tobytes() == expected.tobytes()


def test_class_data_per_frame_with_ignore_regions(tmp_path):
    """Frames with ignore boxes still drop the tracker boxes on them; every frame's matrix is TrackEval's IoU."""
    gt = two_walkers()
    seq_dir = write_seq(tmp_path / "val", "seqA", 10, gt, ignore=[(3, 700, 700, 200, 200), (4, 500, 500, 10, 10)])
    rows = as_tracker(gt) + [(3, 9, 720, 720, 50, 50, 0.9, 1), (3, 10, 701, 701, 200, 199, 0.9, 1),
                             (4, 11, 900, 900, 20, 20, 0.9, 1)]
    tracker = mot_files.read_tracker_file(write_tracker(tmp_path / "trk", "seqA", rows))
    seq = read_sequence(seq_dir)
    prepared = M.build_class_data(seq, mot_files.read_gt(seq_dir), mot_files.read_ignore(seq_dir), tracker, 1)
    data = prepared.data
    assert prepared.ignored_tracker_boxes == 2                        # inside the region; matched to it
    assert data["num_tracker_dets"] == 21 and data["num_gt_dets"] == 20
    gt_frames = mot_files.read_gt(seq_dir).boxes_by_frame(10)
    kept = tracker.select(~np.isin(tracker.id, [9, 10])).boxes_by_frame(10)
    for t in range(1, 11):
        expected = M.box_ious(gt_frames[t].xywh, kept[t].xywh)
        assert data["similarity_scores"][t - 1].tobytes() == expected.tobytes()
        assert (prepared.tracker_id_values[data["tracker_ids"][t - 1]] == kept[t].id).all()


# ----------------------------------------------------------------------------------------------- workers

@pytest.fixture
def three_sequences(tmp_path):
    split = tmp_path / "val"
    for k, name in enumerate(("seqA", "seqB", "seqC")):
        gt = two_walkers(12)
        write_seq(split, name, 12, gt)
        write_tracker(tmp_path / "trk", name, as_tracker(gt, id_map=lambda f, i, k=k: i + 5 if f > 3 + k else i))
    write_seqmap(split, ["seqA", "seqB", "seqC"])
    return split, tmp_path / "trk"


def without_time(report):
    return {k: v for k, v in report.items() if k != "created"}


def test_worker_processes_give_the_one_process_report(three_sequences, tmp_path, monkeypatch):
    split, trackers = three_sequences
    serial = M.evaluate(split, trackers, workers=1)
    scored_by = tmp_path / "pids.txt"
    score = M._score_sequence

    def recording(task, metrics=None):                                # forked workers inherit the patch
        with open(scored_by, "a", encoding="utf-8") as out:
            out.write(f"{os.getpid()}\n")
        return score(task, metrics)

    monkeypatch.setattr(M, "_score_sequence", recording)
    parallel = M.evaluate(split, trackers, workers=3)
    assert without_time(parallel) == without_time(serial)
    pids = scored_by.read_text().split()
    assert len(pids) == 3 and len(set(pids)) > 1


def test_an_error_in_a_worker_names_file_and_line_as_one_process_does(three_sequences):
    split, trackers = three_sequences
    bad = trackers / "seqB.txt"
    bad.write_text(bad.read_text() + "5,1,10,20,-3,4,0.9,1,-1,-1\n")
    errors = []
    for workers in (1, 3):
        with pytest.raises(DataError) as info:
            M.evaluate(split, trackers, workers=workers)
        errors.append((str(info.value), info.value.path, info.value.line))
    assert errors[0] == errors[1] and errors[0][1:] == (str(bad), 25)


def test_a_killed_worker_leaves_its_sequences_to_the_main_process(three_sequences, monkeypatch):
    split, trackers = three_sequences
    serial = M.evaluate(split, trackers, workers=1)
    main_pid, score = os.getpid(), M._score_sequence

    def dying(task, metrics=None):
        if os.getpid() != main_pid:
            os._exit(3)                                               # as the OOM killer would
        return score(task, metrics)

    monkeypatch.setattr(M, "_score_sequence", dying)
    report = M.evaluate(split, trackers, workers=2)
    assert report["metrics"] == serial["metrics"] and report["per_sequence"] == serial["per_sequence"]
    assert any("worker process failed" in w for w in report["warnings"])


def test_default_workers(three_sequences, monkeypatch):
    split, trackers = three_sequences
    sequences = mot_files.read_split(split)
    assert M.default_workers(sequences, trackers) == 1                 # tiny files: not worth a process
    monkeypatch.setattr(M, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(M, "available_cpus", lambda: 2)
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # other tests of this process may have loaded it
    assert M.default_workers(sequences, trackers) == (2 if sys.platform == "linux" else 1)
    monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))
    assert M.default_workers(sequences, trackers) == 1                 # a process with torch is never forked
