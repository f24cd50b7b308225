"""train.log: the writer's lines parse back; the parser tolerates partial lines, garbage and NaN/inf."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

from motip.trainlog import TrainLogParser, TrainLogWriter, best_eval, parse_log


def _write_run(path: Path) -> None:
    with TrainLogWriter(path) as log:
        log.run_start(run="outputs/r 1", config="configs/tiny.yaml", epochs=2)
        for step in range(1, 4):
            log.train_step(epoch=1, step=step, total_steps=3, global_step=step, loss=2.0 / step, loss_cls=0.5,
                           loss_id=float("nan") if step == 2 else 0.1, grad_norm=float("inf") if step == 3 else 1.5,
                           lr=2e-5, s_per_step=0.25)
        log.eval(epoch=1, metrics={"HOTA": 41.5, "IDF1": 45.0, "MOTA": 30.0, "DetA": 40.0, "AssA": 43.0, "IDSW": 12},
                 per_class={"pedestrian": {"HOTA": 41.5, "IDF1": 45.0}, "vehicle": {"HOTA": 20.0}})
        log.checkpoint(epoch=1, kind="last", path="checkpoint_last.pth")
        log.warning('val fingerprint "abc" changed')
        log.eval(epoch=2, metrics={"HOTA": 56.0, "IDF1": 58.0})
        log.run_end(status="finished", epoch=2)


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    _write_run(path)
    log = parse_log(path)
    assert [row["step"] for row in log.train] == [1, 2, 3]
    assert math.isnan(log.train[1]["loss_id"]) and math.isinf(log.train[2]["grad_norm"])
    assert log.train[0]["lr"] == 2e-5 and log.train[0]["loss"] == 2.0
    assert log.eval[0]["per_class"]["pedestrian"]["HOTA"] == 41.5 and log.eval[0]["IDSW"] == 12
    assert log.classes == ["pedestrian", "vehicle"]
    assert log.status["state"] == "finished" and log.status["run"] == "outputs/r 1"
    assert log.status["last_warning"] == 'val fingerprint "abc" changed'
    assert best_eval(log)["epoch"] == 2 and best_eval(log, cls="pedestrian")["epoch"] == 1
    assert log.bad_lines == 0


def test_partial_last_line_and_garbage(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    _write_run(path)
    with open(path, "a") as handle:
        handle.write("Traceback (most recent call last):\n\x00\x01 binary junk\n")
        handle.write("2026-11-24T10:00:00 [train] epoch=3 step=1 total_steps=3 loss=1.2")  # no newline: mid-write
    log = parse_log(path)
    assert log.bad_lines == 2 and len(log.train) == 3  # the partial line is not taken
    # A writer appending after a crash starts on a fresh line.
    with TrainLogWriter(path) as writer:
        writer.warning("resumed")
    assert parse_log(path).events[-1]["msg"] == "resumed"


def test_incremental_parser_matches_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    _write_run(path)
    parser = TrainLogParser()
    for line in path.read_text().splitlines(keepends=True):
        parser.feed_line(line)
    assert parser.log.to_json().keys() == parse_log(path).to_json().keys()
    assert len(parser.log.train) == 3 and len(parser.log.eval) == 2


def test_large_log_parses_fast(tmp_path: Path) -> None:
    # Not a timing assertion (benchmarks live in bench/); this checks a big file parses completely.
    path = tmp_path / "train.log"
    line = "2026-11-24T10:00:00 [train] epoch=1 step={} total_steps=100000 global_step={} loss=1.25 loss_cls=0.3 " \
           "loss_bbox=0.2 loss_giou=0.4 loss_id=0.35 grad_norm=0.9 lr=2e-05 s_per_step=1.1\n"
    path.write_text("".join(line.format(i, i) for i in range(1, 50_001)))
    start = time.perf_counter()
    log = parse_log(path)
    assert len(log.train) == 50_000 and log.train[-1]["global_step"] == 50_000
    print(f"parsed 50k lines in {time.perf_counter() - start:.2f}s")


def test_motip_log_json_cli(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    _write_run(path)
    out = subprocess.run([sys.executable, "-m", "motip", "log", str(path), "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["train"][1]["loss_id"] == "NaN" and data["train"][2]["grad_norm"] == "Infinity"
    assert data["eval"][0]["HOTA"] == 41.5 and data["status"]["state"] == "finished"
    missing = subprocess.run([sys.executable, "-m", "motip", "log", str(tmp_path / "nope.log")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "train.log not found" in missing.stderr


def test_preview_finds_every_event_line_across_search_windows(tmp_path: Path, monkeypatch) -> None:
    """The preview's search runs in windows (short GIL holds): an event whose tag straddles a window edge is still
    found, once, and a tag inside a message is not an event."""
    import motip.trainlog as trainlog

    lines = ['2026-11-24T10:00:00 [start] run="r" config="c.yaml" epochs=3 pid=1']
    for step in range(1, 120):
        lines.append(f"2026-11-24T10:00:00 [train] epoch=1 step={step} total_steps=200 global_step={step} loss=1.0")
        if step % 7 == 0:
            lines.append(f"2026-11-24T10:00:00 [eval] epoch={step // 7} HOTA={step / 10:.1f} IDF1=50.0")
        if step % 31 == 0:
            lines.append('2026-11-24T10:00:00 [warning] msg="the text [eval] inside a message is no event"')
    text = "\n".join(lines) + "\n"
    path = tmp_path / "train.log"
    path.write_text(text, encoding="utf-8")
    tail = 600
    tail_start = text.index("\n", len(text) - tail) + 1
    expected = [line for line in text[:tail_start].splitlines() if " [train] " not in line]
    expected += text[tail_start:].splitlines()
    for window in (5, 17, 64, 97, 1 << 20):  # edges fall inside tags, lines and messages
        monkeypatch.setattr(trainlog, "PREVIEW_WINDOW_BYTES", window)
        assert trainlog.preview_lines(path, path.stat().st_size, tail) == expected, window
