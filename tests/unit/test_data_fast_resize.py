"""The cheaper pixel work of the clip pipeline: ``resample`` (torchvision's antialiased filter for a reduction,
OpenCV's bilinear for an enlargement), colour jitter compiled once per clip (fused tables, a saturation matrix), the
clip and its mask made in shared memory inside DataLoader workers, and the ID-label columns filled in one
assignment. Each is checked against the plain computation it replaces."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader
from torchvision.transforms.v2 import functional as F

from motip.data.augment import (DECODE_ENLARGEMENT, ClipGeometry, ClipTransform, FrameColorJitter,
                                TrajectoryAugment, collate_clips, resample)
from motip.data.dataset import BuiltDataset

STAGE_LIKE = {"AUG_RESIZE_SCALES": [96, 112, 128], "AUG_MAX_SIZE": 200, "AUG_RANDOM_RESIZE": [80, 100, 120],
              "AUG_RANDOM_CROP_MIN": 64, "AUG_RANDOM_CROP_MAX": 100, "AUG_OVERFLOW_BBOX": False,
              "AUG_BRIGHTNESS": 0.4, "AUG_CONTRAST": 0.4, "AUG_SATURATION": 0.4, "AUG_HUE": 0.2,
              "AUG_COLOR_JITTER_V2": False, "NUM_ID_VOCABULARY": 50, "AUG_NUM_GROUPS": 2,
              "AUG_TRAJECTORY_OCCLUSION_PROB": 0.5, "AUG_TRAJECTORY_SWITCH_PROB": 0.5}


def camera_like_frame(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth colour field with sensor-like noise and hard-edged boxes: detail at every scale, as in video."""
    rng = np.random.default_rng(seed)
    field = cv2.resize(rng.integers(30, 225, size=(7, 12, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    frame = np.clip(field.astype(np.int16) + rng.normal(0, 6, size=(h, w, 3)).astype(np.int16), 0, 255)
    frame = frame.astype(np.uint8)
    for _ in range(8):
        x, y = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 30))
        cv2.rectangle(frame, (x, y), (x + int(rng.integers(8, 60)), y + int(rng.integers(15, 90))),
                      rng.integers(0, 256, 3).tolist(), -1)
    return frame


def torchvision_resize(frame: np.ndarray, h: int, w: int) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)
    return F.resize(x, [h, w], antialias=True).permute(1, 2, 0).contiguous().numpy()


def test_resample_matches_torchvision_and_gives_the_exact_size() -> None:
    frame = camera_like_frame(270, 480)
    for h, w in [(141, 250), (136, 242), (270, 480), (300, 533), (400, 711), (271, 479), (135, 481)]:
        out = resample(frame, h, w)
        assert out.shape == (h, w, 3) and out.dtype == np.uint8
        diff = np.abs(out.astype(int) - torchvision_resize(frame, h, w))
        if h <= 270 or w <= 480:  # a side shrinks: torchvision's own filter
            assert diff.max() == 0, (h, w)
        else:  # an enlargement by OpenCV: the same bilinear filter up to rounding
            assert diff.max() <= 1 and diff.mean() < 0.3, (h, w, diff.max(), diff.mean())
    assert resample(frame, 270, 480) is frame
    crop = frame[10:200, 30:300]  # a crop is a view with a row stride: both paths take it as it is
    assert np.array_equal(resample(crop, 300, 426), cv2.resize(np.ascontiguousarray(crop), (426, 300),
                                                               interpolation=cv2.INTER_LINEAR))
    assert np.array_equal(resample(crop, 95, 135), torchvision_resize(crop, 95, 135))


def test_planned_geometry_keeps_boxes_and_sizes() -> None:
    h, w = 270, 480
    frame = camera_like_frame(h, w, seed=1)
    boxes = torch.tensor([[20.0, 30.0, 60.0, 120.0], [200.0, 50.0, 80.0, 90.0], [400.0, 150.0, 40.0, 70.0]])
    ann = {"id": torch.tensor([1, 2, 3]), "category": torch.tensor([0, 0, 1]), "bbox": boxes,
           "visibility": torch.ones(3)}
    transform = ClipTransform(STAGE_LIKE)
    seen_crop = seen_up = False
    for seed in range(20):
        random.seed(seed)
        geometry, anns = transform.plan(h, w, [dict(ann)])
        out = geometry.apply(frame)
        assert out.shape[:2] == geometry.output_hw and out.flags["C_CONTIGUOUS"]
        # Normalised boxes lie in the frame and the planned output size is the last resize's target.
        assert (anns[0]["bbox"] >= 0).all() and (anns[0]["bbox"][:, :2] <= 1).all()
        crops = [s for s in geometry.steps if s[0] == "crop"]
        seen_crop |= bool(crops)
        if crops:
            last = geometry.steps[-1]
            seen_up |= last[1] > crops[0][3]
    assert seen_crop and seen_up  # the crop branch and an enlargement after it both ran
    assert torch.equal(ann["bbox"], boxes)  # the caller's boxes are never modified


def test_reduced_decode_may_be_enlarged_a_little(tmp_path: Path) -> None:
    assert DECODE_ENLARGEMENT == 1.05

    def reduction(h: int, w: int) -> int:
        return ClipGeometry(1080, 1920, (("resize", h, w),), False).decode_reduction()

    # Stage 1 at 1080p: 540 lines enlarged to 562 (4%); 600 lines would be 11%, so the full frame is decoded.
    assert [reduction(562, 1000), reduction(544, 967), reduction(540, 960), reduction(600, 1067)] == [2, 2, 2, 1]
    assert [reduction(283, 503), reduction(284, 505), reduction(141, 251), reduction(142, 252)] == [4, 2, 8, 4]
    path = tmp_path / "frame.jpg"
    cv2.imwrite(str(path), camera_like_frame(540, 960, seed=4), [cv2.IMWRITE_JPEG_QUALITY, 90])
    geometry = ClipGeometry(540, 960, (("resize", 281, 500),), False)
    assert geometry.decode_reduction() == 2
    got = geometry.apply(cv2.imread(str(path), cv2.IMREAD_REDUCED_COLOR_2))
    want = torchvision_resize(cv2.imread(str(path)), 281, 500)
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want).mean() < 1.5


def test_compiled_colour_steps_equal_the_operations_one_by_one() -> None:
    frames = [camera_like_frame(90, 160, seed=s) for s in range(3)]
    jitter = FrameColorJitter(0.4, 0.4, 0.4, 0.2)
    fused_runs = 0
    for seed in range(16):
        torch.manual_seed(seed)
        params = jitter.draw()
        steps = jitter.steps(params, bgr=True)
        fused_runs += sum(1 for kind, value in steps if kind == "tables" and len(value) > 1)
        for frame in frames:
            want = frame
            for fn_id in params["fn_idx"].tolist():  # each operation alone, in the drawn order
                want = jitter.apply(want, dict(params, fn_idx=torch.tensor([fn_id])), bgr=True)
            # Brightness and contrast fused into one table: the same bits as one table after the other.
            assert np.array_equal(jitter.apply_steps(frame, steps, bgr=True), want), seed
    assert fused_runs > 0


def test_saturation_matrix_is_within_a_level_of_torchvision() -> None:
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, size=(64, 96, 3), dtype=np.uint8)
    image = torch.from_numpy(frame).permute(2, 0, 1)
    jitter = FrameColorJitter(0, 0, 0.4, 0)
    for factor in np.linspace(0.6, 1.4, 17):
        params = {"fn_idx": torch.tensor([2]), "brightness_factor": None, "contrast_factor": None,
                  "saturation_factor": float(factor), "hue_factor": None}
        want = F.adjust_saturation(image, float(factor)).permute(1, 2, 0).numpy()
        for bgr in (False, True):
            src = np.ascontiguousarray(frame[..., ::-1]) if bgr else frame
            got = jitter.apply(src, params, bgr=bgr)
            got = got[..., ::-1] if bgr else got
            assert np.abs(got.astype(int) - want.astype(int)).max() <= 1, (factor, bgr)


def test_id_columns_follow_the_ids() -> None:
    anns = [{"id": torch.tensor(ids)} for ids in ([7, 3, 9], [3, 7], [], [12, 9, 3, 7], [12])]
    out = TrajectoryAugment(num_id_vocabulary=50, num_groups=3, occlusion_prob=0.0, switch_prob=0.0)(anns)
    ids = [3, 7, 9, 12]  # column n = the n-th smallest id of the clip
    for t, ann in enumerate(out):
        idxs, masks = ann["unknown_ann_idxs"][:, 0], ann["unknown_id_masks"][:, 0]
        labels = ann["trajectory_id_labels"][:, 0]
        assert idxs.shape == (3, len(ids))
        for n, obj in enumerate(ids):
            rows = (anns[t]["id"] == obj).nonzero()[:, 0].tolist()
            assert masks[:, n].tolist() == [not rows] * 3
            assert idxs[:, n].tolist() == [rows[0] if rows else -1] * 3
        assert torch.equal(labels, out[0]["trajectory_id_labels"][:, 0])  # one ID word per object for the clip


def write_sequence(split_dir: Path, frames: int, h: int, w: int) -> None:
    seq = split_dir / "seq1"
    (seq / "img1").mkdir(parents=True)
    (seq / "gt").mkdir()
    (seq / "seqinfo.ini").write_text(f"[Sequence]\nname=seq1\nimDir=img1\nframeRate=10\nseqLength={frames}\n"
                                     f"imWidth={w}\nimHeight={h}\nimExt=.jpg\n", encoding="utf-8")
    lines = []
    for t in range(1, frames + 1):
        cv2.imwrite(str(seq / "img1" / f"{t:08d}.jpg"), camera_like_frame(h, w, seed=t), [cv2.IMWRITE_JPEG_QUALITY, 90])
        lines += [f"{t},1,{20 + t},30,60,120,1,1,1\n", f"{t},2,200,50,80,90,1,1,1\n"]
    (seq / "gt" / "gt.txt").write_text("".join(lines), encoding="utf-8")


def _seeded_worker(worker_id: int) -> None:
    random.seed(5)
    torch.manual_seed(5)


def test_worker_clips_come_in_shared_memory_with_the_same_pixels(tmp_path: Path) -> None:
    write_sequence(tmp_path / "Set" / "train", 3, 270, 480)
    dataset = BuiltDataset(tmp_path, ["Set"], ["train"], num_classes=1, transforms=ClipTransform(STAGE_LIKE))
    item = {"dataset": "Set", "split": "train", "sequence": "seq1", "frame_idxs": [0, 1, 2]}
    loader = DataLoader([item], batch_size=1, num_workers=1, collate_fn=lambda b: collate_clips([dataset[b[0]]]),
                        worker_init_fn=_seeded_worker)
    batch = next(iter(loader))
    _seeded_worker(0)
    local = collate_clips([dataset[item]])
    clip, mask = batch["images"].tensors, batch["images"].mask
    assert clip.is_shared() and mask.is_shared()  # made there, so the loader had nothing to copy
    assert not local["images"].tensors.is_shared()
    assert torch.equal(clip, local["images"].tensors) and clip.is_contiguous()
    assert mask.shape == local["images"].mask.shape and not mask.any()
    assert torch.equal(batch["annotations"][0][0]["bbox"], local["annotations"][0][0]["bbox"])
