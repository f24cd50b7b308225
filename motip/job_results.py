"""What a job left behind, for listings (the TUI's Jobs view): a launch that failed before it started any job,
recorded as an ended job; and what a finished export job produced (a viz's output folder and contact sheets, a
dashboard's PNG). Torch-free; reads and writes only job folders and the exports' own summary files."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from motip.jobs import JobInfo, boot_id, new_job_dir, read_job, write_output
from motip.records import JOB_FILE, JobRecord
from motip.rundir import TRAIN_LOG, VIZ_SUMMARY, dashboard_png, read_viz_summary


def record_failed_launch(workspace_root: str | os.PathLike[str], argv: list[str], *, kind: str, name: str,
                         output: str, exit_code: int, cwd: str | os.PathLike[str] | None = None) -> JobInfo:
    """A launch that failed before it started any job (``motip train --detach`` refused a bad config, a locked
    run folder...): recorded as an ended job in ``.motip/jobs`` (job.json with the exit status and no process,
    output.log with the command's whole output), so job listings show the failure and its message beside the jobs
    that did start. job.json holds the fields ``motip.jobs.start_job`` writes (docs/formats.md)."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:40]
    job_dir = new_job_dir(workspace_root, safe)
    write_output(job_dir, output)
    now, epoch = datetime.now().isoformat(timespec="seconds"), time.time()
    JobRecord(name=name, kind=kind, argv=[str(a) for a in argv], cwd=str(Path(cwd or workspace_root).resolve()),
              started_at=now, started_at_epoch=epoch, boot_id=boot_id(), exit_code=exit_code, ended_at=now,
              ended_at_epoch=epoch).write(job_dir / JOB_FILE)  # job.json's one writer
    job = read_job(job_dir)
    assert job is not None  # just written
    return job


def _argv_value(argv: list[str], *flags: str) -> str | None:
    for index, token in enumerate(argv[:-1]):
        if token in flags:
            return argv[index + 1]
    return None


def export_outputs(job: JobInfo) -> list[str]:
    """What a finished export job produced, as lines: a viz's output folder, its summary counts and first contact
    sheet (from its summary.json); a dashboard's PNG. [] for other jobs or when its argv names no output."""
    data: dict[str, Any] = job.data
    argv = [str(a) for a in data.get("argv") or []]
    cwd = Path(data.get("cwd") or ".")
    if job.kind == "viz":
        out = _argv_value(argv, "--output_dir", "--output-dir")
        if out is None:
            return []
        folder = Path(out) if Path(out).is_absolute() else cwd / out
        summary, _ = read_viz_summary(folder)
        if summary is None:
            return [f"output {folder} (no readable {VIZ_SUMMARY})"]
        total = summary.total
        counts = " ".join(f"{k}={total.get(k)}" for k in ("frames", "gt", "tp", "fn", "fp", "idsw") if k in total)
        sheets = [str(path) for path in summary.contact_sheets]
        more = f" (+{len(sheets) - 1} more)" if len(sheets) > 1 else ""
        return [f"output {folder}", counts, f"contact sheet: {sheets[0] if sheets else '-'}{more}"]
    if job.kind == "dashboard":
        out = _argv_value(argv, "--out")
        logs = [a for a in argv if a.endswith(TRAIN_LOG)]
        png = Path(out) if out else (dashboard_png(Path(logs[0]).parent) if logs else None)
        return [f"wrote {png}"] if png else []
    return []
