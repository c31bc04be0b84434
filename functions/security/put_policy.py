"""PUT /api/v1/policies/{policy_id}: store a custom Cedar policy, validated against the schema."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.authz.models import POLICY_ID_PATTERN, Policy, PutPolicyRequest
from cirrus_core.authz.wiring import policy_service
from cirrus_core.registry.http import error_responses

app = make_resolver()

PolicyIdPath = Annotated[str, Path(pattern=POLICY_ID_PATTERN, description="The policy id.")]


@app.put(
    f"{API_PREFIX}/policies/<policy_id>",
    tags=["policies"],
    summary="Store a custom policy",
    description="Refused with the validator's messages unless it validates; baseline ids are protected.",
    responses=error_responses(403, 409),
)
def put_policy(policy_id: PolicyIdPath, request: PutPolicyRequest) -> Policy:
    return policy_service().put_policy(policy_id, request, request_caller(app))


lambda_handler = entrypoint(app)
