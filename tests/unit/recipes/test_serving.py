"""The recipes' inference handlers, loaded the way the local cloud's endpoints and batch transform
load a SageMaker model: model.tar.gz with its code in `code/` (SAGEMAKER_SUBMIT_DIRECTORY
/opt/ml/model/code) or the sourcedir on S3, then input_fn -> predict_fn -> output_fn."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cirrus.localcloud.sagemaker_inference import (
    ContainerDefinition,
    InferenceError,
    InferenceModel,
    load_inference_model,
    unload,
)
from tests.unit.localcloud.helpers import unique
from tests.unit.localcloud.sagemaker_support import SKLEARN_IMAGE, wait_until
from tests.unit.recipes.conftest import PipelineRun
from tests.unit.recipes.support import ROLE_ARN

SELF_SERVING = {"SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
JSON = "application/json"
CSV = "text/csv"


@pytest.fixture(scope="module")
def served(
    trained: PipelineRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, InferenceModel]]:
    """The trained models loaded as an endpoint loads them, by step id."""
    models = {
        step_id: load_inference_model(
            trained.world.s3,
            ContainerDefinition(trained.world.model_uri(trained.jobs[step_id]), SELF_SERVING),
            tmp_path_factory.mktemp(step_id),
        )
        for step_id in ("sk_clf", "xgb_clf", "xgb_reg")
    }
    yield models
    for model in models.values():
        unload(model)


def _test_rows(trained: PipelineRun, step_id: str, count: int = 5) -> pd.DataFrame:
    return trained.world.frame(f"{trained.output(step_id)}test.csv").drop(columns=["label"]).head(count)


def _json(model: InferenceModel, payload: Any, accept: str = JSON) -> Any:
    result = model.invoke(json.dumps(payload).encode(), JSON, accept)
    assert result.content_type == JSON
    return json.loads(result.body)


def test_json_rows_in_feature_order_get_labels_and_probabilities(
    trained: PipelineRun, served: dict[str, InferenceModel]
) -> None:
    rows = _test_rows(trained, "feat_clf").to_numpy().tolist()

    answer = _json(served["sk_clf"], {"instances": rows})

    assert answer["classes"] == [0, 1]
    assert len(answer["predictions"]) == len(rows)
    assert set(answer["predictions"]) <= {0, 1}
    for label, shares in zip(answer["predictions"], answer["probabilities"], strict=True):
        assert sum(shares) == pytest.approx(1.0)
        assert label == answer["classes"][shares.index(max(shares))]


def test_json_records_and_a_single_record_are_answered_alike(
    trained: PipelineRun, served: dict[str, InferenceModel]
) -> None:
    # GIVEN records of the two-channel XGBoost model: engineered columns and raw text columns
    loaded: Any = served["xgb_clf"].model
    features = loaded.metadata["feature_columns"]
    engineered = trained.world.frame(f"{trained.output('feat_clf')}test.csv").head(3)
    raw = trained.world.frame(f"{trained.output('prep_clf')}test.csv").head(3)
    records = pd.concat([engineered.drop(columns=["label"]), raw.drop(columns=["label"])], axis=1)
    records = records[features].to_dict(orient="records")

    # WHEN they are sent as a list of records, and the first one alone
    many = _json(served["xgb_clf"], records)
    one = _json(served["xgb_clf"], records[0])

    # THEN the single record's answer is the list's first
    assert len(many["predictions"]) == 3
    assert one["predictions"] == many["predictions"][:1]
    assert one["probabilities"][0] == pytest.approx(many["probabilities"][0])
    assert isinstance(records[0]["channel"], str)


def test_csv_rows_in_csv_lines_out(trained: PipelineRun, served: dict[str, InferenceModel]) -> None:
    rows = _test_rows(trained, "feat_clf", 4)
    body = rows.to_csv(header=False, index=False).encode()

    result = served["sk_clf"].invoke(body, CSV, CSV)
    expected = _json(served["sk_clf"], {"instances": rows.to_numpy().tolist()})

    assert result.content_type == CSV
    lines = list(csv.reader(io.StringIO(result.body.decode())))
    assert [int(line[0]) for line in lines] == expected["predictions"]
    shares = [float(value) for line in lines for value in line[1:]]
    assert shares == pytest.approx([share for row in expected["probabilities"] for share in row])


def test_a_csv_header_row_is_skipped(trained: PipelineRun, served: dict[str, InferenceModel]) -> None:
    rows = _test_rows(trained, "feat_clf", 2)

    with_header = served["sk_clf"].invoke(rows.to_csv(index=False).encode(), CSV, JSON)
    without = served["sk_clf"].invoke(rows.to_csv(header=False, index=False).encode(), CSV, JSON)

    headed, bare = json.loads(with_header.body), json.loads(without.body)
    assert headed["predictions"] == bare["predictions"]
    # A forest sums its trees' votes in parallel: the order, and so the last bits, may differ.
    assert headed["probabilities"] == [pytest.approx(row, abs=1e-12) for row in bare["probabilities"]]


def test_a_regressor_answers_numbers_only(trained: PipelineRun, served: dict[str, InferenceModel]) -> None:
    rows = _test_rows(trained, "prep_reg", 3)

    answer = _json(served["xgb_reg"], {"instances": rows.to_dict(orient="records")})

    assert set(answer) == {"predictions"}
    assert all(isinstance(value, float) and 0 <= value <= 110 for value in answer["predictions"])


def test_a_record_without_a_feature_is_a_client_error(
    trained: PipelineRun, served: dict[str, InferenceModel]
) -> None:
    record = _test_rows(trained, "prep_reg", 1).to_dict(orient="records")[0]
    del record["amount"]

    with pytest.raises(InferenceError) as refused:
        served["xgb_reg"].invoke(json.dumps(record).encode(), JSON, JSON)

    assert refused.value.status_code == 400
    # the model's feature columns are preprocess's own: the record is taken as a raw one
    assert "record 0 lacks raw columns: amount" in refused.value.message


def test_text_in_a_numeric_column_is_a_client_error(
    trained: PipelineRun, served: dict[str, InferenceModel]
) -> None:
    record = _test_rows(trained, "prep_reg", 1).to_dict(orient="records")[0]
    record["amount"] = "lots"

    with pytest.raises(InferenceError) as refused:
        served["xgb_reg"].invoke(json.dumps(record).encode(), JSON, JSON)

    assert refused.value.status_code == 400
    assert "column amount takes numbers, not 'lots'" in refused.value.message


@pytest.mark.parametrize(
    ("content_type", "accept", "status"), [("application/x-npy", JSON, 415), (JSON, "application/xml", 406)]
)
def test_unsupported_formats_are_refused(
    trained: PipelineRun, served: dict[str, InferenceModel], content_type: str, accept: str, status: int
) -> None:
    body = json.dumps(_test_rows(trained, "feat_clf", 1).to_numpy().tolist()).encode()

    with pytest.raises(InferenceError) as refused:
        served["sk_clf"].invoke(body, content_type, accept)

    assert refused.value.status_code == status


def test_the_sourcedir_on_s3_serves_the_model_too(trained: PipelineRun, tmp_path: Path) -> None:
    definition = ContainerDefinition(
        trained.world.model_uri(trained.jobs["xgb_reg"]),
        {
            "SAGEMAKER_PROGRAM": "train.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": trained.world.uri("recipes/xgboost/sourcedir.tar.gz"),
        },
    )
    model = load_inference_model(trained.world.s3, definition, tmp_path)
    try:
        answer = model.invoke(
            _test_rows(trained, "prep_reg", 2).to_csv(header=False, index=False).encode(), CSV, JSON
        )
    finally:
        unload(model)

    assert len(json.loads(answer.body)["predictions"]) == 2


def test_a_batch_transform_job_predicts_every_line(trained: PipelineRun) -> None:
    # GIVEN a SageMaker model of the sklearn classifier and the test rows as header-less CSV
    world = trained.world
    name = unique("fraud-model")
    world.sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={
            "Image": SKLEARN_IMAGE,
            "ModelDataUrl": world.model_uri(trained.jobs["sk_clf"]),
            "Environment": SELF_SERVING,
        },
    )
    rows = _test_rows(trained, "feat_clf", 25)
    world.put(f"batch/{name}/in/test.csv", rows.to_csv(header=False, index=False).encode())

    # WHEN a transform job runs over it, line by line
    world.sagemaker.create_transform_job(
        TransformJobName=name,
        ModelName=name,
        TransformInput={
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": world.uri(f"batch/{name}/in/")}
            },
            "ContentType": CSV,
            "SplitType": "Line",
        },
        TransformOutput={
            "S3OutputPath": world.uri(f"batch/{name}/out"),
            "Accept": CSV,
            "AssembleWith": "Line",
        },
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    described = wait_until(
        lambda: world.sagemaker.describe_transform_job(TransformJobName=name),
        lambda described: described["TransformJobStatus"] in {"Completed", "Failed", "Stopped"},
    )

    # THEN every row has its label and probabilities
    assert described["TransformJobStatus"] == "Completed", described.get("FailureReason")
    lines = world.get(world.uri(f"batch/{name}/out/test.csv.out")).decode().splitlines()
    assert len(lines) == len(rows)
    assert all(line.split(",")[0] in {"0", "1"} and len(line.split(",")) == 3 for line in lines)
