"""`motip demo DIR`: create a self-contained demo workspace (synthetic sources, manifest, config.toml, tiny configs)."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Create a demo workspace in DIR: synthetic DanceTrack/BDD100K/VisDrone sources, a manifest lock, a "
        "config.toml with TRAIN.md's three stages at small budgets, and tiny stage configs that train on a CPU. "
        "An existing demo is kept (use --force to recreate it); a folder that is not a demo is never touched.")
    parser.add_argument("dir", nargs="?", default="motip-demo", help="folder to create (default: ./motip-demo)")
    parser.add_argument("--force", action="store_true", help="delete and recreate DIR if it is an existing demo")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data (default 0)")


def run(args: argparse.Namespace) -> int:
    from motip.demo import create_demo, is_demo
    from motip.workspace import CONFIG_FILE

    target = Path(args.dir)
    existed = is_demo(target) and (target / CONFIG_FILE).is_file() and not args.force
    folder = create_demo(target, force=args.force, seed=args.seed)
    verb = "kept the existing" if existed else "created the"
    print(f"{verb} demo workspace: {folder}")
    print("next:")
    print(f"  cd {folder}")
    print("  motip build --config config.toml")
    print("  motip train configs/stage1_demo_foundation.yaml")
    print("  motip queue start --config config.toml     # all three stages, unattended")
    print(f"  (or open the TUI: motip-tui --demo {folder})")
    return 0
