"""Admin pages: add users with a scope, change role and scope, deactivate (sessions end),
and read the audit log."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.domain.staff import scope as scopes
from bot.domain.staff.models import AuditEvent, StaffUser
from tests.api.staff.conftest import EMAILS, PASSWORD, World, logged_in, login

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
            "wards": "22, 14",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    nowhere = admin.post(  # a scope in a ward no settlement is in would show nothing
        "/staff/admin/users",
        data={"csrf_token": csrf, "email": "y@example.org", "role": "triage",
              "password": "another horse 2", "wards": "14, 7"},
    )  # fmt: skip
    assert nowhere.status_code == 422 and "no settlement is in ward 7" in nowhere.text
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
        settlement_ids=frozenset({world.there}), wards=frozenset({"14", "22"})
    )

    with logged_in(app, "new.officer@example.org", "another horse 2") as (officer, _csrf):
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
    assert "An admin with a scope works tickets and places within it" in users


def test_page_views_are_audited_and_admins_list_them_apart_from_changes(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    triage, csrf = as_role("triage")
    assert triage.get("/staff/tickets?status=all&category=water&page=1").status_code == 200
    for _ in range(2):
        assert triage.get(f"/staff/tickets/{world.ticket_here}").status_code == 200
    assert triage.get("/staff/reports?weeks=6").status_code == 200
    assert triage.get("/staff/reports.csv?weeks=6").status_code == 200
    note = triage.post(
        f"/staff/tickets/{world.ticket_here}/note",
        data={"csrf_token": csrf, "body": "Seen."},
        follow_redirects=False,
    )
    assert note.status_code == 303
    with Session(clean_db) as session:
        events = session.exec(
            select(AuditEvent)
            .where(AuditEvent.actor_email == EMAILS["triage"])
            .order_by(AuditEvent.id)  # type: ignore[arg-type]
        ).all()
    views = [(e.action, e.target, e.detail) for e in events if e.action.endswith(".view")]
    # the login's own landing on the queue counts as a view too (conftest.login)
    assert views[1:] == [
        ("queue.view", "tickets", {"page": 1, "total": 2, "status": "all", "category": "water"}),
        ("ticket.view", f"ticket:{world.ticket_here}", {}),
        ("ticket.view", f"ticket:{world.ticket_here}", {}),
        ("report.view", "reports", {"weeks": 6}),
    ]
    assert {"report.export", "ticket.note"} <= {e.action for e in events}

    admin, _csrf = as_role("admin")
    everything = admin.get("/staff/admin/audit").text
    assert "<td>ticket.view</td>" in everything and "<td>ticket.note</td>" in everything
    changes = admin.get("/staff/admin/audit?kind=changes").text
    assert "<td>ticket.note</td>" in changes and "<td>login</td>" in changes
    assert ".view</td>" not in changes
    views_only = admin.get("/staff/admin/audit?kind=views").text
    assert "<td>queue.view</td>" in views_only and "<td>report.view</td>" in views_only
    assert "<td>ticket.note</td>" not in views_only and "<td>login</td>" not in views_only
    assert "category: water" in views_only and "status: all" in views_only
    one_user = admin.get(f"/staff/admin/audit?kind=views&action=ticket.&email={EMAILS['triage']}")
    assert "2 event(s)." in one_user.text
    assert '<option value="views" selected>' in one_user.text


def test_an_admin_changing_their_own_password_ends_their_other_logins(
    as_role: Login, app: object, world: World, clean_db: Engine
) -> None:
    admin, csrf = as_role("admin")
    with logged_in(app, EMAILS["admin"]) as (elsewhere, _csrf):  # another browser of theirs
        with Session(clean_db) as session:
            me = session.exec(select(StaffUser).where(StaffUser.email == EMAILS["admin"])).one()
        changed = admin.post(
            f"/staff/admin/users/{me.id}",
            data={
                "csrf_token": csrf,
                "role": "admin",
                "is_active": "true",
                "password": "a brand new horse 3",
            },
            follow_redirects=False,
        )
        assert changed.status_code == 303
        assert admin.get("/staff/admin/users").status_code == 200  # this login goes on
        assert elsewhere.get("/staff/tickets", follow_redirects=False).status_code == 303


def test_an_admin_may_have_a_scope_but_no_admin_gives_themselves_one(
    as_role: Login, app: object, world: World, clean_db: Engine
) -> None:
    # A scoped admin works their scope and nothing city-wide: coherent, so it is made and
    # kept. Giving yourself a scope would take the user pages from you at once, as losing
    # the role would: refused, so an admin with no scope always remains.
    admin, csrf = as_role("admin")
    created = admin.post(
        "/staff/admin/users",
        data={"csrf_token": csrf, "email": "ward.admin@example.org", "role": "admin",
              "password": "another horse 2", "wards": "14"},
        follow_redirects=False,
    )  # fmt: skip
    assert created.status_code == 303
    with Session(clean_db) as session:
        me, scoped = (
            session.exec(select(StaffUser).where(StaffUser.email == email)).one()
            for email in (EMAILS["admin"], EMAILS["scoped"])
        )
    assert me.id is not None and scoped.id is not None
    promoted = admin.post(  # the ward-14 triage user becomes the ward's admin
        f"/staff/admin/users/{scoped.id}",
        data={"csrf_token": csrf, "role": "admin", "is_active": "true", "wards": "14"},
        follow_redirects=False,
    )
    assert promoted.status_code == 303
    for email, password in (
        ("ward.admin@example.org", "another horse 2"),
        (EMAILS["scoped"], PASSWORD),
    ):
        with logged_in(app, email, password) as (client, _csrf):
            assert client.get(f"/staff/tickets/{world.ticket_here}").status_code == 200
            assert client.get(f"/staff/settlements/{world.here}").status_code == 200
            assert client.get(f"/staff/tickets/{world.ticket_there}").status_code == 404
            assert client.get("/staff/admin/users").status_code == 403
    for field in ({"wards": "22"}, {"settlement_ids": str(world.there)}):
        own = admin.post(
            f"/staff/admin/users/{me.id}",
            data={"csrf_token": csrf, "role": "admin", "is_active": "true", **field},
        )
        assert own.status_code == 422, field
        assert "you cannot give yourself a scope" in own.text
    assert admin.get("/staff/admin/users").status_code == 200
    with Session(clean_db) as session:
        scope_of = scopes.for_users(session=session, user_ids=[me.id, scoped.id])
        made = session.exec(
            select(StaffUser).where(StaffUser.email == "ward.admin@example.org")
        ).one()
        assert made.role == "admin"
        assert scopes.for_user(session=session, user=made) == scopes.Scope(wards=frozenset({"14"}))
    assert scope_of[me.id].unrestricted
    assert scope_of[scoped.id] == scopes.Scope(wards=frozenset({"14"}))
