"""POST /api/v1/monitoring/alerts: create an alert rule (201); drift rules schedule monitor runs."""

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.alerting.rules_wiring import alert_rules_service
from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.idempotency import run_idempotently
from cirrus_core.monitoring.http import error_responses
from cirrus_core.monitoring.models import AlertRule, CreateAlertRequest
from cirrus_core.pipelines.http import IdempotencyKey

app = make_resolver()


@app.post(
    f"{API_PREFIX}/monitoring/alerts",
    status_code=201,
    tags=["monitoring"],
    summary="Create an alert rule",
    description=(
        "The spec's payload `{model_id, alert_type, threshold, notification_channels, evaluation_window}` "
        "plus `environment`, `cooldown`, `severity`, `description` and per type: `drift_detection` "
        "(threshold: share of drifted features; schedules a drift monitor run every window), "
        "`performance_degradation` (`metric`, `comparison` gt|gte|lt|lte, threshold in the metric's unit), "
        "`system_failures` (optional `model_id`/`environment`, `sources`; threshold: failures per subject "
        "within the window). Channels must exist (422 `unknown_channel`)."
    ),
    responses=error_responses(400, 403, 404, 429, success=201),
)
def create_alert(request: CreateAlertRequest, idempotency_key: IdempotencyKey = None) -> Response[AlertRule]:
    caller = request_caller(app)
    rule = run_idempotently(
        key=idempotency_key,
        scope=f"{caller.principal.sub}:create_alert:{request.root.model_id or '*'}",
        request=request,
        result_type=AlertRule,
        operation=lambda: alert_rules_service().create(request, caller),
    )
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=rule)


lambda_handler = entrypoint(app, idempotent=True)
