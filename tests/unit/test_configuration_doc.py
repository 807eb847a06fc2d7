"""docs/configuration.md's table is the settings model's own: a setting added, removed or changed without
regenerating it fails here, so the document cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

from meterflow.settings import Settings
from meterflow.settings_reference import BEGIN, END, default_text, env_name, settings_table, with_table

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_configuration_table_is_generated_from_the_settings_model() -> None:
    document = DOCUMENT.read_text()
    assert BEGIN in document and END in document
    written = document[document.index(BEGIN):document.index(END) + len(END)]
    assert written == settings_table(), (
        "docs/configuration.md's table differs from the Settings model: run "
        "`.venv/bin/python -m meterflow.settings_reference --write docs/configuration.md`")


def test_every_setting_has_a_meaning_and_a_row() -> None:
    table = DOCUMENT.read_text()
    for name, field in Settings.model_fields.items():
        assert field.description, f"{env_name(name)} has no description on its field"
        assert f"| `{env_name(name)}` |" in table


def test_defaults_are_written_as_the_environment_takes_them() -> None:
    assert [default_text(v) for v in (None, False, 10.0, 0.05, (30.0, 300.0), ".data")] == [
        "unset (embedded)", "false", "10", "0.05", "30,300", ".data"]


def test_regenerating_replaces_only_the_table() -> None:
    stale = f"intro\n{BEGIN}\n| old | row |\n{END}\noutro\n"
    assert with_table(stale) == f"intro\n{settings_table()}\noutro\n"
