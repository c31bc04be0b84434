"""GET /api/v1/data/training-sets/{training_set_id}: a training set, its status and its dataset version."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.features_wiring import feature_store
from cirrus_core.data.http import JobIdPath, error_responses
from cirrus_core.data.training_sets import TrainingSet

app = make_resolver()


@app.get(
    f"{API_PREFIX}/data/training-sets/<training_set_id>",
    tags=["data"],
    summary="Get a training set",
    description="What it joins (the label dataset version, the group versions and features), and once "
    "ready the dataset version holding its rows (`links.version`).",
    responses=error_responses(403, 404, 429),
)
def get_training_set(training_set_id: JobIdPath) -> TrainingSet:
    return feature_store().get_training_set(training_set_id, request_caller(app))


lambda_handler = entrypoint(app)
