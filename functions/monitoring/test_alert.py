"""POST /api/v1/monitoring/alerts/{alert_id}/test: queue a test notification to each of its channels."""

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.alerting.http import AlertIdPath, error_responses
from cirrus_core.alerting.records import TestAlertResponse
from cirrus_core.alerting.wiring import delivery_service
from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller

app = make_resolver()


@app.post(
    f"{API_PREFIX}/monitoring/alerts/<alert_id>/test",
    status_code=202,
    tags=["monitoring"],
    summary="Send a test notification",
    description=(
        "Queues a `test` notification to every channel the rule names; 202 with the delivery ids, whose "
        "progress GET .../deliveries shows (system_config)."
    ),
    responses=error_responses(403, 404, 429, success=202),
)
def test_alert(alert_id: AlertIdPath) -> Response[TestAlertResponse]:
    queued = delivery_service().test(alert_id, request_caller(app))
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=queued)


lambda_handler = entrypoint(app)
