"""Pieces of the trainer on their own: param groups and the LR schedule (LR_DROP as TRAIN.md means it), clip
sampling, trajectory augmentation, and AMP training steps on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from motip.config import load_config
from motip.data.augment import TrajectoryAugment, collate_clips
from motip.data.sampler import clip_settings
from motip.engine.optim import build_optimizer, group_lr, param_groups, warmup_lr
from motip.model import build_model

from tests.helpers.training import TINY, make_workspace, motip

# The schedule is stepped without optimiser steps on purpose (we only read its LR).
pytestmark = pytest.mark.filterwarnings(r"ignore:Detected call of `lr_scheduler.step\(\)`:UserWarning")


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return build_model(load_config(TINY))


def test_param_groups_follow_train_md(model: torch.nn.Module) -> None:
    config = load_config(TINY, {"LR": 2e-5, "LR_BACKBONE": 2e-6, "LR_DROP": 7, "EPOCHS": 10})
    groups = {g["name"]: g for g in param_groups(model, config)}
    assert groups["backbone"]["lr"] == pytest.approx(2e-6)  # absolute LR_BACKBONE
    assert groups["linear_proj"]["lr"] == pytest.approx(2e-5 * config["LR_LINEAR_PROJ_SCALE"])
    assert groups["dictionary"]["lr"] == pytest.approx(2e-5 * config["LR_DICTIONARY_SCALE"])
    assert groups["other"]["lr"] == pytest.approx(2e-5)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all("backbone.0" in names[id(p)] for p in groups["backbone"]["params"])
    assert any("sampling_offsets" in names[id(p)] for p in groups["linear_proj"]["params"])
    assert any("word_to_embed" in names[id(p)] for p in groups["dictionary"]["params"])
    total = sum(len(g["params"]) for g in groups.values())
    assert total == sum(1 for p in model.parameters() if p.requires_grad)  # every parameter exactly once


def test_lr_drop_7_means_epochs_8_to_10_at_gamma(model: torch.nn.Module) -> None:
    config = load_config(TINY, {"LR": 2e-5, "LR_DROP": 7, "SCHEDULER_GAMMA": 0.1})
    optimizer, scheduler = build_optimizer(model, config)
    lrs = []
    for _epoch in range(10):  # 1-based epoch = index + 1
        lrs.append(group_lr(optimizer, "other"))
        scheduler.step()
    assert lrs[:7] == [pytest.approx(2e-5)] * 7
    assert lrs[7:] == [pytest.approx(2e-6)] * 3
    # Without LR_DROP the official SCHEDULER_MILESTONES apply.
    config = load_config(TINY, {"LR_DROP": None, "SCHEDULER_MILESTONES": [2]})
    optimizer, scheduler = build_optimizer(model, config)
    scheduler.step()
    scheduler.step()
    assert group_lr(optimizer, "other") == pytest.approx(config["LR"] * config["SCHEDULER_GAMMA"])


def test_warmup_scales_every_group(model: torch.nn.Module) -> None:
    config = load_config(TINY, {"LR": 1e-4, "LR_BACKBONE": 1e-5})
    optimizer, _ = build_optimizer(model, config)
    warmup_lr(optimizer, 1e-4, epoch=0, step=4, steps_per_epoch=10, warmup_epochs=1)
    assert group_lr(optimizer, "other") == pytest.approx(0.5e-4)
    assert group_lr(optimizer, "backbone") == pytest.approx(0.5e-5)


def test_clip_settings_follow_sample_steps() -> None:
    assert clip_settings(0, [0, 3], [2, 4], [1, 2]) == (2, 1)
    assert clip_settings(3, [0, 3], [2, 4], [1, 2]) == (4, 2)
    with pytest.raises(ValueError):
        clip_settings(0, [1], [2], [1])


def _clip(ids_per_frame: list[list[int]]) -> list[dict[str, torch.Tensor]]:
    return [{"id": torch.tensor(ids, dtype=torch.int64), "category": torch.zeros(len(ids), dtype=torch.int64),
             "bbox": torch.rand(len(ids), 4), "visibility": torch.ones(len(ids))} for ids in ids_per_frame]


def test_trajectory_augment_newborn_and_groups() -> None:
    torch.manual_seed(0)
    anns = TrajectoryAugment(num_id_vocabulary=10, num_groups=3, occlusion_prob=0.0, switch_prob=0.0)(
        _clip([[7], [7, 9], [9]]))
    labels = torch.cat([a["unknown_id_labels"] for a in anns], dim=1)  # [G,T,N], objects sorted: 7, 9
    traj = torch.cat([a["trajectory_id_labels"] for a in anns], dim=1)
    masks = torch.cat([a["unknown_id_masks"] for a in anns], dim=1)
    assert labels.shape == (3, 3, 2)
    assert (labels[:, 0, 0] == 10).all()                   # object 7 is newborn in frame 0
    assert (labels[:, 1, 0] == traj[:, 1, 0]).all()         # ... and known in frame 1
    assert (labels[:, 1, 1] == 10).all()                    # object 9 is newborn in frame 1
    assert masks[:, 0, 1].all() and masks[:, 2, 0].all()    # absent objects are masked
    assert (traj[:, 0, 0] != traj[:, 0, 1]).all()           # distinct words per object
    # More objects than words: a random subset of NUM_ID_VOCABULARY objects is trained.
    anns = TrajectoryAugment(num_id_vocabulary=2, num_groups=1, occlusion_prob=0.5, switch_prob=0.5)(
        _clip([[1, 2, 3, 4]] * 4))
    assert anns[0]["trajectory_id_labels"].shape == (1, 1, 2)


def test_collate_pads_images_and_ids() -> None:
    aug = TrajectoryAugment(num_id_vocabulary=5, num_groups=1, occlusion_prob=0.0, switch_prob=0.0)
    a = (torch.zeros((2, 3, 10, 12), dtype=torch.uint8), aug(_clip([[1], [1]])), [{}, {}])
    b = (torch.zeros((2, 3, 8, 16), dtype=torch.uint8), aug(_clip([[1, 2], [2]])), [{}, {}])
    batch = collate_clips([a, b])
    assert batch["images"].tensors.shape == (2, 2, 3, 10, 16)
    assert batch["images"].mask[0, :, :, 12:].all() and not batch["images"].mask[0, :, :10, :12].any()
    padded = batch["annotations"][0][1]
    assert padded["unknown_id_masks"].shape == (1, 1, 2) and padded["unknown_id_masks"][0, 0, 1]


@pytest.mark.parametrize("dtype", ["BF16", "FP16"])
def test_amp_training_steps(dtype: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    workspace = make_workspace(tmp_path_factory.mktemp(f"ws_{dtype}"), videos=4, frames=10)
    run_dir = workspace / "run"
    result = motip("train", str(TINY), "--TRAIN_DTYPE", dtype, "--EPOCHS", "1", "--MAX_STEPS_PER_EPOCH", "2",
                   "--ACCUMULATE_STEPS", "2", "--VAL_EVERY_EPOCHS", "0", "--OUTPUT_DIR", str(run_dir), cwd=workspace)
    assert result.returncode == 0, result.stderr[-3000:]
    text = (run_dir / "train.log").read_text()
    assert text.count("[train]") == 2 and "[end] status=finished" in text
    assert Path(run_dir / "checkpoint_last.pth").is_file()


def test_built_dataset_reads_classes_and_paints_ignore_regions(tmp_path: Path) -> None:
    from motip.data.dataset import BuiltDataset

    workspace = make_workspace(tmp_path / "ws", videos=4, frames=10)
    root = workspace / "datasets"
    dataset = BuiltDataset(root, ["DanceTrack"], ["train"], num_classes=2)
    categories = torch.cat([a["category"] for frames in dataset.annotations.values() for a in frames])
    assert set(categories.tolist()) == {0, 1}  # person and vehicle both train with NUM_CLASSES 2
    person_only = BuiltDataset(root, ["DanceTrack"], ["train"], num_classes=1)
    assert set(torch.cat([a["category"] for f in person_only.annotations.values() for a in f]).tolist()) == {0}
    key, regions = next((k, r) for k, r in dataset.ignores.items() if r)
    frame, boxes = next(iter(regions.items()))
    x, y, w, h = (int(v) for v in boxes[0])
    image = dataset.load_clip_images(key, [frame - 1])[0]
    inside = image[:, max(y, 0) + 1:y + h - 1, max(x, 0) + 1:x + w - 1]
    assert inside.numel() > 0 and (inside == 128).all()  # painted mid-grey: never trained as object or background


def test_detr_on_clip_returns_every_frame_in_clip_order(model: torch.nn.Module) -> None:
    # motip.model.frames: frames with and without gradients, in chunks or not, come back in (clip, frame) order and
    # equal DETR on all frames at once (eval mode: no dropout; the tiny model's frames are independent).
    from motip.data.augment import NestedFrames
    from motip.model.frames import cat_outputs, clip_pixels, detr_on_clip, index_outputs

    torch.manual_seed(0)
    B, T, H, W = 2, 3, 64, 96
    images = NestedFrames(torch.randint(0, 256, (B, T, 3, H, W), dtype=torch.uint8),
                          torch.zeros((B, T, H, W), dtype=torch.bool))
    pixels, pad = clip_pixels(images, torch.device("cpu"))
    model.eval()
    with torch.no_grad():
        whole = model(frames=NestedFrames(pixels.flatten(0, 1), pad.flatten(0, 1)), part="detr")
        for train_frames, checkpoint_frames in ((1, 0), (2, 1), (T, 0), (0, 2)):
            outputs = detr_on_clip(model, pixels, pad, train_frames, checkpoint_frames)
            assert outputs["pred_boxes"].shape[0] == B * T and outputs["pred_logits"].dtype == torch.float32
            for key in ("pred_logits", "pred_boxes", "outputs"):
                assert torch.allclose(outputs[key], whole[key], atol=1e-4), (key, train_frames, checkpoint_frames)
            assert len(outputs["aux_outputs"]) == len(whole["aux_outputs"])
            assert torch.allclose(outputs["aux_outputs"][0]["pred_boxes"], whole["aux_outputs"][0]["pred_boxes"],
                                  atol=1e-4)
    model.train()
    # cat_outputs and index_outputs are inverse shuffles of the same frames.
    halves = cat_outputs(index_outputs(whole, torch.tensor([3, 4, 5])), index_outputs(whole, torch.tensor([0, 1, 2])))
    back = index_outputs(halves, torch.tensor([3, 4, 5, 0, 1, 2]))
    assert torch.equal(back["pred_boxes"], whole["pred_boxes"])
    assert cat_outputs(None, whole) is whole and cat_outputs(whole, None) is whole


def test_gradient_clipping_measures_and_limits_each_part() -> None:
    from motip.engine.train import Trainer

    detr, other = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))
    detr.grad, other.grad = torch.tensor([3.0, 4.0]), torch.tensor([12.0])
    norms = Trainer._clip_gradients([detr], [other], max_norm=0.0, separate=True)  # 0: measure only
    assert norms == {"grad_norm": 13.0, "grad_norm_detr": 5.0, "grad_norm_id": 12.0}
    assert detr.grad.tolist() == [3.0, 4.0]
    norms = Trainer._clip_gradients([detr], [other], max_norm=1.0, separate=False)
    assert norms["grad_norm"] == norms["grad_norm_detr"] == norms["grad_norm_id"] == pytest.approx(13.0)
    assert float(torch.cat([detr.grad, other.grad]).norm()) == pytest.approx(1.0, rel=1e-4)
