"""YAML experiment configs (the official MOTIP keys plus TRAIN.md's): loading, inheritance, overrides, schema, and the
typed settings each consumer reads (`settings.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from motip.config.loader import OVERRIDE, SCHEMA_DEFAULT, ResolvedConfig, dump_config, load_config, parse_overrides
from motip.config.schema import SCHEMA, VAL_CONFIG_SCHEMA, Key, default_config
from motip.config.settings import (DataSettings, LossSettings, ModelSettings, OptimizerSettings, TrackerSettings,
                                   TrainSettings, backbone_lr, config_value, data_settings, loss_settings,
                                   model_settings, optimizer_settings, tracker_settings, train_settings)

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["OVERRIDE", "SCHEMA", "SCHEMA_DEFAULT", "VAL_CONFIG_SCHEMA", "Key", "ResolvedConfig", "backbone_lr",
           "default_config", "dump_config", "load_config", "parse_overrides", "bundled_config_dir",
           "bundled_asset", "config_value", "DataSettings", "LossSettings", "ModelSettings", "OptimizerSettings",
           "TrackerSettings", "TrainSettings", "data_settings", "loss_settings", "model_settings",
           "optimizer_settings", "tracker_settings", "train_settings"]


def bundled_config_dir() -> Path:
    """The configs shipped inside the package (``motip/configs/``): the base config, TRAIN.md's stage configs and
    tiny_cpu.yaml. The same folder in a source checkout (where the repository's ``configs`` links to it), an editable
    install and an installed wheel."""
    from pathlib import Path

    from motip.errors import ConfigError

    # One home: the YAMLs are package data, so wherever ``motip`` is imported from, its configs are beside it.
    folder = Path(__file__).resolve().parents[1] / "configs"
    if not (folder / "r50_deformable_detr_motip_dancetrack.yaml").is_file():
        raise ConfigError("the configs shipped with the motip package are missing (a broken installation)",
                          path=folder,
                          hint="reinstall the package: `pip install --force-reinstall motip-control-center` "
                               "(or `pip install .` from the source checkout)")
    return folder


def bundled_asset(name: str) -> Path:
    """A file shipped in ``motip/assets/`` (e.g. ``manifest.example.json``); ConfigError when it is missing."""
    from pathlib import Path

    from motip.errors import ConfigError

    path = Path(__file__).resolve().parents[1] / "assets" / name
    if not path.is_file():
        raise ConfigError(f"{name} shipped with the motip package is missing (a broken installation)", path=path,
                          hint="reinstall the package: `pip install --force-reinstall motip-control-center` "
                          "(or `pip install .` from the source checkout)")
    return path
