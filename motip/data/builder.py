"""``motip build``: the training dataset from the original releases, under frame budgets and the manifest lock.

Flow: take the output lock -> refuse a real directory at the output path -> list every source (folders only) ->
check the manifest against the listings -> draw the training clips per budget -> write into
``<dirname(output)>/builds/.tmp-<name>`` -> fingerprint val/test, write build_report.json -> rename to
``builds/<basename(output)>-<YYYYmmdd_HHMMSS>-<seed>`` -> switch the output symlink atomically (symlink to a temp
name + os.replace). Any error before the switch leaves the previous dataset untouched; so does a degenerate plan
(0 train frames, no val videos), refused before anything is written.

Ownership: a folder under ``builds/`` belongs to an output only when its name is exactly
``<name>-<8 digits>_<6 digits>-<seed>[-<n>]`` (temps ``.tmp-`` + that) and, for a finished build, its
build_report.json records that output. ``datasets/DanceTrack`` therefore never lists, prunes or cleans the builds of
``datasets/DanceTrack-v2``; a folder whose owner cannot be established is never deleted. A prune keeps the newest KEEP,
the current target of every output link next to ``builds/`` and every build pinned by a live training
(``motip.data.pins``), and says why it kept each one.

Torch-free: the TUI and the queue call ``build_status`` and ``list_builds``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from motip.data import pins
from motip.data import report as report_mod
from motip.data.manifest import Manifest, empty_manifest, load_manifest
from motip.data.mot_files import default_seqmap
from motip.data.mot_format import SequenceStats, fingerprint_split, write_seqmap, write_sequence
from motip.data.readers import SOURCES, read_video, reader_for, require_dir
from motip.data.readers.checks import check_video
from motip.data.selection import Clip, Selection, select, training_pool
from motip.data.settings import BuildSettings, load_build_settings
from motip.data.video import VideoRef
from motip.errors import ConfigError, DataError
from motip.progress import Progress
from motip.records import BuildReport
from motip.workspace import key_line

TMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".del-"   # a build being deleted by a prune: renamed first, so nothing can pin it half-deleted


@dataclass
class BuildPlan:
    manifest: Manifest
    selections: dict[str, Selection]
    val: list[Clip]
    test: list[Clip]
    warnings: list[str] = field(default_factory=list)

    def clips(self) -> Iterator[tuple[str, Clip]]:
        for selection in self.selections.values():
            for clip in selection.clips:
                yield "train", clip
        for clip in self.val:
            yield "val", clip
        for clip in self.test:
            yield "test", clip

    @property
    def total_frames(self) -> int:
        return sum(len(clip.frames) for _, clip in self.clips())


@dataclass
class BuildResult:
    build_dir: Path | None        # None for a dry run
    report: dict[str, Any]


# ---------------------------------------------------------------- planning (reads folders, writes nothing)

def check_output(output: Path) -> None:
    """The output must be a symlink we own, or absent: a real directory there is the user's data, never replaced."""
    if output.is_symlink() or not output.exists():
        return
    kind = "a real directory" if output.is_dir() else "a regular file"
    raise DataError(f"the output path is {kind}, not a symlink; refusing to replace it", path=output,
                    hint=f"move it away (e.g. mv {output} {output}.orig) and build again; builds go to "
                         f"{output.parent / 'builds'} and {output} becomes a symlink to the newest")


def _list_source(settings: BuildSettings, source: str) -> list[VideoRef]:
    src = settings.sources[source]
    reader = reader_for(source, src)      # a custom [sources.NAME] source: its format's reader
    assert src.root is not None
    require_dir(src.root, f"{source} root", reader.LAYOUT_HINT)
    if src.custom:
        try:
            reader.check_layout(src.root, src.splits if src.enabled else ())
        except DataError as err:     # a folder has no line: say where config.toml sets the root
            at = f"{settings.config_path}:{key_line(settings.config_path, f'{src.table}.root')}"
            raise DataError(err.message, path=err.path, line=err.line,
                            hint=f"{err.hint}; the root is set at {at}" if err.hint else f"root is set at {at}") \
                from None
    if src.enabled:
        for split in src.splits:     # the pool's splits must exist; others are listed when present
            require_dir(reader.split_dir(src.root, split),
                        f"{source} split {split!r} (from [{src.table}] splits)", reader.LAYOUT_HINT)
    present = tuple(s for s in reader.SPLITS if reader.split_dir(src.root, s).is_dir())
    return reader.list_videos(src.root, present)


def plan_build(settings: BuildSettings) -> BuildPlan:
    # Custom [sources.NAME] sources are named in the manifest like the built-in ones.
    manifest = load_manifest(settings.manifest, settings.sources) if settings.manifest else empty_manifest()
    warnings = [] if settings.manifest else ["no [builder] manifest set: val and test are empty"]
    selections: dict[str, Selection] = {}
    locked_clips: dict[str, list[Clip]] = {"val": [], "test": []}
    for source in settings.sources:      # the built-in sources, then the custom ones (config.toml order)
        src = settings.sources[source]
        wanted = manifest.ids("val", source) + manifest.ids("test", source)
        if not src.enabled and not wanted:
            continue
        if not src.enabled and (src.root is None or not src.root.is_dir()):
            # val/test come from the manifest whatever the budgets; a disabled source without its release on disk
            # cannot supply them, which changes val/test: say so loudly.
            warnings.append(f"{source}: disabled and its root is missing, so its {len(wanted)} manifest "
                            "video(s) are left out of val/test (the val/test fingerprints differ)")
            continue
        videos = _list_source(settings, source)
        by_id = {v.video_id: v for v in videos}
        warnings += [f"{source} video {v.video_id!r} has no images: left out of the training pool" for v in videos
                     if v.num_frames == 0 and v.video_id not in manifest.locked(source)]
        for split in ("val", "test"):
            for video_id in manifest.ids(split, source):
                video = by_id.get(video_id)
                if video is None:
                    raise DataError(f"{split} {source} video {video_id!r} is not in the source release at "
                                    f"{src.root}", path=manifest.path, line=manifest.line_of(video_id),
                                    hint="fix the id (as the source names its videos) or the source root")
                if split == "val" and not video.has_gt:
                    raise DataError(f"val {source} video {video_id!r} has no ground truth in the release",
                                    path=manifest.path, line=manifest.line_of(video_id),
                                    hint="validation needs ground truth: pick a video with annotations")
                check_video(video, locked=True)      # images 1..N without a gap, frames > 0: or refused now
                locked_clips[split].append(Clip(video))
        if src.enabled:
            pool = training_pool(videos, src, manifest.locked(source))
            selections[source] = select(pool, src, settings.seed, settings.config_path)
    plan = BuildPlan(manifest, selections, locked_clips["val"], locked_clips["test"], warnings)
    check_plan(settings, plan)
    return plan


def check_plan(settings: BuildSettings, plan: BuildPlan) -> None:
    """Refuse a degenerate build before anything is written: it would replace a good dataset with a useless one."""
    if sum(selection.used for selection in plan.selections.values()) == 0:
        enabled = [s for s, src in settings.sources.items() if src.enabled]
        why = ("every source is disabled" if not enabled else
               f"the frame_budget of every enabled source ({', '.join(enabled)}) is 0")
        key = f"{settings.sources[enabled[0]].table}.frame_budget" if enabled else f"{SOURCES[0]}.enabled"
        raise ConfigError(f"the build would have 0 train frames: {why}", path=settings.config_path,
                          line=key_line(settings.config_path, key),
                          hint="enable a source and give it a frame_budget > 0 in config.toml "
                               "([dancetrack], [bdd] or [visdrone]); the current dataset is left as it is")
    if plan.manifest.path is not None and not plan.val:
        raise DataError("the build would have no val videos: none of the manifest's val videos can be read "
                        "(their sources are disabled and their roots missing)", path=plan.manifest.path,
                        hint="set the root of the sources the manifest's val videos come from (a disabled source "
                             "still supplies val/test); the current dataset is left as it is")


# ---------------------------------------------------------------- locking and the output switch

@contextlib.contextmanager
def output_lock(settings: BuildSettings) -> Iterator[None]:
    """One build (or prune) per output at a time; a second one is refused, not queued."""
    settings.builds_dir.mkdir(parents=True, exist_ok=True)
    lock_path = settings.builds_dir / f".{settings.output.name}.lock"
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise DataError(f"another build is running on this output (pid {holder})", path=settings.output,
                            hint="wait for it to finish; two builds on one output are refused") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def switch_output(output: Path, build_dir: Path) -> None:
    """Point ``output`` at ``build_dir`` atomically (a relative link, so the workspace can move)."""
    check_output(output)
    target = os.path.relpath(build_dir, output.parent)
    temp_link = output.parent / f".{output.name}.switch-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        temp_link.unlink()
    os.symlink(target, temp_link)
    os.replace(temp_link, output)


def _new_build_dir(settings: BuildSettings, created: datetime) -> Path:
    base = f"{settings.output.name}-{created:%Y%m%d_%H%M%S}-{settings.seed}"
    candidate, n = settings.builds_dir / base, 1
    while candidate.exists():
        n += 1
        candidate = settings.builds_dir / f"{base}-{n}"
    return candidate


def build_name_pattern(output_name: str) -> re.Pattern[str]:
    """The exact folder name of a build of output ``output_name``: ``<name>-<YYYYmmdd_HHMMSS>-<seed>[-<n>]``.

    Strict on purpose: ``DanceTrack-*`` would also match ``DanceTrack-v2-...``, another output's builds."""
    return re.compile(rf"{re.escape(output_name)}-\d{{8}}_\d{{6}}--?\d+(?:-\d+)?")


def build_owner_known(settings: BuildSettings, path: Path, report: dict[str, Any] | None) -> bool | None:
    """Does the folder ``path`` (under builds/) belong to ``settings.output``? True: its name fits exactly and its
    report records this output; False: it is not ours (name or recorded output differ); None: the name fits but
    there is no readable report to confirm it (never deleted)."""
    if not build_name_pattern(settings.output.name).fullmatch(path.name):
        return False
    recorded = report.get("output") if isinstance(report, dict) else None
    if not isinstance(recorded, str):
        return None
    return Path(recorded).name == settings.output.name     # same builds/ folder, so same parent: the name decides


def _remove_stale_temps(settings: BuildSettings) -> None:
    """Leftovers of a killed build or prune of THIS output (we hold its lock, so nobody is writing them); another
    output's temps (``.tmp-DanceTrack-v2-...`` for ``DanceTrack``) may be a build in progress and are left alone."""
    pattern = build_name_pattern(settings.output.name)
    for path in settings.builds_dir.iterdir():
        for prefix in (TMP_PREFIX, TRASH_PREFIX):
            if path.name.startswith(prefix) and pattern.fullmatch(path.name[len(prefix):]) and path.is_dir() \
                    and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- the build

def build(settings: BuildSettings, *, dry_run: bool = False, progress_stream: TextIO | None = None) -> BuildResult:
    check_output(settings.output)
    if dry_run:
        plan = plan_build(settings)
        stats = [_planned_stats(split, clip) for split, clip in plan.clips()]
        report = _report(settings, plan, stats, Counter(), None, datetime.now(), 0.0, dry_run=True)
        for split in report["splits"].values():
            for counts in [split, *split["sources"].values()]:
                counts["boxes"], counts["ignored"] = None, None    # not parsed in a dry run
        return BuildResult(None, report)
    with output_lock(settings):
        check_output(settings.output)
        _remove_stale_temps(settings)
        start = time.monotonic()
        created = datetime.now()
        plan = plan_build(settings)
        build_dir = _new_build_dir(settings, created)
        temp_dir = build_dir.with_name(TMP_PREFIX + build_dir.name)
        try:
            stats, skipped = _write_all(plan, temp_dir, progress_stream)
            report = _report(settings, plan, stats, skipped, build_dir, created, time.monotonic() - start,
                             temp_dir=temp_dir)
            # the report's one writer; the folder rename below is what makes the build appear atomically
            BuildReport.from_json(report, temp_dir / report_mod.REPORT_NAME).write(temp_dir / report_mod.REPORT_NAME)
            os.rename(temp_dir, build_dir)
        except BaseException:
            shutil.rmtree(temp_dir, ignore_errors=True)
            raise
        switch_output(settings.output, build_dir)
        return BuildResult(build_dir, report)


def _write_all(plan: BuildPlan, temp_dir: Path, stream: TextIO | None) -> tuple[list[SequenceStats], Counter[str]]:
    stats: list[SequenceStats] = []
    skipped: Counter[str] = Counter()
    for split in report_mod.SPLITS:
        (temp_dir / split).mkdir(parents=True)
    with Progress("build", plan.total_frames, stream=stream) as progress:
        for split, clip in plan.clips():
            # read_video: every source's checks (motip.data.readers.checks); val/test videos are manifest-locked
            annotations, unusable = read_video(clip.video, locked=split != "train")
            if unusable is not None:           # a training video without ground truth: left out, said in the report
                plan.warnings.append(f"{clip.video.source} video {clip.video.video_id!r}: {unusable}; left out of "
                                     f"train ({len(clip.frames)} frames fewer than the budget)")
                progress.advance(len(clip.frames), clip.sequence_name)
                continue
            skipped.update(annotations.skipped)
            stats.append(write_sequence(temp_dir / split, clip, annotations))
            progress.advance(len(clip.frames), clip.sequence_name)
    if plan.selections and not any(s.split == "train" for s in stats):
        raise DataError("the build would have 0 train frames: every drawn training video has no ground-truth boxes",
                        hint="; ".join(plan.warnings[-3:]) + " -- check the source annotations; the current dataset "
                             "is left as it is")
    for split in report_mod.SPLITS:
        write_seqmap(default_seqmap(temp_dir / split), [s.name for s in stats if s.split == split])
    return stats, skipped


def _planned_stats(split: str, clip: Clip) -> SequenceStats:
    frames = clip.frames
    return SequenceStats(clip.sequence_name, split, clip.video.source, clip.video.video_id, clip.video.split,
                         frames[0], frames[-1], clip.stride, len(frames), has_gt=clip.video.has_gt)


def _report(settings: BuildSettings, plan: BuildPlan, stats: list[SequenceStats], skipped: Counter[str],
            build_dir: Path | None, created: datetime, duration_s: float, *, dry_run: bool = False,
            temp_dir: Path | None = None) -> dict[str, Any]:
    fingerprints = {split: fingerprint_split(temp_dir, split) if temp_dir else None for split in ("val", "test")}
    budgets = {source: {"asked": sel.budget, "used": sel.used, "pool_videos": sel.pool_videos,
                        "pool_frames": sel.pool_frames, "frame_stride": settings.sources[source].frame_stride,
                        "splits": list(settings.sources[source].splits)}
               for source, sel in plan.selections.items()}
    return {
        "version": BuildReport.VERSION,
        "created": created.isoformat(timespec="seconds"),
        "build_dir": None if build_dir is None else str(build_dir),
        "output": str(settings.output),
        "config": str(settings.config_path),
        "seed": settings.seed,
        "manifest": None if plan.manifest.path is None else str(plan.manifest.path),
        "manifest_fingerprint": plan.manifest.fingerprint,
        "val_fingerprint": fingerprints["val"],
        "test_fingerprint": fingerprints["test"],
        "budgets": budgets,
        "splits": report_mod.summarize(stats),
        "sequences": [report_mod.sequence_row(s) for s in stats],
        "skipped": dict(sorted(skipped.items())),
        "warnings": plan.warnings,
        "duration_s": round(duration_s, 3),
        "dry_run": dry_run,
    }


# ---------------------------------------------------------------- old builds and status (files only)

def _read_report(build_dir: Path) -> dict[str, Any] | None:
    """The build's report (its one reader, ``motip.records.BuildReport.read``) as a dict; None when it is missing
    or unusable (such a build's owner is unknown, so a prune keeps it)."""
    record, _ = BuildReport.try_read(build_dir / report_mod.REPORT_NAME)
    return None if record is None else record.to_json()


def current_build(output: Path) -> Path | None:
    if not output.is_symlink():
        return None
    target = Path(os.path.realpath(output))
    return target if target.is_dir() else None


def list_builds(settings: BuildSettings) -> list[dict[str, Any]]:
    """Builds of this output (exact ownership, see ``build_owner_known``), oldest first: name, path, created,
    current, frames per split, seed, val fp, ``owner_known`` (False: the name fits but no readable report confirms
    it; a prune never deletes it) and ``in_use`` (pinned by a live training)."""
    if not settings.builds_dir.is_dir():
        return []
    current = current_build(settings.output)
    rows = []
    for path in settings.builds_dir.iterdir():
        if not path.is_dir() or path.is_symlink():
            continue
        raw = _read_report(path)
        owner = build_owner_known(settings, path, raw)
        if owner is False:
            continue
        report = raw if isinstance(raw, dict) else {}
        splits = report.get("splits", {})
        splits = splits if isinstance(splits, dict) else {}
        try:    # the report is the last file a build writes: its mtime orders builds made in the same second
            finished = (path / report_mod.REPORT_NAME).stat().st_mtime_ns
        except OSError:
            finished = 0
        rows.append({"finished_ns": finished,
            "name": path.name, "path": str(path), "created": report.get("created"),
            "current": current is not None and path.resolve() == current,
            "frames": {s: (splits.get(s) if isinstance(splits.get(s), dict) else {}).get("frames")
                       for s in report_mod.SPLITS},
            "seed": report.get("seed"), "val_fingerprint": report.get("val_fingerprint"),
            "owner_known": owner is True, "in_use": pins.build_in_use(path),
        })
    return sorted(rows, key=lambda r: (r["finished_ns"], r["name"]))


def linked_builds(builds_dir: Path) -> dict[Path, list[Path]]:
    """The build folders that a symlink next to ``builds/`` points into (each output's current build, whichever
    output), mapped to those links. A prune of any output keeps them all."""
    linked: dict[Path, list[Path]] = {}
    parent = builds_dir.parent
    if not parent.is_dir():
        return linked
    real_builds = Path(os.path.realpath(builds_dir))
    for entry in sorted(parent.iterdir()):
        if not entry.is_symlink():
            continue
        try:
            relative = Path(os.path.realpath(entry)).relative_to(real_builds)
        except ValueError:
            continue
        if relative.parts:
            linked.setdefault(builds_dir / relative.parts[0], []).append(entry)
    return linked


@dataclass
class PruneResult:
    removed: list[Path] = field(default_factory=list)
    kept: list[tuple[Path, list[str]]] = field(default_factory=list)   # build -> why it was kept


def prune_builds(settings: BuildSettings, keep: int) -> PruneResult:
    """Delete this output's builds except the newest ``keep``, the current target of ANY output link next to
    ``builds/``, builds pinned by a live training and folders whose owner cannot be established. Says why each kept
    build was kept. Another output's builds are never listed, let alone deleted."""
    if keep < 0:
        raise DataError(f"--prune KEEP must be >= 0, got {keep}", hint="KEEP is how many recent builds to keep")
    result = PruneResult()
    with output_lock(settings):
        _remove_stale_temps(settings)
        builds = list_builds(settings)
        linked = linked_builds(settings.builds_dir)
        known = [r for r in builds if r["owner_known"]]
        newest = {r["name"] for r in known[len(known) - keep:]} if keep else set()
        for row in builds:
            path = Path(row["path"])
            reasons = []
            if row["name"] in newest:
                reasons.append(f"newest {keep}")
            reasons += [f"current build of {link}" for link in linked.get(path, [])]
            if not row["owner_known"]:
                reasons.append(f"owner unknown (no readable {report_mod.REPORT_NAME})")
            if reasons:
                result.kept.append((path, reasons))
                continue
            # Exclusive pin lock while deleting: a live training's shared pin makes this yield False; a training
            # starting now cannot pin it (the rename below makes its path vanish first).
            with pins.exclusive(path) as free:
                if not free:
                    result.kept.append((path, ["in use by a live training"]))
                    continue
                trash = path.with_name(TRASH_PREFIX + path.name)
                shutil.rmtree(trash, ignore_errors=True)
                os.rename(path, trash)
                shutil.rmtree(trash)   # links and small text files; never follows the image symlinks
            result.removed.append(path)
    return result


def build_status(workspace: Any) -> dict[str, Any]:
    """Is the workspace's dataset built? Reads files only (no torch): for the TUI and the queue.

    ``workspace``: a ``motip.workspace.Workspace``, a ``BuildSettings`` or the path of a config.toml. Returns
    ``{"built", "output", "build_dir", "created", "seed", "val_fingerprint", "test_fingerprint",
    "manifest_fingerprint", "summary": {split: {sequences, frames, boxes}}, "problem"}``.
    """
    output = _output_of(workspace)
    status: dict[str, Any] = {"built": False, "output": str(output), "build_dir": None, "created": None,
                              "seed": None, "val_fingerprint": None, "test_fingerprint": None,
                              "manifest_fingerprint": None, "summary": {}, "problem": None}
    if output.exists() and not output.is_symlink():
        status["problem"] = "the output path is a real directory, not a build symlink"
        return status
    build_dir = current_build(output)
    if build_dir is None:
        status["problem"] = "not built yet" if not output.is_symlink() else "the output symlink is broken"
        return status
    report = _read_report(build_dir)
    status["build_dir"] = str(build_dir)
    if report is None:
        status["problem"] = "the build has no readable build_report.json"
        return status
    status.update(built=True, created=report.get("created"), seed=report.get("seed"),
                  val_fingerprint=report.get("val_fingerprint"), test_fingerprint=report.get("test_fingerprint"),
                  manifest_fingerprint=report.get("manifest_fingerprint"),
                  summary={s: {k: v.get(k) for k in ("sequences", "frames", "boxes")}
                           for s, v in report.get("splits", {}).items()})
    return status


def _output_of(workspace: Any) -> Path:
    if isinstance(workspace, BuildSettings):
        return workspace.output
    if isinstance(workspace, (str, Path)):
        return load_build_settings(workspace).output
    output = getattr(workspace.builder, "output", None) or "datasets/DanceTrack"
    return (Path(workspace.root) / Path(output)).absolute()
