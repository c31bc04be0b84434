"""POST /api/v1/data/training-sets: a point-in-time correct training set, as a dataset version (202)."""

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.features_wiring import feature_store
from cirrus_core.data.http import error_responses
from cirrus_core.data.training_sets import CreateTrainingSetRequest, TrainingSet
from cirrus_core.idempotency import run_idempotently
from cirrus_core.pipelines.http import IdempotencyKey

app = make_resolver()


@app.post(
    f"{API_PREFIX}/data/training-sets",
    status_code=202,
    tags=["data"],
    summary="Create a training set",
    description=(
        "`{dataset, labels: {dataset: dataset:<name>[@<version>], label_time}, feature_groups: [{group, "
        "version?, features?, max_age?, prefix?, entity_column?}], description?}`. Each label row gets, "
        "per group, the values of its entity's latest row at or before the label time (none from after "
        "it; none older than max_age). The rows become the next version of `dataset` (kind "
        "training_set) whose lineage names the label dataset version and the group versions. Unknown "
        "groups, features or datasets are 404/422 and labels without the columns 422 "
        "invalid_training_set, nothing written. Answers 202; follow it at `links.self`."
    ),
    responses=error_responses(400, 403, 404, 409, 429, success=202),
)
def create_training_set(
    request: CreateTrainingSetRequest, idempotency_key: IdempotencyKey = None
) -> Response[TrainingSet]:
    caller = request_caller(app)
    training_set = run_idempotently(
        key=idempotency_key,
        scope=f"{caller.principal.sub}:create_training_set",
        request=request,
        result_type=TrainingSet,
        operation=lambda: feature_store().create_training_set(request, caller),
    )
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=training_set)


lambda_handler = entrypoint(app, idempotent=True)
