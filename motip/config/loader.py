"""Load a YAML experiment config: follow SUPER_CONFIG_PATH, merge, apply overrides, check against the schema.

Resolution order (later wins): schema defaults < the root ancestor < ... < the file given < command-line overrides.
``val_config`` merges key by key; every other key is replaced whole. Each resolved value remembers where it came from.

Every file and override is checked against the schema's types and value rules (``Key.problem``: finite floats,
minimums such as ``EPOCHS >= 1``, non-empty ``SAMPLE_LENGTHS``); errors name the file and the key's line. A key
written twice in one YAML mapping is an error (PyYAML would silently keep the last); a UTF-8 byte-order mark is
accepted; bytes that are not UTF-8 are an error naming their line.
"""

from __future__ import annotations

import copy
import difflib
import os
from pathlib import Path
from typing import Any

import yaml

from motip.config.schema import SCHEMA, VAL_CONFIG_SCHEMA, Key, default_config
from motip.errors import ConfigError
from motip.workspace import decode_text

SCHEMA_DEFAULT = "schema default"
OVERRIDE = "command line"


class ResolvedConfig(dict):
    """The resolved keys (a plain dict to every consumer) plus ``sources`` (key -> where its value came from),
    ``path`` (the file loaded) and ``chain`` (that file and its ancestors, child first)."""

    def __init__(self, values: dict[str, Any], sources: dict[str, str], path: Path | None,
                 chain: list[Path]) -> None:
        super().__init__(values)
        self.sources = sources
        self.path = path
        self.chain = chain

    @property
    def base_dir(self) -> Path:
        """Folder that relative paths in the config are relative to: root_path (itself relative to the working
        directory, as TRAIN.md writes it) or the working directory."""
        return Path(self.get("root_path") or ".").resolve()

    def resolve_path(self, value: str | os.PathLike[str] | None) -> Path | None:
        if value is None or value == "":
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    def to_plain(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self))


def _did_you_mean(name: str, known: list[str]) -> str:
    # Case-insensitive closeness (LR_DORP -> LR_DROP, lr_drop -> LR_DROP), reported in the known spelling.
    by_upper = {k.upper(): k for k in known}
    match = difflib.get_close_matches(name.upper(), list(by_upper), n=1, cutoff=0.6)
    return f"did you mean {by_upper[match[0]]}?" if match else "see `motip config keys` for every known key"


class _DuplicateKey(yaml.constructor.ConstructorError):
    pass


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping (PyYAML keeps the last one without a word)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                continue  # unhashable keys get the constructor's own error
            if key in seen:
                raise _DuplicateKey(None, None, f"{key}: written twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _key_lines(node: yaml.Node | None) -> dict[str, int]:
    """1-based lines of the top-level keys (``LR``) and of val_config's (``val_config.GT_FOLDER``)."""
    lines: dict[str, int] = {}
    if not isinstance(node, yaml.MappingNode):
        return lines
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            lines.setdefault(key_node.value, key_node.start_mark.line + 1)
            if key_node.value == "val_config" and isinstance(value_node, yaml.MappingNode):
                for sub_key, _ in value_node.value:
                    if isinstance(sub_key, yaml.ScalarNode):
                        lines.setdefault(f"val_config.{sub_key.value}", sub_key.start_mark.line + 1)
    return lines


def _read_yaml_lines(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """A YAML config's mapping and the lines of its keys; ConfigError (file, line, hint) for anything unusable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("config file not found", path=path,
                          hint="check the path (relative paths start at the working directory)") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file: {err.strerror}", path=path) from None
    text = decode_text(raw, path, "the config file")
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except _DuplicateKey as err:
        mark = err.problem_mark
        raise ConfigError(f"{err.problem} (a key may appear once per mapping)", path=path,
                          line=None if mark is None else mark.line + 1,
                          hint="delete one of the two lines") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"YAML syntax error: {problem}", path=path, line=line,
                          hint="fix the YAML syntax at that line") from None
    except RecursionError:
        raise ConfigError("the config file is nested too deeply to be a config", path=path,
                          hint="restore the file from a known-good copy") from None
    finally:
        loader.dispose()
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a mapping of KEY: value, got {type(data).__name__}", path=path)
    return data, _key_lines(node)


def _coerce(key: Key, value: Any, where: str, path: str, line: int | None = None, prefix: str = "") -> Any:
    """Check ``value`` against ``key``'s type and value rules; return it (ints widened to float where a float is
    expected). ``line``: the key's line in ``path``; ``prefix``: ``val_config.`` for its sub-keys."""
    name = f"{prefix}{key.name}"
    if value is None:
        if key.nullable:
            return None
        raise ConfigError(f"{name}: must not be null (expected {key.type}: {key.meaning})", path=path, line=line)

    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{name}: expected {expected}, got {value!r} ({type(value).__name__}){where}",
                           path=path, line=line, hint=f"{key.name}: {key.meaning}")

    kind = key.type
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
    elif kind == "float":
        # PyYAML reads 1e-4 (no dot) as a string: accept numeric strings for float keys.
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise bad("a number") from None
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        value = float(value)
    elif kind == "str":
        if not isinstance(value, str):
            raise bad("a string")
    elif kind.startswith("list["):
        item = kind[5:-1]
        if not isinstance(value, list):
            raise bad(f"a list of {item}")
        items = []
        for entry in value:
            ok = {"int": isinstance(entry, int) and not isinstance(entry, bool),
                  "float": isinstance(entry, (int, float)) and not isinstance(entry, bool),
                  "str": isinstance(entry, str)}[item]
            if not ok:
                raise bad(f"a list of {item}")
            items.append(float(entry) if item == "float" else entry)
        value = items
    elif kind == "dict":
        if not isinstance(value, dict):
            raise bad("a mapping")
    if key.choices is not None and value not in key.choices:
        raise ConfigError(f"{name}: {value!r} is not one of {', '.join(map(str, key.choices))}", path=path, line=line,
                          hint=f"{key.name}: {key.meaning}")
    problem = key.problem(value)
    if problem is not None:
        raise ConfigError(f"{name}: {problem}{where}", path=path, line=line,
                          hint=f"{key.name}: {key.meaning} (nothing was started)")
    return value


def _check_layer(layer: dict[str, Any], path: str, where: str = "",
                 lines: dict[str, int] | None = None) -> dict[str, Any]:
    """Validate one file's (or the overrides') keys; return the layer with coerced values. ``lines``: key -> line
    in ``path`` (see ``_key_lines``), for the error messages."""
    lines = lines or {}
    checked: dict[str, Any] = {}
    for name, value in layer.items():
        if not isinstance(name, str):
            raise ConfigError(f"keys must be strings, got {name!r}", path=path)
        line = lines.get(name)
        if name not in SCHEMA:
            raise ConfigError(f"{name}: unknown key; {_did_you_mean(name, list(SCHEMA))}", path=path, line=line)
        value = _coerce(SCHEMA[name], value, where, path, line)
        if name == "val_config" and value is not None:
            sub: dict[str, Any] = {}
            for sub_name, sub_value in value.items():
                sub_line = lines.get(f"val_config.{sub_name}", line)
                if sub_name not in VAL_CONFIG_SCHEMA:
                    raise ConfigError(f"val_config.{sub_name}: unknown key; "
                                      f"{_did_you_mean(str(sub_name), list(VAL_CONFIG_SCHEMA))}", path=path,
                                      line=sub_line)
                sub[sub_name] = _coerce(VAL_CONFIG_SCHEMA[sub_name], sub_value, where, path, sub_line, "val_config.")
            if "CLASS_NAME_TO_ID" in sub:  # this layer's mapping
                for cls_name, cls_id in sub["CLASS_NAME_TO_ID"].items():
                    if not isinstance(cls_id, int) or isinstance(cls_id, bool) or cls_id < 1:
                        raise ConfigError(f"val_config.CLASS_NAME_TO_ID.{cls_name}: expected a positive class id, "
                                          f"got {cls_id!r}", path=path,
                                          line=lines.get("val_config.CLASS_NAME_TO_ID", line))
            value = sub
        checked[name] = value
    return checked


def _super_candidates(super_path: str, child: Path, child_layer: dict[str, Any]) -> list[Path]:
    """Where SUPER_CONFIG_PATH may point: relative to root_path / the working directory (as TRAIN.md writes it),
    then to the child file's folder and its ancestors (so a workspace can be used from any working directory)."""
    raw = Path(super_path).expanduser()
    if raw.is_absolute():
        return [raw]
    candidates: list[Path] = []
    if child_layer.get("root_path"):
        candidates.append(Path(child_layer["root_path"]) / raw)
    candidates.append(Path.cwd() / raw)
    for folder in [child.parent, *child.parent.parents]:
        candidates.append(folder / raw)
    return candidates


def _load_chain(path: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The file and its ancestors, root ancestor first, each validated."""
    chain: list[tuple[Path, dict[str, Any]]] = []
    seen: list[Path] = []
    current = path
    while True:
        resolved = current.resolve()
        if resolved in seen:
            cycle = " -> ".join(str(p) for p in [*seen, resolved])
            raise ConfigError(f"SUPER_CONFIG_PATH cycle: {cycle}", path=current,
                              hint="remove SUPER_CONFIG_PATH from one of these files")
        seen.append(resolved)
        data, lines = _read_yaml_lines(current)
        layer = _check_layer(data, str(current), lines=lines)
        chain.append((current, layer))
        super_path = layer.get("SUPER_CONFIG_PATH")
        if not super_path:
            break
        candidates = _super_candidates(super_path, current, layer)
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            tried = ", ".join(str(c) for c in candidates[:3])
            raise ConfigError(f"SUPER_CONFIG_PATH {super_path!r} not found (tried {tried}, ...)", path=current,
                              hint="run from the project folder or fix the path")
        current = found
    chain.reverse()
    return chain


def parse_overrides(tokens: list[str] | dict[str, Any] | None) -> dict[str, Any]:
    """``["--LR", "2e-5", "--val_config.GT_FOLDER=x"]`` -> ``{"LR": 2e-05, "val_config": {"GT_FOLDER": "x"}}``.

    Values are read as YAML (so ``[1, 2]``, ``true``, ``null`` work); dotted keys reach into val_config.
    """
    if tokens is None:
        return {}
    if isinstance(tokens, dict):
        items = list(tokens.items())
    else:
        items = []
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if not token.startswith("--") or token == "--":
                raise ConfigError(f"unexpected argument {token!r}: overrides are written --KEY VALUE", path=OVERRIDE)
            name = token[2:]
            if "=" in name:
                name, raw = name.split("=", 1)
                index += 1
            else:
                if index + 1 >= len(tokens):
                    raise ConfigError(f"--{name}: missing value (write --{name} VALUE)", path=OVERRIDE)
                raw = tokens[index + 1]
                index += 2
            try:
                value = yaml.safe_load(raw) if raw != "" else ""
            except yaml.YAMLError:
                value = raw
            items.append((name, value))
    result: dict[str, Any] = {}
    for name, value in items:
        if "." in name:
            head, sub = name.split(".", 1)
            result.setdefault(head, {})[sub] = value
        else:
            result[name] = value
    return result


def _display(path: Path) -> str:
    """A path as the user would write it: relative to the working directory when inside it."""
    # abspath, not resolve(): symlinks stay as written (the checkout's configs/ links to motip/configs/, and the
    # user typed configs/...).
    absolute = Path(os.path.abspath(path))
    try:
        return os.path.relpath(absolute, Path.cwd()) if absolute.is_relative_to(Path.cwd()) else str(absolute)
    except ValueError:
        return str(path)


def load_config(path: str | os.PathLike[str], overrides: list[str] | dict[str, Any] | None = None) -> ResolvedConfig:
    """Load ``path`` with its SUPER_CONFIG_PATH ancestors and ``overrides``; raise ConfigError on any problem."""
    path = Path(path)
    values = default_config()
    sources = {name: SCHEMA_DEFAULT for name in values}
    val_sources = {name: SCHEMA_DEFAULT for name in values["val_config"]}
    chain = _load_chain(path)
    layers: list[tuple[str, dict[str, Any]]] = [(_display(p), layer) for p, layer in chain]
    override_layer = _check_layer(parse_overrides(overrides), OVERRIDE, where=" (command-line override)")
    layers.append((OVERRIDE, override_layer))
    for origin, layer in layers:
        for name, value in layer.items():
            if name == "val_config":
                for sub_name, sub_value in (value or {}).items():
                    values["val_config"][sub_name] = copy.deepcopy(sub_value)
                    val_sources[sub_name] = origin
            else:
                values[name] = copy.deepcopy(value)
                sources[name] = origin
    for sub_name, origin in val_sources.items():
        sources[f"val_config.{sub_name}"] = origin
    sources["val_config"] = "merged"
    return ResolvedConfig(values, sources, path, [p for p, _ in reversed(chain)])


def dump_config(config: dict[str, Any]) -> str:
    """YAML text of a resolved config (what a run folder records as config.yaml)."""
    return yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=None, allow_unicode=True)
