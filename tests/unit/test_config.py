"""YAML experiment configs: inheritance (TRAIN.md's three stage files), overrides, schema errors, cycles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from motip.config import SCHEMA, VAL_CONFIG_SCHEMA, load_config, parse_overrides
from motip.errors import ConfigError

from tests.helpers.paths import DATA_DIR, REPO

CONFIGS = REPO / "configs"
BASE = CONFIGS / "r50_deformable_detr_motip_dancetrack.yaml"


@pytest.fixture(autouse=True)
def _in_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # TRAIN.md's SUPER_CONFIG_PATHs are relative to the project folder


def test_base_config_spells_out_every_schema_default() -> None:
    raw = yaml.safe_load(BASE.read_text())
    assert set(raw) == set(SCHEMA), set(raw) ^ set(SCHEMA)
    for name, key in SCHEMA.items():
        if name == "val_config":
            assert set(raw[name]) == set(VAL_CONFIG_SCHEMA)
            continue
        value = raw[name]
        if key.type == "float" and value is not None:
            value = float(value)
        assert value == key.default, name


def test_official_keys_keep_official_values() -> None:
    official = load_config(BASE)
    assert official["SAMPLE_LENGTHS"] == [30] and official["NUM_ID_VOCABULARY"] == 50
    assert official["LR"] == 1.0e-4 and official["SCHEDULER_MILESTONES"] == [6, 9]
    assert official["ASSIGNMENT_PROTOCOL"] == "object-max" and official["DET_THRESH"] == 0.3


def test_stage1_inherits_and_overrides() -> None:
    config = load_config(CONFIGS / "stage1_universal_foundation.yaml")
    assert config["NUM_CLASSES"] == 2 and config["LR"] == 2.0e-5 and config["LR_DROP"] == 7
    assert config["LR_BACKBONE"] == 2.0e-6 and config["MEMORY_EFFICIENT"] is True
    assert config["AUG_RESIZE_SCALES"] == [480, 512, 544, 576, 608, 640]
    assert config["DETR_NUM_QUERIES"] == 300  # inherited
    assert config.sources["LR"].endswith("stage1_universal_foundation.yaml")
    assert config.sources["DETR_NUM_QUERIES"].endswith("r50_deformable_detr_motip_dancetrack.yaml")
    assert config["val_config"]["CLASS_NAME_TO_ID"] == {"pedestrian": 1}


def test_stage2_and_stage3_merge_val_config_key_by_key() -> None:
    stage2 = load_config(CONFIGS / "stage2_universal_refine.yaml")
    assert stage2["LR"] == 1.0e-5 and stage2["DETR_PRETRAIN"] == "./pretrains/stage1_v2.pth"
    assert stage2["RESUME_OPTIMIZER"] is False and stage2["RESUME_SCHEDULER"] is True
    stage3 = load_config(CONFIGS / "stage3_aerial_adapt.yaml")
    assert stage3["AUG_MAX_SIZE"] == 1100 and stage3["LR"] == 1.0e-4
    # Stage 3 sets only GT_FOLDER and SEQMAP_FILE: the rest of val_config comes from the base.
    assert stage3["val_config"]["GT_FOLDER"] == "datasets/DanceTrack/val"
    assert stage3["val_config"]["CLASSES_TO_EVAL"] == ["pedestrian"]
    assert stage3.sources["val_config.GT_FOLDER"].endswith("stage3_aerial_adapt.yaml")
    assert stage3.sources["val_config.CLASSES_TO_EVAL"].endswith("r50_deformable_detr_motip_dancetrack.yaml")


def test_stage_files_hold_exactly_train_md_content() -> None:
    # The YAML blocks of TRAIN.md, verbatim, must be what configs/ holds (the user's files, unchanged).
    train_md = DATA_DIR / "TRAIN.md"  # a copy of the user's plan (tests/data/README.md)
    text = train_md.read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    blocks = ["\n".join(line[4:] if line.startswith("    ") else line for line in b.splitlines()) for b in blocks]
    for block, name in zip(blocks, ["stage1_universal_foundation", "stage2_universal_refine", "stage3_aerial_adapt"]):
        assert yaml.safe_load(block) == yaml.safe_load((CONFIGS / f"{name}.yaml").read_text()), name


def test_tiny_cpu_config_loads() -> None:
    tiny = load_config(CONFIGS / "tiny_cpu.yaml")
    assert tiny["BACKBONE"] == "resnet18" and tiny["DETR_NUM_QUERIES"] <= 50 and tiny["DEVICE"] == "auto"


def test_command_line_overrides() -> None:
    config = load_config(CONFIGS / "stage1_universal_foundation.yaml",
                         ["--LR", "1e-4", "--EPOCHS=3", "--AUG_RESIZE_SCALES", "[320, 352]",
                          "--val_config.CLASSES_TO_EVAL", "[pedestrian, vehicle]", "--OUTPUT_DIR", "null"])
    assert config["LR"] == 1e-4 and config["EPOCHS"] == 3 and config["AUG_RESIZE_SCALES"] == [320, 352]
    assert config["val_config"]["CLASSES_TO_EVAL"] == ["pedestrian", "vehicle"]
    assert config["val_config"]["GT_FOLDER"] == "./datasets/DanceTrack/val"  # merged, not replaced
    assert config.sources["LR"] == "command line"
    assert parse_overrides({"LR": 1}) == {"LR": 1}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_unknown_key_suggests_closest(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.yaml", "LR_DORP: 7\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    message = err.value.render()
    assert "LR_DORP" in message and "did you mean LR_DROP?" in message and str(bad) in message


def test_unknown_val_config_key(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.yaml", "val_config:\n  GT_FOLDR: x\n")
    with pytest.raises(ConfigError, match="GT_FOLDR.*did you mean GT_FOLDER"):
        load_config(bad)


@pytest.mark.parametrize("text, fragment", [
    ("EPOCHS: 2.5\n", "EPOCHS: expected an integer"),
    ("EPOCHS: '10'\n", "EPOCHS: expected an integer"),
    ("MEMORY_EFFICIENT: 1\n", "MEMORY_EFFICIENT: expected true or false"),
    ("LR: fast\n", "LR: expected a number"),
    ("AUG_RESIZE_SCALES: 480\n", "AUG_RESIZE_SCALES: expected a list of int"),
    ("ASSIGNMENT_PROTOCOL: greedy\n", "not one of"),
    ("NUM_CLASSES: null\n", "must not be null"),
])
def test_wrong_types_name_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    bad = _write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert fragment in err.value.render() and str(bad) in err.value.render()


def test_float_keys_accept_yaml_exponent_strings(tmp_path: Path) -> None:
    cfg = _write(tmp_path / "c.yaml", "LR: 1e-4\n")  # PyYAML reads this as a string
    assert load_config(cfg)["LR"] == 1e-4


def test_wrong_override_type_is_an_error() -> None:
    with pytest.raises(ConfigError, match="command-line override"):
        load_config(BASE, ["--EPOCHS", "many"])
    with pytest.raises(ConfigError, match="did you mean LR_DROP"):
        load_config(BASE, ["--LR_DORP", "3"])
    with pytest.raises(ConfigError, match="missing value"):
        load_config(BASE, ["--LR"])


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.yaml", "LR: 1\nEPOCHS: [1, 2\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert "YAML syntax error" in err.value.render() and err.value.line is not None


def test_super_config_cycle_detected(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", "SUPER_CONFIG_PATH: b.yaml\nLR: 1.0e-4\n")
    _write(tmp_path / "b.yaml", "SUPER_CONFIG_PATH: c.yaml\n")
    _write(tmp_path / "c.yaml", "SUPER_CONFIG_PATH: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.yaml")


def test_missing_super_config(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", "SUPER_CONFIG_PATH: nowhere.yaml\n")
    with pytest.raises(ConfigError, match="nowhere.yaml"):
        load_config(tmp_path / "a.yaml")


def test_super_path_falls_back_to_child_folder_and_ancestors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A workspace used from another working directory: ./configs/base.yaml is found from the child's folders.
    (tmp_path / "configs").mkdir()
    _write(tmp_path / "configs" / "base.yaml", "LR: 3.0e-4\nEPOCHS: 4\n")
    _write(tmp_path / "configs" / "child.yaml", "SUPER_CONFIG_PATH: ./configs/base.yaml\nEPOCHS: 2\n")
    monkeypatch.chdir("/")
    config = load_config(tmp_path / "configs" / "child.yaml")
    assert config["LR"] == 3.0e-4 and config["EPOCHS"] == 2


def test_resolve_path_uses_root_path(tmp_path: Path) -> None:
    cfg = _write(tmp_path / "c.yaml", f"root_path: {tmp_path}\n")
    assert load_config(cfg).resolve_path("./datasets/DanceTrack") == tmp_path / "datasets" / "DanceTrack"


def test_cli_config_show_and_errors() -> None:
    ok = subprocess.run([sys.executable, "-m", "motip", "config", "show", "configs/stage3_aerial_adapt.yaml", "--json"],
                        capture_output=True, text=True, cwd=REPO)
    assert ok.returncode == 0, ok.stderr
    assert '"AUG_MAX_SIZE": 1100' in ok.stdout and "stage3_aerial_adapt.yaml" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "motip", "config", "show", "configs/stage1_universal_foundation.yaml",
                          "--LR_DORP", "3"], capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and "did you mean LR_DROP?" in bad.stderr


def test_backbone_lr_prefers_train_md_absolute_value() -> None:
    from motip.config import backbone_lr

    stage1 = load_config(CONFIGS / "stage1_universal_foundation.yaml")
    assert backbone_lr(stage1) == 2.0e-6  # LR_BACKBONE wins over LR * LR_BACKBONE_SCALE
    assert backbone_lr(load_config(BASE)) == pytest.approx(1.0e-5)
    assert backbone_lr(load_config(CONFIGS / "tiny_cpu.yaml")) == 0.0  # frozen
    assert backbone_lr(load_config(CONFIGS / "tiny_cpu.yaml", ["--LR_BACKBONE", "1e-4"])) == 1e-4
