"""The fast clip pipeline (geometry drawn first, each frame decoded once and straight to size, colour jitter on
small uint8 frames) against the reference chain (whole full-size clip: flip, resize, crop, resize, torchvision
ColorJitter): the same random draws give the same boxes and ids, and the same pixels up to rounding."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torchvision.ops import box_convert
from torchvision.transforms import v2

from motip.data.augment import ClipTransform, FrameColorJitter, hflip, random_crop, resize
from motip.data.dataset import BuiltDataset
from motip.errors import DataError

SMALL = {"AUG_RESIZE_SCALES": [64, 72, 80, 96], "AUG_MAX_SIZE": 160, "AUG_RANDOM_RESIZE": [60, 120, 200],
         "AUG_RANDOM_CROP_MIN": 48, "AUG_RANDOM_CROP_MAX": 80, "AUG_OVERFLOW_BBOX": False,
         "AUG_BRIGHTNESS": 0.4, "AUG_CONTRAST": 0.4, "AUG_SATURATION": 0.4, "AUG_HUE": 0.2,
         "AUG_COLOR_JITTER_V2": False, "NUM_ID_VOCABULARY": 50, "AUG_NUM_GROUPS": 2,
         "AUG_TRAJECTORY_OCCLUSION_PROB": 0.5, "AUG_TRAJECTORY_SWITCH_PROB": 0.5}
NO_COLOUR = {**SMALL, "AUG_BRIGHTNESS": 0, "AUG_CONTRAST": 0, "AUG_SATURATION": 0, "AUG_HUE": 0}
ANN_FIELDS = ("id", "category", "bbox", "visibility", "trajectory_id_labels", "trajectory_id_masks",
              "unknown_id_labels", "unknown_ann_idxs")


def reference_transform(cfg: dict, images: list[torch.Tensor], anns: list[dict]):
    """The chain as the official build_transforms runs it, on the whole full-size clip."""
    transform = ClipTransform(cfg)
    clip = torch.stack(images)
    anns = [dict(a, bbox=box_convert(a["bbox"], "xywh", "xyxy")) for a in anns]
    if random.random() < 0.5:
        clip = hflip(clip, anns)
    if random.random() < 0.5:
        clip = resize(clip, anns, cfg["AUG_RESIZE_SCALES"], cfg["AUG_MAX_SIZE"])
    else:
        clip = resize(clip, anns, cfg["AUG_RANDOM_RESIZE"], None)
        clip, anns = random_crop(clip, anns, cfg["AUG_RANDOM_CROP_MIN"], cfg["AUG_RANDOM_CROP_MAX"], False)
        clip = resize(clip, anns, cfg["AUG_RESIZE_SCALES"], cfg["AUG_MAX_SIZE"])
    h, w = clip.shape[-2:]
    for ann in anns:
        ann["bbox"] = box_convert(ann["bbox"], "xyxy", "cxcywh") / torch.tensor([w, h, w, h], dtype=torch.float32)
    clip = v2.ColorJitter(brightness=cfg["AUG_BRIGHTNESS"], contrast=cfg["AUG_CONTRAST"],
                          saturation=cfg["AUG_SATURATION"], hue=cfg["AUG_HUE"])(clip)
    return clip.contiguous(), transform.id_labels(anns)


def smooth_frame(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    coarse = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def clip_annotations(frames: int, h: int, w: int) -> list[dict[str, torch.Tensor]]:
    anns = []
    for t in range(frames):
        boxes = torch.tensor([[10.0 + 3 * t, 20.0, 60.0, 120.0], [w * 0.5, h * 0.3, 80.0, 90.0],
                              [w * 0.8 - 2 * t, h * 0.6, 40.0, 70.0]])
        anns.append({"id": torch.tensor([1, 2, 3 + (t > 1)]), "category": torch.tensor([0, 1, 0]), "bbox": boxes,
                     "visibility": torch.ones(3)})
    return anns


def assert_same_annotations(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for g, r in zip(got, want):
        for name in ANN_FIELDS:
            assert torch.equal(g[name], r[name]), name


def run_seeded(seed: int, fn):
    random.seed(seed)
    torch.manual_seed(seed)
    return fn()


def test_geometry_matches_the_reference_chain() -> None:
    rng = np.random.default_rng(0)
    h, w = 360, 640
    frames = [torch.from_numpy(smooth_frame(rng, h, w)).permute(2, 0, 1) for _ in range(3)]
    anns = clip_annotations(3, h, w)
    seen = set()
    for seed in range(24):
        ref_clip, ref_anns = run_seeded(seed, lambda: reference_transform(NO_COLOUR, frames, anns))
        clip, new_anns, _ = run_seeded(seed, lambda: ClipTransform(NO_COLOUR)(frames, anns, [{}] * 3))
        geometry, _ = run_seeded(seed, lambda: ClipTransform(NO_COLOUR).plan(h, w, anns))
        seen.add((geometry.flip, any(s[0] == "crop" for s in geometry.steps)))
        assert clip.shape == ref_clip.shape and clip.dtype == torch.uint8 and clip.is_contiguous()
        assert_same_annotations(new_anns, ref_anns)
        # Mirroring after resizing instead of before: the same maths, rounding may move a level.
        assert (clip.int() - ref_clip.int()).abs().max() <= 1
    assert seen == {(False, False), (False, True), (True, False), (True, True)}
    for a in anns:  # the caller's annotations are never modified
        assert a["bbox"].shape == (3, 4) and a["bbox"][0, 2] == 60.0


def test_frame_color_jitter_matches_torchvision() -> None:
    rng = np.random.default_rng(1)
    frames = [smooth_frame(rng, 90, 160) for _ in range(4)]
    clip = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()
    jitter = FrameColorJitter(0.4, 0.4, 0.4, 0.2)
    for seed in range(12):
        torch.manual_seed(seed)
        params = jitter.draw()
        want = jitter.reference.transform(clip, params)
        got = torch.stack([torch.from_numpy(jitter.apply(f, params, bgr=False)).permute(2, 0, 1) for f in frames])
        bgr = [jitter.apply(np.ascontiguousarray(f[..., ::-1]), params, bgr=True)[..., ::-1] for f in frames]
        got_bgr = torch.from_numpy(np.stack(bgr)).permute(0, 3, 1, 2)
        for ours in (got, got_bgr):  # either channel order
            diff = (ours.int() - want.int()).abs()
            assert diff.float().mean() < 1.5 and diff.max() <= 16, (seed, diff.float().mean(), diff.max())
    # Brightness alone is exact (the same float32 formula, as a lookup table); contrast within a level (its mean
    # grey is summed in another order).
    for name, bound in (("brightness", 0), ("contrast", 1)):
        single = FrameColorJitter(**{k: (0.4 if k == name else 0) for k in
                                     ("brightness", "contrast", "saturation", "hue")})
        torch.manual_seed(3)
        params = single.draw()
        want = single.reference.transform(clip, params)
        got = torch.stack([torch.from_numpy(single.apply(f, params, bgr=False)).permute(2, 0, 1) for f in frames])
        assert (got.int() - want.int()).abs().max() <= bound, name


def write_sequence(split_dir: Path, name: str, frames: int, h: int, w: int) -> None:
    rng = np.random.default_rng(2)
    seq = split_dir / name
    (seq / "img1").mkdir(parents=True)
    (seq / "gt").mkdir()
    (seq / "seqinfo.ini").write_text(f"[Sequence]\nname={name}\nimDir=img1\nframeRate=10\nseqLength={frames}\n"
                                     f"imWidth={w}\nimHeight={h}\nimExt=.jpg\n", encoding="utf-8")
    lines = []
    for t, ann in enumerate(clip_annotations(frames, h, w), 1):
        for i, c, (x, y, bw, bh) in zip(ann["id"].tolist(), ann["category"].tolist(), ann["bbox"].tolist()):
            lines.append(f"{t},{i},{x},{y},{bw},{bh},1,{c + 1},1\n")
        cv2.imwrite(str(seq / "img1" / f"{t:08d}.jpg"), smooth_frame(rng, h, w), [cv2.IMWRITE_JPEG_QUALITY, 95])
    (seq / "gt" / "gt.txt").write_text("".join(lines), encoding="utf-8")
    (seq / "gt" / "ignore.txt").write_text("".join(f"{t},-1,500.5,10.5,100,60,0,-1,-1\n"
                                                   for t in range(1, frames + 1)), encoding="utf-8")


@pytest.fixture()
def dataset(tmp_path: Path) -> BuiltDataset:
    write_sequence(tmp_path / "Set" / "train", "seq1", 4, 360, 640)
    return BuiltDataset(tmp_path, ["Set"], ["train"], num_classes=2, transforms=ClipTransform(SMALL))


def test_dataset_decodes_to_size_like_the_reference(dataset: BuiltDataset) -> None:
    key = ("Set", "train", "seq1")
    item = {"dataset": "Set", "split": "train", "sequence": "seq1", "frame_idxs": [0, 1, 3]}
    before = [{k: v.clone() for k, v in a.items()} for a in dataset.annotations[key]]
    reductions = set()
    for seed in range(16):
        clip, anns, metas = run_seeded(seed, lambda: dataset[item])
        images = dataset.load_clip_images(key, item["frame_idxs"])
        ref_anns_in = [dict(dataset.annotations[key][i]) for i in item["frame_idxs"]]
        ref_clip, ref_anns = run_seeded(seed, lambda im=images, an=ref_anns_in: reference_transform(SMALL, im, an))
        geometry, _ = run_seeded(seed, lambda an=ref_anns_in: dataset.transforms.plan(360, 640, an))
        reductions.add(geometry.decode_reduction())
        assert clip.shape == ref_clip.shape
        assert_same_annotations(anns, ref_anns)
        assert [m["frame_idx"] for m in metas] == item["frame_idxs"]
        # A reduced decode filters differently from the antialiased resize; colour jitter rounds differently.
        assert (clip.float() - ref_clip.float()).abs().mean() < 3.0
    assert reductions >= {1, 2, 4}  # the exact and the reduced decode paths both ran
    for a, b in zip(dataset.annotations[key], before):  # the in-memory annotations are never modified
        assert all(torch.equal(a[k], b[k]) for k in b)


def test_reduced_decode_paints_ignore_regions_and_checks_the_size(dataset: BuiltDataset, tmp_path: Path) -> None:
    key = ("Set", "train", "seq1")
    for reduction in (1, 2, 4):
        frame = dataset.read_frame(key, 0, reduction)
        assert frame.shape == (360 // reduction, 640 // reduction, 3)
        s = 1 / reduction
        inside = frame[int(12 * s) + 1:int(69 * s) - 1, int(502 * s) + 1:int(599 * s) - 1]
        assert inside.size and (inside == 128).all()
    bad = tmp_path / "Set" / "train" / "seq1" / "img1" / "00000002.jpg"
    cv2.imwrite(str(bad), np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(DataError, match="seqinfo.ini says 640x360"):
        dataset.read_frame(key, 1)


def test_annotations_are_flat_arrays_with_the_per_frame_view(dataset: BuiltDataset, tmp_path: Path) -> None:
    from motip.data import mot_files

    key = ("Set", "train", "seq1")
    seq_dir = tmp_path / "Set" / "train" / "seq1"
    by_frame = mot_files.read_gt(seq_dir).boxes_by_frame(4)
    frames = dataset.annotations[key]
    assert len(frames) == 4 and len(list(frames)) == 4
    for t in range(4):
        rows = by_frame[t + 1]
        ann = frames[t]
        assert ann["id"].tolist() == rows.id.tolist()
        assert ann["category"].tolist() == (rows.cls - 1).tolist()
        assert torch.equal(ann["bbox"], torch.as_tensor(rows.xywh, dtype=torch.float32).reshape(-1, 4))
        assert ann["id"].dtype == torch.int64 and ann["visibility"].dtype == torch.float32
        ann["bbox"] += 1  # a caller's copy: the stored arrays do not change
        assert torch.equal(frames[t]["bbox"], torch.as_tensor(rows.xywh, dtype=torch.float32).reshape(-1, 4))
    assert dataset.is_legal[key].tolist() == [True] * 4
