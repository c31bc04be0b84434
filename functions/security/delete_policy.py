"""DELETE /api/v1/policies/{policy_id}: delete a custom policy."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.authz.models import POLICY_ID_PATTERN
from cirrus_core.authz.wiring import policy_service
from cirrus_core.registry.http import error_responses

app = make_resolver()

PolicyIdPath = Annotated[str, Path(pattern=POLICY_ID_PATTERN, description="The policy id.")]


@app.delete(
    f"{API_PREFIX}/policies/<policy_id>",
    tags=["policies"],
    summary="Delete a custom policy",
    responses=error_responses(403, 404, 409, success=204),
)
def delete_policy(policy_id: PolicyIdPath) -> Response[None]:
    policy_service().delete_policy(policy_id, request_caller(app))
    return Response(status_code=204)


lambda_handler = entrypoint(app)
