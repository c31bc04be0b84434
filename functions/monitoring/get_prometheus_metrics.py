"""GET /api/v1/monitoring/metrics: the per-model metrics in Prometheus text exposition format 0.0.4."""

from aws_lambda_powertools.event_handler import Response

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.authz import Resource, authorize
from cirrus_core.metrics.http import error_responses
from cirrus_core.metrics.prometheus import CONTENT_TYPE, render
from cirrus_core.metrics.wiring import metrics_store

app = make_resolver()


@app.get(
    f"{API_PREFIX}/monitoring/metrics",
    tags=["monitoring"],
    summary="Prometheus scrape of every model's metrics",
    description=(
        "Counters, gauges and the latency histogram of every model, version and environment "
        "(text/plain; version=0.0.4). Needs a signed-in caller allowed ScrapeMetrics; scrapers without "
        "a Cognito identity use /monitoring/metrics/scrape with the scrape token."
    ),
    responses=error_responses(403, 429),
)
def get_prometheus_metrics() -> Response[str]:
    authorize(request_caller(app).principal, "ScrapeMetrics", Resource.platform())
    return Response(status_code=200, content_type=CONTENT_TYPE, body=render(metrics_store().totals()))


lambda_handler = entrypoint(app)
