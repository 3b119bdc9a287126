"""Admin pages: add users with a scope, change role and scope, deactivate (sessions end),
and read the audit log."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.domain.staff import scope as scopes
from bot.domain.staff.models import StaffUser
from tests.api.staff.conftest import EMAILS, World, login

Login = Callable[[str], tuple[TestClient, str]]


def test_admin_manages_users_and_reads_the_audit_log(
    as_role: Login, app: object, world: World, clean_db: Engine
) -> None:
    admin, csrf = as_role("admin")
    created = admin.post(
        "/staff/admin/users",
        data={
            "csrf_token": csrf,
            "email": "New.Officer@Example.org",
            "role": "officer",
            "password": "another horse 2",
            "settlement_ids": [str(world.there)],
            "wards": "7, 9",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    short = admin.post(
        "/staff/admin/users",
        data={"csrf_token": csrf, "email": "x@example.org", "role": "triage", "password": "short"},
    )
    assert short.status_code == 422
    with Session(clean_db) as session:
        user = session.exec(
            select(StaffUser).where(StaffUser.email == "new.officer@example.org")
        ).one()
        scope = scopes.for_user(session=session, user=user)
    assert scope == scopes.Scope(
        settlement_ids=frozenset({world.there}), wards=frozenset({"7", "9"})
    )

    with TestClient(app, base_url="https://siyakha.example.org") as officer:  # type: ignore[arg-type]
        login(officer, "new.officer@example.org", "another horse 2")
        assert "Kwa-Thema Extension" in officer.get("/staff/settlements").text
        # the admin widens the scope and makes them triage: their session ends
        changed = admin.post(
            f"/staff/admin/users/{user.id}",
            data={"csrf_token": csrf, "role": "triage", "is_active": "true"},
            follow_redirects=False,
        )
        assert changed.status_code == 303
        assert officer.get("/staff/settlements", follow_redirects=False).status_code == 303
        login(officer, "new.officer@example.org", "another horse 2")
        assert officer.get("/staff/settlements").status_code == 403
        assert "Secret over there" in officer.get("/staff/tickets").text  # unscoped now
        admin.post(
            f"/staff/admin/users/{user.id}",
            data={"csrf_token": csrf, "role": "triage"},  # no is_active: deactivated
        )
        assert officer.get("/staff/tickets", follow_redirects=False).status_code == 303

    with Session(clean_db) as session:
        me = session.exec(select(StaffUser).where(StaffUser.email == EMAILS["admin"])).one()
    demote = admin.post(
        f"/staff/admin/users/{me.id}",
        data={"csrf_token": csrf, "role": "officer", "is_active": "true"},
    )
    assert demote.status_code == 422  # no locking yourself out

    audit = admin.get("/staff/admin/audit").text
    for action in ("user.create", "user.update", "login"):
        assert action in audit
    assert "new.officer@example.org" in audit
    only_users = admin.get("/staff/admin/audit?action=user.").text
    assert "ticket." not in only_users
    users = admin.get("/staff/admin/users").text
    assert "inactive" in users and "Scope: everything" in users
