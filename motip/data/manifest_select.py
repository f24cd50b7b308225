"""``motip manifest``: choose the manifest lock (val/test video ids) from the sources' own val (and test) splits.

The choice is seeded and reproducible: per source and split, the candidate ids are sorted, shuffled with
``random.Random(f"{seed}:{source}:{split}")`` and taken in that order, so the same releases and seed always give the
same manifest, and asking for one more video keeps the ones chosen before. Candidates:

- val: videos of the source's ``val`` split with ground truth and at least one person or vehicle box;
- test: videos of the source's own test split with ground truth (VisDrone's ``test-dev``); a release whose test split
  has no public ground truth (DanceTrack, BDD100K) gives test videos from its val split instead, never one of the
  val videos.

Every chosen video is read with ``read_video`` (the builder's reader and checks), so the frames and boxes per class
printed are what a build will hold, and a video the builder would refuse (no boxes) is passed over, not chosen.
The val fingerprint is computed as the builder computes it: the val split is written to a temp folder with the
builder's own ``write_sequence``/``write_seqmap`` and hashed with ``fingerprint_split``, so it equals the
``val_fingerprint`` of build_report.json of every build made with this manifest (the sources read from the same
files). Torch-free.
"""

from __future__ import annotations

import random
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motip.data.categories import CLASS_NAMES
from motip.data.manifest import LOCKED_SPLITS, Manifest, fingerprint_of
from motip.data.readers import read_video, reader_for, require_dir
from motip.data.video import VideoAnnotations, VideoRef
from motip.errors import DataError
from motip.workspace import SOURCE_LABELS, Workspace, key_line

TEST_SPLITS = ("test", "test-dev")


@dataclass
class ChosenVideo:
    source: str
    video_id: str
    split: str                  # the manifest split: val or test
    source_split: str           # the release's split it comes from
    frames: int
    boxes: Counter[str] = field(default_factory=Counter)     # class name -> boxes
    ignored: int = 0


@dataclass
class ManifestChoice:
    splits: dict[str, dict[str, list[str]]]                   # val/test -> source -> ids (sorted)
    videos: list[ChosenVideo]
    notes: list[str]
    val_fingerprint: str
    manifest_fingerprint: str
    sources: dict[str, Any] = field(default_factory=dict)    # the build's source settings (write_manifest checks)

    def totals(self, split: str, source: str | None = None) -> dict[str, Any]:
        chosen = [v for v in self.videos if v.split == split and (source is None or v.source == source)]
        boxes: Counter[str] = Counter({name: 0 for name in CLASS_NAMES.values()})
        for video in chosen:
            boxes.update(video.boxes)
        return {"videos": len(chosen), "frames": sum(v.frames for v in chosen), "boxes": dict(boxes),
                "ignored": sum(v.ignored for v in chosen)}

    def as_json(self) -> dict[str, Any]:
        return {"manifest": self.splits, "manifest_fingerprint": self.manifest_fingerprint,
                "val_fingerprint": self.val_fingerprint, "notes": self.notes,
                "splits": {split: {"total": self.totals(split),
                                   "sources": {s: self.totals(split, s) for s in self.splits.get(split, {})}}
                           for split in LOCKED_SPLITS}}


def source_settings(workspace: Workspace) -> dict[str, Any]:
    """The builder's view of the sources (``motip.data.settings.SourceSettings``), in the order a build writes them:
    the built-in sources, then any custom ``[sources.NAME]`` ones."""
    from motip.data.settings import build_settings

    return dict(build_settings(workspace).sources)


def _reader(source: str, settings: Any) -> Any:
    # A custom source is read by its format's reader, bound to its settings (as the builder reads it).
    return reader_for(source, settings) if getattr(settings, "custom", False) else reader_for(source)


def _listing(workspace: Workspace, source: str, settings: Any, notes: list[str]) -> list[VideoRef] | None:
    """Every video of a source's release (folders only); None when the source is skipped (disabled, no root)."""
    reader = _reader(source, settings)
    label = SOURCE_LABELS.get(source, source)
    table = getattr(settings, "table", source)
    if not settings.root.is_dir():
        if settings.enabled:
            require_dir(settings.root, f"{label} root (enabled in config.toml)", reader.LAYOUT_HINT)
        notes.append(f"{source}: skipped (disabled and its root {settings.root} does not exist)")
        return None
    present = tuple(s for s in reader.SPLITS if reader.split_dir(settings.root, s).is_dir())
    if not present:
        raise DataError(f"the {label} root holds none of the release's split folders "
                        f"({', '.join(str(reader.split_dir(settings.root, s)) for s in reader.SPLITS)})",
                        path=settings.root, hint=f"{reader.LAYOUT_HINT}; fix [{table}] root in "
                                                 f"{workspace.path} (line {key_line(workspace.path, table + '.root')})")
    if not settings.enabled:
        notes.append(f"{source}: disabled in config.toml but its release is there: its val/test videos are locked "
                     "too (every stage validates on the same set)")
    return reader.list_videos(settings.root, present)


def _draw(candidates: list[VideoRef], count: int, seed: int, source: str, split: str,
          notes: list[str]) -> list[tuple[VideoRef, VideoAnnotations]]:
    order = sorted(candidates, key=lambda v: v.video_id)
    random.Random(f"{seed}:{source}:{split}").shuffle(order)
    chosen: list[tuple[VideoRef, VideoAnnotations]] = []
    for video in order:
        if len(chosen) == count:
            break
        # The builder's reader and checks: a corrupt file is refused here as it would be by `motip build`.
        annotations, unusable = read_video(video)
        if unusable is not None:
            notes.append(f"{source} video {video.video_id!r} ({video.split}) passed over: {unusable}")
            continue
        chosen.append((video, annotations))
    if len(chosen) < count:
        notes.append(f"{source}: {split} asked for {count} video(s), the release has {len(chosen)} usable")
    return chosen


def choose_manifest(workspace: Workspace, *, val_per_source: int, test_per_source: int = 0,
                    seed: int = 0) -> ManifestChoice:
    """Choose ``val_per_source`` val and ``test_per_source`` test videos of every source whose release is on disk."""
    notes: list[str] = []
    picked: dict[str, list[tuple[VideoRef, VideoAnnotations]]] = {split: [] for split in LOCKED_SPLITS}
    sources = source_settings(workspace)
    listings: dict[str, list[VideoRef]] = {}
    for source, settings in sources.items():
        videos = _listing(workspace, source, settings, notes)
        if videos is None:
            continue
        listings[source] = videos
        usable = [v for v in videos if v.has_gt and v.num_frames > 0]
        val_candidates = [v for v in usable if v.split == "val"]
        if not val_candidates:
            notes.append(f"{source}: no val videos with ground truth under {settings.root}: "
                         "it adds nothing to val")
        val = _draw(val_candidates, val_per_source, seed, source, "val", notes) if val_per_source else []
        picked["val"] += val
        if test_per_source:
            test_candidates = [v for v in usable if v.split in TEST_SPLITS]
            if not test_candidates:
                taken = {v.video_id for v, _ in val}
                test_candidates = [v for v in val_candidates if v.video_id not in taken]
                notes.append(f"{source}: its test split has no public ground truth: test videos come from its "
                             "val split (never one of the val videos)")
            picked["test"] += _draw(test_candidates, test_per_source, seed, source, "test", notes)
    if not picked["val"]:
        raise DataError("no source has a val video with ground truth to lock", path=workspace.path,
                        hint="set the root of at least one source to its original release (with its val split); "
                             "nothing was written")
    splits: dict[str, dict[str, list[str]]] = {split: {} for split in LOCKED_SPLITS}
    chosen_rows: list[ChosenVideo] = []
    for split in LOCKED_SPLITS:
        # Builder order: sources in the builder's order, ids as the manifest lists them (sorted here).
        order = list(sources)
        picked[split].sort(key=lambda pair: (order.index(pair[0].source), pair[0].video_id))
        for video, read in picked[split]:
            splits[split].setdefault(video.source, []).append(video.video_id)
            boxes = Counter(CLASS_NAMES[b.cls] for b in read.boxes)
            chosen_rows.append(ChosenVideo(video.source, video.video_id, split, video.split, video.num_frames,
                                           boxes, len(read.ignores)))
    val_boxes = Counter[str]()
    for row in chosen_rows:
        if row.split == "val":
            val_boxes.update(row.boxes)
    for name in CLASS_NAMES.values():
        if not val_boxes[name]:
            notes.append(f"WARNING: val has no {name} boxes: forgetting of {name}s cannot be seen on it; add the "
                         f"release of a source with {name}s (or more val videos per source)")
    notes += _budget_notes(workspace, sources, listings, splits)
    fingerprint = split_fingerprint(picked["val"])
    tuples = {split: {s: tuple(ids) for s, ids in by_source.items()} for split, by_source in splits.items()}
    return ManifestChoice(splits, chosen_rows, notes, fingerprint, fingerprint_of(tuples), sources)


def _budget_notes(workspace: Workspace, sources: dict[str, Any], listings: dict[str, list[VideoRef]],
                  splits: dict[str, dict[str, list[str]]]) -> list[str]:
    """A stage whose budget exceeds a source's training pool once these videos are locked would fail its build
    (``selection.select``): say so now, with the numbers."""
    from motip.data.selection import strided_length

    notes = []
    for stage in workspace.stages:
        for source, budget in stage.budgets.items():
            if source not in listings or not budget:
                continue
            settings = sources[source]
            locked = {vid for split in LOCKED_SPLITS for vid in splits[split].get(source, ())}
            pool = sum(strided_length(v.num_frames, settings.frame_stride) for v in listings[source]
                       if v.split in settings.splits and v.has_gt and v.num_frames > 0 and v.video_id not in locked)
            if budget > pool:
                notes.append(f"WARNING: stage {stage.name} asks for {budget} {source} frames but its training pool "
                             f"holds {pool} once this manifest is locked: lower that budget in config.toml (or lock "
                             "fewer videos)")
    return notes


def split_fingerprint(videos: list[tuple[VideoRef, VideoAnnotations]], split: str = "val") -> str:
    """The fingerprint a build writes for a locked split holding ``videos`` (whole videos, in this order): written to
    a temp folder with the builder's own writers and hashed by ``fingerprint_split``, so nothing can drift."""
    from motip.data.mot_files import default_seqmap
    from motip.data.mot_format import fingerprint_split, write_seqmap, write_sequence
    from motip.data.selection import Clip

    with tempfile.TemporaryDirectory(prefix="motip-manifest-") as temp:
        build_dir = Path(temp)
        (build_dir / split).mkdir()
        names = [write_sequence(build_dir / split, Clip(video), annotations).name for video, annotations in videos]
        write_seqmap(default_seqmap(build_dir / split), names)
        return fingerprint_split(build_dir, split)


def manifest_val_fingerprint(workspace: Workspace, manifest: Manifest) -> str:
    """The val fingerprint a build of ``workspace`` with ``manifest`` will write, computed from the source releases
    without building (for a preflight that compares it with the current build's). Like the builder, a disabled source
    whose root is missing supplies no val videos; an id missing from its release is a DataError naming the line."""
    picked: list[tuple[VideoRef, VideoAnnotations]] = []
    for source, settings in source_settings(workspace).items():
        ids = manifest.ids("val", source)
        if not ids or (not settings.enabled and not settings.root.is_dir()):
            continue
        reader = _reader(source, settings)
        require_dir(settings.root, f"{SOURCE_LABELS.get(source, source)} root", reader.LAYOUT_HINT)
        present = tuple(s for s in reader.SPLITS if reader.split_dir(settings.root, s).is_dir())
        by_id = {v.video_id: v for v in reader.list_videos(settings.root, present)}
        for video_id in ids:
            video = by_id.get(video_id)
            if video is None:
                raise DataError(f"val {source} video {video_id!r} is not in the source release at {settings.root}",
                                path=manifest.path, line=manifest.line_of(video_id),
                                hint="fix the id (as the source names its videos) or the source root")
            picked.append((video, read_video(video, locked=True)[0]))
    return split_fingerprint(picked)
