"""Settings refuse configurations that would look fine and fail people in an outage."""

from __future__ import annotations

import pytest

from bot.settings import ConfigurationError, DevDefaultSettings, Settings, read_settings
from tests.support.processes import run_until_exit

APP_ID = "00000000-0000-0000-0000-00000000abcd"


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)


def test_production_without_a_mail_transport_refuses_to_start() -> None:
    with pytest.raises(ConfigurationError, match="MAIL_TRANSPORT"):
        settings(app_id=APP_ID, app_password="secret")


def test_production_with_an_explicit_transport_starts() -> None:
    assert settings(app_id=APP_ID, app_password="s", mail_transport="smtp").mail_transport == "smtp"
    assert settings(app_id=APP_ID, app_password="s", mail_transport="file").mail_transport == "file"


def test_development_writes_files_by_default() -> None:
    assert settings(dev_mode=True).mail_transport == "file"
    assert DevDefaultSettings(_env_file=None).mail_transport == "file"


@pytest.mark.parametrize("app_type", ["SingleTenant", "MultiTenant"])
def test_an_app_id_without_its_secret_refuses_to_start(app_type: str) -> None:
    with pytest.raises(ConfigurationError, match="MicrosoftAppPassword"):
        settings(app_id=APP_ID, app_type=app_type, mail_transport="smtp")


def test_a_managed_identity_needs_no_secret() -> None:
    chosen = settings(app_id=APP_ID, app_type="UserAssignedMSI", mail_transport="smtp")
    assert chosen.app_password == ""


def test_no_app_id_outside_development_refuses_to_start() -> None:
    with pytest.raises(ConfigurationError, match="DEV_MODE"):
        settings(mail_transport="smtp")


def test_a_malformed_variable_is_named_as_the_environment_spells_it_without_its_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("DEV_MODE", "true")
    monkeypatch.setenv("PORT", "three-nine-seven-eight")
    monkeypatch.setenv("MicrosoftAppType", "NotAnAppType")
    monkeypatch.setenv("SMTP_PASSWORD", "not-a-number-either")  # a valid value stays unsaid
    with pytest.raises(ConfigurationError) as refused:
        read_settings()
    message = str(refused.value)
    assert message.startswith("a setting is not valid: ")
    assert "PORT: Input should be a valid integer" in message
    assert "MicrosoftAppType: Input should be" in message
    for value in ("three-nine-seven-eight", "NotAnAppType", "not-a-number-either"):
        assert value not in message


@pytest.mark.slow
def test_app_py_names_a_malformed_variable_and_exits_2_without_a_traceback(tmp_path) -> None:
    result = run_until_exit(tmp_path, {"PORT": "70000", "DEV_MODE": "true"}, unset=["DATABASE_URL"])
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("ice-downtime-assistant: refusing to start: a setting is not")
    assert "PORT: Input should be less than or equal to 65535" in result.stderr
    assert "Traceback" not in result.stderr and "70000" not in result.stderr
