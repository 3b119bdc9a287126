"""Settings read from the environment (and an optional `.env` file)."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bot.content import load
from bot.i18n import SUPPORTED_LOCALES

DEV_SECRET_KEY = "dev-secret-change-me"  # noqa: S105  (the placeholder refused outside dev)
# The shortest secret production takes: Twilio's auth tokens are 32 hex characters, the key
# README suggests (secrets.token_urlsafe(48)) 64.
MIN_SECRET_LENGTH = 32
# The SQLite write gate is built on the standard library's driver (`bot.db`).
SQLITE_DRIVERS = ("sqlite", "sqlite+pysqlite")


def _one_of(what: str, names: Callable[[], Sequence[str]]) -> AfterValidator:
    """Refuse a setting's entry or key that is not one of `names()` (read when checked:
    the content, or modules that import this one), naming them: a typo would be ignored,
    silently."""

    def check(value: str) -> str:
        known = names()
        if value not in known:
            raise ValueError(f"not {what}: use {', '.join(known)}")
        return value

    return AfterValidator(check)


def _categories() -> list[str]:
    return [str(entry["code"]) for entry in load().fact("ticket_categories")]


def _purposes() -> Sequence[str]:
    from bot.domain.outbox.models import PURPOSES  # imported here: bot.db imports this module

    return list(PURPOSES)


def _levels() -> Sequence[str]:
    from bot.domain.settlements.models import MEETING_LEVELS  # as in `_purposes`

    return MEETING_LEVELS


def _iso_date(value: Any) -> Any:
    """Read a date written YYYY-MM-DD, refusing it, named, otherwise: pydantic would take
    a number as seconds since 1970, and `date.fromisoformat` takes 20240529 or 2024-W22-3."""
    if type(value) is dt.date:  # given in Python (Settings(...)), not read
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass  # 2024-02-30
    raise ValueError(f"{value} is not a date: use YYYY-MM-DD")


def _content_sid(value: str) -> str:
    """Refuse what is not a Twilio Content SID (HX and 32 hex characters, Twilio's pattern),
    naming it: Twilio would refuse each message sent with it (error 21655)."""
    if not re.fullmatch(r"HX[0-9a-fA-F]{32}", value):
        raise ValueError(f"{value} is not a Content SID: use HX and 32 hex characters")
    return value


def _is_placeholder(secret: str) -> bool:
    """Return whether a secret is a placeholder, whatever its case, spaces and punctuation
    (" Change-Me ", "CHANGE_ME", "dev-secret-change-me", "secret", blank)."""
    plain = re.sub(r"[\W_]", "", secret.lower())
    return plain in ("", "secret") or "changeme" in plain or "changethis" in plain


def _long_enough(secret: str) -> None:
    if len(secret.strip()) < MIN_SECRET_LENGTH:
        raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters in production")


# Names a setting may hold, each refused unless known.
_Purpose = Annotated[str, _one_of("an outbox purpose", _purposes)]
_Category = Annotated[str, _one_of("a ticket category", _categories)]
_Level = Annotated[str, _one_of("a meeting level", _levels)]
_Locale = Annotated[str, _one_of("a supported language", lambda: SUPPORTED_LOCALES)]
_ContentSid = Annotated[str, AfterValidator(_content_sid)]
_IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]


class _NotJson(str):
    """The text of a JSON setting that does not parse, left for validation to refuse."""


def _json_or_text(
    decode: Callable[[str, FieldInfo, Any], Any], field_name: str, field: FieldInfo, value: Any
) -> Any:
    try:
        return decode(field_name, field, value)
    except ValueError:
        return _NotJson(value)


class _EnvSource(EnvSettingsSource):
    """The environment, where a JSON setting that does not parse is one problem among the
    others (pydantic-settings stops at the first such with a SettingsError)."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        return _json_or_text(super().decode_complex_value, field_name, field, value)


class _DotEnvSource(DotEnvSettingsSource):
    """The `.env` file, read as `_EnvSource` reads the environment."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        return _json_or_text(super().decode_complex_value, field_name, field, value)


class Settings(BaseSettings):
    """Every setting Siyakha reads, with the names the design fixes."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    env: Literal["dev", "test", "production"] = Field("dev", validation_alias="SIYAKHA_ENV")
    database_url: str = Field("sqlite:///./siyakha.db", validation_alias="DATABASE_URL")
    twilio_account_sid: str | None = Field(None, validation_alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str | None = Field(None, validation_alias="TWILIO_AUTH_TOKEN")
    # While an auth token is rotated, webhooks signed with the other one (Twilio's secondary
    # token, or the primary being replaced) are accepted too. Only with TWILIO_AUTH_TOKEN set.
    twilio_secondary_auth_token: str | None = Field(
        None, validation_alias="TWILIO_SECONDARY_AUTH_TOKEN"
    )
    # The secret of the SharedKey a Twilio Webhook Setting signs with, for webhooks that carry
    # X-Twilio-Webhooks-Signature-Settings (Webhook Rules). Only with TWILIO_AUTH_TOKEN set.
    twilio_webhook_shared_key: str | None = Field(
        None, validation_alias="TWILIO_WEBHOOK_SHARED_KEY"
    )
    # While a SharedKey is rotated (a new key, the Webhook Setting moved to it), webhooks
    # signed with the other one are accepted too. Only with TWILIO_WEBHOOK_SHARED_KEY set.
    twilio_webhook_secondary_shared_key: str | None = Field(
        None, validation_alias="TWILIO_WEBHOOK_SECONDARY_SHARED_KEY"
    )
    public_url: str = Field("http://127.0.0.1:8000", validation_alias="SIYAKHA_PUBLIC_URL")
    # uvicorn's own setting, read here so that .env sets it too: the proxies whose
    # X-Forwarded-For (the client's address: login throttle, audit log) is trusted.
    forwarded_allow_ips: str = Field("127.0.0.1,::1", validation_alias="FORWARDED_ALLOW_IPS")
    outbound: Literal["console", "twilio"] = Field("console", validation_alias="SIYAKHA_OUTBOUND")
    twilio_api_url: str | None = Field(None, validation_alias="SIYAKHA_TWILIO_API_URL")
    sms_from: str | None = Field(None, validation_alias="SIYAKHA_SMS_FROM")
    whatsapp_from: str | None = Field(None, validation_alias="SIYAKHA_WHATSAPP_FROM")
    messaging_service_sid: str | None = Field(
        None, validation_alias="SIYAKHA_MESSAGING_SERVICE_SID"
    )
    secret_key: str = Field(
        DEV_SECRET_KEY, validation_alias="SIYAKHA_SECRET_KEY", validate_default=True
    )
    log_level: str = Field("INFO", validation_alias="SIYAKHA_LOG_LEVEL")
    log_format: Literal["json", "text"] = Field("json", validation_alias="SIYAKHA_LOG_FORMAT")
    # Outbound delivery (`siyakha worker`). Rates are messages per second per worker process
    # and sender (0 = no limit); with N workers, give each 1/N of the sender's rate.
    rate_whatsapp: float = Field(10.0, ge=0, validation_alias="SIYAKHA_RATE_WHATSAPP")
    rate_sms: float = Field(1.0, ge=0, validation_alias="SIYAKHA_RATE_SMS")
    worker_concurrency: int = Field(8, ge=1, le=256, validation_alias="SIYAKHA_WORKER_CONCURRENCY")
    worker_batch: int = Field(200, ge=1, le=5000, validation_alias="SIYAKHA_WORKER_BATCH")
    worker_poll_seconds: float = Field(1.0, gt=0, validation_alias="SIYAKHA_WORKER_POLL_SECONDS")
    outbox_lease_seconds: float = Field(
        120.0, ge=1, validation_alias="SIYAKHA_OUTBOX_LEASE_SECONDS"
    )
    outbox_max_attempts: int = Field(8, ge=1, validation_alias="SIYAKHA_OUTBOX_MAX_ATTEMPTS")
    outbox_reconcile_seconds: float = Field(
        30.0, gt=0, validation_alias="SIYAKHA_OUTBOX_RECONCILE_SECONDS"
    )
    twilio_timeout_seconds: float = Field(
        20.0, gt=0, validation_alias="SIYAKHA_TWILIO_TIMEOUT_SECONDS"
    )
    # WhatsApp templates (Twilio Content ContentSids) per purpose and language, as JSON:
    # {"broadcast": {"en": "HX...", "xh": "HX..."}, "ticket_update": {"en": "HX..."}}: each
    # key an outbox purpose (bot/domain/outbox/models.py PURPOSES), each language a code of
    # bot/i18n.py SUPPORTED_LOCALES, each value a Content SID; anything else refused.
    whatsapp_templates: dict[_Purpose, dict[_Locale, _ContentSid]] = Field(
        default_factory=dict, validation_alias="SIYAKHA_WHATSAPP_TEMPLATES"
    )
    # Tickets: SLA clocks (bot/domain/tickets/sla.py). Resolve targets per category default
    # to content/tickets.yaml; override as JSON hours, e.g. {"water": 48, "roads": 480}: each
    # key a category code, each value more than 0 (anything else is refused, not ignored).
    sla_ack_working_days: int = Field(
        2, ge=1, le=30, validation_alias="SIYAKHA_SLA_ACK_WORKING_DAYS"
    )
    sla_urgent_ack_hours: float = Field(4.0, gt=0, validation_alias="SIYAKHA_SLA_URGENT_ACK_HOURS")
    sla_urgent_resolve_hours: float = Field(
        24.0, gt=0, validation_alias="SIYAKHA_SLA_URGENT_RESOLVE_HOURS"
    )
    sla_resolve_hours: dict[_Category, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict, validation_alias="SIYAKHA_SLA_RESOLVE_HOURS"
    )
    sla_due_soon_hours: float = Field(24.0, ge=0, validation_alias="SIYAKHA_SLA_DUE_SOON_HOURS")
    # Days that are no working days beside the statutory calendar (sla.public_holidays): a
    # public holiday the President declares (an election day, 27 December 2022) or a day the
    # municipality closes, as a JSON list of YYYY-MM-DD dates.
    sla_extra_holidays: frozenset[_IsoDate] = Field(
        default_factory=frozenset, validation_alias="SIYAKHA_SLA_EXTRA_HOLIDAYS"
    )
    # Where SLA breach notices (logged as an email) go when a ticket has no assignee, or one
    # who can no longer work it: deactivated, or out of their role or scope.
    sla_team_email: str | None = Field(None, validation_alias="SIYAKHA_SLA_TEAM_EMAIL")
    # A resolved ticket the resident has not confirmed closes after this many days.
    ticket_confirm_days: int = Field(7, ge=1, validation_alias="SIYAKHA_TICKET_CONFIRM_DAYS")
    # A wait on the resident (status waiting_on_resident, resolve clock paused) nobody
    # answered ends after this many days: the ticket goes back to staff, its clock running.
    ticket_wait_days: int = Field(14, ge=1, validation_alias="SIYAKHA_TICKET_WAIT_DAYS")
    # POPIA s14 retention: the words, media links and locations of messages (inbound, and
    # proactive messages once sent) are de-identified after this many days, a resident quiet
    # as long loses an unfinished report, and unmatched settlement names typed are deleted
    # (bot/domain/messages/jobs.py forget); at Twilio, the messages to or from the sender
    # numbers are deleted with their media (bot/domain/outbox/jobs.py forget_at_provider).
    retention_days: int = Field(365, ge=30, validation_alias="SIYAKHA_RETENTION_DAYS")
    # Staff dashboard: a login ends after this many minutes without a request (each request
    # slides it on) and at the latest this many hours after logging in; and how many failed
    # logins for one email from one address within the window lock that address's tries at
    # it until the window passes (4x for the email from anywhere, or the address for any
    # email: bot/domain/staff/sessions.py login).
    staff_session_idle_minutes: float = Field(
        60.0, ge=5, le=24 * 60, validation_alias="SIYAKHA_STAFF_SESSION_IDLE_MINUTES"
    )
    staff_session_hours: float = Field(
        12.0, gt=0, le=24 * 30, validation_alias="SIYAKHA_STAFF_SESSION_HOURS"
    )
    login_max_failures: int = Field(5, ge=1, validation_alias="SIYAKHA_LOGIN_MAX_FAILURES")
    login_window_minutes: float = Field(15.0, gt=0, validation_alias="SIYAKHA_LOGIN_WINDOW_MINUTES")
    # Broadcasts (bot/domain/broadcasts): estimated prices for the preview, the audience size
    # above which a second officer must approve, and meeting reminders: days before the
    # meeting (0 = the morning of; none below 0), sent at this local hour, within this many
    # hours of due, for meetings of these levels (each one of MEETING_LEVELS).
    sms_segment_price: float = Field(0.35, ge=0, validation_alias="SIYAKHA_SMS_SEGMENT_PRICE")
    whatsapp_message_price: float = Field(
        0.15, ge=0, validation_alias="SIYAKHA_WHATSAPP_MESSAGE_PRICE"
    )
    price_currency: str = Field("ZAR", max_length=3, validation_alias="SIYAKHA_PRICE_CURRENCY")
    broadcast_approval_threshold: int = Field(
        500, ge=0, validation_alias="SIYAKHA_BROADCAST_APPROVAL_THRESHOLD"
    )
    broadcast_send_due_seconds: float = Field(
        30.0, gt=0, validation_alias="SIYAKHA_BROADCAST_SEND_DUE_SECONDS"
    )
    meeting_reminder_days: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=lambda: [3, 0], validation_alias="SIYAKHA_MEETING_REMINDER_DAYS"
    )
    meeting_reminder_hour: int = Field(
        7, ge=0, le=23, validation_alias="SIYAKHA_MEETING_REMINDER_HOUR"
    )
    meeting_reminder_grace_hours: float = Field(
        12.0, gt=0, le=23, validation_alias="SIYAKHA_MEETING_REMINDER_GRACE_HOURS"
    )
    meeting_reminder_levels: list[_Level] = Field(
        default_factory=lambda: ["neighbourhood", "ward"],
        validation_alias="SIYAKHA_MEETING_REMINDER_LEVELS",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read the environment and `.env` so that every malformed setting is reported at
        once, a JSON one that does not parse included (`problems`)."""
        assert isinstance(dotenv_settings, DotEnvSettingsSource)
        dotenv = _DotEnvSource(  # the file a caller named (`_env_file=None`: none) kept
            settings_cls,
            env_file=dotenv_settings.env_file,
            env_file_encoding=dotenv_settings.env_file_encoding,
        )
        return init_settings, _EnvSource(settings_cls), dotenv, file_secret_settings

    @field_validator("*", mode="before")
    @classmethod
    def _parsed_json(cls, value: Any) -> Any:
        if isinstance(value, _NotJson):
            raise ValueError("must be JSON")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_sqlite_driver(cls, value: str) -> str:
        if problem := sqlite_driver_problem(value):
            raise ValueError(problem)
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        # logging.setLevel would refuse it later, as a traceback from every command.
        if value.upper() not in logging.getLevelNamesMapping():
            raise ValueError("must be a logging level: DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value.upper()

    # The secrets are checked one by one (`env` is read before them), so that each refused
    # is one line of `problems`. Twilio's may be left empty (unset: webhooks refuse all).
    @field_validator("secret_key")
    @classmethod
    def _no_placeholder_key(cls, value: str, info: ValidationInfo) -> str:
        env = info.data.get("env")
        if env not in (None, "dev") and _is_placeholder(value):
            raise ValueError(
                f"is a placeholder; outside dev (SIYAKHA_ENV={env}) set a long random value "
                '(python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        if env == "production":
            _long_enough(value)
        return value

    @field_validator(
        "twilio_auth_token",
        "twilio_secondary_auth_token",
        "twilio_webhook_shared_key",
        "twilio_webhook_secondary_shared_key",
    )
    @classmethod
    def _no_placeholder_twilio_secret(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value and info.data.get("env") == "production":
            if _is_placeholder(value):
                raise ValueError("is a placeholder; in production set Twilio's, or leave it empty")
            _long_enough(value)
        return value

    @property
    def sqlalchemy_url(self) -> str:
        """Return the database URL with the psycopg 3 driver named for PostgreSQL."""
        return normalise_database_url(self.database_url)


def sqlite_driver_problem(url: str) -> str | None:
    """Return why a SQLite URL names a driver the write gate cannot use, if it does."""
    driver = url.split(":", 1)[0].lower()
    if driver.startswith("sqlite") and driver not in SQLITE_DRIVERS:
        return f"{driver} is not supported: use sqlite:///path for SQLite"
    return None


def normalise_database_url(url: str) -> str:
    """Name the psycopg 3 driver in a PostgreSQL URL; leave other URLs alone."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def problems(error: ValidationError | SettingsError) -> list[str]:
    """Return what is wrong with the environment, one line per problem, each naming the
    variable (for the command line, instead of a traceback)."""
    if isinstance(error, SettingsError):  # a source that could not be read at all
        match = re.search(r'field "(\w+)"', str(error))
        field = Settings.model_fields.get(match.group(1)) if match else None
        if field is None:
            return [str(error)]
        return [f"{field.validation_alias}: must be JSON"]
    lines = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
        if problem["type"] == "literal_error":  # "must be 'console' or 'twilio'", unquoted
            message = message.replace("'", "")
        # A bad key of a JSON object is named as the key (pydantic adds "[key]"); a default
        # refused (the secret key's placeholder) by its variable, not the field's name.
        loc = [part for part in problem["loc"] if part != "[key]"]
        if loc and (field := Settings.model_fields.get(str(loc[0]))) is not None:
            loc[0] = str(field.validation_alias)
        where = ".".join(str(part) for part in loc)
        lines.append(f"{where}: {message}" if where else message)
    return lines


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return Settings()
