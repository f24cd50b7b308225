"""The MOTIP training loop (official ``train.py``), top-down: settings, data, model, losses and optimiser, then the
epoch loop (``Trainer._train``). Each step: learning rate (warm-up) -> a batch of clips -> DETR on their frames (some
with gradients) -> set criterion -> trajectory modeling + ID decoder -> ID loss -> backward -> every ACCUMULATE_STEPS
steps: unscale, clip, optimiser step -> train.log line. Each epoch: LR schedule -> checkpoints -> validation.

What keeps a run safe sits behind named helpers around that loop: refusals before anything changes
(``preflight``, ``_check_run_folder``), the run folder's lock and the pinned dataset builds (``run``, ``_pin_data``,
``_claim_run_folder``), train.log's [start]/[end] and run.json whatever ends the run, a full disk included
(``_run_recorded``), checkpoints written before each eval (``states["eval_due"]``) and resume (``_resume_from``,
``_eval_pending``). The tensor plumbing between clips and the model lives in ``motip.model.frames``. See
docs/training.md.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import random
import signal
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from motip import rundir
from motip.atomic import DiskFullError
from motip.config import data_settings, dump_config, optimizer_settings, train_settings
from motip.engine import ddp, runs
from motip.engine.optim import build_optimizer, group_lr, warmup_lr
from motip.errors import DataError, MotipError
from motip.model.frames import clip_pixels, detr_on_clip, prepare_for_motip
from motip.trainlog import TrainLogWriter

if TYPE_CHECKING:
    from torch.optim import Optimizer
    from torch.optim.lr_scheduler import LRScheduler

    from motip.data.sampler import ClipSampler
    from motip.model.criterion import IDCriterion, SetCriterion

OOM_HINT = ("lower AUG_MAX_SIZE (e.g. 800) or the largest AUG_RESIZE_SCALES, shorten SAMPLE_LENGTHS, lower "
            "DETR_NUM_TRAIN_FRAMES, set MEMORY_EFFICIENT: True and USE_DECODER_CHECKPOINT: True, or TRAIN_DTYPE: BF16")


class NonFiniteLoss(MotipError):
    pass


class EvalFailed(MotipError):
    """The validation of a saved epoch failed: the epoch is kept, ``--resume`` re-runs its eval."""


def train(config: Any, config_path: Path, run_dir: Path, resume: bool = False) -> int:
    """Train ``config`` into ``run_dir`` (``resume``: continue from its checkpoint_last.pth); the exit code."""
    return Trainer(config, config_path, run_dir, resume).run()


class Trainer:
    def __init__(self, config: Any, config_path: Path, run_dir: Path, resume: bool) -> None:
        self.config = config
        self.settings = train_settings(config)  # no paths in it: the same before and after the data is pinned
        self.config_path = config_path
        self.run_dir = run_dir
        self.resume = resume
        self.dist = ddp.DistInfo()
        self.writer: TrainLogWriter | None = None
        self.states: dict[str, Any] = {"epoch": 0, "global_step": 0, "best_hota": None, "best_idf1": None}
        self._evaluating: int | None = None  # the saved epoch whose eval is running (for the stop message)
        self.last_norms = {"grad_norm": float("nan"), "grad_norm_detr": float("nan"), "grad_norm_id": float("nan")}

    def run(self) -> int:
        """Check and load everything that can refuse first (nothing in the run folder changes on a refusal), then
        hold the run folder's lock and the dataset pins for the life of the training."""
        resume_ckpt = self.run_dir / runs.LAST if self.resume else None
        if self.resume and not resume_ckpt.is_file():
            raise MotipError("the run folder has no checkpoint_last.pth to resume from", path=self.run_dir,
                             hint="it ended before its first epoch was saved: start a new run instead, into another "
                                  "OUTPUT_DIR (or delete this folder first; nothing in it can be resumed)")
        preflight(self.config, resume_ckpt)
        main = int(os.environ.get("RANK", "0")) == 0  # before init_distributed: rank 0 alone owns the run folder
        if main:
            self._check_run_folder()  # early, cheap refusals; again under the lock before the folder changes
        self.pins: list[Any] = []
        self.lock: rundir.RunLock | None = None
        try:
            return self._run(resume_ckpt)
        finally:
            for pin in self.pins:
                pin.release()
            if self.lock is not None:
                self.lock.release()

    def _run(self, resume_ckpt: Path | None) -> int:
        # settings: the datasets pinned (the working config points at the pinned folders), device, seed
        configured = self.saved_config = self.config  # config.yaml and checkpoints keep the configured paths
        data_map = self._pin_data()
        payload = runs.read_checkpoint(resume_ckpt) if resume_ckpt is not None else None
        device = self._setup_device()
        seed_everything(self.settings.seed + self.dist.rank)
        # data
        dataset, sampler, loader = self._build_data()
        # model, losses, optimiser and LR schedule: from the pretrain, or the resumed checkpoint's states
        model, criterion, id_criterion, optimizer, scheduler, resumed = self._build_model(device, payload,
                                                                                          resume_ckpt)
        del payload  # loaded into the model/optimizer: do not hold a second copy in RAM for the whole run
        # everything that can refuse has run: only now does the run folder change
        self._claim_run_folder(configured, data_map)
        with self._run_recorded(device, dataset, resumed):
            self._train(device, sampler, loader, model, criterion, id_criterion, optimizer, scheduler)
        return 0

    # ------------------------------------------------------------------------------------------- the algorithm
    def _train(self, device: torch.device, sampler: ClipSampler, loader: DataLoader, model: torch.nn.Module,
               criterion: SetCriterion, id_criterion: IDCriterion, optimizer: Optimizer,
               scheduler: LRScheduler) -> None:
        """The algorithm. Per step: lr -> a batch of clips -> DETR frames -> criterion -> ID decoder -> backward ->
        accumulate/clip/step -> log. Per epoch: LR schedule -> checkpoint -> eval."""
        s, main = self.settings, self.dist.is_main
        optim = optimizer_settings(self.config)
        amp_dtype, use_scaler = self._amp()
        train_model = ddp.wrap_model(model, self.dist, device)
        detr_params, other_params = _trainable(model, "detr."), _trainable(model, "detr.", outside=True)
        self._eval_pending(model, optimizer, scheduler)  # resumed after a failed/interrupted eval: it comes first
        for epoch in range(int(self.states["epoch"]), s.epochs):
            sampler.prepare_for_epoch(epoch)
            total = self._steps_in_epoch(sampler)
            scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)
            model.train()
            optimizer.zero_grad(set_to_none=True)
            timer = StepTimer()
            with self._epoch_progress(epoch, total) as progress:
                for step, batch in enumerate(loader):
                    if step >= total:
                        break
                    if epoch < optim.warmup_epochs:  # learning rate
                        warmup_lr(optimizer, optim.lr, epoch, step, total, optim.warmup_epochs)
                    with _autocast(device, amp_dtype):  # clip -> DETR frames -> criterion -> ID decoder
                        losses = self._losses(batch, train_model, criterion, id_criterion, device)
                    self._stop_if_not_finite(losses, epoch, step, device)
                    scaler.scale(losses["loss"] / s.accumulate_steps).backward()  # backward
                    if (step + 1) % s.accumulate_steps == 0 or step + 1 == total:  # accumulate, clip, step
                        self._optimizer_step(optimizer, scaler, detr_params, other_params, epoch, step, use_scaler)
                    self.states["global_step"] = int(self.states["global_step"]) + 1
                    timer.steps += 1
                    if (step + 1) % s.log_every_steps == 0 or step + 1 == total:  # log
                        self._log_step(epoch, step, total, losses, optimizer, device, timer.lap())
                    progress.advance(1, f"loss={float(losses['loss'].detach()):.3f}")
            scheduler.step()  # LR schedule
            number = epoch + 1  # 1-based in file names and train.log
            evaluate = s.val_every_epochs > 0 and number % s.val_every_epochs == 0
            self.states.update(epoch=number, eval_due=number if evaluate else None)
            if main:
                self._save_epoch(model, optimizer, scheduler, number)  # checkpoint, before the eval: a failed
                if evaluate:                                           # eval then costs only the eval
                    self._eval_epoch(model, optimizer, scheduler, number)  # eval
            self.states["eval_due"] = None
            ddp.barrier(self.dist)

    def _losses(self, batch: dict[str, Any], model: torch.nn.Module, criterion: SetCriterion, id_criterion: IDCriterion,
                device: torch.device) -> dict[str, torch.Tensor]:
        """One batch of clips through MOTIP: DETR on the frames, the set criterion, trajectory modeling + ID decoder
        and the ID loss. Every term detached except ``loss``, the weighted sum to back-propagate."""
        s = self.settings
        annotations = batch["annotations"]
        pixels, pad = clip_pixels(batch["images"], device)
        targets = [{"boxes": ann["bbox"].to(device), "labels": ann["category"].to(device)}
                   for clip in annotations for ann in clip]
        outputs = detr_on_clip(model, pixels, pad, s.detr_train_frames, s.detr_checkpoint_frames)
        loss_dict, indices = criterion(outputs, targets)
        detr_loss = criterion.weighted_loss(loss_dict)
        losses: dict[str, torch.Tensor] = {"loss_ce": loss_dict["loss_ce"], "loss_bbox": loss_dict["loss_bbox"],
                                           "loss_giou": loss_dict["loss_giou"], "loss_detr": detr_loss}
        loss = detr_loss
        if not s.only_detr:
            seq_info = prepare_for_motip(outputs, annotations, indices)
            seq_info = model(seq_info=seq_info, part="trajectory_modeling")
            id_logits, id_labels, id_masks = model(seq_info=seq_info, part="id_decoder",
                                                   use_decoder_checkpoint=s.use_decoder_checkpoint)
            id_loss = id_criterion(id_logits, id_labels, id_masks)
            losses["loss_id"] = id_loss
            loss = loss + id_loss * id_criterion.weight
        losses["class_error"] = loss_dict.get("class_error", torch.zeros(()))
        losses["loss"] = loss
        return {k: (v if k == "loss" else v.detach()) for k, v in losses.items()}

    # ------------------------------------------------------------------------------------------- one step's parts
    def _steps_in_epoch(self, sampler: ClipSampler) -> int:
        from motip.data.sampler import steps_in_epoch

        total = steps_in_epoch(len(sampler), self.settings.batch_size, self.settings.max_steps_per_epoch)
        if total == 0:
            raise DataError("no legal training clip (every clip has a frame without objects or is too short)",
                            hint="lower SAMPLE_LENGTHS or check the built dataset's gt.txt")
        return total

    def _stop_if_not_finite(self, losses: dict[str, torch.Tensor], epoch: int, step: int,
                            device: torch.device) -> None:
        """A non-finite loss on any rank stops every rank before the backward: nothing is saved, the last good
        checkpoint stays."""
        bad = not bool(torch.isfinite(losses["loss"].detach()).item())
        if ddp.any_rank(self.dist, bad, device):
            terms = " ".join(f"{k}={float(v):.4g}" for k, v in losses.items())
            msg = (f"non-finite loss at epoch {epoch + 1} step {step + 1} ({terms}); stopped without "
                   "saving, the last good checkpoint is kept")
            self.writer.error(msg, epoch=epoch + 1, step=step + 1, global_step=int(self.states["global_step"]) + 1)
            raise NonFiniteLoss(msg, path=self.run_dir / rundir.TRAIN_LOG,
                                hint="lower LR, check the data, or resume from checkpoint_last.pth")

    def _optimizer_step(self, optimizer: Optimizer, scaler: torch.amp.GradScaler, detr_params: list, other_params: list,
                        epoch: int, step: int, use_scaler: bool) -> None:
        """Unscale (FP16), clip (MAX_CLIP_NORM; DETR and the rest apart when SEPARATE_CLIP_NORM), step, zero."""
        scaler.unscale_(optimizer)
        norms = self.last_norms = self._clip_gradients(detr_params, other_params, self.settings.max_clip_norm,
                                                       self.settings.separate_clip_norm)
        if not math.isfinite(norms["grad_norm"]) and not use_scaler:
            msg = (f"non-finite gradient norm at epoch {epoch + 1} step {step + 1}; stopped without "
                   "saving, the last good checkpoint is kept")
            self.writer.error(msg, epoch=epoch + 1, step=step + 1)
            raise NonFiniteLoss(msg, hint="lower LR or MAX_CLIP_NORM, or use TRAIN_DTYPE FP32")
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    @staticmethod
    def _clip_gradients(detr_params: list, other_params: list, max_norm: float, separate: bool) -> dict[str, float]:
        limit = max_norm if max_norm > 0 else float("inf")  # 0 = no clipping, the norm is still measured

        def norm_of(params: list) -> float:
            params = [p for p in params if p.grad is not None]
            if not params:
                return 0.0
            return float(torch.nn.utils.clip_grad_norm_(params, limit))

        if separate:
            detr, other = norm_of(detr_params), norm_of(other_params)
            total = math.sqrt(detr ** 2 + other ** 2)
        else:
            total = norm_of(detr_params + other_params)
            detr = other = total
        return {"grad_norm": total, "grad_norm_detr": detr, "grad_norm_id": other}

    def _log_step(self, epoch: int, step: int, total: int, losses: dict[str, torch.Tensor], optimizer: Optimizer,
                  device: torch.device, s_per_step: float) -> None:
        """train.log's [train] line: every loss term, the norms of the latest optimiser step (nan before the run's
        first), the learning rates, peak CUDA memory, seconds per step since the previous line."""
        norms = self.last_norms
        terms = {k: float(v) for k, v in losses.items() if k != "loss"}
        extra: dict[str, Any] = {}
        if device.type == "cuda":
            extra["mem_gb"] = round(torch.cuda.max_memory_allocated(device) / 2 ** 30, 3)
        self.writer.train_step(epoch=epoch + 1, step=step + 1, total_steps=total,
                               global_step=int(self.states["global_step"]), loss=float(losses["loss"].detach()),
                               **terms, grad_norm_detr=norms["grad_norm_detr"], grad_norm_id=norms["grad_norm_id"],
                               lr_backbone=group_lr(optimizer, "backbone"), **extra,
                               grad_norm=norms["grad_norm"], lr=group_lr(optimizer, "other"),
                               s_per_step=round(s_per_step, 4))

    @contextlib.contextmanager
    def _epoch_progress(self, epoch: int, total: int) -> Iterator[Any]:
        """The epoch's progress bar (rank 0; the other ranks draw into /dev/null)."""
        from motip.progress import Progress

        progress_stream = None if self.dist.is_main else open("/dev/null", "w")  # noqa: SIM115 - closed in finally
        try:
            with Progress(f"train epoch {epoch + 1}", total, stream=progress_stream) as progress:
                yield progress
        finally:
            if progress_stream is not None:
                progress_stream.close()

    # ------------------------------------------------------------------------------------------- epoch end
    def _save_epoch(self, model: torch.nn.Module, optimizer: Optimizer, scheduler: LRScheduler, number: int) -> None:
        """checkpoint_epoch_N (when due) and checkpoint_last, before the eval (states["eval_due"] says whether
        this epoch's eval is still to run)."""
        settings = self.settings
        if number % settings.save_checkpoint_every_epochs == 0 or number == settings.epochs:
            name = rundir.epoch_checkpoint(number)
            self._save(name, model, optimizer, scheduler)
            self.writer.checkpoint(epoch=number, kind="epoch", path=name)
            keep = settings.keep_last_epoch_checkpoints
            if keep > 0:
                old = rundir.epoch_checkpoints(self.run_dir)
                for path in old[:-keep]:
                    path.unlink(missing_ok=True)
        self._save(runs.LAST, model, optimizer, scheduler)
        self.writer.checkpoint(epoch=number, kind="last", path=runs.LAST)

    def _save(self, name: str, model: torch.nn.Module, optimizer: Optimizer, scheduler: LRScheduler) -> None:
        runs.save_checkpoint(self.run_dir / name, model, optimizer, scheduler, self.states,
                             getattr(self, "saved_config", self.config))

    def _eval_pending(self, model: torch.nn.Module, optimizer: Optimizer, scheduler: LRScheduler) -> None:
        """A resumed run whose last saved epoch's eval did not complete (states["eval_due"]) runs it first."""
        due = self.states.get("eval_due")
        if due:
            if self.dist.is_main and self.settings.val_every_epochs > 0:
                self._eval_epoch(model, optimizer, scheduler, int(due))
            self.states["eval_due"] = None
            ddp.barrier(self.dist)

    def _eval_epoch(self, model: torch.nn.Module, optimizer: Optimizer, scheduler: LRScheduler, number: int) -> None:
        """Validate the saved epoch ``number``, then its best-HOTA/IDF1 checkpoints and checkpoint_last again (its
        states now say the eval is done). A failure becomes EvalFailed: the epoch stays saved, --resume re-evals."""
        self._evaluating = number
        try:
            top = self._validate(model, number)
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001 - any failure of the eval (bad GT, a crash) costs only the eval
            if isinstance(err, MotipError):
                detail, where, hint = err.message, err.path, err.hint
            else:
                traceback.print_exc()  # a bug of ours: keep the trace for a report
                detail, where, hint = f"{type(err).__name__}: {err}", None, None
            resume = f"`motip train --resume {self.run_dir}` re-runs the eval of epoch {number}, then continues"
            raise EvalFailed(f"the eval of epoch {number} failed: {detail} (epoch {number} is saved in "
                             f"{runs.LAST}; its eval is still due)", path=where or self.run_dir,
                             hint=f"{hint}; then {resume}" if hint else f"fix the cause, then {resume}") from err
        self.states["eval_due"] = self._evaluating = None
        for metric, key in (("HOTA", "best_hota"), ("IDF1", "best_idf1")):
            value = top.get(metric)
            if isinstance(value, (int, float)) and math.isfinite(value) and \
                    (self.states.get(key) is None or value > self.states[key]):
                self.states[key] = float(value)
                name = rundir.best_checkpoint(metric)
                self._save(name, model, optimizer, scheduler)
                self.writer.checkpoint(epoch=number, kind=f"best_{metric.lower()}", path=name, value=float(value))
        self._save(runs.LAST, model, optimizer, scheduler)  # same weights; states: eval done, best values

    def _validate(self, model: torch.nn.Module, number: int) -> dict[str, float]:
        """Track and score the val split (``motip.engine.validate``); its warnings and the [eval] line go to
        train.log, the epoch's row to the run's metrics.json."""
        from motip.engine.validate import metric_row, validate

        # validate() checks the (pinned) val set against its build report once and returns that as a warning.
        out_dir = rundir.epoch_eval_dir(self.run_dir, number)
        started = time.monotonic()
        report = validate(model, self.config, out_dir)
        top, per_class = metric_row(report)
        for warning in report.get("warnings", []):
            self.writer.warning(warning, epoch=number)
        self.writer.eval(epoch=number, metrics=top, per_class=per_class, global_step=int(self.states["global_step"]),
                         eval_s=round(time.monotonic() - started, 2))
        self._record_metrics(number, top, per_class)
        return top

    def _record_metrics(self, number: int, top: dict[str, float], per_class: dict[str, dict[str, float]]) -> None:
        """Epoch ``number``'s row in the run's metrics.json (replacing an earlier row of that epoch)."""
        from motip.records import record_epoch_metrics  # the run's metrics.json: its one reader and writer

        record_epoch_metrics(self.run_dir / rundir.METRICS_FILE, {"epoch": number, **top, "per_class": per_class,
                                                                  "global_step": int(self.states["global_step"])})

    # ------------------------------------------------------------------------------------------- setup
    def _setup_device(self) -> torch.device:
        from motip.engine.tracking import pick_device

        self.dist, device = ddp.init_distributed(pick_device(self.config))
        return device

    def _amp(self) -> tuple[torch.dtype | None, bool]:
        """(autocast dtype or None, GradScaler on) of TRAIN_DTYPE."""
        name = self.settings.train_dtype.upper()
        return {"FP32": (None, False), "BF16": (torch.bfloat16, False), "FP16": (torch.float16, True)}[name]

    def _build_data(self) -> tuple[Any, Any, DataLoader]:
        from motip.data.augment import ClipTransform, collate_clips
        from motip.data.dataset import BuiltDataset
        from motip.data.sampler import ClipSampler

        config = self.config
        data = data_settings(config)
        dataset = BuiltDataset(config.resolve_path(data.data_root), list(data.datasets), list(data.dataset_splits),
                               data.num_classes, ClipTransform(config))
        sampler = ClipSampler(dataset, list(data.sample_steps), list(data.sample_lengths),
                              list(data.sample_intervals), seed=self.settings.seed, rank=self.dist.rank,
                              world_size=self.dist.world_size, length_per_iteration=data.length_per_iteration)
        workers = data.num_workers
        loader = DataLoader(dataset, sampler=sampler, batch_size=self.settings.batch_size, num_workers=workers,
                            prefetch_factor=data.prefetch_factor if workers > 0 else None,
                            collate_fn=collate_clips, pin_memory=torch.cuda.is_available(),
                            worker_init_fn=_worker_init, persistent_workers=False)
        return dataset, sampler, loader

    def _build_model(
        self, device: torch.device, payload: dict[str, Any] | None, resume_ckpt: Path | None,
    ) -> tuple[torch.nn.Module, SetCriterion, IDCriterion, Optimizer, LRScheduler, dict[str, Any] | None]:
        from motip.model import build_criterion, build_id_criterion, build_model, load_pretrain

        config, settings = self.config, self.settings
        model = build_model(config)
        if settings.detr_pretrain and resume_ckpt is None:
            report = load_pretrain(model, config.resolve_path(settings.detr_pretrain), config, verbose=False)
            if self.dist.is_main:
                print(f"pretrain: {report.summary()}", flush=True)
        if settings.detr_train_frames == 0:
            for name, param in model.named_parameters():
                if name.startswith("detr."):
                    param.requires_grad_(False)  # train only the MOTIP part (official)
        model.to(device)
        optimizer, scheduler = build_optimizer(model, config)
        resumed = None
        if resume_ckpt is not None:
            resumed = self._resume_from(resume_ckpt, payload, model, optimizer, scheduler, full=True)
        elif settings.resume_model:
            path = Path(config.resolve_path(settings.resume_model))
            resumed = self._resume_from(path, runs.read_checkpoint(path), model, optimizer, scheduler, full=False)
        return model, build_criterion(config).to(device), build_id_criterion(config), optimizer, scheduler, resumed

    def _resume_from(self, path: Path, payload: dict[str, Any], model: torch.nn.Module, optimizer: Optimizer,
                     scheduler: LRScheduler, full: bool) -> dict[str, Any]:
        """Load ``payload`` (read from ``path``); returns the fields of the [resume] line written once the log opens.
        A checkpoint of another architecture is refused naming its first mismatching key."""
        settings = self.settings
        model.load_state_dict(runs.model_state(payload, model, path), strict=True)
        load_opt = full or settings.resume_optimizer
        load_sched = full or settings.resume_scheduler
        load_states = full or settings.resume_states
        try:
            if load_opt and payload.get("optimizer"):
                optimizer.load_state_dict(payload["optimizer"])
            if load_states and payload.get("states"):
                self.states.update(payload["states"])
            if load_sched and payload.get("scheduler"):
                scheduler.load_state_dict(payload["scheduler"])
            else:
                for _ in range(int(self.states["epoch"])):
                    scheduler.step()  # a fresh schedule fast-forwarded to the resumed epoch (official)
        except (ValueError, KeyError, TypeError, RuntimeError) as err:
            raise MotipError(f"the checkpoint's optimizer/scheduler/states do not fit this run: {err}", path=path,
                             hint="resume with the run's own config (same LR groups and schedule), or start a new "
                                  "run with RESUME_MODEL and RESUME_OPTIMIZER/RESUME_SCHEDULER: False") from err
        if not full:
            self.states["eval_due"] = None  # another run's pending eval is not this run's
        return {"checkpoint": str(path), "epoch": int(self.states["epoch"]),
                "global_step": int(self.states["global_step"]), "optimizer": bool(load_opt),
                "scheduler": bool(load_sched)}

    # ------------------------------------------------------------------------------------------- the run folder
    def _check_run_folder(self) -> None:
        if not self.resume:
            rundir.refuse_existing_run(self.run_dir)
        holder = rundir.lock_holder(self.run_dir)
        if holder is not None:
            raise MotipError(f"another trainer (pid {holder or 'unknown'}) is running in this run folder",
                             path=self.run_dir, hint="wait for it to end or stop it; two trainers would write the "
                                                     "same train.log and checkpoints")

    def _pin_data(self) -> dict[str, str]:
        """Pin every dataset folder the run reads (motip.data.pins) and point the working config at the concrete
        folders: a rebuild that switches the ``datasets/<name>`` link while we train changes nothing we read. On
        ``--resume`` the folders recorded in run.json are pinned again. Returns {configured path: real path}."""
        from motip.data.pins import pin_path
        from motip.records import RunRecord

        config = self.config
        recorded: dict[str, str] = {}
        if self.resume:
            record, _ = RunRecord.try_read(self.run_dir / rundir.RUN_FILE)  # run.json's one reader
            recorded = dict(record.data or {}) if record is not None else {}

        mapping: dict[str, str] = {}

        def pin(configured: Path) -> Path:
            key = str(configured)
            real = recorded.get(key)
            if real is not None and not Path(real).exists():
                raise MotipError(f"the dataset build this run trained on is gone ({key} was {real})", path=real,
                                 hint="a resume must read the same data: restore that build, or start a new run "
                                      "(RESUME_MODEL: <this run>/checkpoint_last.pth) on the current build")
            held = pin_path(real if real is not None else configured)
            self.pins.append(held)
            mapping[key] = str(held.real)
            return held.real

        data = data_settings(config)
        data_root = Path(config.resolve_path(data.data_root))
        splits = [pin(data_root / dataset / split) for dataset, split in zip(data.datasets, data.dataset_splits)]
        values = copy.deepcopy(dict(config))
        # BuiltDataset reads DATA_ROOT/<dataset>/<split>: an absolute "dataset" makes that the pinned folder itself.
        values["DATA_ROOT"] = "/"
        values["DATASETS"] = [str(real.parent) for real in splits]
        values["DATASET_SPLITS"] = [real.name for real in splits]
        if self.settings.val_every_epochs > 0:
            from motip.engine.validate import val_settings

            gt_folder, seqmap, _ = val_settings(config)
            val = dict(values.get("val_config") or {})
            val["GT_FOLDER"] = str(pin(gt_folder))
            if seqmap is not None:
                val["SEQMAP_FILE"] = str(pin(seqmap))
            values["val_config"] = val
        pinned = type(config)(values, getattr(config, "sources", {}), getattr(config, "path", None),
                              getattr(config, "chain", [])) if hasattr(config, "resolve_path") else values
        self.config = pinned
        return mapping

    def _claim_run_folder(self, configured: Mapping[str, Any], data_map: dict[str, str]) -> None:
        """Rank 0 takes the run folder's lock (held until the run ends; the kernel drops it if we die), refuses an
        existing run again under it, writes config.yaml (a new run) and run.json's start."""
        if not self.dist.is_main:
            return
        self.lock = rundir.acquire_lock(self.run_dir)  # exit 2 naming the pid of a live trainer
        if not self.resume:
            rundir.refuse_existing_run(self.run_dir)  # under the lock: nobody can start writing meanwhile
            from motip.atomic import atomic_write_text
            atomic_write_text(self.run_dir / rundir.CONFIG_FILE, dump_config(standalone_config(configured)))
        runs.run_started(self.run_dir, self.config_path, self.resume, data=data_map)
        print(f"run_dir={self.run_dir}", flush=True)

    @contextlib.contextmanager
    def _run_recorded(self, device: torch.device, dataset: Any, resumed: dict[str, Any] | None) -> Iterator[None]:
        """train.log's [start] (or [resume]) before the training and its [end] after it, whatever ends it, and
        run.json's end status. SIGTERM (motip.jobs.stop_job, kill) ends the run like Ctrl-C: status=stopped, no
        traceback. A non-finite loss, CUDA out of memory and our own errors are exit 2; an unexpected exception is
        recorded, then its traceback shows. On a full disk the [end] line is best effort: the error that ended the
        run must reach the user."""
        main = self.dist.is_main
        self.writer = TrainLogWriter(self.run_dir / rundir.TRAIN_LOG, enabled=main)
        previous_handler = None
        if threading.current_thread() is threading.main_thread():
            previous_handler = signal.signal(signal.SIGTERM, _raise_interrupt)
        status, code, message = "failed", 1, ""
        try:
            if main and not self.resume:
                self.writer.run_start(run=str(self.run_dir), config=str(self.config_path), epochs=self.settings.epochs,
                                      device=str(device), world_size=self.dist.world_size,
                                      data=" | ".join(dataset.statistics()))
            if resumed is not None:
                self.writer.resume(**resumed)
            self._log_kernel(device)
            yield
            status, code = "finished", 0
        except NonFiniteLoss as err:
            message, code = err.message, 2
            raise
        except torch.cuda.OutOfMemoryError as err:
            message, code = "CUDA out of memory: " + OOM_HINT, 2
            self._log_quietly(self.writer.error, message)
            raise MotipError(message, hint=OOM_HINT) from err
        except KeyboardInterrupt:
            status, code, message = "stopped", 130, "interrupted (SIGINT/SIGTERM)"
            due = self._evaluating
            if due:
                message += (f" during the eval of epoch {due}; epoch {due} is saved, `motip train --resume` "
                            "re-runs its eval")
            raise
        except MotipError as err:
            message, code = err.message, 2
            self._log_quietly(self.writer.error, message)
            raise
        except Exception as err:  # unexpected: record it, then let the traceback show
            message = f"{type(err).__name__}: {err}"
            self._log_quietly(self.writer.error, message)
            raise
        finally:
            self._log_quietly(self.writer.run_end, status=status, epoch=self.states["epoch"], msg=message)
            self.writer.close()
            if main:
                self._log_quietly(runs.run_ended, self.run_dir, status, code, message)
            ddp.cleanup(self.dist)
            if previous_handler is not None:
                signal.signal(signal.SIGTERM, previous_handler)  # an in-process caller gets its handler back

    def _log_kernel(self, device: torch.device) -> None:
        """Choose the deformable-attention kernel now (the Triton kernel's self-check on this device) so that a
        fallback to the PyTorch path is a [warning] line in train.log, once, before the first step."""
        from motip.model.ms_deform_attn import kernel_warning, select_kernel
        select_kernel(device)
        message = kernel_warning(device.type)
        if message:
            self.writer.warning(message)

    @staticmethod
    def _log_quietly(call: Any, *args: Any, **kwargs: Any) -> None:
        try:
            call(*args, **kwargs)
        except DiskFullError:
            pass


class StepTimer:
    """Seconds per step over the steps since the previous train.log line."""

    def __init__(self) -> None:
        self.start, self.steps = time.monotonic(), 0

    def lap(self) -> float:
        now = time.monotonic()
        seconds = (now - self.start) / max(self.steps, 1)
        self.start, self.steps = now, 0
        return seconds


def _trainable(model: torch.nn.Module, prefix: str, outside: bool = False) -> list[torch.nn.Parameter]:
    """Parameters with gradients whose name starts with ``prefix`` (``outside``: whose name does not)."""
    return [p for n, p in model.named_parameters() if n.startswith(prefix) != outside and p.requires_grad]


def _autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


# ----------------------------------------------------------------------------------------------- before any work
def preflight(config: Mapping[str, Any], resume_checkpoint: Path | None) -> None:
    """Every input the run needs, checked before any model is built (clear errors, nothing half-started)."""
    from motip.data.dataset import check_split_dir
    from motip.engine.validate import check_val_inputs

    data, settings = data_settings(config), train_settings(config)
    data_root = config.resolve_path(data.data_root)
    for dataset, split in zip(data.datasets, data.dataset_splits):
        check_split_dir(Path(data_root) / dataset / split)
    pretrain = settings.detr_pretrain
    if pretrain and resume_checkpoint is None:
        path = config.resolve_path(pretrain)
        if not path.is_file():
            raise MotipError("DETR_PRETRAIN file not found", path=path,
                             hint="download/copy the pretrain there, fix the path (relative to root_path or the "
                                  "working directory), or set DETR_PRETRAIN: null to train from scratch")
    if settings.resume_model and resume_checkpoint is None:
        path = config.resolve_path(settings.resume_model)
        if not path.is_file():
            raise MotipError("RESUME_MODEL file not found", path=path, hint="fix the path or set RESUME_MODEL: null")
    if settings.val_every_epochs > 0:
        check_val_inputs(config)
    if settings.batch_size < 1 or settings.accumulate_steps < 1:
        raise MotipError("BATCH_SIZE and ACCUMULATE_STEPS must be >= 1", path=getattr(config, "path", None))


def standalone_config(config: Any) -> dict[str, Any]:
    """The resolved config as a run folder keeps it: no parent to follow, root_path absolute, so ``--resume``
    reads the same values from any working directory."""
    plain = dict(config)
    plain["SUPER_CONFIG_PATH"] = None
    plain["root_path"] = str(config.base_dir)
    return plain


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def _worker_init(worker_id: int) -> None:
    seed = torch.initial_seed() % (2 ** 32)
    random.seed(seed)
    np.random.seed(seed)
