"""Changes made from a page that may be out of date (two staff working at once).

The page's form sends back what it showed: only the fields its user changed from that
are applied, and one someone else changed meanwhile to something else is refused rather
than overwritten, so that two people changing different fields both keep their change.
The ticket page and the officer's settlement, milestone and meeting forms use it. Imports
nothing but the standard library.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

T = TypeVar("T")


class ChangedMeanwhile(ValueError):
    """Someone else changed a field since the page the change was made on was loaded."""


def _same(field: str, value: object) -> object:
    return value


def changed_fields(
    *,
    wanted: Mapping[str, T | None],
    shown: Mapping[str, T | None],
    current: Mapping[str, T],
    key: Callable[[str, T], object] = _same,
) -> tuple[dict[str, T], dict[str, T]]:
    """Return the fields of `wanted` to apply, those changed from what the page `shown`
    (one not wanted, None, is left out; one whose shown value is not known, None, is
    applied unchecked), and those of them someone else changed meanwhile to something
    else, with what they are `current`ly. Values are compared by `key(field, value)`."""
    apply: dict[str, T] = {}
    clashes: dict[str, T] = {}
    for field, value in wanted.items():
        if value is None:
            continue
        before = shown.get(field)
        if before is not None and key(field, value) == key(field, before):
            continue  # left as it was shown
        now = current[field]
        if before is not None and key(field, now) not in (
            key(field, before),
            key(field, value),
        ):
            clashes[field] = now
        apply[field] = value
    return apply, clashes


def refusal(what: str, clashes: Mapping[str, str]) -> str:
    """Return the words refusing a change of `what` whose fields `clashes` (field: what it
    is now) someone else changed since its page was opened."""
    said = "; ".join(f"{field} is now {now}" for field, now in clashes.items())
    return (
        f"{what} changed since you opened it ({said}): "
        "open it in a new tab to see it as it is now, and make your change there"
    )
