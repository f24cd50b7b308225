"""Custom sources (issue 12 item 5): a ``[sources.NAME]`` table of ``format = "mot"`` builds a MOTChallenge-layout
tree beside the demo's three built-in sources, with its class table, budget and manifest lock; bad input is refused
with the file and line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from motip.demo import create_demo
from motip.errors import MotipError

SIZE = (64, 48)
SECTION = """
[sources.depot_cams]
format = "mot"
root = "data/depot"
frame_budget = 18
classes = { 1 = "person", 3 = "vehicle", 4 = "vehicle", 7 = "ignore" }
"""


def write_sequence(root: Path, split: str, name: str, frames: int, gt: list[str] | None, *,
                   seqinfo: str | None = "default") -> Path:
    seq = root / split / name
    (seq / "img1").mkdir(parents=True)
    for k in range(1, frames + 1):
        Image.new("RGB", SIZE, (k * 20 % 256, 40, 80)).save(seq / "img1" / f"{k:06d}.jpg")
    if gt is not None:
        (seq / "gt").mkdir()
        (seq / "gt" / "gt.txt").write_text("".join(row + "\n" for row in gt), encoding="utf-8")
    if seqinfo == "default":
        seqinfo = (f"[Sequence]\nname={name}\nimDir=img1\nframeRate=25\nseqLength={frames}\nimWidth={SIZE[0]}\n"
                   f"imHeight={SIZE[1]}\nimExt=.jpg\n")
    if seqinfo is not None:
        (seq / "seqinfo.ini").write_text(seqinfo, encoding="utf-8")
    return seq


# cam01, MOT17-style, 10 frames. Per frame: a person (visibility 0.8), a car (class 3), a static person (class 7 ->
# "ignore"), a person with conf/mark 0 (MOTChallenge's ignore flag), a class the table does not map (12).
CAM01 = [row for f in range(1, 11) for row in (
    f"{f},1,10,10,8,16,1,1,0.8", f"{f},2,30,20,20,10,1,3,1", f"{f},3,5,5,4,4,1,7,1",
    f"{f},4,40,5,4,8,0,1,0.1", f"{f},5,50,30,6,6,1,12,1")] + [
    "3,1,10,10,8,16,1,1,0.8",            # an exact copy of a row: dropped and counted
    "4,6,60,40,10,10,1,4,0.5",           # a bicycle (class 4 -> vehicle) half outside the 64x48 image: clipped
]


def add_depot(ws: Path) -> None:
    """A MOT tree at ws/data/depot (2 train videos, 1 val), its config section, its val video in the manifest."""
    root = ws / "data" / "depot"
    write_sequence(root, "train", "cam01", 10, CAM01)
    # cam02 as a CVAT "MOT 1.1" export is: img1/ + gt/gt.txt, no seqinfo.ini (frame rate: the default, 30)
    write_sequence(root, "train", "cam02", 8, [f"{f},7,1,1,10,20,1,1,1" for f in range(1, 9)], seqinfo=None)
    write_sequence(root, "val", "camval", 6, [f"{f},1,2,2,10,20,1,1,1" for f in range(1, 7)]
                   + [f"{f},9,30,2,10,20,1,3,1" for f in range(1, 7)])
    config = ws / "config.toml"
    config.write_text(config.read_text(encoding="utf-8") + SECTION, encoding="utf-8")
    manifest = json.loads((ws / "manifest.json").read_text(encoding="utf-8"))
    manifest["val"]["depot_cams"] = ["camval"]
    (ws / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def motip(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "motip", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace with the depot_cams source, not built (copy it before changing it)."""
    ws = create_demo(tmp_path_factory.mktemp("custom") / "ws")
    add_depot(ws)
    return ws


@pytest.fixture(scope="module")
def built(demo: Path) -> tuple[Path, dict]:
    result = motip("build", "--config", "config.toml", cwd=demo)
    assert result.returncode == 0, result.stderr + result.stdout
    build = (demo / "datasets" / "DanceTrack").resolve()
    return build, json.loads((build / "build_report.json").read_text(encoding="utf-8"))


def copy_of(demo: Path, tmp_path: Path) -> Path:
    work = tmp_path / "ws"
    shutil.copytree(demo, work, symlinks=True, ignore=shutil.ignore_patterns("datasets"))
    return work


def test_custom_source_writes_its_classes_visibility_and_ignore_regions(built: tuple[Path, dict]) -> None:
    build, _ = built
    seq = build / "train" / "depot_cams-cam01"
    gt = [line.split(",") for line in (seq / "gt" / "gt.txt").read_text().splitlines()]
    # person (class 1) and vehicles (classes 3, 4 -> 2) only, ids renumbered, visibility kept
    assert {(row[7], row[8]) for row in gt} == {("1", "0.8"), ("2", "1"), ("2", "0.5")}
    assert len(gt) == 10 + 10 + 1
    bicycle = next(row for row in gt if row[8] == "0.5")
    assert bicycle[:6] == ["4", bicycle[1], "60", "40", "4", "8"]     # clipped to the 64x48 image
    ignores = (seq / "gt" / "ignore.txt").read_text().splitlines()
    assert len(ignores) == 30                 # class 7 ("ignore"), conf 0, the unmapped class 12: 10 frames each
    assert "5,5,4,4" in ignores[0] and all(",0,-1,-1" in row for row in ignores)
    info = {s.split("=")[0]: s.split("=")[1] for s in (seq / "seqinfo.ini").read_text().splitlines() if "=" in s}
    assert (info["frameRate"], info["source"], info["imWidth"]) == ("25", "depot_cams", "64")
    assert "frameRate=30" in (build / "train" / "depot_cams-cam02" / "seqinfo.ini").read_text()
    assert os.path.realpath(seq / "img1" / "00000001.jpg").endswith("data/depot/train/cam01/img1/000001.jpg")


def test_build_report_counts_the_custom_source(built: tuple[Path, dict]) -> None:
    _, report = built
    budget = report["budgets"]["depot_cams"]
    assert (budget["asked"], budget["used"], budget["pool_videos"], budget["pool_frames"]) == (18, 18, 2, 18)
    train = report["splits"]["train"]["sources"]["depot_cams"]
    assert train == {"sequences": 2, "frames": 18, "boxes": {"person": 18, "vehicle": 11}, "ignored": 30}
    val = report["splits"]["val"]["sources"]["depot_cams"]
    assert val == {"sequences": 1, "frames": 6, "boxes": {"person": 6, "vehicle": 6}, "ignored": 0}
    assert report["skipped"]["depot_cams class 12 not in sources.depot_cams.classes (written as an ignore "
                             "region)"] == 10
    assert report["skipped"]["depot_cams exact duplicate row (dropped)"] == 1
    # the built-in sources are built beside it as before
    assert set(report["budgets"]) == {"dancetrack", "bdd", "depot_cams"}
    assert report["splits"]["train"]["sources"]["bdd"]["frames"] == 300


def test_manifest_locks_the_custom_val_video(built: tuple[Path, dict]) -> None:
    build, report = built
    assert (build / "val" / "depot_cams-camval" / "gt" / "gt.txt").is_file()
    assert "depot_cams-camval" in (build / "val_seqmap.txt").read_text().split()
    train_videos = {row["video"] for row in report["sequences"] if row["split"] == "train"}
    assert "camval" not in train_videos and {"cam01", "cam02"} <= train_videos


def test_custom_source_leaves_the_builtin_draws_unchanged(demo: Path, tmp_path: Path) -> None:
    from motip.data.builder import plan_build
    from motip.data.settings import load_build_settings

    work = copy_of(demo, tmp_path)
    with_custom = plan_build(load_build_settings(work / "config.toml"))
    config = work / "config.toml"
    config.write_text(config.read_text().replace(SECTION, ""))
    manifest = json.loads((work / "manifest.json").read_text())
    del manifest["val"]["depot_cams"]
    (work / "manifest.json").write_text(json.dumps(manifest))
    without = plan_build(load_build_settings(config))
    assert "depot_cams" in with_custom.selections and "depot_cams" not in without.selections
    for source in ("dancetrack", "bdd"):
        assert with_custom.selections[source].clips == without.selections[source].clips
    assert [c.video.video_id for c in with_custom.val if c.video.source != "depot_cams"] == \
        [c.video.video_id for c in without.val]


@pytest.mark.parametrize(("edit", "where", "message"), [
    (('format = "mot"', 'format = "motchallenge"'), "config.toml:{line}", "unknown format 'motchallenge'"),
    (('7 = "ignore"', '7 = "bicycle"'), "config.toml:{line}", "class 7 maps to 'bicycle'"),
    # BDD100K's layout (images/track/..., labels/...) is not a MOTChallenge tree: the folder, and the root's line
    (('root = "data/depot"', 'root = "data/bdd100k"'), "data/bdd100k: [sources.depot_cams] root holds no sequence",
     "root is set at {config}:{line}"),
])
def test_bad_custom_source_exits_2_naming_file_and_line(demo: Path, tmp_path: Path, edit: tuple[str, str],
                                                         where: str, message: str) -> None:
    work = copy_of(demo, tmp_path)
    config = work / "config.toml"
    config.write_text(config.read_text().replace(*edit))
    before = config.read_bytes()
    result = motip("build", "--config", "config.toml", cwd=work)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    line = max(n for n, text in enumerate(config.read_text().splitlines(), 1) if edit[1] in text)
    for expected in (where, message):
        assert expected.format(line=line, config=config) in result.stderr, result.stderr
    assert config.read_bytes() == before and not (work / "datasets" / "DanceTrack").exists()


@pytest.mark.parametrize(("section", "message", "at"), [
    ('[sources.bdd]\nformat = "mot"\nroot = "x"\nclasses = { 1 = "person" }\n', "clashes with the built-in source",
     "[sources.bdd]"),
    ('[sources.cams]\nformat = "mot"\nclasses = { 1 = "person" }\n', "sources.cams: no root", "[sources.cams]"),
    ('[sources.cams]\nroot = "x"\nclasses = { 1 = "person" }\n', "sources.cams: no format", "[sources.cams]"),
    ('[sources.cams]\nformat = "mot"\nroot = "x"\n', "sources.cams: no classes table", "[sources.cams]"),
    ('[sources.cams]\nformat = "mot"\nroot = "x"\nclasses = { one = "person" }\n', "class id 'one'", "classes ="),
    ('[sources.cams]\nformat = "mot"\nroot = "x"\n[sources.cams.classes]\n1 = "person"\n2 = "bike"\n',
     "class 2 maps to 'bike'", "[sources.cams.classes]"),
    ('[sources.Cams-1]\nformat = "mot"\nroot = "x"\nclasses = { 1 = "person" }\n', "not a valid source name",
     "[sources.Cams-1]"),
    ('[sources.cams]\nformat = "mot"\nroot = "x"\nframe_rate = 0\nclasses = { 1 = "person" }\n', "must be > 0",
     "frame_rate ="),
])
def test_config_validator_refuses_bad_source_tables(tmp_path: Path, section: str, message: str, at: str) -> None:
    from motip.workspace import load_workspace

    config = tmp_path / "config.toml"
    config.write_text('[builder]\noutput = "out"\n\n' + section)
    with pytest.raises(MotipError) as caught:
        load_workspace(config)
    assert message in caught.value.message
    line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if text.startswith(at))
    assert caught.value.path == str(config) and caught.value.line == line


def test_stage_budgets_name_custom_sources_and_apply_stage_enables_them(demo: Path, tmp_path: Path) -> None:
    from motip.workspace import apply_stage, load_workspace

    work = copy_of(demo, tmp_path)
    config = work / "config.toml"
    text = config.read_text().replace('budgets = { bdd = 300, dancetrack = 300 }',
                                      'budgets = { bdd = 300, dancetrack = 300, depot_cams = 12 }')
    config.write_text(text.replace(SECTION, SECTION.replace("frame_budget = 18", "enabled = false")))
    ws = load_workspace(config)
    assert ws.source_names[-1] == "depot_cams" and not ws.sources["depot_cams"].enabled
    assert ws.stages[0].budgets["depot_cams"] == 12
    ws = apply_stage(config, ws.stages[0].name)
    assert ws.sources["depot_cams"].enabled and ws.sources["depot_cams"].frame_budget == 12
    assert ws.sources["depot_cams"].classes == {1: "person", 3: "vehicle", 4: "vehicle", 7: "ignore"}
    assert "[sources.depot_cams]" in config.read_text()          # written back into its own table
    ws = apply_stage(config, ws.stages[2].name)                  # Aerial-Adaptation names no depot_cams
    assert not ws.sources["depot_cams"].enabled
    bad = config.read_text().replace("depot_cams = 12", "depot_camz = 12")
    config.write_text(bad)
    with pytest.raises(MotipError, match="unknown source"):
        load_workspace(config)


def _plan_error(work: Path) -> MotipError:
    from motip.data.builder import plan_build
    from motip.data.settings import load_build_settings

    with pytest.raises(MotipError) as caught:
        plan_build(load_build_settings(work / "config.toml"))
    return caught.value


def test_a_cvat_export_as_root_is_refused_with_the_fix(demo: Path, tmp_path: Path) -> None:
    work = copy_of(demo, tmp_path)
    depot = work / "data" / "depot"
    shutil.rmtree(depot)
    write_sequence(depot.parent, "", "depot", 4, ["1,1,1,1,5,5,1,1,1"], seqinfo=None)   # data/depot/{img1,gt}
    error = _plan_error(work)
    assert "single sequence" in error.message and error.path == str(depot)
    assert "<root>/train/<sequence name>/" in error.hint and "config.toml:" in error.hint


@pytest.mark.parametrize(("mutate", "message", "file", "line"), [
    (lambda d: (d / "train/cam02/gt/gt.txt").write_text("1,7,1,1,10,20\n"), "expected at least 8",
     "train/cam02/gt/gt.txt", 1),
    (lambda d: (d / "train/cam01/seqinfo.ini").write_text("[Sequence]\nframeRate=25\nseqLength=11\n"),
     "seqLength=11 but img1/ holds 10 images", "train/cam01/seqinfo.ini", 3),
    (lambda d: (d / "train/cam02/gt/gt.txt").write_text("1,7,1,1,10,20,1,1,1\n1,7,2,1,10,20,1,1,1\n"),
     "id 7 appears twice in frame 1", "train/cam02/gt/gt.txt", 2),
    (lambda d: (d / "train/cam02/gt/gt.txt").write_text("1,7,1,1,nan,20,1,1,1\n"), "w is 'nan'",
     "train/cam02/gt/gt.txt", 1),
    (lambda d: (d / "train/cam02/img1/000008.jpg").rename(d / "train/cam02/img1/000009.jpg"), "missing image",
     "train/cam02/img1/000008.jpg", None),
])
def test_custom_annotations_pass_the_shared_checks(demo: Path, tmp_path: Path, mutate, message: str, file: str,
                                                   line: int | None) -> None:
    from motip.data.builder import build
    from motip.data.settings import load_build_settings

    work = copy_of(demo, tmp_path)
    mutate(work / "data" / "depot")
    with pytest.raises(MotipError) as caught:
        build(load_build_settings(work / "config.toml"))
    assert message in caught.value.message
    assert caught.value.path == str(work / "data" / "depot" / file) and caught.value.line == line
    assert not (work / "datasets" / "DanceTrack").exists()


def test_manifest_ids_of_custom_sources_are_checked(demo: Path, tmp_path: Path) -> None:
    work = copy_of(demo, tmp_path)
    manifest = json.loads((work / "manifest.json").read_text())
    manifest["val"]["depot_cams"] = ["cam99"]
    (work / "manifest.json").write_text(json.dumps(manifest, indent=1))
    error = _plan_error(work)
    assert "'cam99' is not in the source release" in error.message and error.line is not None
    manifest["val"]["depot_camz"] = manifest["val"].pop("depot_cams")
    (work / "manifest.json").write_text(json.dumps(manifest, indent=1))
    error = _plan_error(work)
    assert "unknown source 'depot_camz'" in error.message and "depot_cams" in error.hint
    assert error.path == str(work / "manifest.json") and error.line is not None


async def test_tui_shows_custom_sources_and_counts_them_in_the_stage_match(demo: Path, tmp_path: Path) -> None:
    from textual.widgets import Static

    from motip.workspace import load_workspace
    from motip_tui.app import MotipApp
    from motip_tui.runs import sources_match_stage

    work = copy_of(demo, tmp_path)
    config = work / "config.toml"
    config.write_text(config.read_text().replace('budgets = { bdd = 300, dancetrack = 300 }',
                                                 'budgets = { bdd = 300, dancetrack = 300, depot_cams = 12 }'))
    ws = load_workspace(config)
    assert not sources_match_stage(ws, ws.stages[0])      # depot_cams holds 18, the stage asks 12
    app = MotipApp(config, refresh_s=0.05, poll_s=0.2)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("e")
        await pilot.pause()
        status = str(app.query_one("#budget-status", Static).render())
        assert "depot_cams on frame_budget 18, stage budget 12" in status


def test_seqinfo_imdir_imext_png_frames_and_the_frame_rate_key(tmp_path: Path) -> None:
    from motip.data.categories import PERSON, VEHICLE
    from motip.data.manifest import load_manifest
    from motip.data.readers import read_video, reader_for
    from motip.data.settings import SourceSettings

    root = tmp_path / "tree"
    seq = root / "train" / "s1"
    (seq / "frames").mkdir(parents=True)
    for k in range(1, 4):
        Image.new("RGB", SIZE).save(seq / "frames" / f"{k:04d}.png")
    (seq / "gt").mkdir()
    (seq / "gt" / "gt.txt").write_text("1,3,1,2,10,10,1,2,0.25\n3,3,1,2,10,10,1,2,0.5\n2,4,0,0,5,5,1,1,1\n")
    (seq / "seqinfo.ini").write_text("[Sequence]\nimDir=frames\nimExt=.png\nseqLength=3\n")   # no frameRate
    write_sequence(root, "val", "s2", 2, None, seqinfo=None)                                 # no gt, no seqinfo
    settings = SourceSettings("cams", True, root, 3, ("train",), 1, "mot", ((1, PERSON), (2, VEHICLE)), 12.5)
    reader = reader_for("cams", settings)
    assert reader.SPLITS == ("train", "val")
    s1, s2 = reader.list_videos(root, reader.SPLITS)
    assert (s1.video_id, s1.num_frames, s1.image_dir.name, s1.frame_rate) == ("s1", 3, "frames", 12.5)
    assert (s2.split, s2.has_gt, s2.frame_rate) == ("val", False, 12.5)
    annotations, unusable = read_video(s1, locked=True)
    assert unusable is None and (annotations.width, annotations.height) == SIZE
    assert [(b.frame, b.track, b.cls, b.visibility) for b in annotations.boxes] == [
        (1, "3", VEHICLE, 0.25), (3, "3", VEHICLE, 0.5), (2, "4", PERSON, 1.0)]
    # a manifest read on its own (motip manifest, motip doctor) accepts a custom source's name
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"val": {"cams": ["s1"]}}))
    assert load_manifest(manifest).ids("val", "cams") == ("s1",)
    with pytest.raises(MotipError, match="unknown source 'cams'"):
        load_manifest(manifest, ("dancetrack", "bdd", "visdrone"))
