"""GET /api/v1/monitoring/alerts/{alert_id}/deliveries: an alert's deliveries and attempts, newest first."""

from cirrus_core.alerting.http import AlertIdPath, error_responses
from cirrus_core.alerting.records import DeliveryPage
from cirrus_core.alerting.wiring import delivery_service
from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.http import DEFAULT_PAGE_SIZE, Limit, NextToken

app = make_resolver()


@app.get(
    f"{API_PREFIX}/monitoring/alerts/<alert_id>/deliveries",
    tags=["monitoring"],
    summary="List an alert's deliveries",
    description=(
        "Each delivery (one notification to one channel) with its status (pending, retrying, delivered, "
        "dead_lettered) and every attempt: number, time, HTTP status, latency, error."
    ),
    responses=error_responses(400, 403, 404, 429),
)
def list_alert_deliveries(
    alert_id: AlertIdPath, limit: Limit = DEFAULT_PAGE_SIZE, next_token: NextToken = None
) -> DeliveryPage:
    return delivery_service().deliveries(alert_id, limit, next_token, request_caller(app))


lambda_handler = entrypoint(app)
