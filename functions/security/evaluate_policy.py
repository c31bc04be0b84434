"""POST /api/v1/policies/evaluate: the decision the policies in force give a hypothetical request."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.authz.models import EvaluateRequest, EvaluateResult
from cirrus_core.authz.wiring import policy_service
from cirrus_core.registry.http import error_responses

app = make_resolver()


@app.post(
    f"{API_PREFIX}/policies/evaluate",
    tags=["policies"],
    summary="Evaluate a request against the policies",
    responses=error_responses(403),
)
def evaluate_policy(request: EvaluateRequest) -> EvaluateResult:
    return policy_service().evaluate(request, request_caller(app))


lambda_handler = entrypoint(app)
