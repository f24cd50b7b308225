"""Reliability drill, bad input: clear errors instead of tracebacks (item 19, and item 9's empty config.toml),
bounded reads of a train.log with a corrupted enormous line (item 20), file modes and symlinks of atomic writes
(item 21). Every test fails on the code before these guarantees (commit b5c63ed)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from motip.cli import main as motip_main

from tests.helpers.paths import REPO

ENV = dict(os.environ, OMP_NUM_THREADS="1")


def motip(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess (exit code and stderr as the user sees them)."""
    return subprocess.run([sys.executable, "-m", "motip", *argv], cwd=cwd, capture_output=True, text=True, env=ENV,
                          timeout=300)


def cli(argv: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The CLI in-process (cheaper than a subprocess; an uncaught exception fails the test as a traceback would)."""
    monkeypatch.chdir(cwd)
    code = motip_main(argv)
    return code, capsys.readouterr().err


WORKSPACE = """\
[dancetrack]
enabled = true
root = "src/dancetrack"
frame_budget = 30

[builder]
output = "datasets/DanceTrack"
seed = 0

[[stages]]
name = "Foundation"
config = "configs/tiny_cpu.yaml"
budgets = { dancetrack = 30 }
epochs = 10
hours_per_epoch = 2.0
"""


# --- item 19: clear errors, never a traceback ------------------------------------------------------------------

def test_item19_duplicate_key_in_config_toml_is_exit2_with_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(WORKSPACE.replace("frame_budget = 30\n", "frame_budget = 30\nframe_budget = 40\n"))
    code, err = cli(["build", "--config", str(config), "--dry-run"], tmp_path, monkeypatch, capsys)
    assert code == 2
    assert f"{config}:5:" in err and "dancetrack.frame_budget" in err and "twice" in err and "hint:" in err


async def test_item19_tui_opens_read_only_on_duplicate_keys(tmp_path: Path) -> None:
    from textual.widgets import Static

    from motip_tui.app import MotipApp

    config = tmp_path / "config.toml"
    config.write_text(WORKSPACE.replace('seed = 0\n', 'seed = 0\nseed = 1\n'))
    before = config.read_bytes()
    app = MotipApp(config, refresh_s=0.05, poll_s=0.2, use_watchdog=False)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        assert app.readonly
        message = str(app.query_one("#message", Static).render())
        assert "builder.seed" in message and "twice" in message and "read-only" in message
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert config.read_bytes() == before


def test_item19_bom_is_accepted_in_config_toml_and_yaml(tmp_path: Path) -> None:
    from motip.config import load_config
    from motip.workspace import load_workspace, update_workspace

    config = tmp_path / "config.toml"
    config.write_bytes(b"\xef\xbb\xbf" + WORKSPACE.encode())
    assert load_workspace(config).sources["dancetrack"].frame_budget == 30
    update_workspace(config, {"dancetrack.frame_budget": 35})  # saved without the BOM, otherwise unchanged
    assert config.read_bytes() == WORKSPACE.replace("frame_budget = 30\n", "frame_budget = 35\n", 1).encode()
    yaml_config = tmp_path / "exp.yaml"
    yaml_config.write_bytes(b"\xef\xbb\xbfEPOCHS: 3\n")
    assert load_config(yaml_config)["EPOCHS"] == 3


@pytest.mark.parametrize("name", ["config.toml", "exp.yaml"])
def test_item19_non_utf8_config_is_exit2_with_line(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    if name == "config.toml":
        path.write_bytes(WORKSPACE.replace('root = "src/dancetrack"', 'root = "src/danc\xe9track"').encode("latin-1"))
        argv = ["build", "--config", str(path), "--dry-run"]
        line = 3
    else:
        path.write_bytes("EPOCHS: 3\n# r\xe9glage\nLR: 1.0e-4\n".encode("latin-1"))
        argv = ["config", "show", str(path)]
        line = 2
    code, err = cli(argv, tmp_path, monkeypatch, capsys)
    assert code == 2
    assert f"{path}:{line}:" in err and "not UTF-8" in err and "hint:" in err


def test_item19_deeply_nested_config_is_exit2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """YAML (a RecursionError traceback before) and TOML (already a syntax error: kept so)."""
    depth = 100_000
    toml, yaml = tmp_path / "config.toml", tmp_path / "exp.yaml"
    toml.write_text(WORKSPACE + "[bdd]\nsplits = " + "[" * depth + "]" * depth + "\n")
    yaml.write_text("DATASETS: " + "[" * depth + "]" * depth + "\n")
    for path, argv in ((yaml, ["config", "show", str(yaml)]), (toml, ["build", "--config", str(toml), "--dry-run"])):
        code, err = cli(argv, tmp_path, monkeypatch, capsys)
        assert code == 2 and str(path) in err and "hint:" in err, err


def test_item19_duplicate_key_in_yaml_is_exit2_with_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("LR: 1.0e-4\nEPOCHS: 3\nLR: 2.0e-4\n")  # PyYAML alone would keep 2.0e-4 without a word
    code, err = cli(["config", "show", str(path)], tmp_path, monkeypatch, capsys)
    assert code == 2 and f"{path}:3:" in err and "LR" in err and "twice" in err


def _train_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "configs").mkdir()
    for name in ("tiny_cpu.yaml", "r50_deformable_detr_motip_dancetrack.yaml"):  # the config and its parent
        (folder / "configs" / name).write_bytes((REPO / "configs" / name).read_bytes())
    return folder


@pytest.mark.parametrize("override", [["--EPOCHS", "0"], ["--SAMPLE_LENGTHS", "[]"], ["--NUM_WORKERS", "-1"],
                                      ["--LR", "nan"], ["--LR", ".inf"]])
def test_item19_training_values_that_cannot_work_refused_before_any_run_folder(
        tmp_path: Path, override: list[str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    folder = _train_folder(tmp_path)
    code, err = cli(["train", "configs/tiny_cpu.yaml", *override], folder, monkeypatch, capsys)
    assert code == 2 and override[0][2:] in err and "hint:" in err
    assert not (folder / "outputs").exists()


def test_item19_bad_value_in_a_yaml_file_names_file_and_line_end_to_end(tmp_path: Path) -> None:
    folder = _train_folder(tmp_path)
    (folder / "configs" / "bad.yaml").write_text("SUPER_CONFIG_PATH: configs/tiny_cpu.yaml\n\nEPOCHS: 0\n")
    out = motip("train", "configs/bad.yaml", cwd=folder)
    assert out.returncode == 2, out.stderr
    assert "configs/bad.yaml:3: EPOCHS: must be >= 1" in out.stderr and "Traceback" not in out.stderr
    assert not (folder / "outputs").exists()


def test_item19_hours_per_epoch_nan_is_exit2_with_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(WORKSPACE.replace("hours_per_epoch = 2.0", "hours_per_epoch = nan"))
    code, err = cli(["build", "--config", str(config), "--dry-run"], tmp_path, monkeypatch, capsys)
    assert code == 2 and f"{config}:15:" in err and "hours_per_epoch" in err and "finite" in err


# --- item 9 (config side): an empty or section-less config.toml never replaces a good dataset --------------------

@pytest.fixture(scope="module")
def built_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from motip.demo import create_demo

    folder = create_demo(tmp_path_factory.mktemp("inputs") / "demo")
    out = motip("build", "--config", "config.toml", cwd=folder)
    assert out.returncode == 0, out.stderr
    return folder


@pytest.mark.parametrize("text", ["", "# config.toml\n\n"], ids=["0-byte", "section-less"])
def test_item9_empty_config_toml_build_is_exit2_and_keeps_the_link(built_demo: Path, text: str) -> None:
    config = built_demo / "config.toml"
    good = config.read_bytes()
    link = built_demo / "datasets" / "DanceTrack"
    target = os.readlink(link)
    builds = sorted(p.name for p in (built_demo / "datasets" / "builds").iterdir())
    try:
        config.write_text(text)
        out = motip("build", "--config", "config.toml", cwd=built_demo)
    finally:
        config.write_bytes(good)
    assert out.returncode == 2, out.stderr
    assert "config.toml" in out.stderr and "no sections" in out.stderr and "Traceback" not in out.stderr
    assert os.readlink(link) == target and (link / "train").is_dir()
    assert sorted(p.name for p in (built_demo / "datasets" / "builds").iterdir()) == builds


# --- item 20: a train.log with an enormous line is read in bounded memory ------------------------------------------

GOOD = [
    '2026-11-24T10:00:00 [start] run="outputs/r" config="configs/tiny_cpu.yaml" epochs=2 pid=1',
    *[f"2026-11-24T10:00:{s:02d} [train] epoch=1 step={s} total_steps=10 global_step={s} loss={3 - s / 10:.2f} "
      f"grad_norm=1.5 lr=0.0001 s_per_step=0.5" for s in range(1, 6)],
    "2026-11-24T10:01:00 [eval] epoch=1 HOTA=40.5 DetA=41 AssA=40 MOTA=50 IDF1=45 IDSW=3",
]
HUGE_MB = 50


@pytest.fixture(scope="module")
def huge_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder whose train.log has a 50 MB line (a corrupted write: a quoted message that never ends well)
    between good lines."""
    run = tmp_path_factory.mktemp("hugelog") / "run"
    run.mkdir()
    with open(run / "train.log", "w", encoding="utf-8") as handle:
        handle.write("\n".join(GOOD[:4]) + "\n")
        handle.write('2026-11-24T10:00:04 [warning] msg="' + "a\\\"b " * (HUGE_MB * 2 ** 20 // 5) + "\n")
        handle.write("\n".join(GOOD[4:]) + "\n")
    return run


# Runs in a child process: peak RSS (ru_maxrss, KiB) after the imports, then after reading the log, as JSON.
PROBE = textwrap.dedent("""
    import json, resource, sys, time
    from pathlib import Path
    mode, run = sys.argv[1], Path(sys.argv[2])
    import motip.cli, motip.trainlog, motip_tui.watch
    if mode == "dashboard":
        import motip.viz.dashboard, matplotlib.pyplot
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {}
    if mode == "log":
        with open(run / "out.json", "w") as out:
            sys.stdout = out
            result["code"] = motip.cli.main(["log", "--json", str(run / "train.log")])
            sys.stdout = sys.__stdout__
    elif mode == "dashboard":
        result["code"] = motip.cli.main(["dashboard", str(run / "train.log"), "--out", str(run / "d.png")])
    else:  # the TUI's path: RunWatch = preview (big file) + FileTailer + the charting fast path
        watch = motip_tui.watch.RunWatch(run, use_watchdog=False).start()
        deadline = time.monotonic() + 60
        while (watch.loading or watch.version < 2) and time.monotonic() < deadline:
            watch.drawn.set()
            time.sleep(0.05)
        watch.stop()
        result.update(steps=watch.steps, evals=len(watch.log.eval), long_lines=watch.log.long_lines,
                      state=watch.log.status.get("state"))
    result["growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    print(json.dumps(result))
""")


def _probe(mode: str, run: Path) -> dict:
    def limit() -> None:  # a reader holding ~170x the line in RAM fails with MemoryError, not the machine
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (6 * 2 ** 30, 6 * 2 ** 30))

    out = subprocess.run([sys.executable, "-c", PROBE, mode, str(run)], capture_output=True, text=True, env=ENV,
                         timeout=120, preexec_fn=limit)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_item20_motip_log_reads_a_50mb_line_in_bounded_memory(huge_log: Path) -> None:
    result = _probe("log", huge_log)
    assert result["code"] == 0 and result["growth_mb"] < 300, result
    data = json.loads((huge_log / "out.json").read_text())
    assert [row["step"] for row in data["train"]] == [1, 2, 3, 4, 5]
    assert len(data["eval"]) == 1 and data["long_lines"] == 1


def test_item20_dashboard_reads_a_50mb_line_in_bounded_memory(huge_log: Path) -> None:
    result = _probe("dashboard", huge_log)
    assert result["code"] == 0 and result["growth_mb"] < 300, result
    assert (huge_log / "d.png").stat().st_size > 0


def test_item20_tui_watch_reads_a_50mb_line_in_bounded_memory(huge_log: Path) -> None:
    result = _probe("watch", huge_log)
    assert result["growth_mb"] < 300, result
    assert result["steps"] == [1, 2, 3, 4, 5] and result["evals"] == 1 and result["long_lines"] == 1


def test_item20_line_splitter_any_chunking() -> None:
    """The bounded splitter gives the same lines whatever the chunk boundaries (a long line split across chunks
    included), and never holds more than its limit of a line."""
    from motip.trainlog import SKIPPED_LINE, LineSplitter

    lines = ["short", "x" * 25, "", "also short", "y" * 11, "end"]
    data = ("\n".join(lines) + "\npartial").encode()
    expected = [SKIPPED_LINE if len(line) > 10 else line for line in lines]
    for size in (1, 2, 3, 7, 10, 11, 64):
        splitter = LineSplitter(max_line_bytes=10)
        got: list[str] = []
        for start in range(0, len(data), size):
            got += splitter.feed(data[start:start + size])
            assert len(splitter._partial) <= 10
        assert got == expected and splitter.long_lines == 2, size


# --- item 21: atomic writes keep modes and symlinks --------------------------------------------------------------

@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_item21_atomic_writes_get_the_mode_a_plain_write_gives(tmp_path: Path, umask_022: None) -> None:
    from motip.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text

    atomic_write_text(tmp_path / "new.txt", "x")
    atomic_write_json(tmp_path / "metrics.json", {"HOTA": 1.0})
    atomic_write_bytes(tmp_path / "new.bin", b"x")
    assert [mode(tmp_path / n) for n in ("new.txt", "metrics.json", "new.bin")] == [0o644] * 3
    existing = tmp_path / "existing.txt"
    existing.write_text("old")
    existing.chmod(0o640)
    atomic_write_text(existing, "new")
    assert existing.read_text() == "new" and mode(existing) == 0o640
    os.umask(0o077)
    atomic_write_text(tmp_path / "private.txt", "x")
    assert mode(tmp_path / "private.txt") == 0o600


def test_item21_symlinked_config_toml_saved_through_the_link(tmp_path: Path, umask_022: None) -> None:
    from motip.workspace import load_workspace, update_workspace

    shared = tmp_path / "dotfiles"
    shared.mkdir()
    target = shared / "motip.toml"
    target.write_text(WORKSPACE)
    target.chmod(0o640)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    link = workspace / "config.toml"
    link.symlink_to(target)
    update_workspace(link, {"dancetrack.frame_budget": 45})  # what the TUI's save does
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert "frame_budget = 45" in target.read_text() and mode(target) == 0o640
    assert load_workspace(link).sources["dancetrack"].frame_budget == 45
    assert sorted(p.name for p in shared.iterdir()) == ["motip.toml"]  # no temp file left beside the target


def test_item21_dashboard_png_is_0644_under_umask_022(tmp_path: Path, umask_022: None) -> None:
    from motip.viz.dashboard import render_dashboard

    log = tmp_path / "train.log"
    log.write_text("\n".join(GOOD) + "\n")
    out = render_dashboard([log], tmp_path / "dashboard.png")
    assert mode(out) == 0o644
