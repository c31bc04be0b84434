"""GET /api/v1/data/transformations/{name}: a declared transformation."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.http import TransformationNamePath, error_responses
from cirrus_core.data.transformations import Transformation
from cirrus_core.data.transformations_wiring import transformation_service

app = make_resolver()


@app.get(
    f"{API_PREFIX}/data/transformations/<name>",
    tags=["data"],
    summary="Get a transformation",
    description=(
        "Its inputs, output, runtime, SQL or processor call or stored module (its key and digest), "
        "parameters, code hash and revision (data_access)."
    ),
    responses=error_responses(403, 404, 429),
)
def get_transformation(name: TransformationNamePath) -> Transformation:
    return transformation_service().get(name, request_caller(app))


lambda_handler = entrypoint(app)
