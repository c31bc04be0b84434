"""GET /api/v1/monitoring/metrics/scrape: the Prometheus exposition for scrapers with the scrape token.

API Gateway serves this route without the Cognito authorizer (a Prometheus server cannot sign in
to Cognito), so the entry point asks for no claims; the request proves itself with
`Authorization: Bearer <scrape token>`, compared in constant time with the token kept in Secrets
Manager (the MetricsScrapeToken parameter turns the mode on). 401 invalid_scrape_token otherwise.
"""

from aws_lambda_powertools.event_handler import Response

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver
from cirrus_core.metrics.http import error_responses
from cirrus_core.metrics.prometheus import CONTENT_TYPE, render
from cirrus_core.metrics.wiring import metrics_store, scrape_tokens

app = make_resolver()


@app.get(
    f"{API_PREFIX}/monitoring/metrics/scrape",
    tags=["monitoring"],
    summary="Prometheus scrape with the scrape token",
    description="The same exposition as /monitoring/metrics, for `Authorization: Bearer <scrape token>`.",
    responses=error_responses(),
)
def scrape_prometheus_metrics() -> Response[str]:
    scrape_tokens().check(app.current_event.headers.get("Authorization"))
    return Response(status_code=200, content_type=CONTENT_TYPE, body=render(metrics_store().totals()))


lambda_handler = entrypoint(app, authenticated=False)
