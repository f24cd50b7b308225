"""YAML experiment configs (the official MOTIP keys plus TRAIN.md's): loading, inheritance, overrides, schema."""

from motip.config.loader import (OVERRIDE, SCHEMA_DEFAULT, ResolvedConfig, backbone_lr, dump_config, load_config,
                                 parse_overrides)
from motip.config.schema import SCHEMA, VAL_CONFIG_SCHEMA, Key, default_config

__all__ = ["OVERRIDE", "SCHEMA", "SCHEMA_DEFAULT", "VAL_CONFIG_SCHEMA", "Key", "ResolvedConfig", "backbone_lr", "default_config",
           "dump_config", "load_config", "parse_overrides", "bundled_config_dir"]


def bundled_config_dir():  # -> pathlib.Path
    """The project's ``configs/`` folder (the base config, TRAIN.md's stage configs, tiny_cpu.yaml)."""
    from pathlib import Path

    from motip.errors import ConfigError

    folder = Path(__file__).resolve().parents[2] / "configs"
    if not (folder / "r50_deformable_detr_motip_dancetrack.yaml").is_file():
        raise ConfigError("the project's configs/ folder was not found next to the motip package", path=folder,
                          hint="install the project from its source checkout with `pip install -e .`")
    return folder
