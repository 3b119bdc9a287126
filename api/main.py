"""Create the FastAPI application."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import Replayed, UnitOfWork, replayed_answer
from api.limits import BodyLimit
from api.routes import broadcasts, health, open311, places, simulator, status, v1, webhooks
from api.routes.staff import router as staff_router
from api.routes.staff.auth import RenewSessionCookie
from api.routes.staff.common import PlainLineBreaks, ScriptedFormRedirects, staff_error_page
from bot import content
from bot.config import Settings, get_settings
from bot.db import make_engine

STATIC_DIR = Path(__file__).resolve().parent / "static"


async def error_response(request: Request, exc: Exception) -> Response:
    """Answer an HTTP or input error as the path's callers expect: GeoReport's error list
    under /open311/, an HTML page on the dashboard, FastAPI's JSON elsewhere."""
    if request.url.path.startswith("/open311/"):
        return open311.error_response(exc)
    return await staff_error_page(request, exc)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app for `settings` (read from the environment when not given)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Siyakha",
        summary="WhatsApp and SMS channel between informal-settlement residents and their "
        "municipality.",
        version="0.1.0",
    )
    app.state.settings = settings
    app.state.engine = engine or make_engine(settings.database_url)
    app.state.unit_of_work = UnitOfWork(app.state.engine)
    content.load()  # parse the bot's words now, not during the first resident's message
    app.include_router(health.router)
    app.include_router(webhooks.router)
    app.include_router(status.router)
    app.include_router(v1.router)
    app.include_router(broadcasts.router)
    app.include_router(places.router)
    app.include_router(open311.router)
    app.include_router(staff_router)
    if settings.env == "dev":
        app.include_router(simulator.router)  # development only: absent elsewhere
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Dashboard errors as HTML pages, Open311's as GeoReport's; every other path keeps
    # FastAPI's JSON errors.
    app.add_exception_handler(StarletteHTTPException, error_response)
    app.add_exception_handler(RequestValidationError, error_response)
    # A retry with an Idempotency-Key gets its first request's answer (`api.deps.Once`).
    app.add_exception_handler(Replayed, replayed_answer)
    # A dashboard request slides its session on; this sets the re-signed cookie.
    app.add_middleware(RenewSessionCookie)
    # A redirect after a form staff.js posted goes to the script, not to fetch to follow.
    app.add_middleware(ScriptedFormRedirects)
    # Dashboard forms' line breaks as LF, whatever the browser posted (CR LF).
    app.add_middleware(PlainLineBreaks)
    # Outermost: no body past its limit reaches anything that reads it.
    app.add_middleware(BodyLimit, answer=error_response)
    return app
