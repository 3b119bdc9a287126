"""Settings: the design's names and defaults, and placeholder secrets refused outside dev."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import DEV_SECRET_KEY, Settings, normalise_database_url, problems
from bot.i18n import SUPPORTED_LOCALES

SID = "HX" + "0123456789abcdef" * 2  # a Twilio Content SID: HX and 32 hex characters


def test_defaults_match_the_design(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "SIYAKHA_PUBLIC_URL", "SIYAKHA_OUTBOUND", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == "sqlite:///./siyakha.db"
    assert settings.public_url == "http://127.0.0.1:8000"
    assert settings.outbound == "console"
    assert settings.twilio_auth_token is None
    assert settings.twilio_api_url is None
    assert settings.secret_key == DEV_SECRET_KEY


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@db/siyakha")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "tok")
    monkeypatch.setenv("SIYAKHA_OUTBOUND", "twilio")
    monkeypatch.setenv("SIYAKHA_TWILIO_API_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("SIYAKHA_WHATSAPP_FROM", "whatsapp:+14155238886")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.sqlalchemy_url == "postgresql+psycopg://postgres@db/siyakha"
    assert settings.twilio_auth_token == "tok"
    assert settings.outbound == "twilio"
    assert settings.twilio_api_url == "http://127.0.0.1:9999"
    assert settings.whatsapp_from == "whatsapp:+14155238886"


# A Twilio auth token as Twilio issues them (32 hex characters), and a key as README says.
TWILIO_TOKEN = "9f86d081884c7d659a2feaa0c55ad015"
REAL_KEY = secrets.token_urlsafe(48)
LONG_PLACEHOLDER = "change-me-change-me-change-me-change-me"  # 39 characters
# Each was taken in production: padded, upper case, spelt otherwise, or long enough.
PLACEHOLDERS = [" change-me ", "CHANGE-ME", "changeme", "Change_Me", LONG_PLACEHOLDER]
SHORT = ["x", "x" + " " * 40, TWILIO_TOKEN[:31]]


@pytest.mark.parametrize(
    "secret", [DEV_SECRET_KEY, "changethis", "", "short-but-not-placeholder", *PLACEHOLDERS, *SHORT]
)
def test_production_refuses_placeholder_or_short_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="SIYAKHA_SECRET_KEY"):
        Settings(_env_file=None, SIYAKHA_ENV="production", SIYAKHA_SECRET_KEY=secret)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "name",
    [
        "TWILIO_AUTH_TOKEN",
        "TWILIO_SECONDARY_AUTH_TOKEN",
        "TWILIO_WEBHOOK_SHARED_KEY",
        "TWILIO_WEBHOOK_SECONDARY_SHARED_KEY",
    ],
)
@pytest.mark.parametrize("secret", [*PLACEHOLDERS, *SHORT, "   "])
def test_production_refuses_a_placeholder_or_short_twilio_secret(name: str, secret: str) -> None:
    # Unchecked, "x" was a signing key anyone could sign forged webhooks with.
    with pytest.raises(ValidationError, match=name) as refused:
        Settings(  # type: ignore[call-arg]
            _env_file=None, SIYAKHA_ENV="production", SIYAKHA_SECRET_KEY=REAL_KEY, **{name: secret}
        )
    assert len(problems(refused.value)) == 1
    # Only production checks them: the tests' own token is short.
    tests = Settings(
        _env_file=None, SIYAKHA_ENV="test", SIYAKHA_SECRET_KEY=REAL_KEY, **{name: secret}
    )  # type: ignore[call-arg]
    assert getattr(tests, name.lower()) == secret


@pytest.mark.parametrize("secret", [DEV_SECRET_KEY, " ChangeMe ", "CHANGE_ME", LONG_PLACEHOLDER])
def test_a_placeholder_secret_is_refused_outside_dev_as_the_design_says(secret: str) -> None:
    with pytest.raises(ValidationError, match="placeholder; outside dev"):
        Settings(_env_file=None, SIYAKHA_ENV="test", SIYAKHA_SECRET_KEY=secret)  # type: ignore[call-arg]
    short = Settings(_env_file=None, SIYAKHA_ENV="test", SIYAKHA_SECRET_KEY="short but real")  # type: ignore[call-arg]
    assert short.secret_key == "short but real"  # the length rule is production's only


def test_production_accepts_real_secrets_and_dev_accepts_the_placeholder() -> None:
    real = Settings(  # type: ignore[call-arg]
        _env_file=None,
        SIYAKHA_ENV="production",
        SIYAKHA_SECRET_KEY=REAL_KEY,
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        TWILIO_SECONDARY_AUTH_TOKEN="",  # .env.example's empty line: unset
        TWILIO_WEBHOOK_SHARED_KEY=secrets.token_hex(16),
    )
    assert (real.secret_key, real.twilio_auth_token) == (REAL_KEY, TWILIO_TOKEN)
    dev = Settings(_env_file=None, SIYAKHA_ENV="dev", TWILIO_AUTH_TOKEN="x")  # type: ignore[call-arg]
    assert (dev.secret_key, dev.twilio_auth_token) == (DEV_SECRET_KEY, "x")


def test_the_secret_key_left_at_its_default_is_named_as_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SIYAKHA_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, SIYAKHA_ENV="production")  # type: ignore[call-arg]
    assert [line.split(";")[0] for line in problems(refused.value)] == [
        "SIYAKHA_SECRET_KEY: is a placeholder"
    ]


def test_unknown_outbound_mode_is_refused() -> None:
    with pytest.raises(ValidationError, match="SIYAKHA_OUTBOUND"):
        Settings(_env_file=None, SIYAKHA_OUTBOUND="pigeon")  # type: ignore[call-arg]


def test_database_url_normalisation() -> None:
    assert normalise_database_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_json_that_does_not_parse_is_one_problem_among_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One SettingsError for the first such setting hid every other problem.
    env_file = tmp_path / ".env"
    env_file.write_text('SIYAKHA_WHATSAPP_TEMPLATES={"broadcast":\nSIYAKHA_LOG_LEVEL=LOUD\n')
    monkeypatch.setenv("SIYAKHA_MEETING_REMINDER_LEVELS", "ward")
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert problems(refused.value) == [
        "SIYAKHA_LOG_LEVEL: must be a logging level: DEBUG, INFO, WARNING, ERROR or CRITICAL",
        "SIYAKHA_WHATSAPP_TEMPLATES: must be JSON",
        "SIYAKHA_MEETING_REMINDER_LEVELS: must be JSON",
    ]
    monkeypatch.setenv("SIYAKHA_WHATSAPP_TEMPLATES", f'{{"broadcast": {{"en": "{SID}"}}}}')
    monkeypatch.setenv("SIYAKHA_MEETING_REMINDER_LEVELS", '["ward"]')
    monkeypatch.setenv("SIYAKHA_LOG_LEVEL", "debug")
    read = Settings(_env_file=env_file)  # type: ignore[call-arg]  (the environment wins)
    assert read.whatsapp_templates == {"broadcast": {"en": SID}}
    assert read.meeting_reminder_levels == ["ward"] and read.log_level == "DEBUG"


def test_whatsapp_templates_take_a_content_sid_for_each_supported_language() -> None:
    by_language = {code: SID for code in SUPPORTED_LOCALES} | {"xh": SID.upper()}
    read = Settings(_env_file=None, SIYAKHA_WHATSAPP_TEMPLATES={"broadcast": by_language})  # type: ignore[call-arg]
    assert read.whatsapp_templates == {"broadcast": by_language}
    # A language Siyakha never asks for would never be used; nor would a SID Twilio refuses.
    for wrong, where in (
        ({"english": SID}, "english"),
        ({"xx": SID}, "xx"),
        ({"en": "HX1"}, "en"),
        ({"en": SID + "0"}, "en"),
        ({"en": "HX" + "g" * 32}, "en"),
    ):
        with pytest.raises(ValidationError) as refused:
            Settings(_env_file=None, SIYAKHA_WHATSAPP_TEMPLATES={"notice": wrong})  # type: ignore[call-arg]
        assert [line.split(":")[0] for line in problems(refused.value)] == [
            f"SIYAKHA_WHATSAPP_TEMPLATES.notice.{where}"
        ]
