"""GET /api/v1/monitoring/models/{model_id}/metrics: one metric's points over a time range."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.metrics.http import (
    EnvironmentQuery,
    FromQuery,
    MetricQuery,
    ResolutionQuery,
    ToQuery,
    error_responses,
)
from cirrus_core.metrics.models import MetricHistory
from cirrus_core.metrics.wiring import history_service
from cirrus_core.registry.http import ModelIdPath
from cirrus_core.registry.models import Environment

app = make_resolver()


@app.get(
    f"{API_PREFIX}/monitoring/models/<model_id>/metrics",
    tags=["monitoring"],
    summary="A model's metric over time",
    description=(
        "`metric` (invocations, errors_4xx, errors_5xx, model_errors, error_rate, model_error_rate, "
        "latency_avg_ms, latency_p50_ms, latency_p95_ms, latency_p99_ms, ground_truth_count, accuracy, "
        "mae, rmse, cpu_utilization, memory_utilization), `from`/`to` (ISO 8601 with a zone), "
        "`resolution` 1m (range at most 1 day), 1h (31 days) or 1d (400 days). Refusals: "
        "unknown_metric, invalid_resolution, invalid_time_range, time_range_too_long (422)."
    ),
    responses=error_responses(403, 404, 429),
)
def get_model_metrics(
    model_id: ModelIdPath,
    metric: MetricQuery = None,
    start: FromQuery = None,
    end: ToQuery = None,
    resolution: ResolutionQuery = None,
    environment: EnvironmentQuery = Environment.PROD,
) -> MetricHistory:
    return history_service().metric_history(
        model_id, metric, start, end, resolution, environment, request_caller(app)
    )


lambda_handler = entrypoint(app)
