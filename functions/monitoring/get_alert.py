"""GET /api/v1/monitoring/alerts/{alert_id}: an alert rule with the state of its alert(s)."""

from cirrus_core.alerting.rules_wiring import alert_rules_service
from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.monitoring.http import AlertIdPath, error_responses
from cirrus_core.monitoring.models import AlertRuleDetail

app = make_resolver()


@app.get(
    f"{API_PREFIX}/monitoring/alerts/<alert_id>",
    tags=["monitoring"],
    summary="Get an alert rule and its alerts' state",
    responses=error_responses(400, 403, 404),
)
def get_alert(alert_id: AlertIdPath) -> AlertRuleDetail:
    return alert_rules_service().get(alert_id, request_caller(app))


lambda_handler = entrypoint(app)
