"""Progress: plain parseable lines when not a tty, the final state printed exactly once."""

from __future__ import annotations

import io

from motip.progress import Progress, parse_progress_line


def test_plain_lines_parse_and_final_state_once() -> None:
    stream = io.StringIO()
    with Progress("build", 10, stream=stream, rich=False, min_interval_s=3600) as progress:
        for _ in range(10):
            progress.advance(1, "dancetrack")
    lines = stream.getvalue().splitlines()
    updates = [parse_progress_line(line) for line in lines]
    assert all(updates) and updates[-1].done == 10 and updates[-1].total == 10
    assert sum(1 for u in updates if u.done == 10) == 1
    assert updates[-1].message == "dancetrack" and updates[-1].percent == 100.0


def test_final_line_printed_on_exit_when_throttled() -> None:
    stream = io.StringIO()
    with Progress("viz", 0, stream=stream, rich=False, min_interval_s=3600) as progress:
        progress.update(5)
    last = parse_progress_line(stream.getvalue().splitlines()[-1])
    assert last is not None and last.done == 5 and last.eta_s is None
    assert parse_progress_line("not a progress line") is None


def test_a_task_with_spaces_parses() -> None:
    """The trainer's task is "train epoch 3": the first done/total ends the task."""
    stream = io.StringIO()
    with Progress("train epoch 3", 10, stream=stream, rich=False, min_interval_s=0.0) as progress:
        progress.update(4, "loss 1.2")
    update = parse_progress_line(stream.getvalue().splitlines()[-1])
    assert update is not None and (update.task, update.done, update.total) == ("train epoch 3", 4, 10)
    line = parse_progress_line("PROGRESS train epoch 3 1200/5000 24.0% 2.1/s eta=60.0s 5/6 frames")
    assert line is not None and (line.task, line.done, line.message) == ("train epoch 3", 1200, "5/6 frames")
