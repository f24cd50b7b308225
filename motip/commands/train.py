"""`motip train CONFIG.yaml [--KEY VALUE ...] [--detach] [--resume RUN_DIR]`: train MOTIP on the built dataset.

Run folder: OUTPUT_DIR, else outputs/<config stem>_<YYYYmmdd_HHMMSS>/ (see docs/training.md for its files).
`--detach` starts the same command in its own session (survives SSH logout), prints `run_dir=... pid=...` and
returns at once. `--resume RUN_DIR` continues a killed run from RUN_DIR/checkpoint_last.pth with the run's own
config.yaml (overrides given here still apply), the same epoch/step numbering and the same train.log.
Multi-GPU: `torchrun --nproc_per_node N -m motip train CONFIG.yaml ...`.

Run folders are never overwritten: a new training into an OUTPUT_DIR that already holds a run (train.log, run.json
or a checkpoint) is refused (exit 2; continue it with `--resume`), and one trainer at a time holds a run folder
(`train.lock`; a second one is refused naming the first one's pid). Checkpoints and pretrains are loaded safely
(`torch.load(weights_only=True)`); `--trust-checkpoint` opts in to full unpickling of a file whose origin you trust
(an official checkpoint holding more than tensors), never done silently.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ACCEPTS_OVERRIDES = True


def configure(parser: argparse.ArgumentParser) -> None:
    # CONFIG is taken from the free tokens (not an argparse positional): an optional positional would swallow
    # the value of an override such as `--EPOCHS 3`.
    parser.usage = "motip train [CONFIG.yaml] [--KEY VALUE ...] [--detach] [--resume RUN_DIR]"
    parser.description = ("Train MOTIP on the built dataset. CONFIG.yaml is the experiment config (e.g. "
                          "configs/stage1_universal_foundation.yaml); it may be left out with --resume.")
    parser.add_argument("--detach", action="store_true",
                        help="start the run in its own session (survives logout); prints run_dir=... pid=...")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR",
                        help="continue a killed run from RUN_DIR/checkpoint_last.pth (same numbering and train.log)")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="load DETR_PRETRAIN / RESUME_MODEL / checkpoints with full unpickling when a safe "
                             "(weights-only) load refuses them; only for files whose origin you trust, since "
                             "unpickling can run any code")
    parser.epilog = ("Any --KEY VALUE after the config overrides that config key (e.g. --LR 1e-5 --EPOCHS 2 "
                     "--val_config.GT_FOLDER datasets/DanceTrack/val). See `motip config keys`.")


def run(args: argparse.Namespace) -> int:
    from motip import rundir
    from motip.config import load_config
    from motip.errors import MotipError

    overrides = list(getattr(args, "overrides", []) or [])
    if getattr(args, "trust_checkpoint", False):
        from motip.model.pretrain import trust_checkpoints
        trust_checkpoints()
    args.config = None
    if overrides and not overrides[0].startswith("--"):
        args.config = Path(overrides.pop(0))
    if args.resume is not None:
        run_dir = args.resume.resolve()
        saved = run_dir / rundir.CONFIG_FILE
        if not saved.is_file():
            raise MotipError(f"not a run folder (no {rundir.CONFIG_FILE})", path=run_dir,
                             hint="pass the folder `motip train` created (outputs/<name>_<time>/)")
        config_path = args.config or saved
        config = load_config(saved, overrides)
        resume = True
    else:
        if args.config is None:
            raise MotipError("give a config file (or --resume RUN_DIR)", hint="e.g. motip train configs/tiny_cpu.yaml")
        config_path = args.config
        config = load_config(config_path, overrides)
        from motip.engine.runs import resolve_run_dir
        run_dir = resolve_run_dir(config, config_path).resolve()
        resume = False

    # Refuse here (before --detach starts anything), and again in the trainer under the run folder's lock.
    if not resume:
        rundir.refuse_existing_run(run_dir)
    holder = rundir.lock_holder(run_dir)
    if holder is not None:
        raise MotipError(f"another trainer (pid {holder or 'unknown'}) is running in this run folder", path=run_dir,
                         hint="wait for it to end or stop it; two trainers would write the same train.log and "
                              "checkpoints")
    if args.detach:
        # Fail here, not in a detached log nobody reads: the same input checks the run itself does first.
        from motip.engine.train import preflight
        preflight(config, run_dir / rundir.LAST if resume else None)
        return _detach(args, config_path, run_dir, overrides)

    from motip.engine.train import train

    return train(config, Path(config_path), run_dir, resume=resume)


def _detach(args: argparse.Namespace, config_path: Path, run_dir: Path, overrides: list[str]) -> int:
    from motip.jobs import start_job

    argv = [sys.executable, "-m", "motip", "train"]
    if getattr(args, "trust_checkpoint", False):
        argv.append("--trust-checkpoint")
    if args.resume is not None:
        argv += ["--resume", str(run_dir)]
        if args.config is not None:
            argv.append(str(args.config))
        argv += overrides
    else:
        # OUTPUT_DIR pins the folder we print, so the detached process writes exactly there.
        argv += [str(config_path), *overrides, "--OUTPUT_DIR", str(run_dir)]
    run_dir.mkdir(parents=True, exist_ok=True)
    job = start_job(argv, run_dir, kind="train", name=run_dir.name, cwd=os.getcwd())
    print(f"run_dir={run_dir} pid={job.pid}", flush=True)
    return 0
