"""THE val class mapping: which classes an evaluation scores and their class ids in gt.txt.

Training-eval (``motip.engine.validate.val_settings``) and ``motip eval --config`` both read val_config's
CLASSES_TO_EVAL / CLASS_NAME_TO_ID through ``classes_to_eval``, so a config scores the same classes either way.
Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from motip.config.settings import val_config_value
from motip.errors import ConfigError

# The built layout's class ids (motip.data.mot_files: 1 person, 2 vehicle): names a config may use unmapped.
KNOWN_CLASS_IDS: dict[str, int] = {"pedestrian": 1, "person": 1, "vehicle": 2}


def classes_to_eval(val_config: Mapping[str, Any] | None, *, path: str | Path | None = None) -> dict[str, int]:
    """{class name: class id} of val_config: the names of CLASSES_TO_EVAL (the schema's default when unset), each with
    its id from CLASS_NAME_TO_ID, else from ``KNOWN_CLASS_IDS``. A name neither maps raises ConfigError (``path`` = the
    config file, for the message)."""
    names = list(val_config_value(val_config, "CLASSES_TO_EVAL"))
    mapping = val_config_value(val_config, "CLASS_NAME_TO_ID") or {}
    unknown = [n for n in names if n not in mapping and n not in KNOWN_CLASS_IDS]
    if unknown:
        raise ConfigError(f"val_config.CLASSES_TO_EVAL names {', '.join(map(repr, unknown))}, which "
                          "CLASS_NAME_TO_ID does not map", path=path,
                          hint="add it to val_config.CLASS_NAME_TO_ID, e.g. CLASS_NAME_TO_ID: {vehicle: 2}")
    classes: dict[str, int] = {}
    for name in names:
        value = mapping.get(name, KNOWN_CLASS_IDS.get(name))
        try:
            classes[name] = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"val_config.CLASS_NAME_TO_ID.{name}: expected a class id, got {value!r}", path=path,
                              hint="class ids are whole numbers (1 person, 2 vehicle)") from None
    return classes
