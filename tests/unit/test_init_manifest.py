"""`motip init DIR` and `motip manifest`: a real-data workspace from release trees, and the seeded val/test lock.

Release trees are synthetic (motip.data.synthetic) in the three original layouts; the CLI runs in-process
(``motip.cli.main``), as a user runs it, and its exit code and output are checked.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from motip.cli import main
from motip.config import bundled_config_dir, load_config
from motip.data.manifest import load_manifest, write_manifest
from motip.data.manifest_select import manifest_val_fingerprint
from motip.data.readers import reader_for
from motip.data.synthetic import write_synthetic_sources
from motip.demo import DEMO_STAGES, MARKER
from motip.errors import DataError, MotipError
from motip.workspace import load_workspace
from motip.workspace_init import DEMO_MARKER, TRAIN_STAGES, create_workspace

from tests.helpers.paths import REPO



@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    # DanceTrack and BDD100K: train 3 / val 2 / test 1 (test without ground truth); VisDrone: train 3 / val 1 /
    # test-dev 1 (with ground truth).
    return write_synthetic_sources(tmp_path_factory.mktemp("releases") / "src", dancetrack_videos=6, bdd_videos=6,
                                   visdrone_videos=5, frames_per_video=8, image_size=(160, 96))


def _init(ws: Path, sources: dict[str, Path], *extra: str, which=("dancetrack", "bdd", "visdrone")) -> int:
    args = ["init", str(ws)]
    for source in which:
        args += [f"--{source}", str(sources[source])]
    return main(args + list(extra))


def _small_budgets(ws: Path) -> None:
    """Stage 1's real budgets (5000 frames) exceed the toy releases: what a user edits before a toy build."""
    text = (ws / "config.toml").read_text()
    (ws / "config.toml").write_text(text.replace("frame_budget = 5000", "frame_budget = 10"))


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------------------- motip init

def test_init_writes_a_workspace_from_the_three_layouts(tmp_path: Path, sources: dict[str, Path], capsys,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ws = tmp_path / "ws"
    assert _init(ws, sources) == 0
    out = capsys.readouterr().out
    # What it found, per source and split: videos, frames, ground truth.
    assert f"DanceTrack at {sources['dancetrack']}:" in out and f"BDD100K at {sources['bdd']}:" in out
    assert "train         3 videos       24 frames, 3 with ground truth (24 frames)" in out
    assert "test-dev      1 videos        8 frames, 1 with ground truth (8 frames)" in out     # VisDrone
    assert "test          1 videos        8 frames, no ground truth" in out                    # DanceTrack/BDD test

    workspace = load_workspace(ws / "config.toml")
    assert {s: workspace.sources[s].root for s in sources} == sources
    # Stage 1's budgets in the sections; VisDrone is given but only used from Stage 3 on.
    assert {s: (workspace.sources[s].enabled, workspace.sources[s].frame_budget) for s in sources} == \
        {"dancetrack": (True, 5000), "bdd": (True, 5000), "visdrone": (False, 0)}
    assert [(s.name, s.budgets, s.epochs, s.hours_per_epoch, s.cost_per_hour) for s in workspace.stages] == \
        [(s.name, s.budgets, s.epochs, s.hours_per_epoch, s.cost_per_hour) for s in TRAIN_STAGES]
    assert workspace.builder.manifest == ws / "manifest.json"
    assert workspace.builder.output == ws / "datasets" / "DanceTrack"

    # configs/: the package's base config and TRAIN.md's three stage YAMLs, byte for byte.
    bundled = bundled_config_dir()
    names = ["r50_deformable_detr_motip_dancetrack.yaml", "stage1_universal_foundation.yaml",
             "stage2_universal_refine.yaml", "stage3_aerial_adapt.yaml"]
    assert sorted(p.name for p in (ws / "configs").iterdir()) == sorted(names)
    for name in names:
        assert (ws / "configs" / name).read_bytes() == (bundled / name).read_bytes()
    pretrains = {name: yaml.safe_load((ws / "configs" / name).read_text())["DETR_PRETRAIN"] for name in names[1:]}
    assert pretrains == {"stage1_universal_foundation.yaml": "./pretrains/motip_dancetrack.pth",   # TRAIN.md's
                         "stage2_universal_refine.yaml": "./pretrains/stage1_v2.pth",
                         "stage3_aerial_adapt.yaml": "./pretrains/stage2_v2.pth"}
    monkeypatch.chdir(ws)
    config = load_config("configs/stage1_universal_foundation.yaml")
    assert config["NUM_CLASSES"] == 2 and config["DETR_PRETRAIN"] == "./pretrains/motip_dancetrack.pth"
    assert [p.resolve() for p in config.chain] == [ws / "configs" / names[1], ws / "configs" / names[0]]

    readme = (ws / "pretrains" / "README.md").read_text()
    assert "`pretrains/motip_dancetrack.pth` | `configs/stage1_universal_foundation.yaml`" in readme
    assert "https://github.com/MCG-NJU/MOTIP/releases/download/v0.1/r50_deformable_detr_motip_dancetrack.pth" in readme
    assert "https://github.com/MCG-NJU/MOTIP/releases/download/v0.1/r50_deformable_detr_coco_dancetrack.pth" in readme
    steps = (ws / "README.md").read_text()
    order = [steps.index(cmd) for cmd in ("pretrains/README.md", "motip manifest", "motip build",
                                          "motip doctor configs/stage1_universal_foundation.yaml", "motip train")]
    assert order == sorted(order)


def test_init_disables_a_source_not_given_with_a_comment(tmp_path: Path, sources: dict[str, Path], capsys) -> None:
    ws = tmp_path / "ws"
    assert _init(ws, sources, which=("dancetrack",)) == 0
    out = capsys.readouterr().out
    workspace = load_workspace(ws / "config.toml")
    assert workspace.sources["dancetrack"].enabled
    assert not workspace.sources["bdd"].enabled and not workspace.sources["visdrone"].enabled
    text = (ws / "config.toml").read_text()
    bdd_section = text[text.index("[bdd]"):text.index("[dancetrack]")]
    assert "# not given to `motip init`" in bdd_section and "--bdd PATH" in bdd_section
    # Every stage that needs the missing source says so.
    assert "warning: stage Foundation takes 5000 bdd frames but no --bdd root was given" in out
    assert "warning: stage Aerial-Adaptation takes 10000 visdrone frames" in out


def test_init_refuses_bdd_images_without_labels(tmp_path: Path, sources: dict[str, Path], capsys) -> None:
    bdd = tmp_path / "bdd100k"
    shutil.copytree(sources["bdd"] / "images", bdd / "images", symlinks=True)     # images only, no labels/
    ws = tmp_path / "ws"
    code = main(["init", str(ws), "--dancetrack", str(sources["dancetrack"]), "--bdd", str(bdd)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{bdd / 'labels' / 'box_track_20' / 'train'}: the BDD100K train split has 3 videos but no ground truth" \
        in err
    assert "hint:" in err and "labels/box_track_20/{train,val}/<video>.json" in err
    assert "Traceback" not in err
    assert not ws.exists() and not list(tmp_path.glob(".ws.*"))               # nothing written


def test_init_refuses_a_split_folder_given_as_the_root(tmp_path: Path, sources: dict[str, Path], capsys) -> None:
    ws = tmp_path / "ws"
    code = main(["init", str(ws), "--dancetrack", str(sources["dancetrack"] / "train")])
    err = capsys.readouterr().err
    assert code == 2
    assert "no DanceTrack train split" in err and "pass the release root" in err
    assert not ws.exists()


def test_init_refuses_a_visdrone_split_without_annotations(tmp_path: Path, sources: dict[str, Path], capsys) -> None:
    visdrone = tmp_path / "visdrone"
    shutil.copytree(sources["visdrone"], visdrone, symlinks=True)
    shutil.rmtree(visdrone / "VisDrone2019-MOT-val" / "annotations")
    code = main(["init", str(tmp_path / "ws"), "--visdrone", str(visdrone)])
    err = capsys.readouterr().err
    assert code == 2 and "VisDrone2019-MOT-val/annotations: the VisDrone val split has 1 videos but no ground" in err
    assert not (tmp_path / "ws").exists()


def test_init_never_overwrites_without_force_and_force_keeps_user_files(tmp_path: Path, sources: dict[str, Path],
                                                                        capsys) -> None:
    ws = tmp_path / "ws"
    assert _init(ws, sources) == 0
    # The user's own files in the workspace: an edited config.toml, a manifest, a run, a downloaded pretrain.
    edited = (ws / "config.toml").read_text().replace("seed = 42", "seed = 7")
    (ws / "config.toml").write_text(edited)
    (ws / "manifest.json").write_text('{"val": {"dancetrack": ["dancetrack0004"]}}\n')
    (ws / "outputs" / "run1").mkdir(parents=True)
    (ws / "outputs" / "run1" / "train.log").write_text("precious\n")
    (ws / "pretrains" / "motip_dancetrack.pth").write_bytes(b"weights")
    before = _tree(ws)
    capsys.readouterr()

    assert _init(ws, sources) == 2
    err = capsys.readouterr().err
    assert "refusing to overwrite an existing workspace" in err and "--force" in err
    assert _tree(ws) == before

    # --force with a bad root: refused before anything is written.
    assert main(["init", str(ws), "--dancetrack", str(tmp_path / "nowhere"), "--force"]) == 2
    assert _tree(ws) == before

    assert _init(ws, sources, "--force") == 0
    after = _tree(ws)
    assert "seed = 42" in after["config.toml"].decode()
    assert after[".motip/init-replaced/1/config.toml"].decode() == edited       # the edited file is kept
    for name in ("manifest.json", "outputs/run1/train.log", "pretrains/motip_dancetrack.pth"):
        assert after[name] == before[name], name
    assert not list(ws.rglob(".*.tmp"))


def test_init_interrupted_write_leaves_no_workspace(tmp_path: Path, sources: dict[str, Path],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that fails part-way (disk full) leaves neither a half-written workspace nor its temp folder."""
    real_write = Path.write_text
    calls = {"n": 0}

    def failing_write(self: Path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing_write)
    with pytest.raises(MotipError, match="disk full") as caught:
        create_workspace(tmp_path / "ws", {"dancetrack": sources["dancetrack"]})
    assert "no workspace was created" in str(caught.value)
    assert calls["n"] == 3
    assert list(tmp_path.iterdir()) == []


def test_init_refuses_a_demo_workspace(tmp_path: Path, sources: dict[str, Path], capsys) -> None:
    assert DEMO_MARKER == MARKER
    demo = tmp_path / "demo"
    (demo / ".motip").mkdir(parents=True)
    (demo / MARKER).write_text("{}")
    assert _init(demo, sources, "--force") == 2
    assert "demo workspace" in capsys.readouterr().err
    assert sorted(p.name for p in demo.rglob("*")) == [".motip", "demo.json"]


def test_train_stages_have_one_home() -> None:
    """The repository's config.toml holds TRAIN_STAGES; the demo's stages are the same stages at toy scale."""
    repo = load_workspace(REPO / "config.toml")
    assert [(s.name, s.config.relative_to(REPO).as_posix(), s.budgets, s.epochs, s.hours_per_epoch,
             s.cost_per_hour) for s in repo.stages] == \
        [(s.name, s.config, s.budgets, s.epochs, s.hours_per_epoch, s.cost_per_hour) for s in TRAIN_STAGES]
    assert [name for name, _, _ in DEMO_STAGES] == [s.name for s in TRAIN_STAGES]
    for stage, (_, _, demo_budgets) in zip(TRAIN_STAGES, DEMO_STAGES):
        assert set(stage.budgets) == set(demo_budgets)


# ------------------------------------------------------------------------------------------------ motip manifest

@pytest.fixture()
def workspace(tmp_path: Path, sources: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys) -> Path:
    ws = tmp_path / "ws"
    assert _init(ws, sources) == 0
    capsys.readouterr()
    monkeypatch.chdir(ws)
    return ws


def test_manifest_is_seeded_reproducible_and_shows_both_classes(workspace: Path, capsys) -> None:
    assert main(["manifest", "--val-per-source", "1", "--output", "a.json"]) == 0
    out = capsys.readouterr().out
    assert main(["manifest", "--val-per-source", "1", "--output", "b.json"]) == 0
    capsys.readouterr()
    assert (workspace / "a.json").read_bytes() == (workspace / "b.json").read_bytes()
    manifest = load_manifest(workspace / "a.json")
    assert {s: len(ids) for s, ids in manifest.splits["val"].items()} == {"dancetrack": 1, "bdd": 1, "visdrone": 1}
    # Plain lines off a terminal: frames and boxes per class for each source and the split.
    total = next(line for line in out.splitlines() if line.startswith("val total: "))
    counts = dict(part.split("=") for part in total.split("boxes ")[1].split())
    assert total.startswith("val total: 3 videos, 24 frames") and int(counts["person"]) > 0 \
        and int(counts["vehicle"]) > 0
    assert "val dancetrack: 1 videos, 8 frames, boxes person=" in out and "vehicle=0" in out
    # The toy releases cannot feed TRAIN.md's budgets: said per stage, with the pool left after locking.
    assert "warning: stage Foundation asks for 5000 bdd frames but its training pool holds 24 once this " \
        "manifest is locked" in out
    # Other seeds give other choices (2 val videos per ground source: some seed among 8 picks the other one).
    choices = set()
    for seed in range(8):
        assert main(["manifest", "--val-per-source", "1", "--seed", str(seed), "--output", f"s{seed}.json"]) == 0
        choices.add(json.dumps(load_manifest(workspace / f"s{seed}.json").splits["val"], sort_keys=True))
    assert len(choices) > 1


def test_manifest_more_videos_keep_the_earlier_choice(workspace: Path) -> None:
    assert main(["manifest", "--val-per-source", "1", "--output", "one.json"]) == 0
    assert main(["manifest", "--val-per-source", "2", "--output", "two.json"]) == 0
    one, two = load_manifest(workspace / "one.json"), load_manifest(workspace / "two.json")
    for source, ids in one.splits["val"].items():
        assert set(ids) <= set(two.splits["val"][source])
    assert len(two.splits["val"]["dancetrack"]) == 2


def test_manifest_val_fingerprint_is_the_builds(workspace: Path, capsys) -> None:
    """The printed val fingerprint is the one every build with this manifest writes, whatever its budgets."""
    assert main(["manifest", "--val-per-source", "2", "--test-per-source", "1"]) == 0
    out = capsys.readouterr().out
    printed = next(line.split()[2] for line in out.splitlines() if line.startswith("val fingerprint"))
    manifest_fp = next(line.split()[2] for line in out.splitlines() if line.startswith("manifest fingerprint"))
    _small_budgets(workspace)
    assert main(["build", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["val_fingerprint"] == printed
    # The same number from the manifest file and the releases alone (what a preflight compares with the build's).
    workspace_settings = load_workspace(workspace / "config.toml")
    assert manifest_val_fingerprint(workspace_settings, load_manifest(workspace / "manifest.json")) == printed
    assert report["manifest_fingerprint"] == manifest_fp
    assert report["splits"]["val"]["sequences"] == 5            # 2 + 2 + VisDrone's only val video


def test_manifest_test_split_from_the_release_or_val(workspace: Path, sources: dict[str, Path], capsys) -> None:
    assert main(["manifest", "--val-per-source", "1", "--test-per-source", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    manifest = load_manifest(workspace / "manifest.json")
    assert result["manifest"] == {split: {s: list(ids) for s, ids in by.items()}
                                  for split, by in manifest.splits.items()}
    # VisDrone's test-dev has ground truth: its test video comes from there; the others from val, not val's video.
    test_dev = [v.video_id for v in reader_for("visdrone").list_videos(sources["visdrone"], ("test-dev",))]
    assert manifest.splits["test"]["visdrone"] == tuple(test_dev)
    for source in ("dancetrack", "bdd"):
        assert len(manifest.splits["test"][source]) == 1
        assert not set(manifest.splits["test"][source]) & set(manifest.splits["val"][source])
    assert any("test split has no public ground truth" in note for note in result["notes"])
    assert result["splits"]["val"]["total"]["boxes"]["vehicle"] > 0


def test_manifest_refuses_to_overwrite_without_force(workspace: Path, capsys) -> None:
    assert main(["manifest", "--val-per-source", "1"]) == 0
    first = (workspace / "manifest.json").read_bytes()
    capsys.readouterr()
    assert main(["manifest", "--val-per-source", "2"]) == 2
    err = capsys.readouterr().err
    assert "refusing to overwrite an existing manifest" in err and "--force" in err
    assert (workspace / "manifest.json").read_bytes() == first
    assert main(["manifest", "--val-per-source", "2", "--force"]) == 0
    assert len(load_manifest(workspace / "manifest.json").splits["val"]["bdd"]) == 2


def test_manifest_without_any_val_writes_nothing(tmp_path: Path, sources: dict[str, Path], capsys,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A workspace whose only source has no val split: exit 2 naming config.toml, no manifest written."""
    dancetrack = tmp_path / "dancetrack"
    shutil.copytree(sources["dancetrack"] / "train", dancetrack / "train", symlinks=True)
    ws = tmp_path / "ws"
    assert main(["init", str(ws), "--dancetrack", str(dancetrack)]) == 0
    monkeypatch.chdir(ws)
    capsys.readouterr()
    assert main(["manifest"]) == 2
    err = capsys.readouterr().err
    assert f"{ws / 'config.toml'}: no source has a val video with ground truth" in err
    assert not (ws / "manifest.json").exists()


def test_manifest_enabled_source_with_a_wrong_root(workspace: Path, capsys) -> None:
    text = (workspace / "config.toml").read_text()
    (workspace / "config.toml").write_text(text.replace(str(Path(load_workspace("config.toml").sources["bdd"].root)),
                                                        str(workspace / "missing-bdd")))
    assert main(["manifest"]) == 2
    err = capsys.readouterr().err
    assert "missing-bdd: BDD100K root (enabled in config.toml) does not exist" in err
    assert not (workspace / "manifest.json").exists()


def test_write_manifest_refuses_what_the_builder_would(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    with pytest.raises(DataError, match="lists no val videos"):
        write_manifest(path, {"val": {}, "test": {"bdd": ["x"]}})
    with pytest.raises(DataError, match="listed twice"):
        write_manifest(path, {"val": {"bdd": ["x"]}, "test": {"bdd": ["x"]}})
    assert list(tmp_path.iterdir()) == []
    written = write_manifest(path, {"val": {"bdd": ["x", "y"]}, "test": {}})
    assert written.splits["val"]["bdd"] == ("x", "y") and load_manifest(path).fingerprint == written.fingerprint


def test_init_beside_other_files_and_manifest_table_on_a_terminal(tmp_path: Path, sources: dict[str, Path], capsys,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder holding other things gets init's files beside them; on a terminal the manifest is a table."""
    ws = tmp_path / "ws"
    (ws / "notes").mkdir(parents=True)
    (ws / "notes" / "todo.txt").write_text("mine\n")
    assert _init(ws, sources, which=("dancetrack", "bdd")) == 0
    assert f"created the workspace {ws}" in capsys.readouterr().out
    assert (ws / "notes" / "todo.txt").read_text() == "mine\n" and (ws / "config.toml").is_file()
    monkeypatch.chdir(ws)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["manifest", "--val-per-source", "2"]) == 0
    out = capsys.readouterr().out
    assert "manifest lock" in out and "person boxes" in out and "vehicle boxes" in out
    assert "note: visdrone: skipped (disabled and its root" in out


def test_manifest_locks_a_custom_mot_source_too(workspace: Path, capsys) -> None:
    """A `format = "mot"` source in config.toml gets val videos like the built-in ones, and the val fingerprint is
    still the build's."""
    from PIL import Image

    root = workspace / "depot"
    for split, name in (("train", "cam01"), ("train", "cam02"), ("val", "camval1"), ("val", "camval2")):
        seq = root / split / name
        (seq / "img1").mkdir(parents=True)
        for k in range(1, 7):
            Image.new("RGB", (64, 48), (k * 30, 40, 80)).save(seq / "img1" / f"{k:06d}.jpg")
        (seq / "gt").mkdir()
        (seq / "gt" / "gt.txt").write_text("".join(f"{f},1,2,2,10,20,1,1,1\n{f},2,30,2,10,20,1,3,1\n"
                                                   for f in range(1, 7)))
    with (workspace / "config.toml").open("a") as handle:
        handle.write('\n[sources.depot_cams]\nformat = "mot"\nroot = "depot"\nframe_budget = 6\n'
                     'classes = { 1 = "person", 3 = "vehicle" }\n')
    assert main(["manifest", "--val-per-source", "1"]) == 0
    out = capsys.readouterr().out
    manifest = json.loads((workspace / "manifest.json").read_text())
    assert len(manifest["val"]["depot_cams"]) == 1 and manifest["val"]["depot_cams"][0] in ("camval1", "camval2")
    assert "val depot_cams: 1 videos, 6 frames, boxes person=6 vehicle=6" in out
    printed = next(line.split()[2] for line in out.splitlines() if line.startswith("val fingerprint"))
    _small_budgets(workspace)
    assert main(["build", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["val_fingerprint"] == printed


def test_init_force_disk_full_keeps_the_old_config(tmp_path: Path, sources: dict[str, Path], capsys,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """--force that runs out of disk part-way: config.toml (written last) is the old one, and the message says which
    files were rewritten; every file is whole (old or new)."""
    import motip.atomic

    ws = tmp_path / "ws"
    assert _init(ws, sources, which=("dancetrack",)) == 0
    old_config = (ws / "config.toml").read_bytes()
    real = motip.atomic.atomic_write_text
    calls = {"n": 0}

    def filling(path, text):
        calls["n"] += 1
        if calls["n"] == 2:
            raise motip.atomic.DiskFullError.for_path(path)
        return real(path, text)

    monkeypatch.setattr(motip.atomic, "atomic_write_text", filling)
    capsys.readouterr()
    assert _init(ws, sources, "--force") == 2                      # now with all three roots
    err = capsys.readouterr().err
    assert "disk full while writing stage1_universal_foundation.yaml" in err
    assert "rewritten: configs/r50_deformable_detr_motip_dancetrack.yaml; config.toml (written last) is the previous" \
        in err
    assert (ws / "config.toml").read_bytes() == old_config
    assert not list(ws.rglob(".*.tmp"))
