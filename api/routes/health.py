"""Liveness with a database check."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import EngineDep
from bot.db import ping

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(engine: EngineDep) -> JSONResponse:
    """Report whether the service is up and its database answers (503 when it does not)."""
    if ping(engine):
        return JSONResponse({"status": "ok", "database": "ok"})
    return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
