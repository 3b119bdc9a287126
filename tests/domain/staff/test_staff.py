"""Staff users (argon2 passwords, roles) and API tokens (hashed), service and CLI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from bot import db
from bot.cli import app
from bot.config import get_settings
from bot.domain.staff import service as staff
from bot.domain.staff.models import ApiToken, StaffUser

runner = CliRunner()


def test_users_have_argon2_hashes_and_roles(session: Session) -> None:
    user = staff.create_user(
        session=session,
        email=" Thandi@UbuntuBay.example.org ",
        role="triage",
        password="a long password",
    )
    assert user.email == "thandi@ubuntubay.example.org"
    assert user.password_hash and user.password_hash.startswith("$argon2id$")
    assert (
        staff.authenticate(
            session=session, email="THANDI@ubuntubay.example.org", password="a long password"
        )
        is user
    )
    assert staff.authenticate(session=session, email=user.email, password="wrong password!") is None
    assert (
        staff.authenticate(session=session, email="nobody@example.org", password="x" * 12) is None
    )
    for bad in [
        {"email": "thandi@ubuntubay.example.org", "role": "triage"},
        {"email": "x@example.org", "role": "mayor"},
        {"email": "not an email", "role": "admin"},
        {"email": "y@example.org", "role": "admin", "password": "short"},
        {"email": "y@example.org", "role": "admin", "password": " " * 12},
        {"email": "y@example.org", "role": "admin", "password": "a" * 16},
        {"email": "y@example.org", "role": "admin", "password": "ab ab ab ab ab"},
    ]:
        with pytest.raises(staff.StaffError):
            staff.create_user(session=session, **bad)  # type: ignore[arg-type]


def test_a_refused_user_is_told_the_value_as_typed_without_python_s_quotes(
    session: Session,
) -> None:
    # "not an email address: 'thandi at home'", "role must be one of admin, ...": Python's
    # quotes, and a choice worded unlike the others ("category Z is not one of A, ...").
    for bad, said in [
        ({"email": " thandi at home ", "role": "admin"}, "not an email address: thandi at home"),
        (
            {"email": "x@example.org", "role": "mayor"},
            "role mayor is not one of admin, officer, triage",
        ),
    ]:
        with pytest.raises(staff.StaffError) as caught:
            staff.create_user(session=session, **bad)
        assert str(caught.value) == said


def test_tokens_are_stored_hashed_and_can_be_revoked(session: Session) -> None:
    user = staff.create_user(session=session, email="a@example.org", role="officer")
    row, token = staff.create_token(session=session, user=user, name="call centre")
    assert token.startswith("sk_") and len(token) > 40
    stored = session.execute(select(ApiToken.token_hash)).scalars().all()
    assert stored == [staff.token_hash(token)] and token not in stored
    assert staff.user_for_token(session=session, token=token) is user
    assert row.last_used_at is not None
    assert staff.user_for_token(session=session, token=token + "x") is None
    assert staff.user_for_token(session=session, token="no-prefix") is None
    assert row.id is not None and staff.revoke_token(session=session, token_id=row.id)
    assert staff.user_for_token(session=session, token=token) is None
    user.is_active = False
    _, other = staff.create_token(session=session, user=user)
    assert staff.user_for_token(session=session, token=other) is None


@pytest.fixture
def cli_db(
    clean_db: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    yield clean_db
    get_settings.cache_clear()
    db.get_engine.cache_clear()


def test_cli_user_and_token_create(cli_db: Engine) -> None:
    result = runner.invoke(
        app,
        ["user", "create", "--email", "lead@ubuntubay.example.org", "--role", "admin"],
        input="a long password\na long password\n",
    )
    assert result.exit_code == 0, result.output
    assert "created admin user lead@ubuntubay.example.org" in result.output
    again = runner.invoke(
        app,
        [
            "user",
            "create",
            "--email",
            "lead@ubuntubay.example.org",
            "--role",
            "admin",
            "--password",
            "another long one",
        ],
    )
    assert again.exit_code == 1 and "already exists" in again.output
    result = runner.invoke(app, ["token", "create", "--email", "lead@ubuntubay.example.org"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    with Session(cli_db) as session:
        user = staff.user_for_token(session=session, token=token)
        assert user is not None and user.role == "admin"
        assert session.execute(select(StaffUser.password_hash)).scalar_one().startswith("$argon2")
    missing = runner.invoke(app, ["token", "create", "--email", "nobody@example.org"])
    assert missing.exit_code == 1
