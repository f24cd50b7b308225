"""What a build needs from config.toml: per-source settings and the ``[builder]`` section.

config.toml is read and validated by ``motip.workspace.load_workspace`` (the project's one reader of that file; its
errors name the file and the key's line). This module only converts the ``Workspace`` into the builder's frozen
``BuildSettings``; checks that need the source data (e.g. a budget larger than the pool, ``selection.select``) are the
builder's and name the key's line with ``motip.workspace.key_line``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motip.data.readers import SOURCES
from motip.workspace import Workspace, load_workspace, source_table


@dataclass(frozen=True)
class SourceSettings:
    name: str
    enabled: bool
    root: Path | None
    frame_budget: int
    splits: tuple[str, ...] = ("train",)   # the source's splits that feed the training pool
    frame_stride: int = 1
    # Custom sources ([sources.NAME] in config.toml) only: their format ("mot"), class id -> PERSON / VEHICLE /
    # IGNORE (motip.data.categories), and the frame rate of videos whose seqinfo.ini does not give one.
    format: str = ""
    classes: tuple[tuple[int, int], ...] = ()
    frame_rate: float | None = None

    @property
    def custom(self) -> bool:
        return bool(self.format)

    @property
    def table(self) -> str:
        return source_table(self.name, self.custom)


@dataclass(frozen=True)
class BuildSettings:
    config_path: Path
    sources: dict[str, SourceSettings]
    output: Path
    manifest: Path | None
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def builds_dir(self) -> Path:
        return self.output.parent / "builds"


def build_settings(workspace: Workspace, config_path: Path | None = None) -> BuildSettings:
    """The builder's view of a validated ``Workspace`` (source roots resolved, output and manifest absolute).

    ``sources``: the three built-in sources, then the custom ``[sources.NAME]`` ones in file order."""
    from motip.data.categories import IGNORE, PERSON, VEHICLE

    codes = {"person": PERSON, "vehicle": VEHICLE, "ignore": IGNORE}
    sources = {}
    for name in [*SOURCES, *(n for n in workspace.sources if n not in SOURCES)]:
        src = workspace.sources[name]
        classes = tuple(sorted((cid, codes[cls]) for cid, cls in src.classes.items()))
        sources[name] = SourceSettings(name, src.enabled, src.root.expanduser().resolve(), src.frame_budget,
                                       tuple(src.splits), src.frame_stride, src.format, classes, src.frame_rate)
    builder = workspace.builder
    return BuildSettings(config_path or workspace.path, sources, builder.output.absolute(),
                         None if builder.manifest is None else builder.manifest.absolute(), builder.seed)


def load_build_settings(config_path: str | Path) -> BuildSettings:
    config_path = Path(config_path).absolute()
    return build_settings(load_workspace(config_path), config_path)
