"""``motip init DIR``: a real-data workspace, checked against the source releases before anything is written.

Writes::

    DIR/config.toml            roots from --dancetrack/--bdd/--visdrone (a source not given: disabled, with a
                               comment), the [builder] section, TRAIN.md's three stages (``TRAIN_STAGES``); the source
                               sections carry Stage 1's budgets
    DIR/configs/               the base config and TRAIN.md's three stage YAMLs, copied from the package
                               (``motip.config.bundled_config_dir``): pretrain paths as TRAIN.md writes them
    DIR/pretrains/README.md    every pretrain file the configs name, and where to download each by hand
    DIR/README.md              what was found and the next steps (manifest -> build -> doctor -> train)

Each given root is listed with its source's reader (folders only, no annotation parsed): videos, frames and videos
with ground truth per split. A root with the wrong layout (no split folders, BDD100K images without
``labels/box_track_20``, a split without any ground truth) is refused with the path and the fix, before anything is
written. An existing workspace is never overwritten without ``force``; with it, only the files above are replaced
(each atomically, config.toml last; a replaced file that differs is kept under ``.motip/init-replaced/<n>/``) and
nothing else in DIR (outputs/, datasets/, manifest.json, downloaded pretrains) is touched. A new workspace is written
into a temp folder beside DIR and renamed into place, so it appears whole or not at all. Torch-free.

``TRAIN_STAGES`` is the home of TRAIN.md's stages and budgets: the repository's config.toml holds the same (a test
compares them) and the demo's stages (``motip.demo.DEMO_STAGES``) carry the same names at toy scale.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit
import yaml

from motip.errors import DataError, MotipError
from motip.workspace import CONFIG_FILE, SOURCE_LABELS, validate

BASE_CONFIG = "r50_deformable_detr_motip_dancetrack.yaml"
BUILDER_OUTPUT = "datasets/DanceTrack"
MANIFEST = "manifest.json"
SEED = 42
SECTION_ORDER = ("bdd", "dancetrack", "visdrone")
REPLACED_DIR = Path(".motip") / "init-replaced"
# The demo's marker file (motip.demo imports it: this module stays free of cv2, which the demo's data needs)
DEMO_MARKER = Path(".motip") / "demo.json"


@dataclass(frozen=True)
class StageSpec:
    name: str
    config: str                      # relative to the workspace
    budgets: dict[str, int]          # source -> frames
    epochs: int
    hours_per_epoch: float           # TRAIN.md's A10G estimate; the TUI recalibrates it from real runs
    cost_per_hour: float             # TRAIN.md: g5.2xlarge on-demand


# TRAIN.md's plan: its config.toml blocks give the budgets, its table the epochs, hours and cost.
TRAIN_STAGES: tuple[StageSpec, ...] = (
    StageSpec("Foundation", "configs/stage1_universal_foundation.yaml", {"bdd": 5000, "dancetrack": 5000},
              10, 2.05, 1.212),
    StageSpec("Refinement", "configs/stage2_universal_refine.yaml", {"bdd": 15000, "dancetrack": 15000},
              10, 6.5, 1.212),
    StageSpec("Aerial-Adaptation", "configs/stage3_aerial_adapt.yaml",
              {"visdrone": 10000, "bdd": 2000, "dancetrack": 2000}, 10, 4.5, 1.212),
)

# Where each pretrain file a config names comes from (the configs themselves say which file each stage loads).
MODEL_ZOO = "https://github.com/MCG-NJU/MOTIP/blob/main/docs/MODEL_ZOO.md"
RELEASES = "https://github.com/MCG-NJU/MOTIP/releases/download"
PRETRAIN_SOURCES: dict[str, str] = {
    "motip_dancetrack.pth": (
        f"the official MOTIP DanceTrack checkpoint, `{RELEASES}/v0.1/r50_deformable_detr_motip_dancetrack.pth` "
        f"(MOTIP model zoo, DanceTrack table, \"checkpoint\" of the Traj Aug row: {MODEL_ZOO}), saved under "
        "this name"),
    "r50_deformable_detr_coco_dancetrack.pth": (
        f"the DETR pre-trained on DanceTrack, `{RELEASES}/v0.1/r50_deformable_detr_coco_dancetrack.pth` "
        f"(MOTIP model zoo, DETR table: {MODEL_ZOO}); only needed to train MOTIP from a DETR pretrain instead"),
    "stage1_v2.pth": (
        "your Stage 1 result, not a download: `cp outputs/stage1_universal_foundation_<time>/checkpoint_best_hota.pth "
        "pretrains/stage1_v2.pth` (`motip queue` passes the previous stage's best checkpoint itself)"),
    "stage2_v2.pth": (
        "your Stage 2 result, not a download: `cp outputs/stage2_universal_refine_<time>/checkpoint_best_hota.pth "
        "pretrains/stage2_v2.pth` (`motip queue` passes it itself)"),
}


@dataclass
class SplitSummary:
    split: str
    videos: int
    frames: int
    with_gt: int                    # videos with a ground-truth file
    gt_frames: int                  # frames of those videos


@dataclass
class SourceReport:
    source: str
    root: Path
    splits: list[SplitSummary]
    warnings: list[str] = field(default_factory=list)

    def split(self, name: str) -> SplitSummary | None:
        return next((s for s in self.splits if s.split == name), None)

    def lines(self) -> list[str]:
        out = [f"{SOURCE_LABELS[self.source]} at {self.root}:"]
        for s in self.splits:
            gt = "no ground truth (expected for this split)" if s.with_gt == 0 else \
                f"{s.with_gt} with ground truth ({s.gt_frames} frames)"
            out.append(f"  {s.split:<9} {s.videos:>5} videos {s.frames:>8} frames, {gt}")
        out += [f"  warning: {w}" for w in self.warnings]
        return out


@dataclass
class InitResult:
    folder: Path
    reports: dict[str, SourceReport]
    warnings: list[str]
    written: list[str]
    replaced_into: Path | None = None        # where replaced files that differed were kept (--force)
    new: bool = True                         # False: files of an existing workspace were rewritten (--force)


def _annotation_place(source: str, root: Path, split: str) -> str:
    if source == "dancetrack":
        return str(root / split / "<seq>" / "gt" / "gt.txt")
    if source == "bdd":
        return str(root / "labels" / "box_track_20" / split)
    return str(root / f"VisDrone2019-MOT-{split}" / "annotations")


_GT_FIX = {
    "dancetrack": "extract the DanceTrack release's train/val archives (each sequence has gt/gt.txt)",
    "bdd": "download the BDD100K \"MOT 2020 Labels\" (box_track_20) and extract them so that "
           "<root>/labels/box_track_20/{train,val}/<video>.json exist beside <root>/images/track/",
    "visdrone": "extract the VisDrone2019-MOT archive whole: each split folder holds sequences/ and annotations/",
}


def inspect_source(source: str, root: Path) -> SourceReport:
    """What a source release at ``root`` holds, by listing folders with its reader; DataError when the layout is
    wrong (the path and the fix)."""
    from motip.data.readers import reader_for, require_dir

    reader = reader_for(source)
    label = SOURCE_LABELS[source]
    require_dir(root, f"{label} root (--{source})", reader.LAYOUT_HINT)
    present = tuple(s for s in reader.SPLITS if reader.split_dir(root, s).is_dir())
    if "train" not in present:
        hint = reader.LAYOUT_HINT
        if root.name in reader.SPLITS or root.name == reader.split_dir(root, "train").name or \
                root.name.startswith("VisDrone2019-MOT-") or root.name in ("images", "track", "sequences"):
            hint = f"this looks like a folder inside the release: pass the release root (a parent of {root}); {hint}"
        missing = reader.split_dir(root, "train")
        raise DataError(f"no {label} train split at {missing} (the training pool is read from it)",
                        path=root, hint=hint)
    videos = reader.list_videos(root, present)
    report = SourceReport(source, root, [])
    for split in present:
        in_split = [v for v in videos if v.split == split]
        with_gt = [v for v in in_split if v.has_gt]
        report.splits.append(SplitSummary(split, len(in_split), sum(v.num_frames for v in in_split), len(with_gt),
                                          sum(v.num_frames for v in with_gt)))
        if split in ("train", "val") and in_split and not with_gt:
            # BDD100K images without labels/box_track_20, VisDrone without annotations/: nothing to train or score.
            raise DataError(f"the {label} {split} split has {len(in_split)} videos but no ground truth",
                            path=_annotation_place(source, root, split),
                            hint=_GT_FIX[source].replace("<root>", str(root)))
        empty = [v.video_id for v in in_split if v.num_frames == 0]
        if empty:
            report.warnings.append(f"{split}: {len(empty)} video(s) without images (left out of builds), e.g. "
                                   f"{empty[0]}")
        if in_split and with_gt and len(with_gt) < len(in_split) and split in ("train", "val"):
            report.warnings.append(f"{split}: {len(in_split) - len(with_gt)} video(s) without ground truth "
                                   "(never trained or validated on)")
    train = report.split("train")
    if train is None or train.videos == 0:
        raise DataError(f"the {label} train split holds no videos", path=reader.split_dir(root, "train"),
                        hint=reader.LAYOUT_HINT)
    if report.split("val") is None or report.split("val").with_gt == 0:   # type: ignore[union-attr]
        report.warnings.append("no val split with ground truth: `motip manifest` can lock no val video of it")
    return report


def _toml_string(value: str) -> str:
    return tomlkit.item(value).as_string()


def config_toml(roots: dict[str, Path | None]) -> str:
    """config.toml for the given source roots (absolute), the [builder] section and ``TRAIN_STAGES``; the source
    sections carry Stage 1's budgets, as TRAIN.md's first `config.toml` block writes them."""
    first = TRAIN_STAGES[0]
    lines = [
        "# config.toml: the workspace settings `motip build`, `motip manifest`, `motip queue` and `motip-tui` read.",
        "# Written by `motip init`. Relative paths are relative to this folder. Edit by hand or in the TUI (`e`).",
        f"# The source sections hold Stage 1's ({first.name}) budgets; applying a stage (TUI `a`, or `motip queue`)",
        "# copies its budgets in and disables the sources it does not name.",
        "",
    ]
    hints = {"dancetrack": "{train,val,test}/<seq>/{img1,gt/gt.txt,seqinfo.ini}",
             "bdd": "images/track/{train,val,test}, labels/box_track_20/{train,val}",
             "visdrone": "VisDrone2019-MOT-{train,val,test-dev}/{sequences,annotations}"}
    for source in SECTION_ORDER:
        root = roots.get(source)
        budget = first.budgets.get(source, 0)
        lines.append(f"[{source}]")
        if root is None:
            lines += [f"# not given to `motip init`: set root to the {SOURCE_LABELS[source]} release and "
                      f"`enabled = true` (or rerun `motip init --{source} PATH --force`)",
                      "enabled = false",
                      f"root = {_toml_string(f'data/{source}')}" + f"  # {hints[source]}",
                      "frame_budget = 0"]
        else:
            stage_note = "" if budget else \
                f"  # used from stage {next((s.name for s in TRAIN_STAGES if s.budgets.get(source)), '?')} on"
            lines += [f"enabled = {str(budget > 0).lower()}{stage_note}",
                      f"root = {_toml_string(str(root))}  # {hints[source]}",
                      f"frame_budget = {budget}                     # max training frames from this source"]
        lines += ['splits = ["train"]                      # release splits that feed the training pool',
                  "frame_stride = 1", ""]
    lines += [
        "[builder]",
        f"output = {_toml_string(BUILDER_OUTPUT)}          # the dataset path the trainer reads (a symlink)",
        f"manifest = {_toml_string(MANIFEST)}              # the manifest lock (val/test ids): `motip manifest`",
        f"seed = {SEED}                               # seed of the random choice of training videos",
        "",
        "# TRAIN.md's stages. `budgets` are copied into the source sections when a stage is applied; hours_per_epoch",
        "# and cost_per_hour give the estimate (TRAIN.md's A10G numbers; `motip doctor` and the TUI measure real",
        "# ones).",
    ]
    for stage in TRAIN_STAGES:
        budgets = ", ".join(f"{k} = {v}" for k, v in stage.budgets.items())
        lines += ["", "[[stages]]", f"name = {_toml_string(stage.name)}", f"config = {_toml_string(stage.config)}",
                  f"budgets = {{ {budgets} }}", f"epochs = {stage.epochs}",
                  f"hours_per_epoch = {stage.hours_per_epoch}", f"cost_per_hour = {stage.cost_per_hour}"]
    return "\n".join(lines) + "\n"


def stage_config_names() -> list[str]:
    return [Path(stage.config).name for stage in TRAIN_STAGES]


def _pretrains(configs: dict[str, str]) -> list[tuple[str, list[str]]]:
    """(file under pretrains/, [config files naming it]) in order of first use, from the configs' DETR_PRETRAIN."""
    used: dict[str, list[str]] = {}
    for name, text in configs.items():
        value = (yaml.safe_load(text) or {}).get("DETR_PRETRAIN")
        if isinstance(value, str) and value:
            used.setdefault(Path(value).name, []).append(f"configs/{name}")
    order = stage_config_names() + [BASE_CONFIG]
    return sorted(used.items(), key=lambda item: min(order.index(Path(c).name) for c in item[1]))


def pretrains_readme(configs: dict[str, str]) -> str:
    lines = ["# pretrains/", "",
             "The pretrain files the configs load (`DETR_PRETRAIN`). This tool never downloads anything: fetch them by",
             "hand into this folder under the names below. `motip doctor CONFIG` checks that the file is here, loads",
             "safely and fits the model before a run starts.", "",
             "| file | named by | where from |", "| --- | --- | --- |"]
    for name, users in _pretrains(configs):
        where = PRETRAIN_SOURCES.get(name, "not a known MOTIP release file: put it here yourself")
        lines.append(f"| `pretrains/{name}` | {', '.join(f'`{u}`' for u in users)} | {where} |")
    lines += ["", "For example, on the training machine:", "",
              "    cd pretrains",
              f"    wget -O motip_dancetrack.pth {RELEASES}/v0.1/r50_deformable_detr_motip_dancetrack.pth",
              f"    wget {RELEASES}/v0.1/r50_deformable_detr_coco_dancetrack.pth", "",
              "Stage 1 starts from `motip_dancetrack.pth` (a one-class person tracker; the class head is extended to",
              "person + vehicle when it loads). Stages 2 and 3 start from the previous stage's result.", ""]
    return "\n".join(lines)


def workspace_readme(reports: dict[str, SourceReport], warnings: list[str]) -> str:
    found = [f"- {SOURCE_LABELS[s]}: `{r.root}`; " + ", ".join(
        f"{x.split} {x.videos} videos / {x.frames} frames ({x.with_gt} with ground truth)" for x in r.splits)
        for s, r in reports.items()]
    missing = [f"- {SOURCE_LABELS[s]}: not given (disabled in config.toml)" for s in SECTION_ORDER
               if s not in reports]
    stages = [f"| {s.name} | {', '.join(f'{k} {v}' for k, v in s.budgets.items())} | `{s.config}` | {s.epochs} | "
              f"~{s.epochs * s.hours_per_epoch:.1f} h, ~${s.epochs * s.hours_per_epoch * s.cost_per_hour:.0f} |"
              for s in TRAIN_STAGES]
    lines = ["# MOTIP workspace", "", "Created by `motip init`. Sources found:", "", *found, *missing, ""]
    if warnings:
        lines += ["Warnings at creation:", "", *[f"- {w}" for w in warnings], ""]
    lines += ["TRAIN.md's stages (config.toml `[[stages]]`; estimates are TRAIN.md's A10G numbers):", "",
              "| stage | frame budgets | config | epochs | estimate |", "| --- | --- | --- | --- | --- |", *stages, "",
              "## Next steps (run them in this folder)", "",
              "1. Download the pretrains by hand: see `pretrains/README.md`.",
              "2. Lock the val (and test) videos, the same for every stage:",
              "",
              "       motip manifest --val-per-source 3 --test-per-source 2     # -> manifest.json",
              "",
              "3. Build Stage 1's dataset (its budgets are in config.toml now):",
              "",
              "       motip build                                              # -> datasets/DanceTrack",
              "",
              "4. Preflight before the meter runs (data, pretrain, device memory, one real step, hours and cost):",
              "",
              "       motip doctor configs/stage1_universal_foundation.yaml",
              "",
              "5. Train: `motip train configs/stage1_universal_foundation.yaml --detach`, or open `motip-tui` here,",
              "   or all three stages unattended: `motip queue start --config config.toml`.",
              ""]
    return "\n".join(lines)


def _stage_warnings(reports: dict[str, SourceReport]) -> list[str]:
    warnings = []
    for stage in TRAIN_STAGES:
        for source, budget in stage.budgets.items():
            report = reports.get(source)
            if report is None:
                warnings.append(f"stage {stage.name} takes {budget} {source} frames but no --{source} root was "
                                "given: set its root in config.toml before that stage")
                continue
            train = report.split("train")
            pool = train.gt_frames if train else 0
            if budget > pool:
                warnings.append(f"stage {stage.name} asks for {budget} {source} frames; its train split holds "
                                f"{pool} with ground truth (fewer once val/test are locked): lower the stage's "
                                f"budget in config.toml")
    return warnings


def _planned_files(roots: dict[str, Path | None]) -> dict[str, str]:
    from motip.config import bundled_config_dir

    bundled = bundled_config_dir()
    configs = {name: (bundled / name).read_text(encoding="utf-8") for name in [BASE_CONFIG, *stage_config_names()]}
    files = {f"configs/{name}": text for name, text in configs.items()}
    files["pretrains/README.md"] = pretrains_readme(configs)
    files[CONFIG_FILE] = config_toml(roots)
    return files


def _check_target(folder: Path, files: list[str], force: bool) -> bool:
    """True when ``folder`` is new (absent or an empty folder). Refuses a demo, a file, or an existing workspace
    without ``force``."""
    if folder.exists() and not folder.is_dir():
        raise MotipError("the workspace path exists and is not a folder", path=folder, hint="choose another path")
    if not folder.exists() or not any(folder.iterdir()):
        return True
    if (folder / DEMO_MARKER).is_file():
        raise MotipError("this folder is a demo workspace (synthetic data; `motip demo --force` deletes it whole)",
                         path=folder, hint="create the real workspace in another folder")
    existing = [name for name in files if (folder / name).exists()]
    if existing and not force:
        raise MotipError(f"refusing to overwrite an existing workspace ({', '.join(existing[:3])}"
                         f"{', ...' if len(existing) > 3 else ''} exist)", path=folder / existing[0],
                         hint="choose a new folder, or pass --force to rewrite only the files `motip init` writes "
                              "(config.toml, README.md, configs/, pretrains/README.md; changed ones are kept under "
                              f"{REPLACED_DIR}/); outputs/, datasets/, manifest.json and pretrains are never touched")
    return False


def create_workspace(folder: str | os.PathLike[str], roots: dict[str, str | os.PathLike[str] | None], *,
                     force: bool = False) -> InitResult:
    """Check every given root, then write the workspace (see the module doc). Nothing is written on any error."""
    from motip.atomic import DiskFullError, atomic_write_text

    folder = Path(folder).expanduser().absolute()
    absolute = {s: None if roots.get(s) in (None, "") else Path(roots[s]).expanduser().absolute()  # type: ignore
                for s in SECTION_ORDER}
    reports = {s: inspect_source(s, root) for s, root in absolute.items() if root is not None}
    warnings = _stage_warnings(reports)
    files = _planned_files(absolute)
    validate(tomlkit.parse(files[CONFIG_FILE]).unwrap(), folder / CONFIG_FILE)     # never write an invalid one
    files["README.md"] = workspace_readme(reports, warnings)
    order = [name for name in files if name != CONFIG_FILE] + [CONFIG_FILE]   # config.toml last: "complete"
    if _check_target(folder, list(files), force):
        folder.parent.mkdir(parents=True, exist_ok=True)
        temp = folder.parent / f".{folder.name}.motip-init-{os.getpid()}"
        shutil.rmtree(temp, ignore_errors=True)
        name = ""
        try:
            for name in order:
                (temp / name).parent.mkdir(parents=True, exist_ok=True)
                (temp / name).write_text(files[name], encoding="utf-8")
            # rename(2) replaces an empty folder: the workspace appears whole or not at all.
            name = ""
            os.rename(temp, folder)
        except BaseException as err:
            shutil.rmtree(temp, ignore_errors=True)
            if isinstance(err, OSError):
                raise _write_error(err, folder / name if name else folder, "no workspace was created") from err
            raise
        return InitResult(folder, reports, warnings, order)
    # A folder with other things in it (data, a venv): init's files are added beside them, each atomically.
    new = not any((folder / name).exists() for name in files)
    try:
        kept = _keep_replaced(folder, files)
    except (OSError, DiskFullError) as err:
        raise _write_error(err, folder / REPLACED_DIR, "nothing was rewritten") from err
    for name in order:
        try:
            atomic_write_text(folder / name, files[name])
        except (OSError, DiskFullError) as err:
            raise _write_error(err, folder / name, "the files before it in this list were rewritten: "
                                                  f"{', '.join(order[:order.index(name)]) or 'none'}; config.toml "
                                                  "(written last) is the previous one") from err
    return InitResult(folder, reports, warnings, order, kept, new=new)


def _write_error(err: BaseException, path: Path, what_happened: str) -> MotipError:
    from motip.atomic import DiskFullError, disk_full

    if isinstance(err, DiskFullError) or disk_full(err):
        try:
            where = path.parent if path.parent.exists() else Path(path.anchor)
            free = f"{shutil.disk_usage(where).free / 2 ** 20:.1f} MiB free"
        except OSError:
            free = "free space unknown"
        return MotipError(f"disk full while writing {path.name} ({free})", path=path,
                          hint=f"free space and run `motip init` again; {what_happened}")
    reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    return MotipError(f"cannot write: {reason}", path=path, hint=f"check the folder's permissions; {what_happened}")


def _keep_replaced(folder: Path, files: dict[str, str]) -> Path | None:
    """Copy the files about to be replaced whose text differs to ``.motip/init-replaced/<n>/`` (n: next free)."""
    changed = []
    for name, text in files.items():
        path = folder / name
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if path.is_file() and path.read_text(encoding="utf-8") != text:
                changed.append(name)
    if not changed:
        return None
    base = folder / REPLACED_DIR
    n = 1
    while (base / str(n)).exists():
        n += 1
    target = base / str(n)
    for name in changed:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / name, target / name)
    return target
