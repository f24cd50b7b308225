"""`motip doctor CONFIG.yaml [--KEY VALUE ...] [--json] [--workspace config.toml]`: preflight a training stage.

Checks the config, the dataset build and its locked val set, the pretrain (loaded safely, fitted to the model), the
device, one real training step at the config's largest frame and clip (on a CPU: a reduced one), the disk for the
checkpoints and the stage's hours and cost; OK / WARN / FAIL with the fix for each (see motip/doctor.py and
docs/training.md "Before you start"). Exit 0 when nothing FAILs, 2 otherwise. Run it from the workspace folder
(where config.toml is), as `motip train` is run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ACCEPTS_OVERRIDES = True


def configure(parser: argparse.ArgumentParser) -> None:
    # CONFIG comes from the free tokens (like `motip train`): a positional would swallow an override's value.
    parser.usage = "motip doctor CONFIG.yaml [--KEY VALUE ...] [--json] [--workspace config.toml] [--full-step]"
    parser.description = ("Preflight a training stage before the GPU meter runs: every check says OK / WARN / FAIL "
                          "and the fix. Exit 0 when nothing FAILs, 2 otherwise.")
    parser.add_argument("--json", action="store_true", help="print the checks as JSON (for the TUI)")
    parser.add_argument("--workspace", type=Path, metavar="CONFIG_TOML",
                        help="the workspace's config.toml (default: ./config.toml, else the one beside root_path)")
    parser.add_argument("--full-step", action="store_true",
                        help="on a CPU, run the training step at full size too (slow; default: a reduced step)")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="load DETR_PRETRAIN / RESUME_MODEL with full unpickling when a safe load refuses "
                             "them; only for files whose origin you trust")
    parser.epilog = "Any --KEY VALUE after the config overrides that config key, as for `motip train`."


def run(args: argparse.Namespace) -> int:
    from motip.errors import MotipError

    overrides = list(getattr(args, "overrides", []) or [])
    if not overrides or overrides[0].startswith("--"):
        raise MotipError("give the config file to check",
                         hint="e.g. motip doctor configs/stage1_universal_foundation.yaml")
    config = Path(overrides.pop(0))
    if getattr(args, "trust_checkpoint", False):
        from motip.model.pretrain import trust_checkpoints
        trust_checkpoints()

    from motip.doctor import report_json, run_doctor

    progress = None if args.json else (lambda name: print(f"  ... {name}", file=sys.stderr, flush=True))
    report = run_doctor(config, overrides, args.workspace, full_step=args.full_step, progress=progress)
    print(report_json(report) if args.json else report.render(), flush=True)
    return report.exit_code
