"""The manifest lock: the val and test videos of every source, fixed across builds.

Format (``[builder] manifest`` in config.toml; example in ``assets/manifest.example.json``)::

    {"val":  {"dancetrack": ["dancetrack0004", ...], "bdd": ["b1c66a42-6f7d68ca", ...], "visdrone": [...]},
     "test": {"dancetrack": [...], "bdd": [...], "visdrone": [...]}}

A custom source (``[sources.NAME]`` in config.toml) is named by its NAME, its videos by their sequence folders. Ids are
the source's own video names; at least one val id is required (a build without val would replace a good
dataset with one that no training can validate on). Locked videos never enter the training pool (nor any clip of
them); they are written whole as the val/test splits, so a budget or seed change leaves val/test byte-identical.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motip.data.readers import SOURCES
from motip.workspace import CUSTOM_NAME
from motip.errors import DataError

LOCKED_SPLITS = ("val", "test")


@dataclass(frozen=True)
class Manifest:
    path: Path | None
    splits: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)   # split -> source -> ids
    fingerprint: str = ""                                                          # sha256 of the canonical JSON

    def ids(self, split: str, source: str) -> tuple[str, ...]:
        return self.splits.get(split, {}).get(source, ())

    def locked(self, source: str) -> set[str]:
        """Every id of ``source`` that must stay out of the training pool."""
        return {vid for split in LOCKED_SPLITS for vid in self.ids(split, source)}

    def line_of(self, video_id: str) -> int | None:
        """The manifest line naming ``video_id`` (for error messages)."""
        if self.path is None:
            return None
        needle = json.dumps(video_id)
        for line_no, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if needle in line:
                return line_no
        return None


def empty_manifest() -> Manifest:
    return Manifest(None, {split: {} for split in LOCKED_SPLITS}, fingerprint_of({}))


def fingerprint_of(splits: dict[str, dict[str, tuple[str, ...]]]) -> str:
    canonical = {split: {src: sorted(ids) for src, ids in sorted(by_source.items()) if ids}
                 for split, by_source in sorted(splits.items())}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def load_manifest(path: Path, sources: Collection[str] | None = None) -> Manifest:
    """The manifest at ``path``, checked. ``sources``: the workspace's source names (custom ``[sources.NAME]`` ones
    included); when None, the built-in names and any name a custom source may take are accepted (the build, which
    passes its sources, then refuses an unknown one)."""
    if not path.is_file():
        raise DataError("manifest file not found", path=path,
                        hint="set [builder] manifest in config.toml to your manifest.json "
                             "(see assets/manifest.example.json)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"malformed JSON: {err.msg} (column {err.colno})", path=path, line=err.lineno) from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read manifest: {err}", path=path) from None
    if not isinstance(raw, dict):
        raise DataError('manifest must be a JSON object {"val": {...}, "test": {...}}', path=path, line=1)
    unknown = set(raw) - set(LOCKED_SPLITS)
    if unknown:
        raise DataError(f"unknown manifest key(s) {sorted(unknown)}; expected only 'val' and 'test'", path=path)
    splits: dict[str, dict[str, tuple[str, ...]]] = {}
    seen: dict[tuple[str, str], str] = {}
    for split in LOCKED_SPLITS:
        by_source = raw.get(split, {})
        if not isinstance(by_source, dict):
            raise DataError(f"manifest '{split}' must map source -> list of video ids", path=path)
        splits[split] = {}
        for source, ids in by_source.items():
            known = source in sources if sources is not None else (
                source in SOURCES or CUSTOM_NAME.fullmatch(source) is not None)
            if not known:
                names = list(sources) if sources is not None else list(SOURCES)
                raise DataError(f"unknown source {source!r} in manifest '{split}'", path=path,
                                line=Manifest(path, {}).line_of(source),
                                hint=f"sources are {', '.join(names)} (a custom source is declared by its "
                                     "[sources.NAME] table in config.toml)")
            if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
                raise DataError(f"manifest '{split}.{source}' must be a list of video id strings", path=path)
            for video_id in ids:
                other = seen.setdefault((source, video_id), split)
                if other != split or ids.count(video_id) > 1:
                    manifest = Manifest(path, splits)
                    raise DataError(f"{source} video {video_id!r} is listed twice (in '{other}' and '{split}')",
                                    path=path, line=manifest.line_of(video_id))
            splits[split][source] = tuple(ids)
    if not any(splits["val"].values()):
        # A build without val replaces a good dataset with one no training can validate on: refuse it.
        line = Manifest(path, splits).line_of("val")
        raise DataError("the manifest lists no val videos" + (" (it is empty)" if not raw else ""), path=path,
                        line=line or 1,
                        hint='list the val videos under "val": {"<source>": ["<video id>", ...]} (see '
                             "assets/manifest.example.json); the current dataset is left as it is")
    return Manifest(path, splits, fingerprint_of(splits))


def manifest_text(splits: dict[str, dict[str, list[str] | tuple[str, ...]]]) -> str:
    """The manifest file's text: one line per split and source, so a diff (or ``Manifest.line_of``) names the line."""
    lines = ["{"]
    for k, split in enumerate(LOCKED_SPLITS):
        by_source = {src: list(ids) for src, ids in splits.get(split, {}).items() if ids}
        lines.append(f"  {json.dumps(split)}: {{" + ("" if by_source else "}" + ("," if k == 0 else "")))
        if by_source:
            items = list(by_source.items())
            for j, (source, ids) in enumerate(items):
                lines.append(f"    {json.dumps(source)}: {json.dumps(ids)}" + ("," if j < len(items) - 1 else ""))
            lines.append("  }" + ("," if k < len(LOCKED_SPLITS) - 1 else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_manifest(path: Path, splits: dict[str, dict[str, list[str] | tuple[str, ...]]],
                   sources: dict[str, Any] | None = None) -> Manifest:
    """Write a manifest (the one writer of the format ``load_manifest`` reads) and return it as loaded.

    The text is written to a temp file beside ``path`` and read back with ``load_manifest`` before it replaces
    ``path``: a manifest the builder would refuse (no val, an id twice) is never written. ``sources``: the build's
    source settings, needed (as by the builder) when the manifest names custom ``[sources.NAME]`` sources."""
    import os
    import tempfile

    from motip.atomic import atomic_write_text

    path = Path(path)
    text = manifest_text(splits)
    custom = sources is not None and any(getattr(s, "custom", False) for s in sources.values())

    def check(candidate: Path) -> Manifest:
        return load_manifest(candidate, sources) if custom else load_manifest(candidate)  # type: ignore[call-arg]

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, probe_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".check", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        check(Path(probe_name))                      # same checks as a build: refused before anything is replaced
    except DataError as err:
        raise DataError(err.message, path=path, line=err.line,
                        hint=(err.hint + "; " if err.hint else "") + "nothing was written") from None
    finally:
        os.unlink(probe_name)
    atomic_write_text(path, text)
    return check(path)
