"""GET /api/v1/policies: every policy in force, baseline and custom."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.authz.models import PolicyList
from cirrus_core.authz.wiring import policy_service
from cirrus_core.registry.http import error_responses

app = make_resolver()


@app.get(
    f"{API_PREFIX}/policies",
    tags=["policies"],
    summary="List the policies in force",
    responses=error_responses(403),
)
def list_policies() -> PolicyList:
    return policy_service().list_policies(request_caller(app))


lambda_handler = entrypoint(app)
