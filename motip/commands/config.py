"""`motip config show FILE [--KEY VALUE ...]` and `motip config keys`: the resolved config and the schema."""

from __future__ import annotations

import argparse
import json

ACCEPTS_OVERRIDES = True


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["show", "keys"],
                        help="show: print FILE resolved (value and where it came from); keys: list every known key")
    parser.add_argument("file", nargs="?", help="YAML experiment config (for show)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.epilog = ("Overrides: add --KEY VALUE pairs after FILE, "
                     "e.g. `motip config show configs/stage1_universal_foundation.yaml --LR 1e-5`.")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from motip.config import SCHEMA, VAL_CONFIG_SCHEMA, load_config
    from motip.errors import ConfigError

    console = Console()
    if args.action == "keys":
        if args.json:
            print(json.dumps({k.name: {"type": k.type, "default": k.default, "meaning": k.meaning}
                              for k in [*SCHEMA.values()]}, indent=2))
            return 0
        table = Table("key", "type", "default", "meaning", title="YAML config keys")
        for key in SCHEMA.values():
            table.add_row(key.name, key.type + ("?" if key.nullable else ""), repr(key.default), key.meaning)
        for key in VAL_CONFIG_SCHEMA.values():
            table.add_row(f"val_config.{key.name}", key.type, repr(key.default), key.meaning)
        console.print(table)
        return 0
    if not args.file:
        raise ConfigError("`motip config show` needs a FILE", path="command line")
    config = load_config(args.file, args.overrides)
    if args.json:
        print(json.dumps({"config": config.to_plain(), "sources": config.sources}, indent=2, default=str))
        return 0
    table = Table("key", "value", "from", title=f"{args.file} (resolved)")
    for name, value in config.items():
        if name == "val_config":
            for sub, sub_value in value.items():
                table.add_row(f"val_config.{sub}", repr(sub_value), config.sources.get(f"val_config.{sub}", ""))
        else:
            source = config.sources.get(name, "")
            style = "dim" if source == "schema default" else None
            table.add_row(name, repr(value), source, style=style)
    console.print(table)
    console.print("chain: " + " <- ".join(str(p) for p in config.chain))
    return 0
