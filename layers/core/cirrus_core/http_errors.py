"""The API's error body, and the OpenAPI response entries that document it on every route."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

# Documented on every route: an anonymous, oversized or invalid request is refused before routing.
ALWAYS_DOCUMENTED = frozenset({401, 413, 422})


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]]


class ErrorBody(BaseModel):
    """The API's one error shape."""

    error: ErrorDetail
    request_id: str | None


def documented_errors(
    descriptions: Mapping[int, str], statuses: Iterable[int], success: int = 200
) -> dict[int, Any]:
    """OpenAPI response entries: the success status and the given error statuses (401, 413, 422 always),
    each error described by `descriptions` (an area's wording of its own refusals).

    The success entry has no content on purpose: Powertools then documents the route's return type
    under it (it drops the success response altogether when a route passes `responses=` without it).
    """
    errors = {
        status: {"description": descriptions[status], "content": {"application/json": {"model": ErrorBody}}}
        for status in sorted({*ALWAYS_DOCUMENTED, *statuses})
    }
    return {success: {"description": "Success."}, **errors}
