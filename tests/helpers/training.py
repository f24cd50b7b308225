"""For the training and tracking tests: a small synthetic workspace built with the real builder (`motip build`), the
tiny CPU config, and running `motip` as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.paths import REPO

TINY = REPO / "configs" / "tiny_cpu.yaml"


def make_workspace(root: Path, *, videos: int = 5, frames: int = 30, budget: int | None = None) -> Path:
    """root/{data/..., manifest.json, config.toml, datasets/DanceTrack/{train,val,test}} via `motip build`."""
    from motip.data.synthetic import write_synthetic_manifest, write_synthetic_sources

    budget = budget or (videos - 3) * frames  # every training frame (train = videos - 3 per source)

    sources = write_synthetic_sources(root / "data", seed=0, dancetrack_videos=videos, bdd_videos=videos,
                                      visdrone_videos=0, frames_per_video=frames)
    write_synthetic_manifest(sources, root / "manifest.json")
    (root / "config.toml").write_text(f"""
[dancetrack]
enabled = true
root = "data/dancetrack"
frame_budget = {budget}

[bdd]
enabled = true
root = "data/bdd100k"
frame_budget = {budget}

[visdrone]
enabled = false
root = "data/visdrone"
frame_budget = 0

[builder]
output = "datasets/DanceTrack"
manifest = "manifest.json"
seed = 1
""", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "motip", "build", "--config", str(root / "config.toml")], cwd=root,
                   check=True, capture_output=True, env=env())
    return root


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["MOTIP_PROGRESS"] = "plain"
    e["OMP_NUM_THREADS"] = "1"
    e["PYTHONUNBUFFERED"] = "1"
    return e


def motip(*args: str, cwd: Path, check: bool = False, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "motip", *args], cwd=cwd, capture_output=True, text=True,
                          env=env(), timeout=timeout, check=check)
