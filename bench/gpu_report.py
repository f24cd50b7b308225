"""One-command GPU report: our training step, DETR inference, the deformable-attention kernel, and the official MOTIP
model on the same step, in one process on one GPU; writes a JSON file and a markdown table.

    .venv/bin/python bench/gpu_report.py                                 # CUDA, Stage 1's settings, < 10 minutes
    .venv/bin/python bench/gpu_report.py --official /tmp/official --extra-path /tmp/pydeps   # + the official model
    .venv/bin/python bench/gpu_report.py --device cpu --tiny --json      # the test suite's smoke run (seconds)

Rows (docs/performance.md explains each):
  * train step: seconds/step and peak CUDA memory of one synthetic MOTIP training step at Stage 1's settings
    (configs/stage1_universal_foundation.yaml: a SAMPLE_LENGTHS clip at the largest augmented frame, AUG_MAX_SIZE x
    the largest AUG_RESIZE_SCALES; DETR_NUM_TRAIN_FRAMES with gradients; AdamW), in fp32 and bf16 autocast, with
    MEMORY_EFFICIENT on and off. The step is ``motip.engine.step`` (what bench/model_step.py and `motip doctor` run).
  * the same step on the official MOTIP model (MCG-NJU/MOTIP work tree given by --official), imported in-process the
    way bench/compare_official.py imports it, with its own PyTorch deformable attention (its compiled op does not
    build on current torch), and the ratio ours/official. Skipped, with the reason, when the tree is absent.
  * DETR inference frames/s (batch 1) in fp32 and fp16 (fp16 on CUDA only).
  * the Triton deformable-attention kernel against the PyTorch path on a Stage 1-sized encoder problem: forward and
    forward+backward time, the largest differences, and the first-use self-check's verdict (CUDA only).
Every row is measured between ``torch.cuda.synchronize`` calls after a warm-up; peak memory is
``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``. A row that runs out of memory or fails is
recorded as such and the report goes on; rows not run on this device say why. ``--budget-s`` (default 540) skips
the remaining rows, with that reason, once the report has run that long.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import gc
import json
import os
import platform
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from compare_official import install_stubs  # noqa: E402  (the one way we import the official tree)

from motip.atomic import atomic_write_json, atomic_write_text  # noqa: E402 - after sys.path finds the checkout
from motip.config import load_config  # noqa: E402 - after sys.path finds the checkout
from motip.engine.step import largest_frame, measure_steps, objects_per_frame, sync  # noqa: E402 - after sys.path finds the checkout

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
TINY = {"frames": 2, "height": 64, "width": 96, "objects": 2, "steps": 1, "kernel_hw": (24, 32)}


# ----------------------------------------------------------------------------------------------- helpers

def _gib(value: int | None) -> float | None:
    return None if value is None else round(value / 2**30, 3)


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _failure(err: BaseException) -> tuple[str, str]:
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return "oom", "out of memory"
    return "error", f"{type(err).__name__}: {str(err).strip().splitlines()[0][:200] if str(err).strip() else ''}"


def _dtype_skip(name: str, device: torch.device) -> str | None:
    """Why this autocast/inference dtype is not measured on ``device`` (None = measure it)."""
    if device.type == "cuda" and name == "bf16" and not torch.cuda.is_bf16_supported():
        return "this GPU does not support bfloat16"
    if device.type != "cuda" and name in ("fp16", "bf16"):
        return f"{name} is measured on CUDA only"
    return None


class Clock:
    """The report's time budget: rows after ``budget_s`` are skipped with that reason."""

    def __init__(self, budget_s: float) -> None:
        self.start = time.perf_counter()
        self.budget_s = budget_s

    def over(self) -> str | None:
        elapsed = time.perf_counter() - self.start
        return f"time budget of {self.budget_s:.0f} s spent" if elapsed > self.budget_s else None


# ----------------------------------------------------------------------------------------------- official model

class OfficialStep(torch.nn.Module):
    """The official MOTIP module behind our step's calls: its forward checkpoints DETR whenever a
    ``use_checkpoint`` key is present, so the key is passed only when true (as its train.py does)."""

    def __init__(self, official: torch.nn.Module) -> None:
        super().__init__()
        self.official = official

    def forward(self, **kwargs: Any) -> Any:
        if kwargs.get("part") == "detr" and not kwargs.get("use_checkpoint"):
            kwargs.pop("use_checkpoint", None)
        return self.official(**kwargs)


def load_official(tree: Path | None, extra_paths: list[str]) -> tuple[Callable[[dict], torch.nn.Module] | None, str]:
    """(builder of the official model from a config dict, "") or (None, why not)."""
    if tree is None:
        return None, "no official tree given (--official PATH, a work tree of MCG-NJU/MOTIP)"
    if not (tree / "models" / "motip").is_dir():
        return None, f"official tree not found at {tree} (--official PATH, a work tree of MCG-NJU/MOTIP)"
    for path in extra_paths:
        sys.path.insert(0, path)
    sys.path.insert(0, str(tree.resolve()))
    try:
        install_stubs()
        from models.ops.functions.ms_deform_attn_func import ms_deform_attn_core_pytorch
        from models.ops.modules import ms_deform_attn as official_msda

        official_msda.MSDeformAttnFunction = types.SimpleNamespace(
            apply=lambda value, shapes, start, loc, attn, step: ms_deform_attn_core_pytorch(value, shapes, loc, attn))
        from models.motip import build as official_build
    except Exception as err:  # noqa: BLE001  (e.g. einops missing: the reason goes in the report)
        return None, f"the official code does not import ({type(err).__name__}: {err})"
    base = yaml.safe_load((tree / "configs" / "r50_deformable_detr_motip_dancetrack.yaml").read_text())

    def build(cfg: dict) -> torch.nn.Module:
        # The official defaults, overridden by every key of our config that the official code also reads.
        official_cfg = {**base, **{k: v for k, v in cfg.items() if k in base}, "DEVICE": str(cfg.get("_device"))}
        model, _criterion = official_build(official_cfg)
        return OfficialStep(model)

    return build, ""


# ----------------------------------------------------------------------------------------------- rows

def train_rows(cfg: dict, device: torch.device, sizes: dict, clock: Clock,
               official: Callable[[dict], torch.nn.Module] | None, official_reason: str) -> list[dict]:
    from motip.model import build_criterion, build_id_criterion, build_model

    rows = []
    for model_name in ("ours", "official"):
        for memory_efficient in (True, False):
            for dtype_name in ("fp32", "bf16"):
                row: dict[str, Any] = {"model": model_name, "MEMORY_EFFICIENT": memory_efficient,
                                       "dtype": dtype_name, "s_per_step": None, "peak_gib": None}
                reason = (_dtype_skip(dtype_name, device) or clock.over()
                          or (official_reason if model_name == "official" and official is None else None))
                if reason:
                    rows.append(row | {"status": "skipped", "reason": reason})
                    continue
                variant = {**cfg, "MEMORY_EFFICIENT": memory_efficient, "_device": device}
                model = optimizer = None
                try:
                    torch.manual_seed(0)
                    model = (build_model(variant) if model_name == "ours" else official(variant)).to(device).train()
                    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
                    result = measure_steps(model, build_criterion(variant), build_id_criterion(variant), optimizer,
                                           variant, clips=1, frames=sizes["frames"], height=sizes["height"],
                                           width=sizes["width"], objects=sizes["objects"], device=device,
                                           dtype=DTYPES[dtype_name], warmup=1, steps=sizes["steps"])
                    row |= {"status": "ok", "s_per_step": round(result.seconds, 4), "peak_gib": _gib(result.peak_bytes),
                            "loss": round(result.loss, 4)}
                except Exception as err:  # noqa: BLE001  (an OOM or a failure is a finding; the report goes on)
                    status, why = _failure(err)
                    row |= {"status": status, "reason": why}
                finally:
                    del model, optimizer
                    _free(device)
                rows.append(row)
    ours = {(r["MEMORY_EFFICIENT"], r["dtype"]): r for r in rows if r["model"] == "ours"}
    for row in rows:
        if row["model"] == "official" and row["status"] == "ok":
            mine = ours[(row["MEMORY_EFFICIENT"], row["dtype"])]
            if mine["status"] == "ok":
                row["ours_over_official"] = round(mine["s_per_step"] / row["s_per_step"], 3)
    return rows


def inference_rows(cfg: dict, device: torch.device, sizes: dict, clock: Clock) -> list[dict]:
    from motip.model import build_model

    rows = []
    for dtype_name in ("fp32", "fp16"):
        row: dict[str, Any] = {"dtype": dtype_name, "frames_per_s": None}
        reason = _dtype_skip(dtype_name, device) or clock.over()
        if reason:
            rows.append(row | {"status": "skipped", "reason": reason})
            continue
        model = None
        try:
            torch.manual_seed(0)
            dtype = torch.float16 if dtype_name == "fp16" else torch.float32
            model = build_model({**cfg}).to(device).eval().to(dtype)
            frame = torch.randn(1, 3, sizes["height"], sizes["width"], device=device, dtype=dtype)
            repeats = max(3 * sizes["steps"], 5)
            with torch.no_grad():
                model.detr(frame)  # warm-up (kernel choice, cuDNN autotune)
                sync(device)
                start = time.perf_counter()
                for _ in range(repeats):
                    model.detr(frame)
                sync(device)
            row |= {"status": "ok", "frames_per_s": round(repeats / (time.perf_counter() - start), 2)}
        except Exception as err:  # noqa: BLE001 - the report records any failure as a row and goes on
            status, why = _failure(err)
            row |= {"status": status, "reason": why}
        finally:
            del model
            _free(device)
        rows.append(row)
    return rows


def _encoder_problem(cfg: dict, height: int, width: int, frames: int, device: torch.device) -> dict[str, Any]:
    """Inputs of one encoder deformable-attention call at this frame size: levels at strides 8..(8 * 2^(L-1))."""
    levels = int(cfg.get("DETR_NUM_FEATURE_LEVELS", 4))
    heads = int(cfg.get("DETR_NUM_HEADS", 8))
    dim = int(cfg.get("DETR_HIDDEN_DIM", 256)) // heads
    points = int(cfg.get("DETR_ENC_N_POINTS", 4))
    shapes_list = [(-(-height // (8 * 2**i)), -(-width // (8 * 2**i))) for i in range(levels)]
    s = sum(h * w for h, w in shapes_list)
    gen = torch.Generator().manual_seed(0)
    shapes = torch.tensor(shapes_list, device=device)
    return {
        "shapes_list": shapes_list, "shapes": shapes,
        "starts": torch.cat([shapes.new_zeros(1), shapes.prod(1).cumsum(0)[:-1]]),
        "value": torch.randn(frames, s, heads, dim, generator=gen).to(device),
        "loc": torch.rand(frames, s, heads, levels, points, 2, generator=gen).to(device),
        "attn": torch.rand(frames, s, heads, levels, points, generator=gen).softmax(-1).to(device),
        "grad": torch.randn(frames, s, heads * dim, generator=gen).to(device),
    }


def _timed(fn: Callable[[], Any], device: torch.device, repeats: int) -> float:
    fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return (time.perf_counter() - start) / repeats


def kernel_rows(cfg: dict, device: torch.device, sizes: dict, clock: Clock) -> list[dict]:
    from motip.model.ms_deform_attn import kernel_self_check, ms_deform_attn_core_pytorch

    row: dict[str, Any] = {"problem": None}
    if device.type != "cuda":
        return [row | {"status": "skipped", "reason": "the Triton kernel runs on CUDA only"}]
    reason = clock.over()
    if reason:
        return [row | {"status": "skipped", "reason": reason}]
    verdict = kernel_self_check(device)
    row["self_check"] = "passed" if verdict is None else verdict
    try:
        from motip.model.ms_deform_attn_triton import ms_deform_attn_triton
    except Exception as err:  # noqa: BLE001 - the report records any failure as a row and goes on
        return [row | {"status": "skipped", "reason": f"Triton does not import ({type(err).__name__}: {err})"}]
    problem = None
    try:
        height, width = sizes["kernel_hw"]
        problem = _encoder_problem(cfg, height, width, frames=2, device=device)
        p = problem
        row["problem"] = (f"encoder, 2 frames at {height}x{width}: levels {p['shapes_list']}, "
                          f"{tuple(p['value'].shape)} values, {p['loc'].shape[1]} queries")

        def run(kind: str, backward: bool) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
            value, loc, attn = (t.detach().requires_grad_(backward) for t in (p["value"], p["loc"], p["attn"]))
            if kind == "triton":
                out = ms_deform_attn_triton(value, p["shapes"], p["starts"], loc, attn)
            else:
                out = ms_deform_attn_core_pytorch(value, p["shapes_list"], loc, attn)
            grads: tuple[torch.Tensor, ...] = ()
            if backward:
                grads = torch.autograd.grad((out * p["grad"]).sum(), (value, loc, attn))
            return out, grads

        repeats = max(sizes["steps"] * 3, 5)
        for kind in ("pytorch", "triton"):
            with torch.no_grad():
                row[f"{kind}_forward_ms"] = round(1000 * _timed(lambda k=kind: run(k, False), device, repeats), 3)
            row[f"{kind}_forward_backward_ms"] = round(1000 * _timed(lambda k=kind: run(k, True), device, repeats), 3)
        ref_out, ref_grads = run("pytorch", True)
        out, grads = run("triton", True)
        row["max_abs_diff_output"] = float((out.float() - ref_out.float()).abs().max())
        row["max_abs_diff_grads"] = float(max((g.float() - r.float()).abs().max() for g, r in zip(grads, ref_grads)))
        row["speedup_forward_backward"] = round(row["pytorch_forward_backward_ms"] /
                                                row["triton_forward_backward_ms"], 3)
        row["status"] = "ok"
    except Exception as err:  # noqa: BLE001 - the report records any failure as a row and goes on
        status, why = _failure(err)
        row |= {"status": status, "reason": why}
    finally:
        del problem
        _free(device)
    return [row]


# ----------------------------------------------------------------------------------------------- report

def environment(device: torch.device) -> dict[str, Any]:
    env: dict[str, Any] = {"torch": torch.__version__, "python": platform.python_version(), "device": str(device),
                           "host": platform.node(), "cpu_count": os.cpu_count()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env |= {"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1),
                "cuda": torch.version.cuda, "bf16_supported": torch.cuda.is_bf16_supported()}
    try:
        import triton

        env["triton"] = triton.__version__
    except Exception:  # noqa: BLE001 - a broken Triton is reported as absent
        env["triton"] = None
    return env


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [f"# GPU report ({report['created']})", "",
             f"`{report['command']}`", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in env.items()), "",
             f"Settings: {report['settings']}", "",
             "## Training step", "",
             "| model | MEMORY_EFFICIENT | dtype | s/step | peak GiB | ours/official | status |",
             "|---|---|---|---|---|---|---|"]
    for r in report["train_step"]:
        status = r["status"] if r["status"] == "ok" else f"{r['status']}: {r.get('reason', '')}"
        lines.append(f"| {r['model']} | {r['MEMORY_EFFICIENT']} | {r['dtype']} | {_cell(r['s_per_step'])} | "
                     f"{_cell(r['peak_gib'])} | {_cell(r.get('ours_over_official'))} | {status} |")
    lines += ["", "## DETR inference (batch 1)", "", "| dtype | frames/s | status |", "|---|---|---|"]
    for r in report["inference"]:
        status = r["status"] if r["status"] == "ok" else f"{r['status']}: {r.get('reason', '')}"
        lines.append(f"| {r['dtype']} | {_cell(r['frames_per_s'])} | {status} |")
    lines += ["", "## Deformable attention: Triton kernel vs PyTorch path", ""]
    for r in report["kernel"]:
        if r["status"] != "ok":
            lines.append(f"{r['status']}: {r.get('reason', '')}" + (f" (self-check: {r['self_check']})"
                                                                      if "self_check" in r else ""))
            continue
        lines += [f"Problem: {r['problem']}; self-check: {r['self_check']}", "",
                  "| path | forward ms | forward+backward ms |", "|---|---|---|",
                  f"| PyTorch | {_cell(r['pytorch_forward_ms'])} | {_cell(r['pytorch_forward_backward_ms'])} |",
                  f"| Triton | {_cell(r['triton_forward_ms'])} | {_cell(r['triton_forward_backward_ms'])} |", "",
                  f"Max abs difference: output {r['max_abs_diff_output']:.3g}, gradients "
                  f"{r['max_abs_diff_grads']:.3g}; forward+backward speed-up {r['speedup_forward_backward']:.3g}x"]
    lines += ["", f"Total {report['total_s']:.0f} s."]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("CUDA is not available here; run with --device cpu --tiny for the smoke run")
    clock = Clock(args.budget_s)
    config_path = args.config or str(REPO / "configs" / ("tiny_cpu.yaml" if args.tiny
                                                         else "stage1_universal_foundation.yaml"))
    cfg = dict(load_config(config_path))
    if args.tiny:
        sizes = dict(TINY)
    else:
        height, width = largest_frame(cfg)
        sizes = {"frames": int(cfg["SAMPLE_LENGTHS"][0]), "height": height, "width": width,
                 "objects": objects_per_frame(cfg, 20), "steps": args.steps, "kernel_hw": (height, width)}
    if args.steps is not None:
        sizes["steps"] = args.steps
    official, official_reason = load_official(Path(args.official) if args.official else None, args.extra_path)
    with _quiet_warnings():
        train = train_rows(cfg, device, sizes, clock, official, official_reason)
        inference = inference_rows(cfg, device, sizes, clock)
        kernel = kernel_rows(cfg, device, sizes, clock)
    from motip.model.ms_deform_attn import kernel_status

    kernel_name, kernel_reason = kernel_status(device.type)
    return {
        "format": 1,
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "environment": environment(device) | {"deform_attn_kernel": kernel_name,
                                               "deform_attn_fallback": kernel_reason},
        "settings": {"config": config_path, "clip_frames": sizes["frames"],
                     "frame": f"{sizes['height']}x{sizes['width']}", "objects_per_frame": sizes["objects"],
                     "timed_steps": sizes["steps"], "tiny": bool(args.tiny)},
        "train_step": train,
        "inference": inference,
        "kernel": kernel,
        "total_s": round(time.perf_counter() - clock.start, 1),
    }


@contextlib.contextmanager
def _quiet_warnings() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.utils.checkpoint.*")
        warnings.filterwarnings("ignore", category=FutureWarning)
        yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--config", default=None,
                        help="default configs/stage1_universal_foundation.yaml (--tiny: configs/tiny_cpu.yaml)")
    parser.add_argument("--tiny", action="store_true", help="tiny model and frames, one timed step (smoke run)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per row after one warm-up (default 3)")
    parser.add_argument("--official", default=os.environ.get("MOTIP_OFFICIAL_TREE"),
                        help="work tree of MCG-NJU/MOTIP (default $MOTIP_OFFICIAL_TREE); rows skipped without it")
    parser.add_argument("--extra-path", action="append", default=[],
                        help="extra sys.path entry for the official code's dependencies (einops)")
    parser.add_argument("--out", default="gpu_report", help="output prefix: <out>.json and <out>.md")
    parser.add_argument("--budget-s", type=float, default=540.0, help="skip the remaining rows after this long")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object on the last line")
    args = parser.parse_args(argv)
    if args.steps is None and not args.tiny:
        args.steps = 3
    report = run(args)
    out = Path(args.out)
    atomic_write_json(out.with_name(out.name + ".json"), report)
    table = markdown(report)
    atomic_write_text(out.with_name(out.name + ".md"), table)
    print(table)
    print(f"wrote {out}.json and {out}.md")
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
