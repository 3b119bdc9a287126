"""Error answers of the JSON API under /api/v1, documented once for all its routers.

FastAPI answers an error as `{"detail": ...}`: a sentence for an HTTP error (401, 403,
404, 409, and a 422 a route or a domain refusal raises itself, such as a date out of
range) and a list of problems for input checking's 422. Each /api/v1 router documents
`API_ERRORS` (every route needs a token; input is checked); `documented(...)` adds the
answers only some routes give, with the same shared descriptions and models.

A token's scope refuses in two ways, as `bot.domain.staff.scope` says: what it hides
answers 404, as if it did not exist (a ticket, settlement, milestone, meeting or broadcast
outside it); a change it does not allow to something it shows, or one that would reach
places, residents or tickets outside it, answers 403 (a forum it only reads, a broadcast
to everyone or to another ward, a ward forum of another ward, a duplicate link reaching a
ticket it cannot see). Never 409, which says the thing's state refuses the change.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Problem(BaseModel):
    """An error answer: what went wrong, in a sentence."""

    detail: str


class InputProblem(BaseModel):
    """One problem input checking found: where (`loc`), what (`msg`) and its kind (`type`)."""

    loc: list[str | int]
    msg: str
    type: str


class Invalid(BaseModel):
    """A refused input: input checking's problems, one per field, or a sentence when the
    input is well-formed but refused (as the dashboard and the CSV import refuse it)."""

    detail: list[InputProblem] | str


_WHY: dict[int, tuple[type[BaseModel], str]] = {
    401: (Problem, "no valid staff API token (`Authorization: Bearer ...`)"),
    403: (
        Problem,
        "the token's role does not allow this change, or its scope does not: the change "
        "would reach places, residents or tickets outside it",
    ),
    404: (Problem, "no such thing, or one outside the token's scope (as if it did not exist)"),
    409: (Problem, "not allowed in its current state"),
    412: (
        Problem,
        "changed since the version `If-Match` names (the fields changed since are named; the "
        "`ETag` header carries the current version)",
    ),
    413: (Problem, "the request body is larger than 1 MiB (`api.limits`)"),
    422: (Invalid, "the input is malformed or refused"),
}


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Return OpenAPI `responses` for these error codes (shared models and descriptions)."""
    return {code: {"model": _WHY[code][0], "description": _WHY[code][1]} for code in codes}


# What every /api/v1 route may answer.
API_ERRORS = documented(401, 413, 422)
