"""motip.data.synthetic: learnable, deterministic, quirky releases; and the builder modules stay torch-free."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from motip.data.builder import build_status
from motip.data.readers import bdd100k, dancetrack, visdrone
from motip.data.synthetic import write_synthetic_manifest, write_synthetic_sources
from motip.errors import DataError


def _mean_bgr(image: np.ndarray, box) -> np.ndarray:
    x, y, w, h = (int(v) for v in (box.x, box.y, box.w, box.h))
    core = image[y + h // 3: y + h - h // 4, x + w // 4: x + w - w // 4]
    return core.reshape(-1, 3).mean(axis=0)


def test_people_and_vehicles_look_different_and_move(tmp_path: Path) -> None:
    sources = write_synthetic_sources(tmp_path, dancetrack_videos=0, visdrone_videos=0, bdd_videos=8,
                                      frames_per_video=30)
    videos = [v for v in bdd100k.list_videos(sources["bdd"]) if v.has_gt]
    warm, cool, tall, wide, entries, moved = 0, 0, 0, 0, 0, 0
    for video in videos:
        ann = bdd100k.read_annotations(video)
        first_seen: dict[str, int] = {}
        positions: dict[str, list[float]] = {}
        for box in ann.boxes:
            first_seen.setdefault(box.track, box.frame)
            positions.setdefault(box.track, []).append(box.x)
            if box.frame % 10 == 5 and box.visibility == 1.0 and box.w > 8 and box.h > 8:
                b, g, r = _mean_bgr(cv2.imread(str(video.image_path(box.frame))), box)
                if box.cls == 1:
                    warm += r > b
                    tall += box.h > box.w
                else:
                    cool += b > r
                    wide += box.w > box.h
        entries += sum(frame > 2 for frame in first_seen.values())
        moved += sum(max(xs) - min(xs) > 5 for xs in positions.values())
    assert warm > 5 and cool > 5 and tall > 5 and wide > 5       # person = tall warm, vehicle = wide cool
    assert entries > 0 and moved > 5


def test_deterministic_by_seed_and_refuses_existing_folder(tmp_path: Path) -> None:
    a = write_synthetic_sources(tmp_path / "a", seed=3, frames_per_video=5)
    b = write_synthetic_sources(tmp_path / "b", seed=3, frames_per_video=5)
    for source in a:
        files_a = sorted(p.relative_to(a[source]) for p in a[source].rglob("*") if p.is_file())
        files_b = sorted(p.relative_to(b[source]) for p in b[source].rglob("*") if p.is_file())
        assert files_a == files_b
        for rel in files_a:
            if rel.suffix in (".txt", ".json", ".ini"):
                assert (a[source] / rel).read_bytes() == (b[source] / rel).read_bytes()
    with pytest.raises(DataError, match="existing folder"):
        write_synthetic_sources(tmp_path / "a", frames_per_video=5)


def test_quirks_present_and_manifest_points_at_gt(tmp_path: Path) -> None:
    sources = write_synthetic_sources(tmp_path / "src", frames_per_video=10)
    manifest = write_synthetic_manifest(sources, tmp_path / "manifest.json")
    assert all(len(manifest[s][src]) == 1 for s in ("val", "test") for src in sources)
    vd = [v for v in visdrone.list_videos(sources["visdrone"]) if v.split == "train"][0]
    rows = [r.split(",") for r in vd.annotation.read_text().splitlines()]
    assert any(r[1] == "0" and r[7] == "0" and r[6] == "0" for r in rows)     # ignored region
    assert any(r[6] == "0" and r[7] != "0" for r in rows)                       # score-0 object
    assert not any(v.has_gt for v in dancetrack.list_videos(sources["dancetrack"]) if v.split == "test")
    by_id = {v.video_id: v for src in ("dancetrack", "bdd") for v in
             (dancetrack if src == "dancetrack" else bdd100k).list_videos(sources[src])}
    for split in ("val", "test"):
        for src in ("dancetrack", "bdd"):
            assert by_id[manifest[split][src][0]].has_gt


def test_builder_modules_import_without_torch(tmp_path: Path) -> None:
    code = ("import sys, motip.data.builder, motip.data.synthetic, motip.commands.build; "
            "bad = [m for m in ('torch', 'torchvision') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_build_status_before_and_with_a_real_directory(tmp_path: Path) -> None:
    from motip.workspace import load_workspace

    (tmp_path / "config.toml").write_text('[builder]\noutput = "datasets/DanceTrack"\n')
    status = build_status(load_workspace(tmp_path / "config.toml"))
    assert status["built"] is False and status["problem"] == "not built yet"
    (tmp_path / "datasets/DanceTrack").mkdir(parents=True)
    status = build_status(tmp_path / "config.toml")
    assert status["built"] is False and "real directory" in status["problem"]
