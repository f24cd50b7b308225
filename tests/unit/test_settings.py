"""One default per setting: the schema's. The typed settings (motip.config.settings) name schema keys and take their
defaults from the schema alone; no module repeats a default as a literal ``config.get("KEY", value)`` fallback; a
resolved config carries every schema key."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from motip.config import SCHEMA, SCHEMA_DEFAULT, VAL_CONFIG_SCHEMA, default_config, load_config
from motip.config.settings import (SETTINGS_TYPES, DataSettings, LossSettings, ModelSettings, OptimizerSettings,
                                   TrackerSettings, TrainSettings, config_value, data_settings, loss_settings,
                                   model_settings, optimizer_settings, setting_keys, tracker_settings, train_settings)
from tests.helpers.paths import REPO

PACKAGES = ("motip", "motip_tui")
# The one function that builds each settings type.
_BUILDERS = {ModelSettings: model_settings, LossSettings: loss_settings, OptimizerSettings: optimizer_settings,
             DataSettings: data_settings, TrainSettings: train_settings, TrackerSettings: tracker_settings}

# file -> why literal fallbacks for schema keys stay there. Keep this short: each is a second home of a default that
# can drift from the schema (as the doctor's DEVICE fallback "auto" once disagreed with the schema's "cuda").
ALLOWED_FALLBACKS: dict[str, str] = {}

_KEYS = set(SCHEMA) | set(VAL_CONFIG_SCHEMA)
# config.get("KEY", default) | config.get("KEY") or default | config["KEY"] if "KEY" in config else default
_FALLBACK = re.compile(r"""\.get\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']\s*(?:,(?!\s*\))|\)\s*or\b)"""
                       r"""|\[\s*["']([A-Za-z_][A-Za-z0-9_]*)["']\s*\]\s*if\s*["']\2["']\s+in\b""")


def _nullable(key: str) -> bool:
    schema_key = SCHEMA.get(key) or VAL_CONFIG_SCHEMA[key]
    return schema_key.nullable


def _fallbacks() -> list[tuple[str, int, str, str]]:
    """Literal fallbacks for schema keys: ``.get("KEY", value)``, ``["KEY"] if "KEY" in ... else``, and
    ``.get("KEY") or value`` where KEY may not be null (``or`` then replaces a valid 0/False/empty value; for a
    nullable key it gives null its documented meaning, e.g. root_path null = the working directory)."""
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            for match in _FALLBACK.finditer(text):
                key = match.group(1) or match.group(2)
                if key in _KEYS and not (match.group(0).rstrip().endswith("or") and _nullable(key)):
                    line = text.count("\n", 0, match.start()) + 1
                    found.append((path.relative_to(REPO).as_posix(), line, key, text.splitlines()[line - 1].strip()))
    return found


def test_no_literal_fallback_repeats_a_schema_default() -> None:
    found = _fallbacks()
    offending = [f"{path}:{line}: {key}: {code}" for path, line, key, code in found if path not in ALLOWED_FALLBACKS]
    assert not offending, "read typed settings (motip.config.settings) instead:\n" + "\n".join(offending)
    # The allow-list holds only files that still have one (a fixed file must leave the list too).
    present = {path for path, _, _, _ in found}
    assert set(ALLOWED_FALLBACKS) <= present, set(ALLOWED_FALLBACKS) - present


def test_the_fallback_finder_sees_each_form() -> None:
    samples = ['x = config.get("DEVICE", "auto")', 'x = cfg.get("LOG_EVERY_STEPS") or 1',
               'x = cfg["LR"] if "LR" in cfg else 1e-4', "x = config.get('SEED', 1)"]
    assert [(_FALLBACK.search(s).group(1) or _FALLBACK.search(s).group(2)) for s in samples] == \
        ["DEVICE", "LOG_EVERY_STEPS", "LR", "SEED"]
    for harmless in ['config.get("LR_BACKBONE") is not None', 'os.environ.get("RANK", "0")', 'x.get("LR")']:
        match = _FALLBACK.search(harmless)
        assert match is None or (match.group(1) or match.group(2)) not in _KEYS


def _other_value(name: str) -> Any:
    """A value of schema key ``name``'s type that differs from its default (another choice where it has several)."""
    key = SCHEMA[name]
    default = key.default
    others = [choice for choice in key.choices or () if choice != default]
    if others:
        return others[0]
    kind = key.type
    if kind == "bool":
        return not default
    if kind == "int":
        return 7 if default is None else int(default) + 3
    if kind == "float":
        return 0.375 if default is None else float(default) + 0.375
    if kind == "str":
        return "other-value"
    if kind == "list[int]":
        return [5, 9]
    if kind == "list[float]":
        return [0.5]
    if kind == "list[str]":
        return ["other", "names"]
    raise AssertionError(f"no test value for {kind}")


@pytest.mark.parametrize("settings_type", SETTINGS_TYPES, ids=lambda t: t.__name__)
def test_settings_cover_the_schema_keys_they_claim(settings_type: type) -> None:
    build = _BUILDERS[settings_type]
    claimed = setting_keys(settings_type)
    assert claimed and set(claimed) == {f.name for f in dataclasses.fields(settings_type)}  # every field names a key
    assert set(claimed.values()) <= set(SCHEMA)
    assert dataclasses.is_dataclass(settings_type) and settings_type.__dataclass_params__.frozen
    # Nothing given: every field is the schema's default (one default per setting).
    empty = build({})
    for field_name, key in claimed.items():
        assert getattr(empty, field_name) == config_value({}, key), field_name
        default = SCHEMA[key].default
        expected = tuple(default) if isinstance(default, list) else default
        assert getattr(empty, field_name) == expected, (field_name, key)
    # Every claimed key is read from the config: a non-default value reaches its field.
    config = {key: _other_value(key) for key in claimed.values()}
    given = build(config)
    for field_name, key in claimed.items():
        value = config[key]
        assert getattr(given, field_name) == (tuple(value) if isinstance(value, list) else value), (field_name, key)
    # A resolved config holds every key: the settings built from it are those of the schema's defaults.
    assert build(default_config()) == empty


def test_the_trackers_device_default_is_the_schemas() -> None:
    assert TrackerSettings.__dataclass_fields__["device"].metadata["schema_key"] == "DEVICE"
    assert tracker_settings({}).device == SCHEMA["DEVICE"].default == train_settings({}).device
    assert tracker_settings({"DEVICE": "cpu"}).device == "cpu"


def test_pick_device_reads_the_schema_default() -> None:
    import torch

    from motip.engine.tracking import pick_device
    from motip.errors import MotipError

    assert pick_device({"DEVICE": "cpu"}) == torch.device("cpu")
    if SCHEMA["DEVICE"].default == "cuda" and not torch.cuda.is_available():
        with pytest.raises(MotipError, match="DEVICE is cuda"):
            pick_device({})  # the schema's default, not another module's guess


def test_a_resolved_config_carries_every_schema_key(tmp_path: Path) -> None:
    path = tmp_path / "one_key.yaml"
    path.write_text("LR: 2.0e-5\nval_config:\n  GT_FOLDER: somewhere\n", encoding="utf-8")
    config = load_config(path)
    assert set(config) == set(SCHEMA)
    assert set(config["val_config"]) == set(VAL_CONFIG_SCHEMA)
    assert config["LR"] == 2.0e-5 and config["val_config"]["GT_FOLDER"] == "somewhere"
    for name, key in SCHEMA.items():
        if name not in ("LR", "val_config"):
            assert config[name] == key.default and config.sources[name] == SCHEMA_DEFAULT, name
    for name, key in VAL_CONFIG_SCHEMA.items():
        if name != "GT_FOLDER":
            assert config["val_config"][name] == key.default, name
    assert train_settings(config) == train_settings({})
    assert tracker_settings(config) == tracker_settings(default_config())


def test_settings_are_immutable_and_lists_become_tuples() -> None:
    settings = train_settings({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.epochs = 3  # type: ignore[misc]
    assert data_settings({"SAMPLE_LENGTHS": [6, 8]}).sample_lengths == (6, 8)
    assert optimizer_settings({"LR_DROP": 7}).milestones == [7]
    assert optimizer_settings({}).milestones == list(SCHEMA["SCHEDULER_MILESTONES"].default)
    assert optimizer_settings({"LR": 1e-3, "LR_BACKBONE": None, "LR_BACKBONE_SCALE": 0.5}).backbone_lr == 5e-4
