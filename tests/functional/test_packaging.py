"""Packaging: the configs, assets and TUI stylesheet ship inside the wheel and are found from an installed copy;
the checkout's configs/ and assets/ are links to that single home; the tests need nothing outside the repository.

The full user path from a wheel (demo -> build -> config show -> motip-tui) is .ci/wheel_smoke, run by .ci/run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.helpers.paths import REPO

BUNDLED_CONFIGS = {"r50_deformable_detr_motip_dancetrack.yaml", "stage1_universal_foundation.yaml",
                   "stage2_universal_refine.yaml", "stage3_aerial_adapt.yaml", "tiny_cpu.yaml"}


def _copy_sources(dest: Path) -> Path:
    """What a wheel is built from (pyproject, README, the two packages), without the checkout's build/egg-info."""
    dest.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    for package in ("motip", "motip_tui"):
        shutil.copytree(REPO / package, dest / package, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built by pip from a clean copy of the sources (no network: this venv's setuptools)."""
    try:
        import setuptools
    except ImportError:
        pytest.skip("setuptools is not installed in this venv (python>=3.12 venvs lack it); "
                    ".ci/wheel_smoke builds the wheel with build isolation instead")
    if int(setuptools.__version__.split(".")[0]) < 70:  # older ones need the `wheel` package for bdist_wheel
        pytest.skip(f"setuptools {setuptools.__version__} < 70 cannot build a wheel without the `wheel` package")
    root = tmp_path_factory.mktemp("wheel")
    src = _copy_sources(root / "src")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "-w", str(root / "dist"), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (built,) = (root / "dist").glob("*.whl")
    return built


def test_wheel_ships_configs_assets_tcss_and_both_commands(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    shipped = {f"motip/configs/{name}" for name in BUNDLED_CONFIGS}
    # Every file of the package-data folders and every stylesheet of the TUI, not a hand-kept list.
    shipped |= {p.relative_to(REPO).as_posix() for folder in ("motip/configs", "motip/assets")
                for p in (REPO / folder).iterdir() if p.is_file()}
    shipped |= {p.relative_to(REPO).as_posix() for p in (REPO / "motip_tui").rglob("*.tcss")}
    assert "motip/assets/manifest.example.json" in shipped and "motip_tui/app.tcss" in shipped
    assert shipped <= names, f"missing from the wheel: {sorted(shipped - names)}"
    assert re.search(r"^motip = motip\.cli:main$", entry_points, re.M)
    assert re.search(r"^motip-tui = motip_tui\.__main__:main$", entry_points, re.M)


def test_installed_wheel_finds_its_configs_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    # A throwaway venv with only the wheel installed; torch & co. come from this venv's site-packages through a
    # .pth path line (which does not run this venv's own .pth files, so its editable install stays invisible).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "zz_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = ("import json, motip; from motip.config import bundled_config_dir, bundled_asset, load_config; "
             "d = bundled_config_dir(); c = load_config(d / 'stage1_universal_foundation.yaml'); "
             "print(json.dumps({'motip': motip.__file__, 'configs': str(d), "
             "'files': sorted(p.name for p in d.iterdir()), "
             "'asset': str(bundled_asset('manifest.example.json')), 'NUM_CLASSES': c['NUM_CLASSES'], "
             "'SAMPLE_LENGTHS': c['SAMPLE_LENGTHS']}))")
    proc = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, cwd=elsewhere, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    site_dir = Path(site).resolve()
    assert Path(found["motip"]).resolve().is_relative_to(site_dir), found["motip"]  # the wheel, not the checkout
    assert Path(found["configs"]).resolve() == site_dir / "motip" / "configs"
    assert Path(found["asset"]).resolve().is_relative_to(site_dir)
    assert set(found["files"]) >= BUNDLED_CONFIGS
    # The stage config's SUPER_CONFIG_PATH (./configs/...) resolved inside the package: TRAIN.md's values and the
    # base's.
    assert found["NUM_CLASSES"] == 2 and found["SAMPLE_LENGTHS"] == [30]

    # The installed console script, from a folder that has no configs/ of its own.
    show = subprocess.run([str(venv / "bin" / "motip"), "config", "show",
                           str(Path(found["configs"]) / "tiny_cpu.yaml"), "--json"],
                          capture_output=True, text=True, cwd=elsewhere, env=env, timeout=120)
    assert show.returncode == 0, show.stderr
    shown = json.loads(show.stdout)
    assert shown["config"]["NUM_CLASSES"] == 2 and shown["config"]["SAMPLE_LENGTHS"] == [6]
    base = Path(shown["sources"]["SEED"])  # inherited from the base config inside the installed package
    assert base.name == "r50_deformable_detr_motip_dancetrack.yaml" and base.resolve().is_relative_to(site_dir)


def test_checkout_configs_and_assets_are_the_package_folders() -> None:
    # One home for every bundled file: the repo-root folders are relative links into the package.
    from motip.config import bundled_asset, bundled_config_dir

    for link, target in (("configs", "motip/configs"), ("assets", "motip/assets")):
        path = REPO / link
        if not path.is_symlink():
            pytest.skip(f"{link} is not a symlink in this checkout (git core.symlinks=false?)")
        assert os.readlink(path) == target  # relative: a clone anywhere keeps it
        assert path.resolve() == (REPO / target).resolve()
    assert bundled_config_dir() == (REPO / "motip" / "configs").resolve()
    assert {p.name for p in bundled_config_dir().iterdir()} == BUNDLED_CONFIGS
    assert bundled_asset("manifest.example.json") == (REPO / "motip" / "assets" / "manifest.example.json").resolve()


def test_config_show_names_files_as_the_user_typed_them() -> None:
    # configs/ is a link: provenance must say configs/..., not the link's target motip/configs/...
    proc = subprocess.run([sys.executable, "-m", "motip", "config", "show", "configs/stage1_universal_foundation.yaml",
                           "--json"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    sources = json.loads(proc.stdout)["sources"]
    assert sources["NUM_CLASSES"] == "configs/stage1_universal_foundation.yaml"
    assert sources["SEED"] == "configs/r50_deformable_detr_motip_dancetrack.yaml"


def test_broken_install_without_configs_is_a_config_error(tmp_path: Path) -> None:
    # A copy of the package whose configs/ went missing: a message naming the folder and how to fix it, no traceback.
    shutil.copytree(REPO / "motip", tmp_path / "motip", ignore=shutil.ignore_patterns("__pycache__", "configs"))
    code = ("from motip.config import bundled_config_dir\n"
            "from motip.errors import ConfigError\n"
            "try:\n    bundled_config_dir()\nexcept ConfigError as err:\n    print(err)\n"
            "else:\n    print('no error')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "missing" in proc.stdout and str(tmp_path / "motip" / "configs") in proc.stdout
    assert "reinstall" in proc.stdout


def test_tests_and_bench_need_nothing_outside_the_repository() -> None:
    # No workplace folders or absolute paths into this machine's layout: the suite runs from any clone.
    pattern = re.compile(r"/work/|\.mirror/|shared/seed|/home/\w|/Users/\w")
    offenders = []
    for folder in ("tests", "bench"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if pattern.search(line) and path.name != "test_packaging.py":
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
