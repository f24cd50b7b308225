"""The ``motip`` command line: one subcommand per step of the workflow.

Each subcommand lives in ``motip/commands/<name>.py`` with ``configure(parser)`` and ``run(args) -> int``; its one-line
help is in ``COMMANDS`` below. Modules are imported only when their command runs, so ``motip --help`` never loads torch.
Commands that take ``--KEY VALUE`` config overrides set ``ACCEPTS_OVERRIDES = True`` and receive them as
``args.overrides`` (a list of raw tokens, parsed by ``motip.config.parse_overrides``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from motip import __version__
from motip.errors import MotipError

# name -> one-line help. The order is the workflow's order (TRAIN.md): build data, train, evaluate, look.
COMMANDS: dict[str, str] = {
    "init": "create a real-data workspace: config.toml from your DanceTrack/BDD100K/VisDrone roots, TRAIN.md's stages",
    "manifest": "write manifest.json: a seeded choice of val/test videos per source, with frames and boxes per class",
    "config": "show a resolved YAML experiment config and where each value came from",
    "build": "build the training dataset from DanceTrack/BDD100K/VisDrone under frame budgets and the manifest lock",
    "doctor": "preflight a stage before the GPU meter runs: config, data, pretrain, device, one step, disk, cost",
    "train": "train MOTIP on the built dataset (optionally detached so it survives SSH logout)",
    "eval": "evaluate a checkpoint or existing tracker files with TrackEval (HOTA, IDF1, MOTA...)",
    "track": "run the tracker on sequences or videos and write MOTChallenge tracker files",
    "log": "parse a train.log into JSON series (train steps, evals, status)",
    "dashboard": "plot a train.log (HOTA/IDF1, loss, grad norm, lr) to dashboard.png",
    "viz": "render Ground Truth vs Prediction videos (green/orange/blue/red boxes)",
    "demo": "create a self-contained demo workspace with synthetic data and tiny configs",
    "queue": "run stages one after another unattended (apply budgets, build, train from the previous best)",
}


def _command_module(name: str):  # noqa: ANN202 - a module
    return importlib.import_module(f"motip.commands.{name}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motip",
        description="MOTIP training core: build data, train, evaluate, visualise. See README.md.",
    )
    parser.add_argument("--version", action="version", version=f"motip {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        cmd_parser = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or only == name:
            _command_module(name).configure(cmd_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=name if name in COMMANDS else None)
    if name in COMMANDS and getattr(_command_module(name), "ACCEPTS_OVERRIDES", False):
        args, extra = parser.parse_known_args(argv)
        args.overrides = extra
    else:
        args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(_command_module(args.command).run(args) or 0)
    except MotipError as err:
        print(f"motip {args.command}: error: {err.render()}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"motip {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
