"""For the builder tests: a synthetic workspace (sources, manifest.json) and its config.toml."""

from __future__ import annotations

import json
from pathlib import Path

from motip.data.synthetic import write_synthetic_manifest, write_synthetic_sources

CONFIG = """\
[dancetrack]
enabled = true
root = "src/dancetrack"
frame_budget = {dancetrack}
frame_stride = 1

[bdd]
enabled = true
root = "src/bdd100k"
frame_budget = {bdd}

[visdrone]
enabled = {visdrone_enabled}
root = "src/visdrone"
frame_budget = {visdrone}
frame_stride = {visdrone_stride}

[builder]
output = "datasets/DanceTrack"
manifest = "manifest.json"
seed = {seed}
"""


def make_workspace(root: Path, *, frames: int = 20, videos: int = 6) -> Path:
    """Synthetic sources under root/src, root/manifest.json, and a config.toml; returns the config path."""
    sources = write_synthetic_sources(root / "src", dancetrack_videos=videos, bdd_videos=videos,
                                      visdrone_videos=videos - 1, frames_per_video=frames)
    write_synthetic_manifest(sources, root / "manifest.json")
    return write_config(root)


def write_config(root: Path, *, dancetrack: int | str = 30, bdd: int | str = 25, visdrone: int | str = 20,
                 visdrone_enabled: bool = True, visdrone_stride: int = 1, seed: int = 0) -> Path:
    path = root / "config.toml"
    path.write_text(CONFIG.format(dancetrack=dancetrack, bdd=bdd, visdrone=visdrone, seed=seed,
                                  visdrone_enabled=str(visdrone_enabled).lower(), visdrone_stride=visdrone_stride),
                    encoding="utf-8")
    return path


def manifest_ids(root: Path) -> dict[str, dict[str, list[str]]]:
    return json.loads((root / "manifest.json").read_text())
