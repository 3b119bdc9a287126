"""The staff dashboard under /staff: server-rendered pages, a signed session cookie, CSRF on
every form, roles and scopes checked on every route (see `common.py`).

Routes parse, authorise, delegate to `bot.domain` services and render `templates/staff/`.
Every change is written to the audit log, and so is every view of the queue, a ticket, a
resident and the reports (`<thing>.view`, one row per page).
"""

from fastapi import APIRouter, Depends

from api.routes.staff import admin, auth, broadcasts, officer, reports, residents, tickets
from api.routes.staff.common import storable_input

router = APIRouter(prefix="/staff", include_in_schema=False, dependencies=[Depends(storable_input)])
router.include_router(auth.router)
router.include_router(tickets.router)
router.include_router(officer.router)
router.include_router(residents.router)
router.include_router(reports.router)
router.include_router(admin.router)
router.include_router(broadcasts.router)  # the broadcast pages, last
