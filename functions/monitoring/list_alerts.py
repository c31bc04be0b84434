"""GET /api/v1/monitoring/alerts: alert rules, newest first (of one model with `model_id`)."""

from cirrus_core.alerting.rules_wiring import alert_rules_service
from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.monitoring.http import AlertModelFilter, error_responses
from cirrus_core.monitoring.models import AlertRulePage
from cirrus_core.registry.http import DEFAULT_PAGE_SIZE, Limit, NextToken

app = make_resolver()


@app.get(
    f"{API_PREFIX}/monitoring/alerts",
    tags=["monitoring"],
    summary="List alert rules",
    responses=error_responses(400, 403),
)
def list_alerts(
    model_id: AlertModelFilter = None, limit: Limit = DEFAULT_PAGE_SIZE, next_token: NextToken = None
) -> AlertRulePage:
    return alert_rules_service().list(limit, next_token, model_id, request_caller(app))


lambda_handler = entrypoint(app)
