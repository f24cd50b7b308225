"""The typed records of the JSON files we write (motip/records.py): round trips, versions, malformed files named
with their field, unknown keys kept, and one home for each file name."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path
from typing import Any

import pytest

from motip.errors import MotipError
from motip.records import (
    RECORDS,
    BuildReport,
    EpochMetrics,
    JobRecord,
    MetricsHistory,
    MetricsReport,
    QueueNote,
    QueueOptions,
    QueueRecord,
    QueueStage,
    Record,
    RunRecord,
    StageMetrics,
    record_epoch_metrics,
)

from tests.helpers.paths import REPO



def sample_records() -> list[Record]:
    """One fully filled record of each file (what our writers produce)."""
    stage = QueueStage(name="Foundation", config="configs/a.yaml", state="done", run_dir="/r/a", build_exit=0,
                       best_checkpoint="/r/a/checkpoint_best_hota.pth",
                       metrics=StageMetrics(HOTA=55.5, IDF1=60.0, epoch=3, per_class={"pedestrian": {"HOTA": 55.5}},
                                            first_HOTA=40.0, last_HOTA=55.0),
                       alerts=[{"rule": "regression", "message": "x"}], started_at="2026-01-01T00:00:00",
                       train_rows=12)
    return [
        JobRecord(name="build", kind="build", argv=["python", "-m", "motip", "build"], cwd="/w", run_dir=None,
                  started_at="2026-01-01T00:00:00", started_at_epoch=1767225600.5, boot_id="b", pid=42,
                  create_time=1767225600.25, child_pid=43, child_create_time=1767225600.75, exit_code=137,
                  signal="SIGKILL", ended_at="2026-01-01T00:01:00", ended_at_epoch=1767225660.0, stopped=True),
        RunRecord(pid=7, argv=["python", "-m", "motip", "train"], cwd="/w", config="configs/a.yaml",
                  status="finished", started_at="2026-01-01T00:00:00", ended_at="2026-01-01T01:00:00", exit_code=0,
                  message="", data={"datasets/DanceTrack": "/w/datasets/builds/DanceTrack-20260101_000000-1"}),
        QueueRecord(config="/w/config.toml", state="paused", current=1,
                    stages=[stage, QueueStage(name="Stage 2", config="configs/b.yaml", state="pending")],
                    options=QueueOptions(min_free_gb=5.0, floor=50.0, margin=2.0, poll_s=2.0),
                    paused_reason="why", overrides=["EPOCHS=1"],
                    history=[QueueNote(msg="queued", time="2026-01-01T00:00:00")], created_at="2026-01-01T00:00:00"),
        MetricsReport(metrics={"HOTA": 50.0, "IDSW": 3}, per_class={"pedestrian": {"HOTA": 50.0, "MOTA": None}},
                      warnings=["w"], classes={"pedestrian": 1}, sequences=["s1"],
                      per_sequence={"s1": {"pedestrian": {"HOTA": 50.0}}}, ignored_tracker_boxes={"pedestrian": 0}),
        MetricsHistory(epochs=[EpochMetrics(epoch=1, global_step=10, HOTA=50.0, IDSW=2,
                                            per_class={"pedestrian": {"HOTA": 50.0}})]),
        BuildReport(created="2026-01-01T00:00:00", build_dir="/b", output="/w/datasets/DanceTrack", seed=1,
                    val_fingerprint="ab" * 32, budgets={"dancetrack": {"asked": 10, "used": 10}},
                    splits={"train": {"frames": 10}}, skipped={"quirk": 2}, duration_s=1.5),
    ]


@pytest.mark.parametrize("record", sample_records(), ids=lambda r: type(r).__name__)
def test_each_record_round_trips_through_its_writer_and_reader(tmp_path: Path, record: Record) -> None:
    path = tmp_path / "sub" / "record.json"
    record.write(path)
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["version"] == type(record).VERSION == 1
    back = type(record).read(path)
    assert back == record
    assert back.to_json() == record.to_json() == written


def test_unknown_keys_are_kept_through_a_rewrite(tmp_path: Path) -> None:
    """Forward compatibility: keys a newer motip added (at the top and inside a stage) survive a rewrite."""
    path = tmp_path / "queue.json"
    data = sample_records()[2].to_json()
    data["from_the_future"] = {"a": 1}
    data["stages"][0]["note"] = "kept"
    path.write_text(json.dumps(data), encoding="utf-8")
    record = QueueRecord.read(path)
    assert record.extra == {"from_the_future": {"a": 1}} and record.stages[0].extra == {"note": "kept"}
    record.paused_reason = None
    record.write(path)
    again = json.loads(path.read_text(encoding="utf-8"))
    assert again["from_the_future"] == {"a": 1} and again["stages"][0]["note"] == "kept"


def test_files_without_a_version_are_version_1(tmp_path: Path) -> None:
    """Files written before the version field: job.json/run.json/queue.json had none (or queue's own 1);
    build_report.json and metrics.json called it `format`."""
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"name": "x", "pid": 5, "create_time": 1.0, "exit_code": None}), encoding="utf-8")
    assert JobRecord.read(job).pid == 5
    empty = tmp_path / "empty.json"
    empty.write_text("{}", encoding="utf-8")  # a job.json before its pid: every field unknown
    assert JobRecord.read(empty) == JobRecord() and RunRecord.read(empty) == RunRecord()
    report = tmp_path / "build_report.json"
    report.write_text(json.dumps({"format": 1, "val_fingerprint": "ff", "seed": 3}), encoding="utf-8")
    read = BuildReport.read(report)
    assert read.fingerprint("val") == "ff" and read.fingerprint("test") is None and "format" not in read.extra
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"format": 1, "metrics": {"HOTA": 1.0}, "per_class": {}}), encoding="utf-8")
    assert MetricsReport.read(metrics).metrics == {"HOTA": 1.0}
    history = tmp_path / "history.json"
    history.write_text('{"epochs": [{"epoch": 1, "global_step": 3, "HOTA": NaN, "per_class": {}}]}',
                       encoding="utf-8")  # NaN as Python's json writes it
    assert math.isnan(MetricsHistory.read(history).epochs[0].HOTA)


def _queue(**changes: Any) -> dict[str, Any]:
    data = sample_records()[2].to_json()
    data.pop("version")
    data.update(changes)
    return data


def _stage(**changes: Any) -> dict[str, Any]:
    return _queue(stages=[{"name": "a", "config": "c.yaml", "state": "pending", **changes}], current=0)


# (record, JSON content, the field the message must name)
MALFORMED: list[tuple[type[Record], Any, str]] = [
    (JobRecord, {"pid": "12"}, "pid"),
    (JobRecord, {"pid": True}, "pid"),  # a bool is not a pid
    (JobRecord, {"create_time": []}, "create_time"),
    (JobRecord, {"argv": "python"}, "argv"),
    (JobRecord, {"argv": ["python", 3]}, "argv[1]"),
    (JobRecord, {"stopped": "yes"}, "stopped"),
    (RunRecord, {"status": 3}, "status"),
    (RunRecord, {"status": "done"}, "status"),
    (RunRecord, {"exit_code": 1.5}, "exit_code"),
    (RunRecord, {"data": {"datasets/x": 5}}, "data.datasets/x"),
    (QueueRecord, _queue(config=None), "config"),
    (QueueRecord, {k: v for k, v in _queue().items() if k != "stages"}, "stages"),
    (QueueRecord, _queue(stages=3), "stages"),
    (QueueRecord, _queue(current="0"), "current"),
    (QueueRecord, _queue(current=5), "current"),
    (QueueRecord, _queue(state="sleeping"), "state"),
    (QueueRecord, _queue(options={"floor": 50}), "options.min_free_gb"),
    (QueueRecord, _queue(history=[{"time": "t"}]), "history[0].msg"),
    (QueueRecord, _stage(state="eating"), "stages[0].state"),
    (QueueRecord, {**_stage(), "stages": [{"config": "c", "state": "done"}]}, "stages[0].name"),
    (QueueRecord, _stage(metrics={"HOTA": "high"}), "stages[0].metrics.HOTA"),
    (QueueRecord, _stage(build_exit=False), "stages[0].build_exit"),
    (MetricsReport, {"per_class": {}}, "metrics"),
    (MetricsReport, {"metrics": {"HOTA": "50"}, "per_class": {}}, "metrics.HOTA"),
    (MetricsReport, {"metrics": {}, "per_class": {"car": []}}, "per_class.car"),
    (MetricsHistory, {"epochs": [{"global_step": 1}]}, "epochs[0].epoch"),
    (MetricsHistory, {"epochs": {"1": {}}}, "epochs"),
    (BuildReport, {"seed": "1"}, "seed"),
    (BuildReport, {"val_fingerprint": 5}, "val_fingerprint"),
    (BuildReport, {"warnings": "w"}, "warnings"),
    (JobRecord, {"version": "1"}, "version"),
    (BuildReport, {"format": True}, "version"),
]


@pytest.mark.parametrize(("record", "content", "field"), MALFORMED,
                         ids=[f"{r.__name__}-{f}-{i}" for i, (r, _, f) in enumerate(MALFORMED)])
def test_a_malformed_file_is_a_motip_error_naming_the_file_and_the_field(tmp_path: Path, record: type[Record],
                                                                         content: Any, field: str) -> None:
    path = tmp_path / "record.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(MotipError) as err:
        record.read(path)
    assert err.value.path == str(path)
    assert f"'{field}'" in err.value.message and err.value.hint
    assert record.try_read(path)[0] is None and record.try_read(path)[1] is not None


@pytest.mark.parametrize("record", [r for records in RECORDS.values() for r in records], ids=lambda r: r.__name__)
@pytest.mark.parametrize("content", [b"[1, 2]", b"null", b"", b'{"version": 1, "pid": 12', b'{"x": "\xff"}'])
def test_a_file_that_is_not_a_json_object_is_a_motip_error(tmp_path: Path, record: type[Record],
                                                           content: bytes) -> None:
    path = tmp_path / "record.json"
    path.write_bytes(content)
    with pytest.raises(MotipError) as err:
        record.read(path)
    assert err.value.path == str(path)


@pytest.mark.parametrize("record", [r for records in RECORDS.values() for r in records], ids=lambda r: r.__name__)
def test_a_newer_version_is_refused_saying_to_upgrade(tmp_path: Path, record: type[Record]) -> None:
    path = tmp_path / "record.json"
    path.write_text(json.dumps({"version": record.VERSION + 1}), encoding="utf-8")
    with pytest.raises(MotipError) as err:
        record.read(path)
    assert err.value.path == str(path) and "newer" in err.value.message and "upgrade motip" in err.value.hint


def test_a_newer_job_json_shows_the_job_as_unreadable(tmp_path: Path) -> None:
    from motip.jobs import read_job, stop_job

    (tmp_path / "job.json").write_text(json.dumps({"version": 99, "pid": 1}), encoding="utf-8")
    job = read_job(tmp_path)
    assert job is not None and job.state == "unreadable" and "upgrade" in (job.error.hint or "")
    assert stop_job(job) == "unreadable job.json: nothing signalled"


def test_job_files_written_by_the_product_are_versioned_records(tmp_path: Path) -> None:
    """start_job and its supervisor write job.json through JobRecord: version 1, every field typed; a key added by
    a newer motip survives the supervisor's final update."""
    import sys
    import time

    from motip.jobs import read_job, start_job

    job = start_job([sys.executable, "-c", "import time; time.sleep(0.5)"], tmp_path / "j", kind="test")
    path = tmp_path / "j" / "job.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["from_a_newer_motip"] = [1]
    from motip.atomic import atomic_write_json

    atomic_write_json(path, data)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and read_job(job.dir).exit_code is None:
        time.sleep(0.05)
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["version"] == 1 and written["exit_code"] == 0 and written["from_a_newer_motip"] == [1]
    record = JobRecord.read(path)
    assert record.kind == "test" and record.child_pid is not None and record.extra == {"from_a_newer_motip": [1]}


def test_the_writer_refuses_a_malformed_record_and_keeps_the_old_file(tmp_path: Path) -> None:
    """A bug handing the writer a bad value never replaces a good file with one its reader refuses."""
    from motip.queue import write_queue

    good = _queue()
    write_queue(tmp_path, good)
    path = tmp_path / ".motip" / "queue.json"
    before = path.read_text(encoding="utf-8")
    with pytest.raises(MotipError) as err:
        write_queue(tmp_path, _stage(state="eating"))
    assert "'stages[0].state'" in err.value.message and path.read_text(encoding="utf-8") == before
    record = RunRecord(status="finished")
    record.status = "done"
    with pytest.raises(MotipError):
        record.write(tmp_path / "run.json")
    assert not (tmp_path / "run.json").exists()


def test_run_metrics_history_replaces_an_epoch_and_restarts_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    record_epoch_metrics(path, {"epoch": 1, "global_step": 5, "HOTA": 10.0, "per_class": {}})
    record_epoch_metrics(path, {"epoch": 2, "global_step": 9, "HOTA": float("nan"), "per_class": {}})
    record_epoch_metrics(path, {"epoch": 1, "global_step": 5, "HOTA": 12.0, "per_class": {}})  # a resumed run
    epochs = MetricsHistory.read(path).epochs
    assert [e.epoch for e in epochs] == [2, 1] and epochs[1].HOTA == 12.0 and math.isnan(epochs[0].HOTA)
    path.write_text('{"epochs": [', encoding="utf-8")  # torn by hand: train.log still holds every eval
    record_epoch_metrics(path, {"epoch": 3, "global_step": 12, "HOTA": 20.0, "per_class": {}})
    assert [e.epoch for e in MetricsHistory.read(path).epochs] == [3]
    with pytest.raises(MotipError, match="'epochs\\[\\].HOTA'"):
        record_epoch_metrics(path, {"epoch": 4, "HOTA": "x"})


def test_queue_reader_gives_every_field_to_dict_callers(tmp_path: Path) -> None:
    """read_queue (dict callers: the worker, the TUI) sees every field, defaults filled in, checked."""
    from motip.queue import read_queue, read_queue_record, write_queue

    data = _queue()
    del data["options"]["forgetting_margin"]  # a queue from before the forgetting rule
    write_queue(tmp_path, data)
    queue = read_queue(tmp_path)
    assert queue is not None and queue["version"] == 1 and queue["options"]["forgetting_margin"] == 1.0
    assert queue["stages"][1]["metrics"] is None and queue["updated_at"]
    assert read_queue_record(tmp_path).stages[0].metrics.HOTA == 55.5


# ------------------------------------------------------------------------------------ one home per file name

FILE_NAMES = set(RECORDS)
OWNER = Path("motip/records.py")


def _literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in FILE_NAMES]


def test_only_the_records_module_names_the_record_files() -> None:
    """A reviewer greps for "run.json" and finds one module: every other product module (motip/, motip_tui/,
    bench/) reaches these files through motip.records' names and readers/writers. Tests and docs may name them."""
    found = []
    for folder in ("motip", "motip_tui", "bench"):
        for path in sorted((REPO / folder).rglob("*.py")):
            relative = path.relative_to(REPO)
            if relative == OWNER:
                continue
            found += [f"{relative}:{line}: {value!r}" for line, value in _literals(path)]
    assert found == [], "use motip.records' names (JOB_FILE, RUN_FILE, ...) and its readers/writers:\n" + \
        "\n".join(found)
    assert {value for _, value in _literals(REPO / OWNER)} == FILE_NAMES
