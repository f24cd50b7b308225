"""`motip doctor`: the preflight names every problem of a stage at once, each with its fix (issue 12, item 4).

One demo workspace (motip.demo.create_demo + a real `motip build`) per module. The healthy tiny stage exits 0; a
stage with a missing pretrain, DEVICE cuda on this CPU box and an edited val split FAILs all three in one run (exit 2);
a pretrain of another architecture names the first mismatching key; a pretrain that pickles code is refused without
running it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from tests.helpers.training import motip

STAGE = "configs/stage1_demo_foundation.yaml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from motip.demo import create_demo

    root = create_demo(tmp_path_factory.mktemp("doctor") / "demo")
    motip("build", "--config", "config.toml", cwd=root, check=True)
    return root


def write_stage(root: Path, name: str, extra: str) -> str:
    """A stage YAML inheriting the demo's Stage 1 with ``extra`` keys; returns its path relative to ``root``."""
    path = root / "configs" / name
    path.write_text(f"SUPER_CONFIG_PATH: ./configs/stage1_demo_foundation.yaml\n{extra}", encoding="utf-8")
    return f"configs/{name}"


def by_name(report: dict, name: str) -> list[dict]:
    return [c for c in report["checks"] if c["name"] == name]


def test_healthy_tiny_stage_exits_0_with_every_check(demo: Path) -> None:
    result = motip("doctor", STAGE, "--json", cwd=demo, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["exit_code"] == 0
    names = [c["name"] for c in report["checks"]]
    for name in ("config", "workspace", "dataset", "val set", "pretrain", "device", "train step", "disk", "estimate"):
        assert name in names
    assert not [c for c in report["checks"] if c["status"] == "FAIL"]
    assert by_name(report, "workspace")[0]["status"] == "OK"  # the demo's config.toml names this stage
    step = by_name(report, "train step")[0]
    assert step["details"]["seconds"] > 0 and step["status"] in ("OK", "WARN")
    if not torch.cuda.is_available():
        assert "REDUCED" in step["message"] and "clip 6 -> 2 frames" in step["message"]
        assert "not meaningful for a GPU" in by_name(report, "estimate")[0]["message"]
    estimate = by_name(report, "estimate")[0]["details"]
    assert estimate["steps_per_epoch"] and all(s > 0 for s in estimate["steps_per_epoch"])
    disk = by_name(report, "disk")[0]["details"]
    # 2 epochs kept + best HOTA/IDF1 + last + one being written
    assert disk["files"] == 6 and disk["need_bytes"] > disk["per_file_bytes"] * 6


def test_every_problem_at_once_missing_pretrain_cuda_and_stale_val(demo: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from motip.doctor import run_doctor

    config = write_stage(demo, "broken.yaml", "DETR_PRETRAIN: ./pretrains/motip_dancetrack.pth\nDEVICE: cuda\n")
    val_gt = sorted((demo / "datasets" / "DanceTrack" / "val").glob("*/gt/gt.txt"))[0]
    original = val_gt.read_bytes()
    val_gt.write_bytes(original + b"1,999,10,10,20,40,1,1,1.0\n")  # someone edited the locked val set
    monkeypatch.chdir(demo)
    try:
        result = motip("doctor", config, cwd=demo, timeout=120)  # the CLI: text, exit 2
        report = run_doctor(config).to_json()  # the same checks in-process (what --json prints)
    finally:
        val_gt.write_bytes(original)
    assert result.returncode == 2 and report["exit_code"] == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    text = result.stdout
    assert "FAIL  pretrain" in text and str(demo / "pretrains" / "motip_dancetrack.pth") in text
    assert "FAIL  val set" in text and "changed since it was built" in text
    pretrain = by_name(report, "pretrain")[0]
    assert pretrain["status"] == "FAIL" and "DETR_PRETRAIN: null" in pretrain["fix"]
    val = by_name(report, "val set")[0]
    assert val["status"] == "FAIL" and "motip build" in val["fix"]
    if not torch.cuda.is_available():
        device = by_name(report, "device")[0]
        assert device["status"] == "FAIL" and "no CUDA GPU" in device["message"] and "DEVICE: cpu" in device["fix"]
        assert "FAIL  device" in text
        step = by_name(report, "train step")[0]  # still runs, reduced, on the CPU and says so
        assert step["status"] == "WARN" and "device cuda not available: REDUCED" in step["message"]
    # every check ran: nothing stopped at the first FAIL
    assert len(report["checks"]) >= 9 and report["counts"]["FAIL"] >= 2


def test_pretrain_of_another_architecture_names_the_first_mismatching_key(demo: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from motip.config import load_config
    from motip.doctor import run_doctor
    from motip.model import build_model

    other = load_config(demo / STAGE, ["--DETR_HIDDEN_DIM", "96", "--FEATURE_DIM", "96", "--ID_DIM", "96"])
    pretrain = tmp_path / "other_arch.pth"
    torch.save({"model": build_model(other).state_dict()}, pretrain)
    config = write_stage(demo, "wrong_arch.yaml", f"DETR_PRETRAIN: {pretrain}\n")
    monkeypatch.chdir(demo)
    report = run_doctor(config).to_json()
    assert report["exit_code"] == 2
    check = by_name(report, "pretrain")[0]
    assert check["status"] == "FAIL" and "shape mismatch at 'detr." in check["message"]
    assert check["path"] == str(pretrain) and "config" in check["fix"]
    assert by_name(report, "train step")[0]["status"] in ("OK", "WARN")  # the step still runs on fresh weights


class _RunsCode:
    """Unpickling this would create ``marker``: a stand-in for a .pth that runs code when loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_pretrain_that_pickles_code_is_refused_without_running_it(demo: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from motip.doctor import run_doctor

    marker = tmp_path / "code_ran"
    pretrain = tmp_path / "evil.pth"
    torch.save({"model": {"w": torch.zeros(1)}, "payload": _RunsCode(marker)}, pretrain)
    config = write_stage(demo, "evil.yaml", f"DETR_PRETRAIN: {pretrain}\n")
    monkeypatch.chdir(demo)
    report = run_doctor(config).to_json()
    assert not marker.exists()
    check = by_name(report, "pretrain")[0]
    assert check["status"] == "FAIL" and "not unpickled" in check["message"]
    assert "--trust-checkpoint" in check["fix"] and check["path"] == str(pretrain)
    assert report["exit_code"] == 2


def test_config_with_an_unknown_key_fails_and_the_rest_is_skipped(demo: Path) -> None:
    config = write_stage(demo, "typo.yaml", "LR_DORP: 3\n")
    result = motip("doctor", config, "--json", cwd=demo, timeout=60)
    assert result.returncode == 2
    report = json.loads(result.stdout)
    check = by_name(report, "config")[0]
    assert check["status"] == "FAIL" and "LR_DROP" in check["message"] + (check["fix"] or "")
    assert by_name(report, "train step")[0]["status"] == "SKIP"


def test_disk_too_small_for_the_checkpoints_fails(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from motip.doctor import Doctor

    monkeypatch.chdir(demo)
    doctor = Doctor(Path(STAGE))
    doctor.check_config()
    real = shutil.disk_usage
    monkeypatch.setattr("motip.doctor.shutil.disk_usage",
                        lambda p: real(p)._replace(free=1024 * 1024))  # 1 MiB left on the disk
    check = doctor.check_disk()
    assert check.status == "FAIL" and "not enough disk" in check.message
    assert "MULTI_LAST_CHECKPOINTS" in check.fix


# ---------------------------------------------------------------------------------------------------- the TUI hook
async def test_tui_shows_the_doctor_before_a_gpu_launch_and_cancel_starts_nothing(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """`t` on a stage whose config asks for CUDA runs `motip doctor --json` in a subprocess first; its FAILs (no
    dataset built here, and no GPU on a CPU box) show in a dialog; c cancels and no job starts."""
    from motip_tui.app import MotipApp
    from motip_tui.screens.doctor import DoctorScreen, doctor_wanted
    from tests.helpers.paths import REPO
    from tests.helpers.tui import make_workspace, wait_for

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("MOTIP_TUI_DOCTOR", raising=False)
    config = make_workspace(tmp_path / "ws")
    root = config.parent
    stage = root / "configs" / "stage1_universal_foundation.yaml"
    stage.write_text(f"SUPER_CONFIG_PATH: {REPO / 'configs' / 'tiny_cpu.yaml'}\nDEVICE: cuda\n", encoding="utf-8")
    assert doctor_wanted(stage, root)  # DEVICE cuda: the GPU meter would run, so the doctor does
    cpu_stage = root / "configs" / "stage2_universal_refine.yaml"
    cpu_stage.write_text(f"SUPER_CONFIG_PATH: {REPO / 'configs' / 'tiny_cpu.yaml'}\nDEVICE: cpu\n", encoding="utf-8")
    assert not doctor_wanted(cpu_stage, root)  # a CPU run starts at once (the existing TUI launch tests)
    monkeypatch.setenv("MOTIP_TUI_DOCTOR", "never")
    assert not doctor_wanted(stage, root)
    monkeypatch.delenv("MOTIP_TUI_DOCTOR")

    app = MotipApp(config, refresh_s=0.05, poll_s=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("t")
        assert await wait_for(pilot, lambda: isinstance(app.screen, DoctorScreen), timeout=180)
        text = str(app.screen.query_one("#doctor-checks").render())
        assert "FAIL" in text and "dataset" in text and "fix:" in text
        await pilot.press("c")
        assert await wait_for(pilot, lambda: not isinstance(app.screen, DoctorScreen))
        assert "not started" in str(app.query_one("#message").render())
        await pilot.pause(0.5)
        assert not [j for j in app.jobs if j.kind == "train"]


@pytest.mark.slow
async def test_tui_launch_anyway_after_the_doctor_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from motip_tui.app import MotipApp
    from motip_tui.screens.doctor import DoctorScreen
    from tests.helpers.paths import REPO
    from tests.helpers.tui import make_workspace, wait_for

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MOTIP_TUI_DOCTOR", "always")
    config = make_workspace(tmp_path / "ws")
    stage = config.parent / "configs" / "stage1_universal_foundation.yaml"
    stage.write_text(f"SUPER_CONFIG_PATH: {REPO / 'configs' / 'tiny_cpu.yaml'}\n", encoding="utf-8")
    app = MotipApp(config, refresh_s=0.05, poll_s=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("t")  # no dataset built here: the doctor FAILs, l launches anyway
        assert await wait_for(pilot, lambda: isinstance(app.screen, DoctorScreen), timeout=180)
        await pilot.press("l")
        assert await wait_for(pilot, lambda: "despite the doctor" in str(app.query_one("#message").render())
                              or any(j.kind == "train" for j in app.jobs), timeout=60)


def test_a_one_class_pretrain_fits_through_the_1_to_2_class_surgery(demo: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from motip.config import load_config
    from motip.doctor import Doctor
    from motip.model import build_model

    monkeypatch.chdir(demo)
    person_only = load_config(STAGE, ["--NUM_CLASSES", "1"])  # like the official DanceTrack MOTIP (people only)
    pretrain = tmp_path / "motip_dancetrack.pth"
    torch.save({"model": build_model(person_only).state_dict()}, pretrain)
    doctor = Doctor(Path(write_stage(demo, "one_class.yaml", f"DETR_PRETRAIN: {pretrain}\n")))
    doctor.check_config()
    [check] = doctor.check_pretrain()
    assert check.status == "OK" and "loads safely and fits" in check.message
    assert check.details["class_head"].startswith("1 -> 2")
