"""`siyakha user create` with a scope (settlements by name, wards); `siyakha token list`
and `revoke`."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.cli import app
from bot.db import session_scope
from bot.domain.staff import scope as scopes
from bot.domain.staff import service as staff
from bot.domain.staff.models import StaffUser
from tests.factories import make_settlement
from tests.test_cli import cli_db, runner

__all__ = ["cli_db"]


def test_user_create_with_a_scope(cli_db: Engine) -> None:
    with session_scope(cli_db) as session:
        settlement = make_settlement(session, "Ubuhle Gardens", ward="14")
        make_settlement(session, "Themba", ward="Ward 9")
        settlement_id = settlement.id
    args = ["user", "create", "--email", "w@example.org", "--role", "officer"]
    result = runner.invoke(
        app,
        [*args, "--password", "correct horse 1", "--settlement", "ubuhle gardens", "--ward",
         " WARD  9"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # As the settlements spell it: scopes compare wards as stored.
    assert f"sees settlement #{settlement_id}, ward Ward 9" in result.output
    assert "an admin with a scope" not in result.output
    with Session(cli_db) as session:
        user = session.exec(select(StaffUser).where(StaffUser.email == "w@example.org")).one()
        scope = scopes.for_user(session=session, user=user)
    assert scope == scopes.Scope(
        settlement_ids=frozenset({settlement_id}), wards=frozenset({"Ward 9"})
    )
    # An admin with a scope is made (they work their scope), and told what they cannot do.
    ward_admin = runner.invoke(
        app,
        ["user", "create", "--email", "a@example.org", "--role", "admin", "--password",
         "correct horse 1", "--ward", "14"],
    )  # fmt: skip
    assert ward_admin.exit_code == 0, ward_admin.output
    assert "created admin user a@example.org (sees ward 14)" in ward_admin.output
    assert "managing users, imports and the audit log need an admin with no scope" in (
        ward_admin.output
    )
    nowhere = runner.invoke(
        app,
        ["user", "create", "--email", "v@example.org", "--role", "triage", "--password",
         "correct horse 1", "--ward", "Ward 12"],
    )  # fmt: skip
    assert nowhere.exit_code == 1 and "no settlement is in ward Ward 12" in nowhere.output
    unknown = runner.invoke(
        app,
        ["user", "create", "--email", "x@example.org", "--role", "triage", "--password",
         "correct horse 1", "--settlement", "Nowhere"],
    )  # fmt: skip
    assert unknown.exit_code == 1 and "no single settlement named Nowhere\n" in unknown.output
    with Session(cli_db) as session:  # nothing half-made
        for email in ("x@example.org", "v@example.org"):
            assert session.exec(select(StaffUser).where(StaffUser.email == email)).first() is None


def test_tokens_are_listed_and_revoked_and_then_refused(cli_db: Engine) -> None:
    with session_scope(cli_db) as session:
        staff.create_user(session=session, email="sys@example.org", role="triage")
    made = runner.invoke(app, ["token", "create", "--email", "sys@example.org", "--name", "CRM"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    with Session(cli_db) as session:
        assert staff.user_for_token(session=session, token=token) is not None
    listed = runner.invoke(app, ["token", "list", "--email", "SYS@example.org"])
    token_id, email, name, prefix, *_, state = listed.stdout.strip().split("\t")
    assert (email, name, prefix, state) == ("sys@example.org", "CRM", token[:10] + "...", "active")
    assert token not in listed.stdout  # never shown again
    assert runner.invoke(app, ["token", "revoke", token_id]).exit_code == 0
    with Session(cli_db) as session:
        assert staff.user_for_token(session=session, token=token) is None
    assert "revoked" in runner.invoke(app, ["token", "list"]).stdout
    again = runner.invoke(app, ["token", "revoke", token_id])
    assert again.exit_code == 1 and f"no active token {token_id}" in again.output
