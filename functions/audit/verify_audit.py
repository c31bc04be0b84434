"""GET /api/v1/audit/verify: walk the audit chain and check it against the latest signed anchor."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.audit.models import VerifyReport
from cirrus_core.audit.verify import verify_chain
from cirrus_core.audit.wiring import audit_trail, chain_anchor
from cirrus_core.authz import Resource, authorize
from cirrus_core.registry.http import error_responses

app = make_resolver()


@app.get(
    f"{API_PREFIX}/audit/verify",
    tags=["audit"],
    summary="Verify the audit chain",
    description="Reports whether the chain is intact, or its first bad sequence number and why.",
    responses=error_responses(403),
)
def verify_audit() -> VerifyReport:
    authorize(request_caller(app).principal, "VerifyAuditLog", Resource.platform())
    return verify_chain(audit_trail(), chain_anchor())


lambda_handler = entrypoint(app)
