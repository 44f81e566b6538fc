"""Settings: where each value comes from, what is refused and how, and what reading them loads."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from desk.cli.main import app
from desk.config import Settings, SettingsError, load_settings, settings_path
from desk.errors import DeskError, InvalidInput

runner = CliRunner()


@pytest.fixture(autouse=True)
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A settings file path of the test's own (not written yet) and no ``DESK_*`` variables."""
    for name in list(os.environ):
        if name.upper().startswith("DESK_"):
            monkeypatch.delenv(name)
    path = tmp_path / "config.toml"
    monkeypatch.setenv("DESK_CONFIG", str(path))
    return path


def test_without_file_or_environment_the_defaults_apply(config_file: Path) -> None:
    settings = load_settings()
    assert settings == Settings()
    assert settings == Settings(
        db=None, agent=None, timezone="UTC", dormancy_days=90, busy_timeout_s=10.0
    )
    assert settings.tz == ZoneInfo("UTC")
    assert settings_path() == config_file


def test_options_win_over_the_environment_which_wins_over_the_file(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file.write_text(
        'agent = "From File"\ntimezone = "Asia/Tokyo"\ndormancy_days = 30\nbusy_timeout_s = 2.5\n'
    )
    from_file = load_settings()
    assert (from_file.agent, from_file.timezone) == ("From File", "Asia/Tokyo")
    assert (from_file.dormancy_days, from_file.busy_timeout_s, from_file.db) == (30, 2.5, None)

    monkeypatch.setenv("DESK_AGENT", "From Env")
    monkeypatch.setenv("DESK_DORMANCY_DAYS", "45")
    from_env = load_settings()
    assert (from_env.agent, from_env.dormancy_days) == ("From Env", 45)
    assert (from_env.timezone, from_env.busy_timeout_s) == ("Asia/Tokyo", 2.5)

    chosen = load_settings(agent="From Option", timezone="Europe/Berlin", db=None)
    assert (chosen.agent, chosen.timezone, chosen.tz) == (
        "From Option",
        "Europe/Berlin",
        ZoneInfo("Europe/Berlin"),
    )
    assert (chosen.dormancy_days, chosen.busy_timeout_s, chosen.db) == (45, 2.5, None)


def test_numbers_from_the_environment_are_read_from_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_DORMANCY_DAYS", " 30 ")
    monkeypatch.setenv("DESK_BUSY_TIMEOUT_S", "3")
    monkeypatch.setenv("DESK_DB", "/tmp/elsewhere.db")
    settings = load_settings()
    assert settings.dormancy_days == 30 and type(settings.dormancy_days) is int
    assert settings.busy_timeout_s == 3.0 and type(settings.busy_timeout_s) is float
    assert settings.db == "/tmp/elsewhere.db"


def test_environment_names_match_in_any_letter_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("desk_timezone", "Asia/Tokyo")
    monkeypatch.setenv("Desk_Agent", "Mixed Case")
    settings = load_settings()
    assert (settings.timezone, settings.agent) == ("Asia/Tokyo", "Mixed Case")
    # The documented spelling wins over another spelling of the same name.
    monkeypatch.setenv("DESK_TIMEZONE", "Europe/Berlin")
    assert load_settings().timezone == "Europe/Berlin"


def test_file_keys_match_in_any_letter_case(config_file: Path) -> None:
    config_file.write_text('Timezone = "Asia/Tokyo"\nDORMANCY_DAYS = 7\n')
    settings = load_settings()
    assert (settings.timezone, settings.dormancy_days) == ("Asia/Tokyo", 7)


def test_unknown_keys_and_variables_are_ignored(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file.write_text(
        'colour = "blue"\ndormancy_days = 12\n\n[desk]\ntimezone = "Mars/Olympus"\n'
    )
    monkeypatch.setenv("DESK_COLOUR", "green")
    monkeypatch.setenv("DESK_", "nothing")
    settings = load_settings()
    assert settings.dormancy_days == 12
    assert settings.timezone == "UTC"


TZ_HINT = "use an IANA name such as Europe/Berlin"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "DESK_DORMANCY_DAYS",
            "abc",
            "settings: dormancy_days: must be a whole number of at least 1, got 'abc' "
            "(from DESK_DORMANCY_DAYS)",
        ),
        (
            "DESK_DORMANCY_DAYS",
            "0",
            "settings: dormancy_days: must be a whole number of at least 1, got '0' "
            "(from DESK_DORMANCY_DAYS)",
        ),
        (
            "desk_dormancy_days",
            "1.5",
            "settings: dormancy_days: must be a whole number of at least 1, got '1.5' "
            "(from desk_dormancy_days)",
        ),
        (
            "DESK_DORMANCY_DAYS",
            "true",
            "settings: dormancy_days: must be a whole number of at least 1, got 'true' "
            "(from DESK_DORMANCY_DAYS)",
        ),
        (
            "DESK_BUSY_TIMEOUT_S",
            "0",
            "settings: busy_timeout_s: must be a number of seconds greater than 0, got '0' "
            "(from DESK_BUSY_TIMEOUT_S)",
        ),
        (
            "DESK_BUSY_TIMEOUT_S",
            "-2",
            "settings: busy_timeout_s: must be a number of seconds greater than 0, got '-2' "
            "(from DESK_BUSY_TIMEOUT_S)",
        ),
        (
            "DESK_BUSY_TIMEOUT_S",
            "inf",
            "settings: busy_timeout_s: must be a number of seconds greater than 0, got 'inf' "
            "(from DESK_BUSY_TIMEOUT_S)",
        ),
        (
            "DESK_BUSY_TIMEOUT_S",
            "nan",
            "settings: busy_timeout_s: must be a number of seconds greater than 0, got 'nan' "
            "(from DESK_BUSY_TIMEOUT_S)",
        ),
        (
            "DESK_BUSY_TIMEOUT_S",
            "soon",
            "settings: busy_timeout_s: must be a number of seconds greater than 0, got 'soon' "
            "(from DESK_BUSY_TIMEOUT_S)",
        ),
        (
            "DESK_TIMEZONE",
            "Mars/Olympus",
            f"settings: timezone: unknown time zone 'Mars/Olympus' (from DESK_TIMEZONE; {TZ_HINT})",
        ),
        (
            "DESK_TIMEZONE",
            "Europe",
            f"settings: timezone: unknown time zone 'Europe' (from DESK_TIMEZONE; {TZ_HINT})",
        ),
        (
            "DESK_TIMEZONE",
            "",
            f"settings: timezone: unknown time zone '' (from DESK_TIMEZONE; {TZ_HINT})",
        ),
    ],
)
def test_an_unusable_environment_value_names_setting_and_variable(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == message
    assert isinstance(raised.value, InvalidInput)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("dormancy_days = true", "dormancy_days: must be a whole number of at least 1, got True"),
        ("dormancy_days = 2.0", "dormancy_days: must be a whole number of at least 1, got 2.0"),
        ("dormancy_days = -3", "dormancy_days: must be a whole number of at least 1, got -3"),
        (
            "busy_timeout_s = false",
            "busy_timeout_s: must be a number of seconds greater than 0, got False",
        ),
        ("busy_timeout_s = 0", "busy_timeout_s: must be a number of seconds greater than 0, got 0"),
        ("agent = 5", "agent: must be text, got 5"),
        ('db = ["a", "b"]', "db: must be text, got ['a', 'b']"),
        ("[timezone]", "timezone: must be text, got {}"),
        ('timezone = "Mars/Olympus"', "timezone: unknown time zone 'Mars/Olympus'"),
    ],
)
def test_an_unusable_file_value_names_setting_and_file(
    line: str, message: str, config_file: Path
) -> None:
    config_file.write_text(line + "\n")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith(f"settings: {message} (from {config_file}")


def test_numbers_in_the_file_may_be_written_as_text_or_integers(config_file: Path) -> None:
    config_file.write_text('dormancy_days = "14"\nbusy_timeout_s = 1\n')
    settings = load_settings()
    assert (settings.dormancy_days, settings.busy_timeout_s) == (14, 1.0)
    assert type(settings.busy_timeout_s) is float


def test_an_unusable_option_names_the_command_line() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(timezone="Mars/Olympus")
    assert str(raised.value) == (
        f"settings: timezone: unknown time zone 'Mars/Olympus' (from the command line; {TZ_HINT})"
    )


def test_a_malformed_file_names_the_file_and_the_problem(config_file: Path) -> None:
    config_file.write_text('agent = "Anna Berg"\ntimezone = "Europe/Berlin\n')
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith(f"settings: {config_file} is not valid TOML: ")
    assert "line 2" in message


def test_a_file_that_is_not_text_is_a_clear_error(config_file: Path) -> None:
    config_file.write_bytes(b'agent = "\xff\xfe"\n')
    with pytest.raises(SettingsError, match="is not valid TOML"):
        load_settings()


def test_a_settings_path_that_cannot_be_read_is_a_clear_error(config_file: Path) -> None:
    config_file.mkdir()
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == f"settings: cannot read {config_file}: Is a directory"


def test_settings_built_in_code_are_checked_too() -> None:
    assert Settings(timezone="Europe/Berlin", dormancy_days=7).tz == ZoneInfo("Europe/Berlin")
    with pytest.raises(SettingsError) as raised:
        Settings(dormancy_days=True)
    assert str(raised.value) == (
        "settings: dormancy_days: must be a whole number of at least 1, got True"
    )
    with pytest.raises(SettingsError, match="unknown time zone 'Nowhere'"):
        Settings(timezone="Nowhere")
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().timezone = "Europe/Berlin"  # type: ignore[misc]


def test_the_command_reports_an_unknown_time_zone_option(tmp_path: Path) -> None:
    target = tmp_path / "x.db"
    result = runner.invoke(app, ["--db", str(target), "--tz", "Mars/Olympus", "agent", "list"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: settings: timezone: unknown time zone 'Mars/Olympus' "
        f"(from the command line; {TZ_HINT})\n"
    )
    assert not target.exists()


def test_the_command_reports_an_unusable_value_in_the_settings_file(
    tmp_path: Path, config_file: Path
) -> None:
    config_file.write_text("dormancy_days = 0\n")
    result = runner.invoke(app, ["--db", str(tmp_path / "x.db"), "agent", "list"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: settings: dormancy_days: must be a whole number of at least 1, got 0 "
        f"(from {config_file})\n"
    )


def test_the_command_reports_an_unusable_environment_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESK_BUSY_TIMEOUT_S", "later")
    result = runner.invoke(app, ["--db", str(tmp_path / "x.db"), "agent", "list"])
    assert result.exit_code == 1
    assert "busy_timeout_s: must be a number of seconds greater than 0, got 'later'" in (
        result.stderr
    )
    assert "(from DESK_BUSY_TIMEOUT_S)" in result.stderr


def test_the_command_reports_a_malformed_settings_file(tmp_path: Path, config_file: Path) -> None:
    config_file.write_text("timezone = Europe/Berlin\n")
    result = runner.invoke(app, ["--db", str(tmp_path / "x.db"), "agent", "list"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: settings: {config_file} is not valid TOML: ")
    assert "Traceback" not in result.stdout + result.stderr


def test_a_settings_error_is_an_error_a_person_can_cause() -> None:
    assert issubclass(SettingsError, DeskError)


# The modules that importing desk.config adds, each with the file it was read from (if any).
_IMPORT = """
import json, sys, sysconfig
before = set(sys.modules)
import desk.config
added = set(sys.modules) - before
print(json.dumps({name: getattr(sys.modules[name], "__file__", None) for name in added}))
"""


def test_reading_settings_loads_only_the_standard_library() -> None:
    import sysconfig

    done = subprocess.run(
        [sys.executable, "-c", _IMPORT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded: dict[str, str | None] = json.loads(done.stdout.strip().splitlines()[-1])
    assert "desk.config" in loaded
    assert not [name for name in loaded if name.split(".")[0] in {"pydantic", "pydantic_settings"}]
    # Some standard modules (_sysconfigdata_*) are not in stdlib_module_names: go by location.
    stdlib = tuple(
        str(Path(sysconfig.get_paths()[key])) + os.sep for key in ("stdlib", "platstdlib")
    )
    outside = {
        name
        for name, file in loaded.items()
        if name.split(".")[0] not in sys.stdlib_module_names
        and not (file is not None and file.startswith(stdlib))
    }
    assert outside == {"desk", "desk.config", "desk.errors", "desk.locations"}
