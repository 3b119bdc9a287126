"""Error answers of the JSON API under /api/v1, documented once for all its routers.

FastAPI answers an error as `{"detail": ...}`: a sentence for an HTTP error (401, 403,
404, 409, and a 422 a route or a domain refusal raises itself, such as a date out of
range) and a list of problems for input checking's 422. Each /api/v1 router documents
`API_ERRORS` (every route needs a token; input is checked); `documented(...)` adds the
answers only some routes give, with the same shared descriptions and models.
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
    403: (Problem, "the token's role or scope does not allow this change"),
    404: (Problem, "no such thing, or outside the token's scope"),
    409: (Problem, "not allowed in its current state, or outside the token's scope"),
    413: (Problem, "the request body is larger than 1 MiB (`api.limits`)"),
    422: (Invalid, "the input is malformed or refused"),
}


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Return OpenAPI `responses` for these error codes (shared models and descriptions)."""
    return {code: {"model": _WHY[code][0], "description": _WHY[code][1]} for code in codes}


# What every /api/v1 route may answer.
API_ERRORS = documented(401, 413, 422)
