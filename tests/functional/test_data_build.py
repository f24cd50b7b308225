"""`motip build` end to end on synthetic releases: layout, budgets, manifest lock, atomic switch, list/prune, lock."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from motip.cli import main
from motip.data.builder import build_status, output_lock
from motip.data.settings import load_build_settings

from tests.helpers.data import make_workspace, manifest_ids, write_config


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ws")
    make_workspace(root)
    return root


def _build(root: Path, *args: str) -> int:
    return main(["build", "--config", str(root / "config.toml"), *args])


def _report(root: Path) -> dict:
    return json.loads((root / "datasets/DanceTrack/build_report.json").read_text())


def _gt_rows(seq: Path) -> list[list[str]]:
    return [line.split(",") for line in (seq / "gt/gt.txt").read_text().splitlines()]


def test_build_layout_matches_the_contract(workspace: Path) -> None:
    write_config(workspace, dancetrack=30, bdd=25, visdrone=20)
    assert _build(workspace) == 0
    out = workspace / "datasets/DanceTrack"
    assert out.is_symlink() and not os.path.isabs(os.readlink(out))
    assert Path(os.path.realpath(out)).parent == workspace / "datasets/builds"
    for split in ("train", "val", "test"):
        names = (out / f"{split}_seqmap.txt").read_text().splitlines()
        assert names[0] == "name" and sorted(names[1:]) == sorted(p.name for p in (out / split).iterdir())
        for name in names[1:]:
            seq = out / split / name
            assert name.split("-", 1)[0] in ("dancetrack", "bdd", "visdrone")
            info = (seq / "seqinfo.ini").read_text()
            length = int(info.split("seqLength=")[1].split()[0])
            images = sorted(os.listdir(seq / "img1"))
            assert images == [f"{k:08d}.jpg" for k in range(1, length + 1)]
            assert all((seq / "img1" / i).is_symlink() and (seq / "img1" / i).exists() for i in images)
            assert f"source={name.split('-', 1)[0]}" in info and "imDir=img1" in info and "imExt=.jpg" in info
            rows = _gt_rows(seq)
            assert rows, name
            for frame, track, _x, _y, w, h, conf, cls, vis in rows:
                assert 1 <= int(frame) <= length and int(track) >= 1 and conf == "1" and cls in ("1", "2")
                assert float(w) > 0 and float(h) > 0 and 0 <= float(vis) <= 1
            ids = sorted({int(r[1]) for r in rows})
            assert ids == list(range(1, len(ids) + 1))          # renumbered 1..N per sequence
            for line in (seq / "gt/ignore.txt").read_text().splitlines():
                fields = line.split(",")
                assert fields[1] == "-1" and fields[6:] == ["0", "-1", "-1"]
    classes = {r[7] for seq in (out / "train").iterdir() if seq.name.startswith("bdd") for r in _gt_rows(seq)}
    assert classes == {"1", "2"}
    report = _report(workspace)
    for key in ("val_fingerprint", "test_fingerprint", "manifest_fingerprint", "seed", "budgets", "splits"):
        assert report[key] is not None
    assert report["budgets"]["bdd"] == {"asked": 25, "used": 25, "pool_videos": 3, "pool_frames": 60,
                                        "frame_stride": 1, "splits": ["train"]}
    assert report["splits"]["train"]["frames"] == 75
    assert report["splits"]["train"]["sources"]["bdd"]["boxes"]["vehicle"] > 0
    assert build_status(workspace / "config.toml")["built"] is True


def test_budgets_are_filled_exactly_and_clips_renumbered(workspace: Path) -> None:
    write_config(workspace, dancetrack=27, bdd=41, visdrone=13, seed=5)
    assert _build(workspace) == 0
    out = workspace / "datasets/DanceTrack"
    report = _report(workspace)
    frames = {s: 0 for s in ("dancetrack", "bdd", "visdrone")}
    for seq in report["sequences"]:
        if seq["split"] == "train":
            frames[seq["source"]] += seq["frames"]
    assert frames == {"dancetrack": 27, "bdd": 41, "visdrone": 13}
    clips = [s for s in report["sequences"] if s["split"] == "train" and s["frames"] < 20]
    assert len(clips) == 3                                       # one cut video per source
    for clip in clips:
        name = clip["name"]
        assert name.endswith(f"-f{clip['first_frame']:06d}-{clip['last_frame']:06d}")
        assert clip["last_frame"] - clip["first_frame"] + 1 == clip["frames"]
        seq = out / "train" / name
        first_image = os.readlink(seq / "img1" / "00000001.jpg")
        assert f"{clip['first_frame']:07d}" in first_image or f"{clip['first_frame']:08d}" in first_image


def test_val_test_fingerprint_stable_across_budget_and_seed_and_no_leak(workspace: Path) -> None:
    fingerprints = set()
    val_bytes = set()
    locked = manifest_ids(workspace)
    for seed, budgets in ((0, (10, 10, 10)), (1, (60, 60, 40)), (7, (33, 5, 1))):
        write_config(workspace, dancetrack=budgets[0], bdd=budgets[1], visdrone=budgets[2], seed=seed)
        assert _build(workspace) == 0
        report = _report(workspace)
        fingerprints.add((report["val_fingerprint"], report["test_fingerprint"], report["manifest_fingerprint"]))
        out = workspace / "datasets/DanceTrack"
        val_bytes.add(b"".join(p.read_bytes() for p in sorted((out / "val").rglob("*.txt"))))
        for seq in report["sequences"]:
            if seq["split"] == "train":
                for split in ("val", "test"):
                    assert seq["video"] not in locked[split].get(seq["source"], [])
        train_names = (out / "train_seqmap.txt").read_text()
        for split in ("val", "test"):
            for source, ids in locked[split].items():
                for video_id in ids:
                    assert f"{source}-{video_id}" not in train_names      # nor any clip of it
    assert len(fingerprints) == 1 and len(val_bytes) == 1


def test_frame_stride(workspace: Path) -> None:
    write_config(workspace, dancetrack=5, bdd=5, visdrone=25, visdrone_stride=2)
    assert _build(workspace) == 0
    report = _report(workspace)
    vis = [s for s in report["sequences"] if s["split"] == "train" and s["source"] == "visdrone"]
    assert sum(s["frames"] for s in vis) == 25 and all(s["stride"] == 2 and s["name"].endswith("-s2") for s in vis)
    assert report["budgets"]["visdrone"]["pool_frames"] == 30      # 3 videos x ceil(20 / 2)
    seq = workspace / "datasets/DanceTrack/train" / vis[0]["name"]
    assert "frameRate=15" in (seq / "seqinfo.ini").read_text()
    links = [os.readlink(seq / "img1" / f"{k:08d}.jpg") for k in (1, 2)]
    assert int(Path(links[1]).stem) - int(Path(links[0]).stem) == 2


def test_disabled_source_keeps_its_val_test(workspace: Path) -> None:
    write_config(workspace, visdrone_enabled=False, visdrone=0)
    assert _build(workspace) == 0
    report = _report(workspace)
    assert "visdrone" not in report["budgets"]
    assert report["splits"]["val"]["sources"]["visdrone"]["sequences"] == 1
    assert report["splits"]["train"]["sources"].get("visdrone") is None


def test_list_prune_and_dry_run(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_config(workspace)
    assert _build(workspace) == 0
    capsys.readouterr()
    assert _build(workspace, "--list", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) >= 2 and sum(r["current"] for r in rows) == 1 and rows[-1]["current"]
    before = sorted(os.listdir(workspace / "datasets/builds"))
    assert _build(workspace, "--dry-run", "--json") == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] and dry["splits"]["train"]["frames"] == 75 and dry["val_fingerprint"] is None
    assert sorted(os.listdir(workspace / "datasets/builds")) == before
    assert _build(workspace, "--prune", "1") == 0
    remaining = [p for p in os.listdir(workspace / "datasets/builds") if not p.startswith(".")]
    assert remaining == [Path(os.path.realpath(workspace / "datasets/DanceTrack")).name]
    assert (workspace / "datasets/DanceTrack/train_seqmap.txt").exists()
    assert any(p.exists() for p in (workspace / "src").rglob("*.jpg"))       # sources untouched


def test_real_directory_at_output_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_workspace(tmp_path, frames=8, videos=4)
    write_config(tmp_path, dancetrack=4, bdd=4, visdrone=4)
    real = tmp_path / "datasets/DanceTrack"
    real.mkdir(parents=True)
    (real / "precious.txt").write_text("user data")
    assert _build(tmp_path) == 2
    err = capsys.readouterr().err
    assert "real directory" in err and str(real) in err
    assert (real / "precious.txt").read_text() == "user data"
    assert not (tmp_path / "datasets/builds").exists() or not any(
        p for p in (tmp_path / "datasets/builds").iterdir() if not p.name.startswith("."))


def test_failed_build_leaves_previous_dataset_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_workspace(tmp_path, frames=8, videos=4)
    write_config(tmp_path, dancetrack=8, bdd=8, visdrone=8)
    assert _build(tmp_path) == 0
    previous = os.readlink(tmp_path / "datasets/DanceTrack")
    # Break a val annotation (always read): the next build must fail with file + line and replace nothing.
    val_id = manifest_ids(tmp_path)["val"]["dancetrack"][0]
    gt = tmp_path / "src/dancetrack/val" / val_id / "gt/gt.txt"
    gt.write_text(gt.read_text() + "1,2,three,4,5,6,1,1,1\n")
    write_config(tmp_path, dancetrack=4, bdd=8, visdrone=8, seed=3)
    assert _build(tmp_path) == 2
    err = capsys.readouterr().err
    assert f"{gt}:{len(gt.read_text().splitlines())}:" in err
    assert os.readlink(tmp_path / "datasets/DanceTrack") == previous
    assert [p.name for p in (tmp_path / "datasets/builds").iterdir() if not p.name.startswith(".lock")
            and not p.name.endswith(".lock")] == [previous.split("/")[-1]]


@pytest.mark.parametrize("problem", ["missing_root", "bad_manifest_id", "budget_too_big", "non_integer_budget",
                                     "manifest_json", "missing_manifest", "bad_bdd_json", "bad_visdrone_line"])
def test_bad_input_exit_2_names_file_and_replaces_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          problem: str) -> None:
    make_workspace(tmp_path, frames=8, videos=4)
    config = write_config(tmp_path, dancetrack=4, bdd=8, visdrone=8)
    assert _build(tmp_path) == 0
    previous = os.readlink(tmp_path / "datasets/DanceTrack")
    manifest = tmp_path / "manifest.json"
    expect_path, expect_line = config, None
    if problem == "missing_root":
        shutil.rmtree(tmp_path / "src/bdd100k")
        expect_path = tmp_path / "src/bdd100k"
    elif problem == "bad_manifest_id":
        data = json.loads(manifest.read_text())
        data["val"]["bdd"].append("no-such-video")
        manifest.write_text(json.dumps(data, indent=1))
        expect_path = manifest
        expect_line = next(i for i, line in enumerate(manifest.read_text().splitlines(), 1) if "no-such" in line)
    elif problem == "budget_too_big":
        write_config(tmp_path, dancetrack=10_000)
        expect_line = 4
    elif problem == "non_integer_budget":
        write_config(tmp_path, bdd='"5k"')
        expect_line = 10
    elif problem == "manifest_json":
        manifest.write_text('{"val": {\n  "bdd": [1,]\n}}')
        expect_path, expect_line = manifest, 2
    elif problem == "missing_manifest":
        manifest.unlink()
        expect_path = manifest
    elif problem == "bad_bdd_json":
        for label in (tmp_path / "src/bdd100k/labels/box_track_20").rglob("*.json"):
            label.write_text("[{")
        expect_path = "json"
    elif problem == "bad_visdrone_line":
        for ann in (tmp_path / "src/visdrone").rglob("annotations/*.txt"):
            ann.write_text("1,1,1,1,5,5,1,4,0,0\nnot,a,row\n")
        expect_path, expect_line = "txt", 2
    assert _build(tmp_path) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
    location = err.split("error: ", 1)[1].split(": ", 1)[0]
    if isinstance(expect_path, Path):
        assert location.startswith(str(expect_path))
    else:
        assert location.split(":")[0].endswith(expect_path)
    if expect_line is not None:
        assert location.endswith(f":{expect_line}")
    assert os.readlink(tmp_path / "datasets/DanceTrack") == previous
    assert not list((tmp_path / "datasets/builds").glob(".tmp-*"))


def test_second_build_on_same_output_is_refused(tmp_path: Path) -> None:
    config = make_workspace(tmp_path, frames=8, videos=4)
    write_config(tmp_path, dancetrack=4, bdd=4, visdrone=4)
    with output_lock(load_build_settings(config)):
        result = subprocess.run([sys.executable, "-m", "motip", "build", "--config", str(config)],
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "another build is running" in result.stderr and f"pid {os.getpid()}" in result.stderr
    assert not (tmp_path / "datasets/DanceTrack").exists()


def test_plain_progress_lines_when_not_a_terminal(tmp_path: Path) -> None:
    config = make_workspace(tmp_path, frames=8, videos=4)
    write_config(tmp_path, dancetrack=4, bdd=4, visdrone=4)
    result = subprocess.run([sys.executable, "-m", "motip", "build", "--config", str(config)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith("PROGRESS build ")]
    assert progress and progress[-1].startswith("PROGRESS build 60/60 100.0%")
    assert "frame budgets" in result.stdout
