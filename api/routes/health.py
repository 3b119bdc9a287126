"""Liveness with a database check."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import EngineDep
from bot.db import ping

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """Whether the service is up and its database answers."""

    status: Literal["ok", "error"]
    database: Literal["ok", "unreachable"]


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "the database cannot be read"}},
)
def healthz(engine: EngineDep) -> JSONResponse:
    """Report whether the service is up and its migrated database can be read (503 when it
    cannot: unreachable, or a missing, empty or corrupt SQLite file)."""
    if ping(engine):
        return JSONResponse({"status": "ok", "database": "ok"})
    return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
