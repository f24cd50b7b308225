"""config.toml, the workspace file: read, validate and write it (tomlkit keeps comments, order and formatting).

A workspace is the folder holding config.toml; relative paths in it are relative to that folder. Sections:
``[dancetrack]``, ``[bdd]``, ``[visdrone]`` (enabled, root, frame_budget, splits, frame_stride), custom sources
``[sources.NAME]`` (format, root, classes, enabled, frame_budget, splits, frame_stride, frame_rate; docs/data.md),
``[builder]`` (output, manifest, seed) and ``[[stages]]`` (name, config, budgets, epochs, hours_per_epoch,
cost_per_hour).
Writes are atomic and happen only after the whole new document validates: an invalid value never touches the file.
Validation errors name the file and the line of the offending key (``key_line``), or of its table when the key is
absent; the dataset builder (``motip.data.settings``) takes its settings from ``load_workspace`` and does not re-check.

Input that cannot be meant is refused with the file and line, never guessed at: a key written twice, bytes that are
not UTF-8, an empty or section-less file (a truncated save must not build an empty dataset), non-finite numbers.
A UTF-8 byte-order mark (some Windows editors add one) is accepted and dropped on the next save. A symlinked
config.toml is saved through the link with its mode kept (``motip.atomic``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import ParseError, TOMLKitError

from motip.atomic import atomic_write_text
from motip.errors import ConfigError

SOURCES = ("dancetrack", "bdd", "visdrone")
SOURCE_LABELS = {"dancetrack": "DanceTrack", "bdd": "BDD100K", "visdrone": "VisDrone"}
SOURCE_SPLITS = {"dancetrack": ("train", "val", "test"), "bdd": ("train", "val", "test"),
                 "visdrone": ("train", "val", "test-dev")}
# Custom sources ([sources.NAME]): the formats a reader exists for (motip.data.readers.FORMATS), the classes a
# source's class ids may map to, and the names they may take (a name becomes part of every sequence's folder name).
CUSTOM_FORMATS = ("mot",)
CUSTOM_CLASSES = ("person", "vehicle", "ignore")
CUSTOM_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
DEFAULT_OUTPUT = "datasets/DanceTrack"
CONFIG_FILE = "config.toml"


@dataclass
class SourceSettings:
    name: str
    enabled: bool
    root: Path
    frame_budget: int
    splits: list[str]
    frame_stride: int
    format: str = ""                 # custom sources only: "mot"; "" for the three built-in sources
    classes: dict[int, str] = field(default_factory=dict)   # custom: class id -> person / vehicle / ignore
    frame_rate: float | None = None  # custom: the rate of videos whose seqinfo.ini does not say

    @property
    def custom(self) -> bool:
        return bool(self.format)

    @property
    def table(self) -> str:
        return source_table(self.name, self.custom)


def source_table(name: str, custom: bool) -> str:
    """A source's table in config.toml, as ``key_line`` takes it: ``bdd``, or ``sources.depot_cams`` for a custom
    source."""
    return f"sources.{name}" if custom else name


@dataclass
class BuilderSettings:
    output: Path
    manifest: Path | None
    seed: int


@dataclass
class Stage:
    name: str
    config: Path
    budgets: dict[str, int]
    epochs: int
    hours_per_epoch: float
    cost_per_hour: float

    @property
    def total_frames(self) -> int:
        return sum(self.budgets.values())

    @property
    def estimated_hours(self) -> float:
        return self.epochs * self.hours_per_epoch

    @property
    def estimated_cost(self) -> float:
        return self.estimated_hours * self.cost_per_hour

    def share(self, source: str) -> float:
        total = self.total_frames
        return self.budgets.get(source, 0) / total if total else 0.0


@dataclass
class Workspace:
    path: Path  # the config.toml
    sources: dict[str, SourceSettings]
    builder: BuilderSettings
    stages: list[Stage] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def source_names(self) -> list[str]:
        """Every source: the three built-in ones, then the custom ``[sources.NAME]`` ones in file order."""
        return list(self.sources)


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.\-\"' ]+?)\s*=")


def _canonical(dotted: str) -> str:
    """``stages.1.epochs`` / ``stages[1].epochs`` / ``"bdd".root`` -> ``stages[1].epochs`` / ``bdd.root``."""
    parts: list[str] = []
    for part in re.sub(r"\[(\d+)\]", r".\1", dotted).split("."):
        part = part.strip().strip("\"'")
        if part.isdigit() and parts:
            parts[-1] += f"[{part}]"
        elif part:
            parts.append(part)
    return ".".join(parts)


def _key_occurrences(text: str) -> Iterator[tuple[str, int, bool]]:
    """Every table header and key of a TOML text, in order: (dotted name, 1-based line, is an array-of-tables
    header). ``[[stages]]`` entries are named ``stages[0]``, ``stages[1]``...; keys under them ``stages[0].budgets``.
    A line scan (tomlkit keeps no line numbers): good for config.toml's flat layout, not for keys inside multi-line
    values."""
    counts: dict[str, int] = {}
    table = ""
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.lstrip().startswith("#"):
            continue
        header = _HEADER.match(raw)
        if header:
            name = _canonical(header.group(2))
            array = header.group(1) == "[["
            if array:
                yield name, number, True
                counts[name] = counts.get(name, -1) + 1
                name = f"{name}[{counts[name]}]"
            table = name
            yield table, number, False
            continue
        key = _KEY.match(raw)
        if key:
            dotted = _canonical(key.group(1))
            yield (f"{table}.{dotted}" if table else dotted), number, False


def key_lines(text: str) -> dict[str, int]:
    """Every table header and key of a TOML text -> the line of its first occurrence: ``bdd``,
    ``bdd.frame_budget``, ``stages`` (the first ``[[stages]]`` entry) and ``stages[0]``, ``stages[0].budgets``."""
    lines: dict[str, int] = {}
    for name, number, _ in _key_occurrences(text):
        lines.setdefault(name, number)
    return lines


def key_line(path: str | os.PathLike[str] | None, dotted_key: str) -> int | None:
    """Line of ``dotted_key`` (``bdd.frame_budget``, ``builder.seed``, ``stages.1.epochs`` or ``stages[1].epochs``,
    ``[bdd]``, ``[[stages]]``) in the TOML file ``path``; when the key is not written there, the line of the nearest
    enclosing table that is. None when neither is (or the file cannot be read). For error messages."""
    if path is None:
        return None
    try:
        lines = key_lines(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError):
        return None
    key = dotted_key.strip()
    key = _canonical(key.strip("[]") if key.startswith("[") else key)   # "[bdd]" / "[[stages]]" name their table
    while key:
        if key in lines:
            return lines[key]
        if key.endswith("]"):                       # stages[1] -> stages
            key = key[:key.rindex("[")]
        else:                                       # bdd.frame_budget -> bdd; stages[1].epochs -> stages[1]
            key = key.rsplit(".", 1)[0] if "." in key else ""
    return None


def _error(path: Path, where: str, message: str, hint: str | None = None) -> ConfigError:
    """An error about the key ``where`` (dotted, as ``key_line`` takes it), naming its line in the file."""
    return ConfigError(f"{where}: {message}", path=path, line=key_line(path, where), hint=hint)


def _type_error(path: Path, where: str, expected: str, value: Any, hint: str = "fix the value") -> ConfigError:
    return _error(path, where, f"expected {expected}, got {value!r}", hint=f"{hint} (the file was not changed)")


def _int(path: Path, where: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(path, where, "an integer", value, hint=f"write a whole number >= {minimum}")
    if value < minimum:
        raise _error(path, where, f"must be >= {minimum}, got {value}")
    return int(value)


def _float(path: Path, where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error(path, where, "a number", value)
    if not math.isfinite(value):   # nan/inf parse as TOML floats; nan < 0 is False, so say it outright
        raise _error(path, where, f"must be a finite number, got {value}", hint="write a number such as 1.5")
    if value < 0:
        raise _error(path, where, f"must be >= 0, got {value}")
    return float(value)


def _str(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _type_error(path, where, "a non-empty string", value)
    return value


def _resolve(root: Path, value: str) -> Path:
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else root / candidate


_SOURCE_KEYS = {"enabled", "root", "frame_budget", "splits", "frame_stride"}
_BUILDER_KEYS = {"output", "manifest", "seed"}
_STAGE_KEYS = {"name", "config", "budgets", "epochs", "hours_per_epoch", "cost_per_hour"}
_CUSTOM_KEYS = {"format", "root", "classes", "enabled", "frame_budget", "splits", "frame_stride", "frame_rate"}
_TOP_KEYS = {*SOURCES, "builder", "stages", "sources"}


def _unknown(path: Path, where: str, table: dict[str, Any], known: set[str]) -> None:
    import difflib

    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(sorted(known))}"
            raise _error(path, f"{where}{key}", f"unknown key; {hint}")


def validate(doc: dict[str, Any], path: Path) -> Workspace:
    """Check a parsed config.toml and return typed settings; raise ConfigError naming the key otherwise."""
    root = path.parent
    if not any(key in doc for key in _TOP_KEYS):
        # Every default would apply: no source enabled, the default output. Building that would replace a good
        # dataset with an empty one, so an empty (0-byte, truncated) or section-less file is an error.
        raise ConfigError("the workspace config has no sections (empty or truncated?)", path=path,
                          hint="it needs [dancetrack]/[bdd]/[visdrone] and [builder] sections: restore it "
                               "(e.g. from a backup or `motip demo DIR` for an example); nothing was built or written")
    _unknown(path, "", doc, _TOP_KEYS)
    sources: dict[str, SourceSettings] = {}
    for name in SOURCES:
        table = doc.get(name, {})
        if not isinstance(table, dict):
            raise _type_error(path, f"[{name}]", "a table", table)
        _unknown(path, f"{name}.", table, _SOURCE_KEYS)
        enabled = table.get("enabled", False)
        if not isinstance(enabled, bool):
            raise _type_error(path, f"{name}.enabled", "true or false", enabled)
        splits = table.get("splits", ["train"])
        if not isinstance(splits, list) or not all(s in SOURCE_SPLITS[name] for s in splits) or not splits:
            raise _error(path, f"{name}.splits",
                         f"expected a non-empty list of {', '.join(SOURCE_SPLITS[name])}, got {splits!r}")
        sources[name] = SourceSettings(
            name=name, enabled=enabled,
            root=_resolve(root, _str(path, f"{name}.root", table.get("root", f"data/{name}"))),
            frame_budget=_int(path, f"{name}.frame_budget", table.get("frame_budget", 0)),
            splits=[str(s) for s in splits],
            frame_stride=_int(path, f"{name}.frame_stride", table.get("frame_stride", 1), minimum=1),
        )
    sources.update(_custom_sources(doc, path))
    builder_table = doc.get("builder", {})
    if not isinstance(builder_table, dict):
        raise _type_error(path, "[builder]", "a table", builder_table)
    _unknown(path, "builder.", builder_table, _BUILDER_KEYS)
    manifest = builder_table.get("manifest")
    builder = BuilderSettings(
        output=_resolve(root, _str(path, "builder.output", builder_table.get("output", DEFAULT_OUTPUT))),
        manifest=None if manifest in (None, "") else _resolve(root, _str(path, "builder.manifest", manifest)),
        seed=_int(path, "builder.seed", builder_table.get("seed", 42)),
    )
    stages: list[Stage] = []
    raw_stages = doc.get("stages", [])
    if not isinstance(raw_stages, list):
        raise _type_error(path, "[[stages]]", "an array of tables", raw_stages)
    for index, table in enumerate(raw_stages):
        where = f"stages[{index}]."
        if not isinstance(table, dict):
            raise _type_error(path, f"stages[{index}]", "a table", table)
        _unknown(path, where, table, _STAGE_KEYS)
        budgets = table.get("budgets", {})
        if not isinstance(budgets, dict):
            raise _type_error(path, f"{where}budgets", "an inline table source -> frames", budgets)
        for source, frames in budgets.items():
            if source not in sources:
                raise _error(path, f"{where}budgets.{source}", f"unknown source (known: {', '.join(sources)})",
                             hint="a custom source is declared by its own [sources.NAME] table")
            _int(path, f"{where}budgets.{source}", frames)
        stages.append(Stage(
            name=_str(path, f"{where}name", table.get("name")),
            config=_resolve(root, _str(path, f"{where}config", table.get("config"))),
            budgets={str(k): int(v) for k, v in budgets.items()},
            epochs=_int(path, f"{where}epochs", table.get("epochs", 10), minimum=1),
            hours_per_epoch=_float(path, f"{where}hours_per_epoch", table.get("hours_per_epoch", 0.0)),
            cost_per_hour=_float(path, f"{where}cost_per_hour", table.get("cost_per_hour", 0.0)),
        ))
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        twice = next(i for i, name in enumerate(names) if name in names[:i])
        raise ConfigError("stages: two stages share a name", path=path, line=key_line(path, f"stages[{twice}].name"))
    return Workspace(path=path, sources=sources, builder=builder, stages=stages)


def _custom_sources(doc: dict[str, Any], path: Path) -> dict[str, SourceSettings]:
    """The ``[sources.NAME]`` tables: sources in a format a reader exists for (docs/data.md, "Custom sources")."""
    tables = doc.get("sources", {})
    if not isinstance(tables, dict):
        raise _type_error(path, "sources", "tables [sources.NAME]", tables)
    sources: dict[str, SourceSettings] = {}
    for name, table in tables.items():
        where = f"sources.{name}"
        if name in SOURCES:
            raise _error(path, where, f"the name clashes with the built-in source [{name}]",
                         hint=f"configure the built-in source in its own [{name}] table, or give this source "
                              "another name")
        if not CUSTOM_NAME.fullmatch(name):
            raise _error(path, where, f"{name!r} is not a valid source name",
                         hint="use lower-case letters, digits and _ (starting with a letter, at most 40): it "
                              "becomes part of every sequence's folder name")
        if not isinstance(table, dict):
            raise _type_error(path, where, "a table", table)
        _unknown(path, f"{where}.", table, _CUSTOM_KEYS)
        fmt = table.get("format")
        if fmt is None:
            raise _error(path, where, "no format", hint=f"add format = \"mot\" (known: {', '.join(CUSTOM_FORMATS)})")
        if fmt not in CUSTOM_FORMATS:
            raise _error(path, f"{where}.format", f"unknown format {fmt!r}",
                         hint=f"known formats: {', '.join(CUSTOM_FORMATS)} (a MOTChallenge-layout tree: "
                              "<root>/<split>/<seq>/img1/, gt/gt.txt, seqinfo.ini)")
        if "root" not in table:
            raise _error(path, where, "no root", hint="add root = \"/path/to/the/tree\" (the folder holding the "
                                                      "split folders, e.g. train/)")
        enabled = table.get("enabled", True)
        if not isinstance(enabled, bool):
            raise _type_error(path, f"{where}.enabled", "true or false", enabled)
        splits = table.get("splits", ["train"])
        if not isinstance(splits, list) or not splits or not all(
                isinstance(s, str) and s and "/" not in s and s not in (".", "..") for s in splits):
            raise _error(path, f"{where}.splits", f"expected a non-empty list of split folder names, got {splits!r}")
        raw_rate = table.get("frame_rate")
        frame_rate = None if raw_rate is None else _float(path, f"{where}.frame_rate", raw_rate)
        if frame_rate == 0:
            raise _error(path, f"{where}.frame_rate", "must be > 0", hint="the videos' frames per second")
        sources[name] = SourceSettings(
            name=name, enabled=enabled, root=_resolve(path.parent, _str(path, f"{where}.root", table["root"])),
            frame_budget=_int(path, f"{where}.frame_budget", table.get("frame_budget", 0)),
            splits=[str(s) for s in splits],
            frame_stride=_int(path, f"{where}.frame_stride", table.get("frame_stride", 1), minimum=1),
            format=str(fmt), classes=_classes(path, where, table.get("classes")), frame_rate=frame_rate)
    return sources


def _classes(path: Path, where: str, table: Any) -> dict[int, str]:
    hint = ('map the class ids of gt.txt\'s 8th column, e.g. classes = { 1 = "person", 3 = "vehicle", '
            '7 = "ignore" }')
    if table is None:
        raise _error(path, where, "no classes table", hint=hint)
    if not isinstance(table, dict) or not table:
        raise _type_error(path, f"{where}.classes", "a non-empty table class id -> person/vehicle/ignore", table,
                          hint=hint)
    classes: dict[int, str] = {}
    for key, value in table.items():
        if not re.fullmatch(r"-?\d+", str(key).strip()):
            raise _error(path, f"{where}.classes", f"class id {key!r} is not a whole number", hint=hint)
        if value not in CUSTOM_CLASSES:
            raise _error(path, f"{where}.classes", f"class {key} maps to {value!r}",
                         hint=f"map each class id to one of {', '.join(map(repr, CUSTOM_CLASSES))}")
        classes[int(key)] = str(value)
    return classes


def decode_text(raw: bytes, path: Path, what: str) -> str:
    """UTF-8 text of a config file, a leading byte-order mark dropped; ConfigError naming the line of the first
    byte that is not UTF-8 otherwise (shared by config.toml and the YAML experiment configs)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise ConfigError(f"{what} is not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})",
                          path=path, line=line,
                          hint="save the file as UTF-8 (e.g. in your editor: save with encoding UTF-8)") from None


def _duplicate_key(text: str) -> tuple[str, int] | None:
    """The first key (or table) written twice in a TOML text and the line of its second occurrence (a repeated
    ``[[stages]]`` header is a new entry, not a duplicate)."""
    seen: set[str] = set()
    for name, number, array in _key_occurrences(text):
        if array:
            continue
        if name in seen:
            return name, number
        seen.add(name)
    return None


def read_document(path: str | os.PathLike[str]) -> tomlkit.TOMLDocument:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("workspace config not found", path=path,
                          hint="run from the project folder, pass --config, or create one with `motip demo DIR`",
                          ) from None
    except OSError as err:
        raise ConfigError(f"cannot read the workspace config: {err.strerror or err}", path=path,
                          hint="pass --config PATH to a readable config.toml") from None
    text = decode_text(raw, path, "the workspace config")
    try:
        return tomlkit.parse(text)
    except ParseError as err:
        raise ConfigError(f"TOML syntax error: {err}", path=path, line=getattr(err, "line", None),
                          hint="fix the syntax; nothing was written") from None
    except TOMLKitError as err:
        # tomlkit reports a key written twice in one table (KeyAlreadyPresent) without a line: find it.
        duplicate = _duplicate_key(text)
        if duplicate is not None:
            raise ConfigError(f"{duplicate[0]}: written twice (TOML allows a key once per table)", path=path,
                              line=duplicate[1], hint="delete one of the two lines; nothing was written") from None
        raise ConfigError(f"TOML error: {err}", path=path, hint="fix the file; nothing was written") from None
    except RecursionError:
        raise ConfigError("the workspace config is nested too deeply to be a config.toml", path=path,
                          hint="restore the file; nothing was written") from None


def load_workspace(path: str | os.PathLike[str] = CONFIG_FILE) -> Workspace:
    path = Path(path).resolve() if Path(path).is_absolute() else (Path.cwd() / path)
    return validate(read_document(path).unwrap(), path)


def _set(doc: tomlkit.TOMLDocument, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    table: Any = doc
    for part in parts[:-1]:
        if part.isdigit():
            table = table[int(part)]
        else:
            if part not in table:
                table[part] = tomlkit.table()
            table = table[part]
    last = parts[-1]
    if last in table and not isinstance(value, dict):
        # Replace the value but keep the item's trailing comment.
        item = table.item(last) if hasattr(table, "item") else None
        comment = item.trivia.comment if item is not None and hasattr(item, "trivia") else ""
        table[last] = value
        if comment:
            table.item(last).trivia.comment = comment
            table.item(last).trivia.comment_ws = item.trivia.comment_ws
    elif isinstance(value, dict):
        inline = tomlkit.inline_table()
        inline.update(value)
        table[last] = inline
    else:
        table[last] = value


def update_workspace(path: str | os.PathLike[str], changes: dict[str, Any]) -> Workspace:
    """Apply ``{"bdd.frame_budget": 15000, "stages.0.epochs": 8, ...}`` to config.toml.

    Only the named values change (comments, order and formatting survive). The new document is validated in full
    before anything is written; the write is atomic. Returns the new Workspace.
    """
    path = Path(path)
    doc = read_document(path)
    for dotted, value in changes.items():
        try:
            _set(doc, dotted, value)
        except (KeyError, IndexError, TypeError) as err:
            raise ConfigError(f"{dotted}: cannot set ({err})", path=path) from None
    workspace = validate(doc.unwrap(), path.resolve())
    atomic_write_text(path, tomlkit.dumps(doc))
    return workspace


def apply_stage(path: str | os.PathLike[str], stage_name: str) -> Workspace:
    """Copy a stage's budgets into the source sections: named sources enabled with that budget, others disabled."""
    workspace = load_workspace(path)
    stage = next((s for s in workspace.stages if s.name == stage_name), None)
    if stage is None:
        names = ", ".join(s.name for s in workspace.stages)
        raise ConfigError(f"no stage named {stage_name!r} (stages: {names})", path=path)
    changes: dict[str, Any] = {}
    for source, settings in workspace.sources.items():     # custom [sources.NAME] too: their table is sources.NAME
        budget = stage.budgets.get(source)
        changes[f"{settings.table}.enabled"] = budget is not None and budget > 0
        if budget is not None:
            changes[f"{settings.table}.frame_budget"] = budget
    return update_workspace(path, changes)
