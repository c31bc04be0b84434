"""GET /api/v1/audit: audit records newest first, filtered by actor, action, resource and time."""

from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.audit.models import AuditPage
from cirrus_core.audit.wiring import audit_trail
from cirrus_core.authz import Resource, authorize
from cirrus_core.registry.http import DEFAULT_PAGE_SIZE, Limit, NextToken, error_responses

app = make_resolver()

Filter = Annotated[str | None, Query(min_length=1, max_length=256)]


@app.get(
    f"{API_PREFIX}/audit", tags=["audit"], summary="List audit records", responses=error_responses(400, 403)
)
def list_audit(
    actor: Filter = None,
    action: Filter = None,
    resource: Filter = None,
    since: Annotated[datetime | None, Query(description="Records at or after this time.")] = None,
    until: Annotated[datetime | None, Query(description="Records before this time.")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    next_token: NextToken = None,
) -> AuditPage:
    authorize(request_caller(app).principal, "ReadAuditLog", Resource.platform())
    return audit_trail().query(
        actor=actor,
        action=action,
        resource=resource,
        since=since,
        until=until,
        limit=limit,
        next_token=next_token,
    )


lambda_handler = entrypoint(app)
