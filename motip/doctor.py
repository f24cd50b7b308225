"""``motip doctor CONFIG``: a preflight of a training stage, before the GPU meter runs.

Each check says OK / WARN / FAIL, what it found and, for anything not OK, the fix. Every check runs even when an
earlier one failed (a check that needs what failed says SKIP and why), so one run names every problem at once:

  config      the YAML resolves (SUPER_CONFIG_PATH chain, no unknown keys, valid values: ``load_config``)
  workspace   config.toml is readable; the stage whose ``config`` is this file (for the estimate)
  dataset     DATA_ROOT/DATASETS/DATASET_SPLITS point at a complete ``motip build`` (a build link whose
              build_report.json is there) made from the manifest config.toml names now
  val set     val_config.GT_FOLDER holds sequences and its fingerprint equals the build report's (the locked val set)
  pretrain    DETR_PRETRAIN (and RESUME_MODEL) exist, load safely (weights only, never unpickled) and fit the model,
              1 -> 2 class surgery included; a misfit names the first mismatching key
  device      DEVICE is there (cuda asked, no CUDA -> FAIL)
  train step  one real forward + backward + optimizer step at the largest frame (largest AUG_RESIZE_SCALES x
              AUG_MAX_SIZE) and the longest clip (max SAMPLE_LENGTHS) on the device: time, peak memory vs the
              device's; on a CPU a REDUCED step (says what was reduced) so it stays well under a minute
  disk        free space for the checkpoints the run keeps (params x 4 bytes + Adam's 2 states per trainable one)
  estimate    hours and cost of the stage: measured s/step x steps per epoch (from the built dataset) x EPOCHS x
              config.toml's cost_per_hour (on a CPU: not meaningful for a GPU)

torch is imported only by the checks that need it (pretrain, device, train step, estimate).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from motip.config.settings import train_settings
from motip.errors import MotipError

OK, WARN, FAIL, SKIP = "OK", "WARN", "FAIL", "SKIP"
# A reduced CPU step: at most this many frames of at most this longer side (R50 on 2 cores stays in seconds).
CPU_FRAMES = 2
CPU_LONGER = 320
CPU_OBJECTS = 5
GPU_OBJECTS = 20
MEMORY_WARN = 0.90     # peak / total above this: WARN (real frames can hold more objects than the synthetic ones)
DISK_MARGIN = 1.2      # logs, eval outputs and the temporary file of an atomic checkpoint write


@dataclass
class Check:
    name: str
    status: str
    message: str
    fix: str | None = None
    path: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class DoctorReport:
    config: str
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def exit_code(self) -> int:
        return 2 if self.failed else 0

    def to_json(self) -> dict[str, Any]:
        return {"config": self.config, "ok": not self.failed, "exit_code": self.exit_code,
                "seconds": round(self.seconds, 2),
                "counts": {s: sum(c.status == s for c in self.checks) for s in (OK, WARN, FAIL, SKIP)},
                "checks": [asdict(c) for c in self.checks]}

    def render(self) -> str:
        width = max((len(c.name) for c in self.checks), default=8)
        lines = [f"motip doctor {self.config}"]
        for check in self.checks:
            lines.append(f"  {check.status:<4}  {check.name:<{width}}  {check.message}")
            if check.path and check.status in (WARN, FAIL) and check.path not in check.message:
                lines.append(f"  {'':<4}  {'':<{width}}  path: {check.path}")
            if check.fix and check.status != OK:
                lines.append(f"  {'':<4}  {'':<{width}}  fix: {check.fix}")
        counts = self.to_json()["counts"]
        verdict = "ready to train" if not self.failed else "NOT ready: fix every FAIL above"
        lines.append(f"{counts[FAIL]} FAIL, {counts[WARN]} WARN, {counts[OK]} OK"
                     f"{f', {counts[SKIP]} SKIP' if counts[SKIP] else ''} in {self.seconds:.1f} s: {verdict}")
        return "\n".join(lines)


class _Skipped(Exception):
    """A check that cannot run because of a problem another check already reported."""


def _from_error(name: str, err: MotipError, prefix: str = "") -> Check:
    where = f"{err.path}:{err.line}" if err.path and err.line else err.path
    return Check(name, FAIL, prefix + err.message, err.hint, where)


def _gib(value: float) -> str:
    return f"{value / 2**30:.2f} GiB"


class Doctor:
    """Runs the checks in order; each reads what earlier ones found (``self.*``) and never raises."""

    def __init__(self, config_path: Path, overrides: list[str] | None = None, workspace_path: Path | None = None,
                 full_step: bool = False, progress: Callable[[str], None] | None = None) -> None:
        self.config_path = Path(config_path)
        self.overrides = list(overrides or [])
        self.workspace_path = workspace_path
        self.full_step = full_step
        self.progress = progress or (lambda _text: None)
        self.config: Any = None
        self.workspace: Any = None
        self.stage: Any = None
        self.model: Any = None
        self.model_error: MotipError | None = None
        self.device: Any = None          # torch.device the step runs on
        self.device_ok = False
        self.step: dict[str, Any] | None = None
        self.report = DoctorReport(str(config_path))

    # ------------------------------------------------------------------ driver
    def run(self) -> DoctorReport:
        started = time.monotonic()
        for name, check in (("config", self.check_config), ("workspace", self.check_workspace),
                            ("dataset", self.check_dataset), ("val set", self.check_val),
                            ("pretrain", self.check_pretrain), ("device", self.check_device),
                            ("train step", self.check_step), ("disk", self.check_disk),
                            ("estimate", self.check_estimate)):
            self.progress(name)
            try:
                results = check()
            except _Skipped as why:
                results = [self._skip(name, str(why))]
            except MotipError as err:
                results = [_from_error(name, err)]
            except Exception as err:  # noqa: BLE001 - a doctor reports, it never dies half-way
                results = [Check(name, FAIL, f"the check itself failed: {type(err).__name__}: {err}",
                                 "this is a bug of motip doctor or of the model code; report it with the config")]
            for result in results if isinstance(results, list) else [results]:
                self.report.checks.append(result)
        self.report.seconds = time.monotonic() - started
        return self.report

    def _skip(self, name: str, why: str) -> Check:
        return Check(name, SKIP, f"not checked: {why}")

    # ------------------------------------------------------------------ config
    def check_config(self) -> Check:
        from motip.config import load_config

        self.config = load_config(self.config_path, self.overrides)
        chain = " <- ".join(p.name for p in getattr(self.config, "chain", [])) or self.config_path.name
        extra = f", {len(self.overrides)} override token(s)" if self.overrides else ""
        return Check("config", OK, f"resolves ({chain}{extra})")

    # ------------------------------------------------------------------ workspace and stage
    def check_workspace(self) -> Check:
        from motip.workspace import CONFIG_FILE, load_workspace

        path = self.workspace_path
        if path is None:
            candidates = [Path.cwd() / CONFIG_FILE]
            if self.config is not None:
                candidates.append(Path(self.config.base_dir) / CONFIG_FILE)
            path = next((p for p in candidates if p.is_file()), None)
            if path is None:
                return Check("workspace", WARN, "no config.toml here: the build and stage checks use the YAML only",
                             "run motip doctor from the workspace folder (where config.toml is) or pass --workspace")
        self.workspace = load_workspace(path)
        target = self.config_path.resolve()
        self.stage = next((s for s in self.workspace.stages if Path(s.config).resolve() == target), None)
        if self.stage is None:
            return Check("workspace", WARN, f"{path}: no [[stages]] entry has config = {self.config_path}",
                         "add the stage to config.toml (name, config, budgets, epochs, cost_per_hour) for a cost "
                         "estimate", str(path))
        return Check("workspace", OK, f"{path.name}: stage {self.stage.name!r} ({self.stage.epochs} epochs, "
                                      f"{self.stage.cost_per_hour:g}/h)")

    # ------------------------------------------------------------------ dataset
    def _train_splits(self) -> list[Path]:
        config = self.config
        root = Path(config.resolve_path(config["DATA_ROOT"]))
        return [root / d / s for d, s in zip(config["DATASETS"], config["DATASET_SPLITS"])]

    def check_dataset(self) -> list[Check]:
        if self.config is None:
            return [self._skip("dataset", "the config does not resolve")]
        from motip.data.builder import build_status, current_build
        from motip.data.manifest import load_manifest
        from motip.data.mot_files import list_sequences
        from motip.records import BUILD_REPORT_FILE

        checks: list[Check] = []
        rebuild = (f"motip build --config {self.workspace.path}" if self.workspace is not None
                   else "motip build --config config.toml")
        for split_dir in self._train_splits():
            link = split_dir.parent
            if not split_dir.is_dir():
                checks.append(Check("dataset", FAIL, f"training split {split_dir} not found",
                                    f"build the dataset: {rebuild} (or fix DATA_ROOT / DATASETS / DATASET_SPLITS)",
                                    str(split_dir)))
                continue
            if not list_sequences(split_dir):
                checks.append(Check("dataset", FAIL, f"training split {split_dir} holds no sequences",
                                    f"rebuild: {rebuild}", str(split_dir)))
                continue
            build = current_build(link)
            if build is None:
                checks.append(Check("dataset", WARN, f"{link} is not a `motip build` link (a hand-made folder): no "
                                    "build report to check it against", f"build it with {rebuild}", str(link)))
                continue
            if not (build / BUILD_REPORT_FILE).is_file():
                checks.append(Check("dataset", FAIL, f"{link} points at an incomplete build {build.name} (no "
                                    "build_report.json)", f"rebuild: {rebuild}", str(build)))
                continue
            status = build_status(self.workspace) if self.workspace is not None else None
            message = f"{link} -> builds/{build.name}"
            if status is not None and status.get("build_dir") and Path(status["build_dir"]) == build:
                summary = status.get("summary", {})
                frames = {s: v.get("frames") for s, v in summary.items() if isinstance(v, dict)}
                message += " (" + ", ".join(f"{s} {n} frames" for s, n in frames.items() if n is not None) + ")"
                manifest_path = self.workspace.builder.manifest
                if manifest_path is not None and manifest_path.is_file():
                    try:
                        current = load_manifest(manifest_path).fingerprint
                    except MotipError as err:
                        checks.append(_from_error("dataset", err, "manifest: "))
                        continue
                    if status.get("manifest_fingerprint") and status["manifest_fingerprint"] != current:
                        checks.append(Check("dataset", FAIL, message + f": built from another manifest than "
                                            f"{manifest_path.name} holds now (the val/test lock changed)",
                                            f"rebuild so val is the locked set: {rebuild}", str(manifest_path)))
                        continue
            elif self.workspace is not None:
                checks.append(Check("dataset", WARN, message + f": not the build config.toml's output "
                                    f"({self.workspace.builder.output}) points at",
                                    "point DATA_ROOT/DATASETS at [builder] output, or check you train on the "
                                    "intended data", str(link)))
                continue
            checks.append(Check("dataset", OK, message))
        return checks

    # ------------------------------------------------------------------ val set
    def check_val(self) -> Check:
        if self.config is None:
            return self._skip("val set", "the config does not resolve")
        if train_settings(self.config).val_every_epochs <= 0:
            return Check("val set", WARN, "VAL_EVERY_EPOCHS is 0: the run never validates (no best-HOTA/IDF1)",
                         "set VAL_EVERY_EPOCHS: 1 to score every epoch on the locked val set")
        from motip.data.mot_files import list_sequences
        from motip.engine.validate import val_settings
        from motip.eval.fingerprint import recorded_fingerprint, split_fingerprint

        gt_folder, seqmap, _ = val_settings(self.config)
        if not gt_folder.is_dir():
            return Check("val set", FAIL, f"val_config.GT_FOLDER {gt_folder} not found",
                         "build the dataset (motip build), fix val_config.GT_FOLDER, or set VAL_EVERY_EPOCHS: 0",
                         str(gt_folder))
        sequences = list_sequences(gt_folder)
        if not sequences:
            return Check("val set", FAIL, f"{gt_folder} holds no sequences", "rebuild: motip build", str(gt_folder))
        if seqmap is not None and not seqmap.is_file():
            return Check("val set", FAIL, f"val_config.SEQMAP_FILE {seqmap} not found",
                         "rebuild (motip build writes val_seqmap.txt) or fix the path", str(seqmap))
        recorded = recorded_fingerprint(gt_folder)
        if recorded is None:
            return Check("val set", WARN, f"{gt_folder}: {len(sequences)} sequences, but no build report records "
                         "its fingerprint (not made by motip build): scores cannot be tied to the manifest lock",
                         "build the val set with motip build", str(gt_folder))
        current = split_fingerprint(gt_folder)
        if current != recorded:
            return Check("val set", FAIL, f"{gt_folder} changed since it was built: fingerprint {current[:12]} != "
                         f"{recorded[:12]} recorded in build_report.json (a stale or edited val set)",
                         "rebuild with the locked manifest (motip build) or restore the val split; scores on a "
                         "changed val set are not comparable", str(gt_folder))
        return Check("val set", OK, f"{len(sequences)} sequences, fingerprint {current[:12]} matches the build "
                                    "report")

    # ------------------------------------------------------------------ pretrain
    def _ensure_model(self) -> Any:
        """The model, built once; a config it cannot be built from is reported once, later checks SKIP."""
        if self.model is None:
            if self.model_error is not None:
                raise _Skipped("the model cannot be built from this config (see above)")
            from motip.model import build_model

            try:
                self.model = build_model(self.config)
            except MotipError as err:
                self.model_error = err
                raise
        return self.model

    def check_pretrain(self) -> list[Check]:
        if self.config is None:
            return [self._skip("pretrain", "the config does not resolve")]
        from motip.model import load_pretrain

        checks: list[Check] = []
        pretrain = self.config.get("DETR_PRETRAIN")
        if not pretrain:
            checks.append(Check("pretrain", OK, "DETR_PRETRAIN: null (the model starts from random weights)"))
        else:
            path = Path(self.config.resolve_path(pretrain))
            if not path.is_file():
                checks.append(Check("pretrain", FAIL, f"DETR_PRETRAIN {path} not found",
                                    "download the file there (see pretrains/README.md of the workspace / TRAIN.md), "
                                    "fix DETR_PRETRAIN (relative to root_path or the working directory), or set "
                                    "DETR_PRETRAIN: null to train from scratch", str(path)))
            else:
                try:
                    report = load_pretrain(self._ensure_model(), path, self.config, verbose=False)
                except MotipError as err:
                    checks.append(_from_error("pretrain", err, "DETR_PRETRAIN: "))
                else:
                    checks.append(Check("pretrain", OK, f"{path.name}: loads safely and fits: {report.summary()}",
                                        details={"kind": report.kind, "loaded": report.loaded,
                                                 "class_head": report.class_head}))
        resume = self.config.get("RESUME_MODEL")
        if resume:
            from motip.engine.runs import model_state, read_checkpoint

            path = Path(self.config.resolve_path(resume))
            try:
                model_state(read_checkpoint(path), self._ensure_model(), path)
            except MotipError as err:
                checks.append(_from_error("pretrain", err, "RESUME_MODEL: "))
            else:
                checks.append(Check("pretrain", OK, f"RESUME_MODEL {path.name}: loads safely and fits"))
        return checks

    # ------------------------------------------------------------------ device
    def check_device(self) -> Check:
        if self.config is None:
            return self._skip("device", "the config does not resolve")
        import torch

        wanted = train_settings(self.config).device.lower()
        has_cuda = torch.cuda.is_available()
        if wanted.startswith("cuda"):
            if not has_cuda:
                self.device = torch.device("cpu")
                built = (f"this torch {torch.__version__} is built for CUDA {torch.version.cuda} but finds no GPU "
                         "(driver? CUDA_VISIBLE_DEVICES?)" if torch.version.cuda else
                         f"this torch {torch.__version__} is a CPU-only build")
                return Check("device", FAIL, f"DEVICE is {wanted} but no CUDA GPU is available: {built}",
                             "run on the GPU machine (check `nvidia-smi`; install a CUDA build of torch there), or "
                             "set DEVICE: cpu / auto (--DEVICE cpu) to train on this CPU")
            index = int(wanted.split(":", 1)[1]) if ":" in wanted else 0
            if index >= torch.cuda.device_count():
                self.device = torch.device("cuda:0")
                return Check("device", FAIL, f"DEVICE is {wanted} but only {torch.cuda.device_count()} GPU(s) exist",
                             "set DEVICE: cuda (GPU 0) or a GPU index that exists")
            self.device = torch.device(wanted if ":" in wanted else "cuda")
        elif wanted == "auto":
            self.device = torch.device("cuda" if has_cuda else "cpu")
        else:
            self.device = torch.device(wanted)
        self.device_ok = True
        if self.device.type == "cuda":
            props = torch.cuda.get_device_properties(self.device)
            return Check("device", OK, f"{wanted} -> {props.name} ({_gib(props.total_memory)})",
                         details={"device": str(self.device), "name": props.name, "total_bytes": props.total_memory})
        note = " (no CUDA GPU found)" if wanted == "auto" else ""
        return Check("device", OK, f"{wanted} -> cpu{note}", details={"device": "cpu"})

    # ------------------------------------------------------------------ one training step
    def check_step(self) -> Check:
        if self.config is None:
            return self._skip("train step", "the config does not resolve")
        import torch

        from motip.engine.step import (autocast_dtype, largest_frame, measure_steps, objects_per_frame)
        from motip.engine.train import OOM_HINT
        from motip.model import build_criterion, build_id_criterion

        config = self.config
        device = self.device if self.device is not None else torch.device("cpu")
        height, width = largest_frame(config)
        frames = max(int(x) for x in config["SAMPLE_LENGTHS"])
        clips = train_settings(config).batch_size
        reduced: list[str] = []
        label = ""
        if device.type == "cpu" and not self.full_step:
            if not self.device_ok:
                label = f"device {config.get('DEVICE')} not available: "
            if width > CPU_LONGER:
                reduced.append(f"frame {height}x{width} -> ")
                height, width = max(32, round(height * CPU_LONGER / width)), CPU_LONGER
                reduced[-1] += f"{height}x{width}"
            if frames > CPU_FRAMES:
                reduced.append(f"clip {frames} -> {CPU_FRAMES} frames")
                frames = CPU_FRAMES
            if clips > 1:
                reduced.append(f"batch {clips} -> 1 clip")
                clips = 1
        objects = objects_per_frame(config, CPU_OBJECTS if reduced else GPU_OBJECTS)
        model = self._ensure_model()
        if train_settings(config).detr_train_frames == 0:
            for name, param in model.named_parameters():
                if name.startswith("detr."):
                    param.requires_grad_(False)
        model.to(device).train()
        criterion, id_criterion = build_criterion(config).to(device), build_id_criterion(config)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-8) if params else None
        dtype = autocast_dtype(config)
        cuda = device.type == "cuda"
        shape = f"{clips} x {frames} frames x {height}x{width}, {objects} objects/frame"
        try:
            result = measure_steps(model, criterion, id_criterion, optimizer, config, clips=clips, frames=frames,
                                   height=height, width=width, objects=objects, device=device, dtype=dtype,
                                   warmup=1 if cuda else 0, steps=2 if cuda else 1)
        except torch.cuda.OutOfMemoryError:
            total = torch.cuda.get_device_properties(device).total_memory
            return Check("train step", FAIL, f"CUDA out of memory at {shape} ({_gib(total)} on the device)",
                         OOM_HINT)
        finally:
            if optimizer is not None:
                optimizer.state.clear()
        self.step = {"seconds": result.seconds, "reduced": bool(reduced), "device": str(device),
                     "shape": shape, "peak_bytes": result.peak_bytes, "total_bytes": result.total_bytes}
        details = dict(self.step, loss=result.loss)
        if not math.isfinite(result.loss):
            return Check("train step", FAIL, f"the loss is {result.loss} at {shape}",
                         "check LR / TRAIN_DTYPE (FP16 overflows: use BF16 or FP32)", details=details)
        if cuda:
            share = result.peak_bytes / result.total_bytes
            message = (f"{result.seconds:.2f} s/step at {shape} on {device}; peak memory "
                       f"{_gib(result.peak_bytes)} of {_gib(result.total_bytes)} ({share:.0%})")
            # The step above ran the deformable-attention kernel's first-use self-check: a fallback is a WARN.
            from motip.model.ms_deform_attn import kernel_status, kernel_warning
            kernel = kernel_warning(device.type)
            details["deform_attn_kernel"] = kernel_status(device.type)[0]
            problems, hints = [], []
            if share > MEMORY_WARN:
                problems.append("little headroom (real frames may hold more objects)")
                hints.append(OOM_HINT)
            if kernel:
                problems.append(kernel)
                hints.append("reinstall the Triton that matches this torch (pip install torch brings it), or set "
                             "MOTIP_DEFORM_ATTN=pytorch to accept the slower path")
            if problems:
                return Check("train step", WARN, message + ": " + "; ".join(problems), "; ".join(hints),
                             details=details)
            return Check("train step", OK, message, details=details)
        if reduced:
            return Check("train step", WARN if not self.device_ok else OK,
                         f"{label}REDUCED check on the CPU ({'; '.join(reduced)}): {result.seconds:.1f} s/step at "
                         f"{shape}; the full step and its memory are not measured here",
                         "run motip doctor on the training GPU for the full-size step" if not self.device_ok
                         else None, details=details)
        return Check("train step", OK, f"{result.seconds:.2f} s/step at {shape} on the CPU (full size)",
                     details=details)

    # ------------------------------------------------------------------ disk
    def check_disk(self) -> Check:
        if self.config is None:
            return self._skip("disk", "the config does not resolve")
        from motip.engine.runs import resolve_run_dir

        model = self._ensure_model()
        weights = sum(t.numel() * 4 for t in model.state_dict().values())
        adam = sum(p.numel() * 4 * 2 for p in model.parameters() if p.requires_grad)
        per_file = weights + adam
        config = self.config
        epochs = int(config["EPOCHS"])
        settings = train_settings(config)
        every = max(settings.save_checkpoint_every_epochs, 1)
        saved = len({n for n in range(1, epochs + 1) if n % every == 0 or n == epochs})
        keep = settings.keep_last_epoch_checkpoints
        epoch_files = min(saved, keep) if keep > 0 else saved
        best = 2 if settings.val_every_epochs > 0 else 0
        files = epoch_files + best + 1 + 1  # + checkpoint_last + the temporary of an atomic write
        need = int(per_file * files * DISK_MARGIN)
        run_dir = resolve_run_dir(config, self.config_path)
        probe = run_dir
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        free = shutil.disk_usage(probe).free
        what = (f"{files} checkpoint files of {_gib(per_file)} ({epoch_files} epoch, {best} best, last, 1 being "
                f"written) + 20% = {_gib(need)}; {_gib(free)} free at {probe}")
        details = {"per_file_bytes": per_file, "files": files, "need_bytes": need, "free_bytes": free}
        if free < need:
            return Check("disk", FAIL, "not enough disk: " + what,
                         "free space there, point OUTPUT_DIR at a larger disk, or keep fewer checkpoints "
                         "(MULTI_LAST_CHECKPOINTS: N, SAVE_CHECKPOINT_PER_EPOCH: N)", str(probe), details)
        return Check("disk", OK, what, details=details)

    # ------------------------------------------------------------------ estimate
    def _steps_per_epoch(self) -> list[int]:
        from motip.data.dataset import BuiltDataset
        from motip.data.sampler import ClipSampler, steps_in_epoch

        config = self.config
        dataset = BuiltDataset(config.resolve_path(config["DATA_ROOT"]), list(config["DATASETS"]),
                               list(config["DATASET_SPLITS"]), int(config["NUM_CLASSES"]), None)
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        sampler = ClipSampler(dataset, config["SAMPLE_STEPS"], config["SAMPLE_LENGTHS"], config["SAMPLE_INTERVALS"],
                              seed=int(config["SEED"]), world_size=world,
                              length_per_iteration=config.get("LENGTH_PER_ITERATION"))
        steps = []
        for epoch in range(int(config["EPOCHS"])):
            sampler.prepare_for_epoch(epoch)
            steps.append(steps_in_epoch(len(sampler), int(config["BATCH_SIZE"]), config.get("MAX_STEPS_PER_EPOCH")))
        return steps

    def check_estimate(self) -> Check:
        if self.config is None:
            return self._skip("estimate", "the config does not resolve")
        if self.step is None:
            return self._skip("estimate", "no training step was measured")
        if not all(split.is_dir() for split in self._train_splits()):
            return self._skip("estimate", "the dataset is not built (steps per epoch come from it)")
        steps = self._steps_per_epoch()
        total = sum(steps)
        hours = total * self.step["seconds"] / 3600
        cost_rate = self.stage.cost_per_hour if self.stage is not None else None
        cost = f", {hours * cost_rate:.2f} at {cost_rate:g}/h" if cost_rate is not None else ""
        message = (f"{len(steps)} epochs x {steps[0]} steps x {self.step['seconds']:.2f} s = {hours:.2f} h of "
                   f"training{cost} (validation not included)")
        details = {"steps_per_epoch": steps, "hours": hours, "cost": hours * cost_rate if cost_rate else None}
        if self.stage is not None and self.stage.epochs != len(steps):
            message += f"; config.toml plans {self.stage.epochs} epochs, the config trains {len(steps)}"
        if self.step["device"] == "cpu" and (self.step["reduced"] or not self.device_ok):
            return Check("estimate", WARN if not self.device_ok else OK,
                         f"not meaningful for a GPU (measured on the CPU{', reduced' if self.step['reduced'] else ''}"
                         f"): {message}", "run motip doctor on the training GPU for a real estimate"
                         if not self.device_ok else None, details=details)
        if cost_rate is None:
            return Check("estimate", WARN, message + "; no cost: this config is no [[stages]] entry of config.toml",
                         "add the stage (with cost_per_hour) to config.toml", details=details)
        return Check("estimate", OK, message, details=details)


def run_doctor(config_path: str | os.PathLike[str], overrides: list[str] | None = None,
               workspace_path: str | os.PathLike[str] | None = None, full_step: bool = False,
               progress: Callable[[str], None] | None = None) -> DoctorReport:
    """Every check of ``motip doctor`` on ``config_path``; never raises for a problem it can name."""
    return Doctor(Path(config_path), overrides, Path(workspace_path) if workspace_path else None, full_step,
                  progress).run()


def report_json(report: DoctorReport) -> str:
    return json.dumps(report.to_json(), indent=2)
