"""config.toml: validation, tomlkit round trip (an edit changes only the edited value), atomic refusal of bad values."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

from motip.errors import ConfigError
from motip.workspace import apply_stage, key_line, load_workspace, update_workspace

from tests.helpers.paths import REPO



@pytest.fixture()
def config_toml(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    shutil.copy(REPO / "config.toml", path)
    return path


def _diff(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_project_config_toml_matches_train_md(config_toml: Path) -> None:
    ws = load_workspace(config_toml)
    assert [s.name for s in ws.stages] == ["Foundation", "Refinement", "Aerial-Adaptation"]
    foundation, refinement, aerial = ws.stages
    assert foundation.budgets == {"bdd": 5000, "dancetrack": 5000} and foundation.epochs == 10
    assert refinement.budgets == {"bdd": 15000, "dancetrack": 15000}
    assert aerial.budgets["visdrone"] == 10000 and aerial.cost_per_hour == 1.212
    assert foundation.config == config_toml.parent / "configs" / "stage1_universal_foundation.yaml"
    assert ws.builder.output == config_toml.parent / "datasets" / "DanceTrack"  # relative to config.toml's folder
    assert ws.sources["bdd"].frame_budget == 5000 and ws.sources["visdrone"].enabled is False
    assert round(aerial.share("visdrone"), 3) == round(10000 / 14000, 3)


def test_edit_changes_only_the_edited_value(config_toml: Path) -> None:
    before = config_toml.read_text()
    update_workspace(config_toml, {"bdd.frame_budget": 15000})
    after = config_toml.read_text()
    diff = _diff(before, after)
    assert len(diff) == 2, diff
    assert diff[0].startswith("-frame_budget = 5000") and diff[1].startswith("+frame_budget = 15000")
    assert "# max training frames from this source" in diff[1]  # the comment on the line survives
    assert load_workspace(config_toml).sources["bdd"].frame_budget == 15000


def test_stage_edit_keeps_inline_table_and_comments(config_toml: Path) -> None:
    before = config_toml.read_text()
    update_workspace(config_toml, {"stages.1.epochs": 8})
    diff = _diff(before, config_toml.read_text())
    assert diff == ["-epochs = 10", "+epochs = 8"]


@pytest.mark.parametrize("changes, fragment", [
    ({"bdd.frame_budget": -5}, "must be >= 0"),
    ({"bdd.frame_budget": "many"}, "expected an integer"),
    ({"bdd.frame_budget": 2.5}, "expected an integer"),
    ({"dancetrack.enabled": "yes"}, "expected true or false"),
    ({"builder.seed": True}, "expected an integer"),
    ({"bdd.frame_budgte": 3}, "did you mean frame_budget"),
])
def test_invalid_value_refused_file_untouched(config_toml: Path, changes: dict, fragment: str) -> None:
    before = config_toml.read_bytes()
    with pytest.raises(ConfigError, match=fragment):
        update_workspace(config_toml, changes)
    assert config_toml.read_bytes() == before
    assert not [p for p in config_toml.parent.iterdir() if p.name.endswith(".tmp")]


def _line_of(path: Path, text: str, occurrence: int = 1) -> int:
    return [i for i, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(text)][occurrence - 1]


@pytest.mark.parametrize("old, new, key, occurrence", [
    ("frame_budget = 5000  ", 'frame_budget = "5k"  ', "frame_budget = ", 1),     # [bdd], the first section
    ("seed = 42", "seed = -1", "seed = ", 1),                                    # [builder]
    ("epochs = 10\nhours_per_epoch = 6.5", "epochs = 0\nhours_per_epoch = 6.5", "epochs = ", 2),  # 2nd [[stages]]
    ("budgets = { bdd = 15000", "budgets = { bddx = 15000", "budgets = ", 2),
    ("[visdrone]\nenabled = false", "[visdrone]\nenabld = false", "enabld = ", 1),
])
def test_validation_errors_name_the_key_line(config_toml: Path, old: str, new: str, key: str,
                                             occurrence: int) -> None:
    text = config_toml.read_text()
    assert text.count(old) == 1
    config_toml.write_text(text.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_workspace(config_toml)
    assert err.value.line == _line_of(config_toml, key, occurrence)
    assert f"{config_toml}:{err.value.line}:" in err.value.render()


def test_key_line_finds_keys_tables_and_stage_entries(config_toml: Path) -> None:
    assert key_line(config_toml, "bdd.frame_budget") == _line_of(config_toml, "frame_budget = ", 1)
    assert key_line(config_toml, "[bdd]") == key_line(config_toml, "bdd") == _line_of(config_toml, "[bdd]")
    first_stage = _line_of(config_toml, "[[stages]]")
    assert key_line(config_toml, "[[stages]]") == key_line(config_toml, "stages[0]") == first_stage
    assert key_line(config_toml, "stages.2.name") == key_line(config_toml, "stages[2].name") == \
        _line_of(config_toml, "name = ", 3)
    assert key_line(config_toml, "stages[1].budgets.bdd") == _line_of(config_toml, "budgets = ", 2)
    assert key_line(config_toml, "builder.not_written") == _line_of(config_toml, "[builder]")   # the key's table
    assert key_line(config_toml, "nowhere") is None and key_line(config_toml.parent / "missing.toml", "bdd") is None


def test_syntax_error_names_file(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("[bdd]\nframe_budget = = 3\n")
    with pytest.raises(ConfigError) as err:
        load_workspace(bad)
    assert "TOML syntax error" in err.value.render() and str(bad) in err.value.render()


def test_apply_stage_copies_budgets(config_toml: Path) -> None:
    ws = apply_stage(config_toml, "Aerial-Adaptation")
    assert ws.sources["visdrone"].enabled and ws.sources["visdrone"].frame_budget == 10000
    assert ws.sources["bdd"].frame_budget == 2000 and ws.sources["dancetrack"].frame_budget == 2000
    ws = apply_stage(config_toml, "Refinement")
    assert not ws.sources["visdrone"].enabled and ws.sources["bdd"].frame_budget == 15000
    with pytest.raises(ConfigError, match="no stage named"):
        apply_stage(config_toml, "Nope")
