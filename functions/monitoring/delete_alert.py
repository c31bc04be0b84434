"""DELETE /api/v1/monitoring/alerts/{alert_id}: delete an alert rule, its schedule and its alerts' state."""

from aws_lambda_powertools.event_handler import Response

from cirrus_core.alerting.rules_wiring import alert_rules_service
from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.monitoring.http import AlertIdPath, error_responses

app = make_resolver()


@app.delete(
    f"{API_PREFIX}/monitoring/alerts/<alert_id>",
    tags=["monitoring"],
    summary="Delete an alert rule",
    responses=error_responses(400, 403, 404, 429, success=204),
)
def delete_alert(alert_id: AlertIdPath) -> Response[None]:
    alert_rules_service().delete(alert_id, request_caller(app))
    return Response(status_code=204)


lambda_handler = entrypoint(app)
