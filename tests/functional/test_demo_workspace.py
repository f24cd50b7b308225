"""`motip demo DIR`: the workspace it writes loads, builds, and never clobbers a folder that is not a demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from motip.config import load_config
from motip.demo import DEMO_STAGES, create_demo, is_demo
from motip.errors import MotipError
from motip.workspace import load_workspace


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_demo(tmp_path_factory.mktemp("ws") / "demo")


def test_demo_layout_and_workspace(demo: Path) -> None:
    assert is_demo(demo)
    for name in ("README.md", "config.toml", "manifest.json", "configs/tiny_cpu.yaml",
                 "configs/r50_deformable_detr_motip_dancetrack.yaml"):
        assert (demo / name).is_file(), name
    for source in ("dancetrack", "bdd100k", "visdrone"):
        assert any((demo / "data" / source).rglob("*.jpg")), source
    ws = load_workspace(demo / "config.toml")
    assert [s.name for s in ws.stages] == [name for name, _, _ in DEMO_STAGES]
    assert ws.stages[1].budgets == {"bdd": 600, "dancetrack": 600}
    assert ws.stages[2].budgets["visdrone"] == 400
    assert ws.sources["bdd"].root == demo / "data" / "bdd100k"
    assert ws.builder.manifest == demo / "manifest.json"
    manifest = json.loads((demo / "manifest.json").read_text())
    assert set(manifest["val"]) == {"dancetrack", "bdd", "visdrone"}
    assert "synthetic" in (demo / "README.md").read_text().lower()


def test_stage_configs_resolve_to_the_tiny_model(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(demo)
    for stage in load_workspace(demo / "config.toml").stages:
        config = load_config(stage.config)
        assert config["BACKBONE"] == "resnet18"
        assert config["EPOCHS"] == 2
        assert config["NUM_CLASSES"] == 2
        assert config["DEVICE"] == "auto"
        assert config["val_config"]["GT_FOLDER"] == "./datasets/DanceTrack/val"
        assert config["val_config"]["CLASSES_TO_EVAL"] == ["pedestrian", "vehicle"]
        assert config.chain[-1].parent == demo / "configs"  # the workspace's own copy, not the project's


def test_demo_builds_every_stage(demo: Path, tmp_path: Path) -> None:
    import shutil

    from motip.data.builder import build_status
    from motip.workspace import apply_stage

    work = tmp_path / "copy"
    shutil.copytree(demo, work, symlinks=True)
    fingerprints = set()
    for name, _, budgets in DEMO_STAGES:
        apply_stage(work / "config.toml", name)
        out = subprocess.run([sys.executable, "-m", "motip", "build", "--config", "config.toml"], cwd=work,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        status = build_status(load_workspace(work / "config.toml"))
        assert status["built"], status
        assert status["summary"]["train"]["frames"] == sum(budgets.values())
        fingerprints.add(status["val_fingerprint"])
    assert len(fingerprints) == 1  # the manifest lock: the same val set in every stage


def test_existing_demo_is_kept_and_force_recreates(tmp_path: Path) -> None:
    folder = create_demo(tmp_path / "d")
    (folder / "mine.txt").write_text("user file")
    assert create_demo(folder) == folder
    assert (folder / "mine.txt").is_file()  # kept as is
    create_demo(folder, force=True)
    assert not (folder / "mine.txt").exists()
    assert is_demo(folder)


def test_refuses_a_folder_that_is_not_a_demo(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "precious.txt").write_text("keep me")
    with pytest.raises(MotipError, match="not a demo"):
        create_demo(tmp_path / "project", force=True)
    assert (tmp_path / "project" / "precious.txt").read_text() == "keep me"
    out = subprocess.run([sys.executable, "-m", "motip", "demo", str(tmp_path / "project")], capture_output=True,
                         text=True)
    assert out.returncode == 2
    assert "precious" not in out.stderr and "not a demo" in out.stderr
