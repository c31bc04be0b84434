"""POST /api/v1/models/{model_id}/predict?environment=prod: a prediction from the environment's endpoint.

The body (application/json or text/csv, at most MAX_PREDICT_PAYLOAD_BYTES) goes to the endpoint as
it came; the answer comes back with the request's inference id, also in the X-Inference-Id header.
"""

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.observability import metrics
from cirrus_core.registry.http import ModelIdPath
from cirrus_core.registry.models import Environment
from cirrus_core.serving.inference import Prediction, PredictRequest, event_body
from cirrus_core.serving.inference_http import EnvironmentQuery, error_responses
from cirrus_core.serving.inference_wiring import inference_service

INFERENCE_ID_HEADER = "X-Inference-Id"

app = make_resolver()


@app.post(
    f"{API_PREFIX}/models/<model_id>/predict",
    tags=["serving"],
    summary="Predict with a deployed model",
    description=(
        "Sends the request body (application/json or text/csv; `Accept` picks the answer's type) to the "
        "endpoint serving the model in `environment` (InvokeModel). The answer names the version that "
        "served it and the request's inference id, the key of its data capture record. Refusals: "
        "unsupported_media_type (415), payload_too_large (413), environment_not_deployed (404), "
        "model_error (424, the container's message), endpoint_unavailable (503)."
    ),
    responses=error_responses(403, 404, 406, 415, 424, 429, 503),
)
def predict(model_id: ModelIdPath, environment: EnvironmentQuery = Environment.PROD) -> Response[Prediction]:
    # Set before anything can refuse, so the entry point's Http4xx/Http5xx counts carry them too.
    metrics.add_dimension(name="model_id", value=model_id)
    metrics.add_dimension(name="environment", value=environment.value)
    event = app.current_event
    request = PredictRequest(
        model_id=model_id,
        environment=environment,
        body=event_body(event.body, bool(event.is_base64_encoded)),
        content_type=event.headers.get("Content-Type"),
        accept=event.headers.get("Accept"),
    )
    prediction = inference_service().predict(request, request_caller(app))
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=prediction,
        headers={INFERENCE_ID_HEADER: prediction.inference_id},
    )


lambda_handler = entrypoint(app, json_body=False)
