"""The tailer (partial lines, truncation, rotation, polling without file events), chart downsampling and alerts."""

from __future__ import annotations

import math
import os
import threading
import time
from datetime import datetime
from pathlib import Path

from motip.alerts import machine_alerts, run_alerts
from motip.trainlog import parse_lines
from motip_tui.tailer import FileTailer
from motip_tui.chartmath import downsample, log10_positive

from tests.helpers.tui import eval_line, train_line


class Collector:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.resets = 0
        self.event = threading.Event()

    def __call__(self, lines: list[str], reset: bool) -> None:
        if reset:
            self.resets += 1
            self.lines.clear()
        self.lines.extend(lines)
        self.event.set()


def test_partial_line_waits_for_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    path.write_text("one\ntw", encoding="utf-8")
    got = Collector()
    tailer = FileTailer(path, got, use_watchdog=False)
    tailer.read_available()
    assert got.lines == ["one"]
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("o\nthree")
    tailer.read_available()
    assert got.lines == ["one", "two"]


def test_truncation_and_rotation_start_over(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    path.write_text("".join(f"line {i} padded to be long enough for the head check\n" for i in range(5)))
    got = Collector()
    tailer = FileTailer(path, got, use_watchdog=False)
    tailer.read_available()
    assert len(got.lines) == 5
    path.write_text("new\n")  # truncated and rewritten
    tailer.read_available()
    assert got.lines == ["new"] and got.resets == 1
    os.rename(path, tmp_path / "train.log.1")  # rotated: a new file, longer than what we read
    path.write_text("".join(f"rotated {i} with enough text to be longer than before\n" for i in range(3)))
    tailer.read_available()
    assert got.lines == [f"rotated {i} with enough text to be longer than before" for i in range(3)]
    assert got.resets == 2
    # Same size, different content (rewritten in place): the first bytes changed.
    text = path.read_text().replace("rotated", "ROTATED")
    path.write_text(text)
    tailer.read_available()
    assert got.resets == 3 and got.lines[0].startswith("ROTATED")


def test_from_end_bytes_starts_at_the_first_whole_line_near_the_end(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    path.write_text("".join(f"PROGRESS line {i:04d}\n" for i in range(1000)))  # 20 bytes a line
    got = Collector()
    tailer = FileTailer(path, got, use_watchdog=False, from_end_bytes=50)
    tailer.read_available()
    assert got.lines == ["PROGRESS line 0998", "PROGRESS line 0999"]  # the line cut at the start is dropped
    with open(path, "a") as handle:
        handle.write("PROGRESS line 1000\n")
    tailer.read_available()
    assert got.lines[-1] == "PROGRESS line 1000" and len(got.lines) == 3
    exact = Collector()  # a start exactly at a line boundary keeps that line
    FileTailer(path, exact, use_watchdog=False, from_end_bytes=40).read_available()
    assert exact.lines == ["PROGRESS line 0999", "PROGRESS line 1000"]


def test_thread_polls_without_file_events(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    path.write_text("")
    got = Collector()
    tailer = FileTailer(path, got, poll_s=0.1, use_watchdog=False).start()
    try:
        got.event.clear()
        with open(path, "a") as handle:
            handle.write("hello\n")
        deadline = time.monotonic() + 10
        while "hello" not in got.lines and time.monotonic() < deadline:
            got.event.wait(0.1)
        assert got.lines == ["hello"]
    finally:
        tailer.stop()


def test_downsample_keeps_spikes_and_drops_nan() -> None:
    xs = list(range(10_000))
    ys = [1.0] * 10_000
    ys[1234], ys[7777], ys[5000] = 50.0, -3.0, math.nan
    dx, dy = downsample(xs, ys, 40)
    assert len(dx) == 80 and max(dy) == 50.0 and min(dy) == -3.0 and all(math.isfinite(v) for v in dy)
    assert dx == sorted(dx)
    small_x, small_y = downsample([1, 2, 3], [1.0, math.inf, 3.0], 40)
    assert small_x == [1, 3] and small_y == [1.0, 3.0]
    assert log10_positive([100.0, 0.0])[0] == 2.0 and math.isnan(log10_positive([0.0])[0])


def test_alert_rules() -> None:
    # The lines are dated 2026-11-24T10:00:00; "now" is fixed a minute later, so no rule reads the wall clock.
    log_time = datetime(2026, 11, 24, 10, 0, 0).timestamp()

    def texts(lines: list[str], **kw) -> list[str]:
        kw.setdefault("now", log_time + 60)
        return [a.text for a in run_alerts(parse_lines(lines), **kw)]

    assert texts([eval_line(1, 50.0, 51.0)]) == []  # first epochs may be low
    low = texts([eval_line(e, 55.0 if e < 3 else 53.0, 56.0) for e in (1, 2, 3)])
    assert low == ["HOTA 53.0 < 54.0 at epoch 3"]
    regression = texts([eval_line(1, 58.0, 60.0), eval_line(2, 45.0, 60.0)])
    assert regression == ["regression: HOTA fell to 45.0 (best 58.0) at epoch 2"]
    steps = [train_line(i, grad=1.0 + 0.01 * i) for i in range(1, 30)]
    assert texts(steps) == []
    assert any("spike" in t for t in texts(steps + [train_line(30, grad=500.0)]))
    assert any("grad norm is inf" in t for t in texts(steps + [train_line(30, grad=math.inf)]))
    forgetting = texts([eval_line(1, 57.0, 59.0, pedestrian=50.0)], previous_best_class_hota={"pedestrian": 56.0})
    assert forgetting == ["forgetting: pedestrian HOTA 50.0 < previous stage best 56.0"]
    start = '2026-11-24T10:00:00 [start] run="r" config="c.yaml" epochs=1 pid=1'
    stalled = texts([start, train_line(1)], now=log_time + 3600, log_mtime=log_time)
    assert stalled == ["no log line for 60 min: stalled or dead?"]
    assert texts([start, train_line(1)], now=log_time + 5, log_mtime=log_time) == []
    # Without a file mtime the last line's own time counts: an hour later it is stalled, whatever today's date is.
    assert texts([start, train_line(1)], now=log_time + 3600) == ["no log line for 60 min: stalled or dead?"]
    assert [a.text for a in machine_alerts(3.0, [], False, 0)] == ["low disk: 3.0 GB free"]
    assert len(machine_alerts(100.0, [0.0], True, 3)) == 1 and machine_alerts(100.0, [], True, 9) == []


def test_run_watch_fast_path_matches_the_core_parser(tmp_path: Path) -> None:
    from motip_tui.watch import PARSED_TRAIN_TAIL, RunWatch

    lines = [train_line(i, loss=1.0 + i / 1000, grad=math.inf if i == 7 else 2.0) for i in range(1, 1200)]
    lines.insert(600, eval_line(1, 55.0, 56.0, pedestrian=54.0))
    lines.append('2026-11-24T10:00:00 [train] epoch=2 step=1 total_steps=100 global_step=1200 loss=nan '
                 'grad_norm=3 lr=1e-05\n')
    (tmp_path / "train.log").write_text("".join(lines), encoding="utf-8")
    exact = parse_lines(lines)
    watch = RunWatch(tmp_path, use_watchdog=False)
    watch.tailer.read_available()
    assert watch.steps == [float(r["global_step"]) for r in exact.train]
    for key in ("loss", "grad_norm", "lr"):
        assert [repr(v) for v in watch.series[key]] == [repr(float(r[key])) for r in exact.train]
    assert watch.log.eval == exact.eval and watch.log.status["epoch"] == 2
    assert len(watch.log.train) == PARSED_TRAIN_TAIL
    # A step line missing a chart key takes the exact parser (and gets nan), nothing is lost.
    with open(tmp_path / "train.log", "a", encoding="utf-8") as handle:
        handle.write("2026-11-24T10:00:00 [train] epoch=2 step=2 total_steps=100 global_step=1201 loss=1.5\n")
    watch.tailer.read_available()
    assert watch.steps[-1] == 1201.0 and watch.series["loss"][-1] == 1.5 and math.isnan(watch.series["lr"][-1])


def test_big_log_preview_then_full_history(tmp_path: Path, monkeypatch) -> None:
    import motip_tui.watch as watch_module

    monkeypatch.setattr(watch_module, "PREVIEW_FROM_BYTES", 10_000)
    monkeypatch.setattr(watch_module, "PREVIEW_TAIL_BYTES", 2_000)
    start = '2026-11-24T10:00:00 [start] run="r" config="c.yaml" epochs=3 pid=1\n'
    lines = [start] + [train_line(i) for i in range(1, 400)]
    lines.insert(200, eval_line(1, 55.0, 56.0))
    lines.insert(300, '2026-11-24T10:00:00 [warning] msg="the text [eval] inside a message is no event"\n')
    (tmp_path / "train.log").write_text("".join(lines), encoding="utf-8")
    seen: list[tuple[int, int, bool]] = []
    done = threading.Event()
    watch = watch_module.RunWatch(tmp_path, use_watchdog=False, poll_s=0.1)

    def changed() -> None:
        seen.append((len(watch.steps), len(watch.log.eval), watch.loading))
        if not watch.loading:
            done.set()

    watch.on_change = changed
    watch.start()
    try:
        assert done.wait(20)
        preview, full = seen[0], seen[-1]
        assert preview[2] and 0 < preview[0] < 399 and preview[1] == 1  # evals and the last steps first
        assert full == (399, 1, False)
        assert watch.steps == [float(i) for i in range(1, 400)]
        assert watch.log.status["state"] == "running" and watch.log.status["last_warning"].startswith("the text")
    finally:
        watch.stop()
