"""Inference and batch inference on the local cloud: a real scikit-learn model behind a real (emulated)
SageMaker endpoint answers over the HTTP API, data capture lands in the CaptureBucket in SageMaker's
format, and a batch transform job writes one output line per input line.

The endpoint is made here through boto3, as a deployment would leave it (SageMaker model, endpoint
config with data capture, endpoint, and the environment's item in the serving table), so that these
tests do not depend on the deployment API.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from cirrus.client import CirrusApiError, CirrusClient
from cirrus.localcloud.cloud import LocalCloud
from tests.support.endpoints import ServedModel, serve_model, wait_for


@pytest.fixture(scope="module")
def served(local_cloud: LocalCloud, clients: dict[str, CirrusClient]) -> ServedModel:
    """An approved sklearn version served by the prod endpoint, as a deployment leaves it."""
    return serve_model(local_cloud, clients, f"it_inf_{uuid.uuid4().hex[:10]}")


def refusal(call: Any) -> CirrusApiError:
    with pytest.raises(CirrusApiError) as raised:
        call()
    return raised.value


# -- predict ------------------------------------------------------------------------------------------


def test_a_json_request_gets_the_models_real_predictions_and_an_inference_id(
    served: ServedModel, clients: dict[str, CirrusClient]
) -> None:
    prediction = clients["data_scientist"].predict(served.model_id, [[1.0, 1.0], [2.0, 0.0]])

    assert prediction.predictions == pytest.approx([6.0, 5.0])
    assert (prediction.version, prediction.environment.value) == (served.version, "prod")
    assert len(prediction.inference_id) == 32


def test_a_csv_request_gets_csv_predictions_when_it_accepts_csv(
    served: ServedModel, clients: dict[str, CirrusClient]
) -> None:
    prediction = clients["ml_engineer"].predict(
        served.model_id, "0,0\n1,2\n", content_type="text/csv", accept="text/csv"
    )

    assert prediction.content_type == "text/csv"
    assert [float(line) for line in prediction.predictions.split()] == pytest.approx([1.0, 9.0])


def test_each_prediction_is_captured_in_sagemakers_format_with_its_inference_id(
    served: ServedModel, clients: dict[str, CirrusClient], local_cloud: LocalCloud
) -> None:
    prediction = clients["ml_engineer"].predict(served.model_id, "3,1\n", content_type="text/csv")

    s3 = local_cloud.emulator.client("s3")
    bucket = local_cloud.deployment.physical_id("CaptureBucket")
    prefix = f"capture/{served.endpoint_name}/AllTraffic/"
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    records = [
        json.loads(line)
        for key in keys
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    ]
    (record,) = [r for r in records if r["eventMetadata"].get("inferenceId") == prediction.inference_id]
    assert all(key.endswith(".jsonl") for key in keys)
    assert record["eventVersion"] == "0"
    assert set(record["eventMetadata"]) == {"eventId", "inferenceId", "inferenceTime"}
    assert record["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": "3,1\n",
        "encoding": "CSV",
    }
    output = record["captureData"]["endpointOutput"]
    assert (output["mode"], output["encoding"], output["observedContentType"]) == (
        "OUTPUT",
        "JSON",
        "application/json",
    )
    assert json.loads(output["data"]) == pytest.approx([10.0])


def test_a_body_the_model_cannot_read_is_a_424_with_the_containers_message(
    served: ServedModel, clients: dict[str, CirrusClient]
) -> None:
    error = refusal(
        lambda: clients["ml_engineer"].predict(served.model_id, "abc,1\n", content_type="text/csv")
    )

    assert (error.status, error.code) == (424, "model_error")
    assert "could not convert string to float" in error.message


def test_an_oversized_body_is_refused_with_413(served: ServedModel, clients: dict[str, CirrusClient]) -> None:
    body = "1,1\n" * (5 * 1024 * 1024 // 4 + 1)

    error = refusal(lambda: clients["ml_engineer"].predict(served.model_id, body, content_type="text/csv"))

    assert (error.status, error.code) == (413, "payload_too_large")


def test_an_unsupported_content_type_is_refused_with_415(
    served: ServedModel, clients: dict[str, CirrusClient]
) -> None:
    error = refusal(lambda: clients["ml_engineer"].predict(served.model_id, "<x/>", content_type="text/xml"))

    assert (error.status, error.code) == (415, "unsupported_media_type")


def test_an_environment_without_a_deployment_is_404(
    served: ServedModel, clients: dict[str, CirrusClient]
) -> None:
    error = refusal(lambda: clients["ml_engineer"].predict(served.model_id, [[1.0, 1.0]], environment="dev"))

    assert (error.status, error.code) == (404, "environment_not_deployed")


def test_a_reviewer_may_not_predict(served: ServedModel, clients: dict[str, CirrusClient]) -> None:
    error = refusal(lambda: clients["model_reviewer"].predict(served.model_id, [[1.0, 1.0]]))

    assert (error.status, error.code) == (403, "access_denied")


# -- batch --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def batch_prefix(local_cloud: LocalCloud) -> str:
    return f"s3://{local_cloud.state.artifact_bucket}/batch-it-{uuid.uuid4().hex[:8]}"


def test_a_batch_job_writes_one_output_line_per_input_line(
    served: ServedModel, clients: dict[str, CirrusClient], local_cloud: LocalCloud, batch_prefix: str
) -> None:
    engineer = clients["ml_engineer"]
    # A second approved version of the same archive: its SageMaker model does not exist yet, so the
    # job's Prepare step has to create it.
    second = engineer.register_model(
        {
            "model_name": served.model_id,
            "model_type": "sklearn",
            "framework_version": "1.2-1",
            "training_metadata": {"dataset_version": "it"},
            "artifact_location": served.artifact_location,
        }
    )
    clients["model_reviewer"].approve(served.model_id, second.version, "fine")
    rows = [(a, b) for a in range(5) for b in range(3)]
    bucket = local_cloud.state.artifact_bucket
    input_key = f"{batch_prefix.removeprefix(f's3://{bucket}/')}/input/data.csv"
    s3 = local_cloud.emulator.client("s3")
    s3.put_object(Bucket=bucket, Key=input_key, Body="".join(f"{a},{b}\n" for a, b in rows).encode())

    job = engineer.start_batch_job(
        served.model_id,
        version=second.version,
        input_uri=f"{batch_prefix}/input/",
        output_uri=f"{batch_prefix}/output/",
    )
    finished = wait_for(
        lambda: engineer.get_batch_job(served.model_id, job.job_id),
        lambda current: current.status != "in_progress",
    )

    assert finished.status == "succeeded", finished.failure_reason
    output_key = f"{batch_prefix.removeprefix(f's3://{bucket}/')}/output/data.csv.out"
    lines = s3.get_object(Bucket=bucket, Key=output_key)["Body"].read().decode().splitlines()
    assert len(lines) == len(rows)
    assert [json.loads(line) for line in lines] == [pytest.approx([2 * a + 3 * b + 1]) for a, b in rows]
    listed = engineer.list_batch_jobs(served.model_id)
    assert [item.job_id for item in listed.items] == [job.job_id]


def test_batch_uris_outside_the_artifact_buckets_are_refused_with_422(
    served: ServedModel, clients: dict[str, CirrusClient], batch_prefix: str
) -> None:
    error = refusal(
        lambda: clients["ml_engineer"].start_batch_job(
            served.model_id,
            version=served.version,
            input_uri="s3://somebody-elses-bucket/data/",
            output_uri=f"{batch_prefix}/output/",
        )
    )

    assert (error.status, error.code) == (422, "invalid_batch_uri")
    assert error.details[0]["field"] == "input_uri"


def test_a_batch_job_of_an_unapproved_version_is_refused_with_409(
    served: ServedModel, clients: dict[str, CirrusClient], batch_prefix: str
) -> None:
    engineer = clients["ml_engineer"]
    pending = engineer.register_model(
        {
            "model_name": served.model_id,
            "model_type": "sklearn",
            "framework_version": "1.2-1",
            "training_metadata": {"dataset_version": "it"},
            "artifact_location": served.artifact_location,
        }
    )

    error = refusal(
        lambda: engineer.start_batch_job(
            served.model_id,
            version=pending.version,
            input_uri=f"{batch_prefix}/input/",
            output_uri=f"{batch_prefix}/output/",
        )
    )

    assert (error.status, error.code) == (409, "version_not_approved")
