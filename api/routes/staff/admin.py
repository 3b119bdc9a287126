"""Admin pages: staff users (role, active, scope, password) and the audit log. They act on
the whole city, so they are for admins with no scope: a scoped admin, who works tickets and
places within their scope, could otherwise lift it (their own or anyone's)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.deps import PathId, refused_as_http
from api.routes.staff.common import ADMINS, StaffContext, action, back, page, page_number, render
from bot.db import RowId, utcnow
from bot.domain.settlements import service as settlements
from bot.domain.staff import audit, sessions
from bot.domain.staff import scope as scopes
from bot.domain.staff import service as staff
from bot.domain.staff.models import ROLES

router = APIRouter(prefix="/admin")
Reader = Annotated[StaffContext, Depends(page(*ADMINS, whole_city=True))]
Editor = Annotated[StaffContext, Depends(action(*ADMINS, whole_city=True))]
Wards = Annotated[str, Form(max_length=500)]
SettlementIds = Annotated[list[RowId], Form()]
AUDIT_PAGE = 100


def _wards(ctx: StaffContext, text: str) -> list[str]:
    """Return the wards typed, as the settlements spell them (422 for one no settlement is
    in): scopes compare wards as stored."""
    typed = [w.strip() for w in text.replace(";", ",").split(",") if w.strip()]
    with refused_as_http():
        return settlements.spell_wards(session=ctx.session, wards=typed)


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, ctx: Reader) -> HTMLResponse:
    """Every staff user, their role and scope, with forms to add and change them."""
    staff_users = staff.list_users(session=ctx.session)
    scope_of = scopes.for_users(session=ctx.session, user_ids=[u.id for u in staff_users if u.id])
    rows = [{"user": u, "scope": scope_of[u.id]} for u in staff_users if u.id]
    return render(
        request,
        "users.html",
        ctx,
        users=rows,
        roles=ROLES,
        settlements=scopes.visible_settlements(session=ctx.session, scope=scopes.EVERYTHING),
    )


@router.post("/users")
def create_user(
    ctx: Editor,
    email: Annotated[str, Form(max_length=254)],
    role: Annotated[str, Form(max_length=10)],
    password: Annotated[str, Form(max_length=1000)],
    wards: Wards = "",
    settlement_ids: SettlementIds = [],  # noqa: B006  (FastAPI copies defaults)
) -> RedirectResponse:
    """Add a staff user with a password and an optional scope."""
    spelt = _wards(ctx, wards)
    with refused_as_http():
        user = staff.create_user(session=ctx.session, email=email, role=role, password=password)
    scope = scopes.set_scope(
        session=ctx.session, user=user, settlement_ids=settlement_ids, wards=spelt
    )
    ctx.audit("user.create", f"user:{user.email}", role=role, scope=scope.describe())
    return back("/staff/admin/users", "user")


@router.post("/users/{user_id}")
def update_user(
    user_id: PathId,
    ctx: Editor,
    role: Annotated[str, Form(max_length=10)],
    is_active: Annotated[bool, Form()] = False,
    password: Annotated[str, Form(max_length=1000)] = "",
    wards: Wards = "",
    settlement_ids: SettlementIds = [],  # noqa: B006
) -> RedirectResponse:
    """Change a user's role, active flag, scope or password; their sessions end."""
    user = staff.get(session=ctx.session, user_id=user_id)
    if user is None:
        raise HTTPException(404, "no such user")
    if user.id == ctx.user.id and (role != "admin" or not is_active):
        raise HTTPException(422, "you cannot remove your own admin role or deactivate yourself")
    spelt = _wards(ctx, wards)
    if user.id == ctx.user.id and (settlement_ids or spelt):
        # A scope would take these pages from them at once, as losing the role would.
        raise HTTPException(
            422, "you cannot give yourself a scope: an admin with one does not manage users"
        )
    with refused_as_http():
        staff.update_user(
            session=ctx.session,
            user=user,
            role=role,
            is_active=is_active,
            password=password or None,
        )
    scope = scopes.set_scope(
        session=ctx.session, user=user, settlement_ids=settlement_ids, wards=spelt
    )
    assert user.id is not None
    if user.id != ctx.user.id:
        sessions.end_all_for(session=ctx.session, user_id=user.id, now=utcnow())
    elif password:  # their own new password: every other login of theirs ends
        sessions.end_all_for(session=ctx.session, user_id=user.id, now=utcnow(), keep=ctx.row.id)
    ctx.audit(
        "user.update",
        f"user:{user.email}",
        role=role,
        active=is_active,
        scope=scope.describe(),
        password_changed=bool(password),
    )
    return back("/staff/admin/users", "user")


@router.get("/audit", response_class=HTMLResponse)
def audit_log(request: Request, ctx: Reader) -> HTMLResponse:
    """The audit log, newest first, filtered by action prefix, email and kind (changes or
    page views)."""
    action_filter = request.query_params.get("action", "")[:60]
    email = request.query_params.get("email", "")[:254]
    kind: audit.Kind = next(
        (k for k in audit.KINDS if k == request.query_params.get("kind")), "all"
    )
    number = page_number(request)
    rows, total = audit.recent(
        session=ctx.session,
        limit=AUDIT_PAGE,
        offset=(number - 1) * AUDIT_PAGE,
        action=action_filter or None,
        actor_email=email or None,
        kind=kind,
    )
    return render(
        request,
        "audit.html",
        ctx,
        events=rows,
        total=total,
        page=number,
        pages=max(1, -(-total // AUDIT_PAGE)),
        action=action_filter,
        email=email,
        kind=kind,
        query=urlencode({"action": action_filter, "email": email, "kind": kind}),
    )
