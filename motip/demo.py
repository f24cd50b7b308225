"""The demo workspace: everything TRAIN.md's workflow needs, small and synthetic, so a newcomer sees it all work.

``create_demo(dir)`` writes (torch-free, a few seconds)::

    DIR/.motip/demo.json          marker: this folder is a demo (``--force`` only ever deletes folders carrying it)
    DIR/README.md                 what is synthetic and what to run next
    DIR/config.toml               the workspace: sources under data/, builder, TRAIN.md's three stages, small budgets
    DIR/manifest.json             the manifest lock (val/test video ids) of the synthetic releases
    DIR/data/{dancetrack,bdd100k,visdrone}/   synthetic sources in the original release layouts
    DIR/configs/                  the base config and tiny_cpu.yaml (copied from the project) + the three demo stages

The stage YAMLs keep TRAIN.md's keys where they make sense but inherit ``tiny_cpu.yaml`` (ResNet-18, small images,
2 epochs), so a 2-core CPU trains a stage in minutes; ``DEVICE: auto`` uses a GPU when there is one.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

from motip.errors import MotipError
from motip.workspace import CONFIG_FILE
from motip.workspace_init import BASE_CONFIG, DEMO_MARKER, MANIFEST

MARKER = DEMO_MARKER  # motip.workspace_init's: `motip init` refuses a demo folder by it
TINY_CONFIG = "tiny_cpu.yaml"

# Synthetic release sizes. Many short videos: the training pools hold 15 x 40 = 600 frames (DanceTrack, BDD100K) and
# 10 x 40 = 400 (VisDrone), so Stage 2 really gets twice Stage 1's frames, while the locked val set stays at three
# 40-frame videos (evaluation after every epoch is most of a CPU epoch's time).
DEMO_VIDEOS = {"dancetrack": 18, "bdd": 18, "visdrone": 12}
DEMO_FRAMES_PER_VIDEO = 40
DEMO_IMAGE_SIZE = (320, 192)

# (name, stage YAML, budgets) mirroring TRAIN.md's three stages at demo scale.
DEMO_STAGES: list[tuple[str, str, dict[str, int]]] = [
    ("Foundation", "configs/stage1_demo_foundation.yaml", {"bdd": 300, "dancetrack": 300}),
    ("Refinement", "configs/stage2_demo_refine.yaml", {"bdd": 600, "dancetrack": 600}),
    ("Aerial-Adaptation", "configs/stage3_demo_aerial.yaml", {"visdrone": 400, "bdd": 150, "dancetrack": 150}),
]

_VAL_CONFIG = """\
val_config:
  GT_FOLDER: "./datasets/DanceTrack/val"
  SEQMAP_FILE: "./datasets/DanceTrack/val_seqmap.txt"
  SPLIT_TO_EVAL: "val"
  # pedestrian is checked to catch forgetting, vehicle to see the new class being learnt
  CLASSES_TO_EVAL: [pedestrian, vehicle]
  CLASS_NAME_TO_ID:
    pedestrian: 1
    vehicle: 2
"""

STAGE_YAMLS: dict[str, str] = {
    "configs/stage1_demo_foundation.yaml": """\
# Demo Stage 1 (TRAIN.md "Balanced Foundation") at toy scale: the tiny model of tiny_cpu.yaml, 2 epochs.
# TRAIN.md starts from ./pretrains/motip_dancetrack.pth; the demo trains from scratch (nothing to download).
SUPER_CONFIG_PATH: ./configs/tiny_cpu.yaml
root_path: "."

# 2 Classes (1=Person, 2=Vehicle)
NUM_CLASSES: 2

DETR_PRETRAIN: null
RESUME_OPTIMIZER: False
RESUME_SCHEDULER: False

# LR, LR_BACKBONE, MAX_STEPS_PER_EPOCH (250): tiny_cpu.yaml's (tuned so the tiny model learns in a few CPU minutes).
# From scratch, so TRAIN.md's warm-up: epoch 1 ramps the LR up linearly. Every frame of a clip gets DETR gradients
# (the backbone is frozen, so the 2 extra frames cost next to nothing), and the reference points / sampling offsets
# learn at LR x 0.5 instead of x 0.05: where a from-scratch detector puts its boxes is what it learns last.
# Measured over seeds by bench/train_tiny.py (docs/performance.md "The demo learns").
EPOCHS: 2
LR_WARMUP_EPOCHS: 1
DETR_NUM_TRAIN_FRAMES: 6
LR_LINEAR_PROJ_SCALE: 0.5
BATCH_SIZE: 1
ACCUMULATE_STEPS: 1
DEVICE: auto          # CPU here; a GPU when there is one

OUTPUT_DIR: null      # outputs/stage1_demo_foundation_<timestamp>/

""" + _VAL_CONFIG,
    "configs/stage2_demo_refine.yaml": """\
# Demo Stage 2 (TRAIN.md "Scale & Refine"): twice the frames, starting from Stage 1's best checkpoint.
# DETR_PRETRAIN is left null here on purpose: `motip queue` (and the TUI) pass
#   --DETR_PRETRAIN outputs/stage1_demo_foundation_<ts>/checkpoint_best_hota.pth
# for the run, so this file never needs editing. Run by hand, add that override yourself.
SUPER_CONFIG_PATH: ./configs/tiny_cpu.yaml
root_path: "."

DETR_PRETRAIN: null
RESUME_OPTIMIZER: False

NUM_CLASSES: 2

# TRAIN.md halves the LR for refinement; two toy epochs keep tiny_cpu.yaml's LR (a lower one barely moves a tiny
# model in 2 epochs). On real data use TRAIN.md's stage2_universal_refine.yaml.
EPOCHS: 2
DEVICE: auto

""" + _VAL_CONFIG,
    "configs/stage3_demo_aerial.yaml": """\
# Demo Stage 3 (TRAIN.md "Aerial-Adaptation"): mostly VisDrone plus ground replay, from Stage 2's best checkpoint
# (passed by `motip queue` / the TUI as --DETR_PRETRAIN, like Stage 2).
SUPER_CONFIG_PATH: ./configs/tiny_cpu.yaml
root_path: "."

DETR_PRETRAIN: null

NUM_CLASSES: 2

# VisDrone objects are tiny: TRAIN.md raises the resolution; the demo keeps its small images.
AUG_MAX_SIZE: 320
EPOCHS: 2
DEVICE: auto

""" + _VAL_CONFIG,
}

README = """\
# MOTIP demo workspace (synthetic)

Created by `motip demo` on {created}. Everything here is **synthetic and small** so the whole TRAIN.md workflow
runs on a laptop CPU in minutes:

- `data/dancetrack`, `data/bdd100k`, `data/visdrone`: generated videos in the *original release layouts* of
  DanceTrack, BDD100K (box_track_20) and VisDrone2019-MOT. "People" are tall warm-coloured shapes with a head,
  "vehicles" wide cool-coloured shapes with wheels; a few ignored objects (bicycles, "others") and an ignored
  region are included, as in the real annotations. {videos} videos of {frames} frames at {width}x{height}.
- `manifest.json`: the manifest lock (val/test video ids, never used for training), as TRAIN.md describes.
- `config.toml`: sources, builder and the three stages of TRAIN.md at demo budgets
  (Foundation bdd 300 + dancetrack 300, Refinement 600 + 600, Aerial-Adaptation visdrone 400 + 150 + 150).
- `configs/`: the project's base config and `tiny_cpu.yaml` (a ResNet-18 MOTIP with small images), and three stage
  configs inheriting it (2 epochs each). The numbers a tiny model reaches on toy data say nothing about real MOTIP.

## Try it

    cd {folder}
    motip build --config config.toml                       # dataset for the current budgets -> datasets/DanceTrack
    motip train configs/stage1_demo_foundation.yaml        # 2 epochs, a few minutes on a CPU
    motip dashboard outputs/stage1_demo_foundation_*/train.log
    motip queue start --config config.toml                 # or: all three stages unattended, 1 -> 2 -> 3
    motip queue status

or open the TUI here: `motip-tui --demo {folder}`.
"""


def is_demo(folder: str | os.PathLike[str]) -> bool:
    return (Path(folder) / MARKER).is_file()


def _config_toml(folder: Path) -> str:
    lines = [
        "# Demo workspace (synthetic data, see README.md). Same sections as a real config.toml; relative paths are",
        "# relative to this folder.",
        "",
    ]
    sources = [("bdd", "data/bdd100k", 300, True), ("dancetrack", "data/dancetrack", 300, True),
               ("visdrone", "data/visdrone", 0, False)]
    for name, root, budget, enabled in sources:
        lines += [f"[{name}]", f"enabled = {str(enabled).lower()}", f'root = "{root}"', f"frame_budget = {budget}",
                  'splits = ["train"]', "frame_stride = 1", ""]
    lines += ["[builder]", 'output = "datasets/DanceTrack"          # the symlink the trainer reads',
              f'manifest = "{MANIFEST}"              # manifest lock: val/test ids never used for training',
              "seed = 42", "",
              "# TRAIN.md's three stages at demo scale. hours_per_epoch is a CPU guess; the TUI recalibrates it.", ""]
    for name, config, budgets in DEMO_STAGES:
        inline = ", ".join(f"{k} = {v}" for k, v in budgets.items())
        lines += ["[[stages]]", f'name = "{name}"', f'config = "{config}"', f"budgets = {{ {inline} }}",
                  "epochs = 2", "hours_per_epoch = 0.05", "cost_per_hour = 0.0", ""]
    return "\n".join(lines)


def _check_target(folder: Path, force: bool) -> bool:
    """True when a complete demo already exists there (and is kept). Raises when the folder is not ours to use."""
    if not folder.exists():
        return False
    if not folder.is_dir():
        raise MotipError("the demo path exists and is not a folder", path=folder, hint="choose another path")
    if is_demo(folder):
        if force:
            shutil.rmtree(folder)
            return False
        return (folder / CONFIG_FILE).is_file()
    if any(folder.iterdir()):
        raise MotipError("refusing to create a demo in a folder that is not empty and not a demo workspace",
                         path=folder, hint="choose a new or empty folder (--force only replaces an older demo)")
    return False


def create_demo(folder: str | os.PathLike[str], *, force: bool = False, seed: int = 0) -> Path:
    """Create the demo workspace in ``folder`` and return the folder (absolute).

    An existing complete demo is kept as is (so ``motip-tui --demo DIR`` can call this every time); ``force``
    replaces it. A folder that is neither empty nor a demo is never touched.
    """
    from motip.atomic import atomic_write_json, atomic_write_text
    from motip.config import bundled_config_dir
    from motip.data.synthetic import write_synthetic_sources, write_synthetic_manifest

    folder = Path(folder).expanduser().absolute()
    if _check_target(folder, force):
        return folder
    if folder.exists() and any(folder.iterdir()):
        # A demo interrupted while being written: start it over (it carries our marker, so it is ours).
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # The marker first: an interrupted creation is still recognisably ours and --force / a rerun can clean it.
    atomic_write_json(folder / MARKER, {"created": datetime.now().isoformat(timespec="seconds"), "complete": False,
                                        "seed": seed})
    sources = write_synthetic_sources(folder / "data", seed=seed, dancetrack_videos=DEMO_VIDEOS["dancetrack"],
                                      bdd_videos=DEMO_VIDEOS["bdd"], visdrone_videos=DEMO_VIDEOS["visdrone"],
                                      frames_per_video=DEMO_FRAMES_PER_VIDEO, image_size=DEMO_IMAGE_SIZE)
    write_synthetic_manifest(sources, folder / MANIFEST)

    configs = folder / "configs"
    configs.mkdir()
    bundled = bundled_config_dir()
    for name in (BASE_CONFIG, TINY_CONFIG):
        shutil.copyfile(bundled / name, configs / name)
    for relative, text in STAGE_YAMLS.items():
        atomic_write_text(folder / relative, text)
    (folder / "pretrains").mkdir()  # where TRAIN.md's real runs keep pretrain files; unused by the demo

    created = datetime.now().isoformat(timespec="seconds")
    atomic_write_text(folder / "README.md", README.format(
        created=created, folder=folder, videos=sum(DEMO_VIDEOS.values()), frames=DEMO_FRAMES_PER_VIDEO,
        width=DEMO_IMAGE_SIZE[0], height=DEMO_IMAGE_SIZE[1]))
    # config.toml last: its presence means the workspace is complete.
    atomic_write_text(folder / CONFIG_FILE, _config_toml(folder))
    atomic_write_json(folder / MARKER, {"created": created, "complete": True, "seed": seed,
                                        "stages": [name for name, _, _ in DEMO_STAGES]})
    return folder
