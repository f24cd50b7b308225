"""What a build needs from config.toml: per-source settings and the ``[builder]`` section.

Reads config.toml through ``motip.workspace.load_workspace`` when it exists (the project's one reader of that file),
else with ``tomllib`` directly; either way values are checked here again so that a bad budget names its file and line.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motip.data.readers import SOURCES, reader_for
from motip.errors import ConfigError

DEFAULT_OUTPUT = "datasets/DanceTrack"


@dataclass(frozen=True)
class SourceSettings:
    name: str
    enabled: bool
    root: Path | None
    frame_budget: int
    splits: tuple[str, ...] = ("train",)   # the source's splits that feed the training pool
    frame_stride: int = 1


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


def key_line(path: Path, section: str, key: str) -> int | None:
    """Line of ``key`` inside ``[section]`` of a TOML file (for error messages); None when not found."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    current = None
    for line_no, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith("["):
            current = stripped.strip("[] ")
        elif current == section and stripped.split("=", 1)[0].strip() == key:
            return line_no
    return None


def _error(path: Path, section: str, key: str, message: str, hint: str | None = None) -> ConfigError:
    return ConfigError(f"[{section}] {key}: {message}", path=path, line=key_line(path, section, key), hint=hint)


def _int(path: Path, section: str, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error(path, section, key, f"must be an integer, got {value!r}",
                     hint=f"write a whole number, e.g. {key} = 5000")
    if value < minimum:
        raise _error(path, section, key, f"must be >= {minimum}, got {value}")
    return value


def source_settings(path: Path, name: str, raw: dict[str, Any], base: Path) -> SourceSettings:
    enabled = raw.get("enabled", False)
    if not isinstance(enabled, bool):
        raise _error(path, name, "enabled", f"must be true or false, got {enabled!r}")
    root = raw.get("root")
    if root is not None and not isinstance(root, (str, Path)):
        raise _error(path, name, "root", f"must be a path string, got {root!r}")
    root_path = None if root in (None, "") else (base / Path(root).expanduser()).resolve()
    if enabled and root_path is None:
        raise _error(path, name, "root", "is required when the source is enabled",
                     hint=f"set root = the folder of the original {name} release")
    budget = _int(path, name, "frame_budget", raw.get("frame_budget", 0), 0)
    stride = _int(path, name, "frame_stride", raw.get("frame_stride", 1), 1)
    splits = raw.get("splits", ["train"])
    if isinstance(splits, str):
        splits = [splits]
    valid = reader_for(name).SPLITS
    if not isinstance(splits, (list, tuple)) or not splits or any(s not in valid for s in splits):
        raise _error(path, name, "splits", f"must be a non-empty list of {list(valid)}, got {splits!r}")
    return SourceSettings(name, enabled, root_path, budget, tuple(splits), stride)


def _from_workspace(config_path: Path) -> BuildSettings | None:
    try:
        from motip.workspace import load_workspace  # noqa: PLC0415 - optional until the workspace module lands
    except ImportError:
        return None
    ws = load_workspace(config_path)
    base = Path(ws.root)
    sources = {}
    for name in SOURCES:
        src = ws.sources.get(name) if hasattr(ws.sources, "get") else None
        raw = {} if src is None else {
            "enabled": src.enabled, "root": None if src.root is None else str(src.root),
            "frame_budget": src.frame_budget, "splits": list(getattr(src, "splits", None) or ["train"]),
            "frame_stride": getattr(src, "frame_stride", None) or 1}
        sources[name] = source_settings(config_path, name, raw, base)
    builder = ws.builder
    output = (base / Path(getattr(builder, "output", None) or DEFAULT_OUTPUT)).absolute()
    manifest = getattr(builder, "manifest", None)
    seed = _int(config_path, "builder", "seed", getattr(builder, "seed", 0) or 0, 0)
    return BuildSettings(config_path, sources, output, None if not manifest else (base / Path(manifest)).absolute(),
                         seed)


def _from_toml(config_path: Path) -> BuildSettings:
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"malformed TOML: {err}", path=config_path) from None
    base = config_path.parent
    sources = {}
    for name in SOURCES:
        section = raw.get(name, {})
        if not isinstance(section, dict):
            raise ConfigError(f"[{name}] must be a table", path=config_path)
        sources[name] = source_settings(config_path, name, section, base)
    builder = raw.get("builder", {})
    output = builder.get("output") or DEFAULT_OUTPUT
    manifest = builder.get("manifest")
    seed = _int(config_path, "builder", "seed", builder.get("seed", 0), 0)
    return BuildSettings(config_path, sources, (base / Path(output)).absolute(),
                         None if not manifest else (base / Path(manifest)).absolute(), seed)


def _check_numbers(config_path: Path) -> None:
    """Budgets, strides and the seed must be integers: say so with the file *and line* before anything else."""
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
        return                      # the workspace reader reports syntax errors with their line
    for section, keys in [*((name, (("frame_budget", 0), ("frame_stride", 1))) for name in SOURCES),
                          ("builder", (("seed", 0),))]:
        table = raw.get(section)
        if isinstance(table, dict):
            for key, minimum in keys:
                if key in table:
                    _int(config_path, section, key, table[key], minimum)


def load_build_settings(config_path: str | Path) -> BuildSettings:
    config_path = Path(config_path).absolute()
    if not config_path.is_file():
        raise ConfigError("config.toml not found", path=config_path,
                          hint="run in the project folder, or pass --config PATH (motip demo DIR creates one)")
    _check_numbers(config_path)
    return _from_workspace(config_path) or _from_toml(config_path)
