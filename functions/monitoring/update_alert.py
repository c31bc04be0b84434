"""PUT /api/v1/monitoring/alerts/{alert_id}: replace an alert rule's mutable fields."""

from cirrus_core.alerting.rules_wiring import alert_rules_service
from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.monitoring.http import AlertIdPath, error_responses
from cirrus_core.monitoring.models import AlertRule, UpdateAlertRequest

app = make_resolver()


@app.put(
    f"{API_PREFIX}/monitoring/alerts/<alert_id>",
    tags=["monitoring"],
    summary="Replace an alert rule's settings",
    description=(
        "The body is the creation payload without `model_id` and `environment` (which cannot change); "
        "`alert_type` must be the rule's own (422 `alert_type_change`). Every mutable field is replaced: "
        "one left out takes its default. A drift rule's schedule follows a changed `evaluation_window`."
    ),
    responses=error_responses(400, 403, 404, 429),
)
def update_alert(alert_id: AlertIdPath, request: UpdateAlertRequest) -> AlertRule:
    return alert_rules_service().update(alert_id, request, request_caller(app))


lambda_handler = entrypoint(app)
