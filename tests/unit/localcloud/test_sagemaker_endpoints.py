"""The sagemaker_endpoints hook: InvokeEndpoint runs the model's inference script."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.sagemaker.models import sagemaker_backends

from tests.unit.localcloud.helpers import unique
from tests.unit.localcloud.sagemaker_support import SageMakerWorld, tarball, untar

ACCOUNT = "123456789012"
CSV_AND_JSON = {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]}
CAPTURE_KEY = re.compile(r"\d{4}/\d{2}/\d{2}/\d{2}/\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl")


def _endpoint(
    world: SageMakerWorld,
    variants: list[dict[str, Any]],
    capture: dict[str, Any] | None = None,
) -> str:
    name = unique("endpoint")
    config: dict[str, Any] = {"EndpointConfigName": name, "ProductionVariants": variants}
    if capture is not None:
        config["DataCaptureConfig"] = capture
    world.sagemaker.create_endpoint_config(**config)
    world.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    return name


def _variant(model: str, name: str = "AllTraffic", weight: float = 1.0) -> dict[str, Any]:
    return {
        "VariantName": name,
        "ModelName": model,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
        "InitialVariantWeight": weight,
    }


def _predict(world: SageMakerWorld, endpoint: str, body: bytes = b"1\n2", **kwargs: Any) -> Any:
    response = world.runtime.invoke_endpoint(
        EndpointName=endpoint, Body=body, ContentType="text/csv", **kwargs
    )
    return json.loads(response["Body"].read())


def _capture(world: SageMakerWorld, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    return [(key, json.loads(world.get(key))) for key in world.keys(prefix)]


def test_an_endpoint_serves_the_model_a_training_job_produced(sagemaker_world: SageMakerWorld) -> None:
    job = sagemaker_world.wait_training(sagemaker_world.start_training("train.py"))
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    model = sagemaker_world.create_model(
        unique("trained"),
        artifact,
        # The inference code from the sourcedir in S3, as the SageMaker Python SDK deploys it.
        {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": sagemaker_world.sourcedir},
    )
    endpoint = _endpoint(sagemaker_world, [_variant(model)])

    response = sagemaker_world.runtime.invoke_endpoint(
        EndpointName=endpoint, Body=b"4\n10", ContentType="text/csv", Accept="application/json"
    )

    trained = json.loads(untar(sagemaker_world.get(artifact.split("/", 3)[3]))["model.json"])
    assert json.loads(response["Body"].read()) == pytest.approx(
        [trained["a"] * 4 + trained["b"], trained["a"] * 10 + trained["b"]]
    )
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"


def test_json_requests_and_csv_answers_use_the_default_handlers(sagemaker_world: SageMakerWorld) -> None:
    endpoint = _endpoint(sagemaker_world, [_variant(sagemaker_world.linear_model(3.0, -1.0))])

    response = sagemaker_world.runtime.invoke_endpoint(
        EndpointName=endpoint, Body=b"[[1], [2]]", ContentType="application/json", Accept="text/csv"
    )

    assert response["Body"].read() == b"2.0\n5.0"
    assert response["ContentType"] == "text/csv"


def test_a_missing_endpoint_is_a_validation_error(sagemaker_world: SageMakerWorld) -> None:
    with pytest.raises(ClientError) as refused:
        sagemaker_world.runtime.invoke_endpoint(EndpointName="no-such-endpoint", Body=b"1")

    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Code"] == "ValidationError"
    assert error["Error"]["Message"] == f"Endpoint no-such-endpoint of account {ACCOUNT} not found."


def test_a_failing_script_is_a_model_error(sagemaker_world: SageMakerWorld) -> None:
    model = sagemaker_world.linear_model(2.0, 1.0, program="broken_inference.py")
    endpoint = _endpoint(sagemaker_world, [_variant(model)])
    assert _predict(sagemaker_world, endpoint, b"1") == [3.0]

    with pytest.raises(ClientError) as refused:
        _predict(sagemaker_world, endpoint, b"-1")

    error: dict[str, Any] = dict(refused.value.response)  # ModelError's own fields are not in the stubs
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["Error"]["Code"] == "ModelError"
    assert error["OriginalStatusCode"] == 500
    assert error["OriginalMessage"] == "ValueError: negative sizes are not supported"
    assert "negative sizes are not supported" in error["Error"]["Message"]


def test_an_unsupported_content_type_is_the_containers_415(sagemaker_world: SageMakerWorld) -> None:
    endpoint = _endpoint(sagemaker_world, [_variant(sagemaker_world.linear_model(2.0, 1.0))])

    with pytest.raises(ClientError) as refused:
        sagemaker_world.runtime.invoke_endpoint(
            EndpointName=endpoint, Body=b"\x93NUMPY\x00\xff", ContentType="application/x-npy"
        )

    error: dict[str, Any] = dict(refused.value.response)
    assert error["Error"]["Code"] == "ModelError"
    assert error["OriginalStatusCode"] == 415


def test_an_endpoint_not_in_service_is_refused(sagemaker_world: SageMakerWorld) -> None:
    endpoint = _endpoint(sagemaker_world, [_variant(sagemaker_world.linear_model(2.0, 1.0))])
    # moto reports endpoints InService at once; put this one back to Creating.
    sagemaker_backends[ACCOUNT]["us-east-1"].endpoints[endpoint].endpoint_status = "Creating"

    with pytest.raises(ClientError) as refused:
        _predict(sagemaker_world, endpoint)

    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert "Creating" in refused.value.response["Error"]["Message"]


def test_an_endpoint_being_updated_still_serves(sagemaker_world: SageMakerWorld) -> None:
    endpoint = _endpoint(sagemaker_world, [_variant(sagemaker_world.linear_model(2.0, 1.0))])
    sagemaker_backends[ACCOUNT]["us-east-1"].endpoints[endpoint].endpoint_status = "Updating"

    assert _predict(sagemaker_world, endpoint, b"1") == [3.0]


def test_requests_follow_the_target_variant_else_the_weights(sagemaker_world: SageMakerWorld) -> None:
    small = sagemaker_world.linear_model(1.0, 0.0)
    large = sagemaker_world.linear_model(100.0, 0.0)
    endpoint = _endpoint(sagemaker_world, [_variant(small, "Small", 1.0), _variant(large, "Large", 0.0)])

    untargeted = [_predict(sagemaker_world, endpoint, b"2") for _ in range(5)]
    targeted = sagemaker_world.runtime.invoke_endpoint(
        EndpointName=endpoint, Body=b"2", ContentType="text/csv", TargetVariant="Large"
    )

    assert untargeted == [[2.0]] * 5  # weight 0 gets no traffic
    assert json.loads(targeted["Body"].read()) == [200.0]
    assert targeted["InvokedProductionVariant"] == "Large"


def test_a_serverless_variant_serves_alike(sagemaker_world: SageMakerWorld) -> None:
    model = sagemaker_world.linear_model(2.0, 1.0)
    variant = {
        "VariantName": "Serverless",
        "ModelName": model,
        "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
    }
    endpoint = _endpoint(sagemaker_world, [variant])

    assert _predict(sagemaker_world, endpoint, b"5") == [11.0]


def test_a_model_loads_once_and_again_when_its_artifact_changes(sagemaker_world: SageMakerWorld) -> None:
    model = sagemaker_world.linear_model(2.0, 1.0)
    endpoint = _endpoint(sagemaker_world, [_variant(model)])
    work_dir = sagemaker_world.emulator.work_dir / "sagemaker" / "endpoints"

    def model_fn_calls() -> int:
        return sum(
            len(path.read_text().splitlines()) for path in work_dir.rglob(f"{model}/*/model/model_fn.calls")
        )

    assert [_predict(sagemaker_world, endpoint, b"1") for _ in range(3)] == [[3.0]] * 3
    assert model_fn_calls() == 1

    # Same model name, new model.tar.gz (new ETag): the endpoint loads the new one.
    archive = untar(sagemaker_world.get(f"models/{model}/model.tar.gz"))
    archive["model.json"] = json.dumps({"a": 5.0, "b": 0.0}).encode()
    sagemaker_world.put(f"models/{model}/model.tar.gz", tarball(archive))

    assert _predict(sagemaker_world, endpoint, b"1") == [5.0]
    assert model_fn_calls() == 2


def test_data_capture_writes_sagemaker_capture_lines(sagemaker_world: SageMakerWorld) -> None:
    prefix = f"capture/{unique('run')}"
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": sagemaker_world.uri(prefix),
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": CSV_AND_JSON,
    }
    endpoint = _endpoint(sagemaker_world, [_variant(sagemaker_world.linear_model(2.0, 1.0))], capture)

    _predict(sagemaker_world, endpoint, b"1\n2", InferenceId="request-42")
    _predict(sagemaker_world, endpoint, b"3")

    captured = _capture(sagemaker_world, f"{prefix}/{endpoint}/AllTraffic/")
    assert len(captured) == 2
    for key, _ in captured:
        assert CAPTURE_KEY.fullmatch(key.removeprefix(f"{prefix}/{endpoint}/AllTraffic/")), key
    lines = sorted(
        (line for _, line in captured), key=lambda line: line["captureData"]["endpointInput"]["data"]
    )
    first = lines[0]
    assert first["captureData"] == {
        "endpointInput": {
            "observedContentType": "text/csv",
            "mode": "INPUT",
            "data": "1\n2",
            "encoding": "CSV",
        },
        "endpointOutput": {
            "observedContentType": "application/json",
            "mode": "OUTPUT",
            "data": "[3.0, 5.0]",
            "encoding": "JSON",
        },
    }
    assert first["eventVersion"] == "0"
    assert first["eventMetadata"]["inferenceId"] == "request-42"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", first["eventMetadata"]["inferenceTime"])
    assert "inferenceId" not in lines[1]["eventMetadata"]
    assert lines[0]["eventMetadata"]["eventId"] != lines[1]["eventMetadata"]["eventId"]


def test_data_capture_honours_capture_options_and_encodes_other_types_base64(
    sagemaker_world: SageMakerWorld,
) -> None:
    prefix = f"capture/{unique('run')}"
    capture = {
        "InitialSamplingPercentage": 100,  # EnableCapture defaults to true
        "DestinationS3Uri": sagemaker_world.uri(prefix),
        "CaptureOptions": [{"CaptureMode": "Input"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
    }
    endpoint = _endpoint(sagemaker_world, [_variant(sagemaker_world.linear_model(2.0, 1.0))], capture)

    _predict(sagemaker_world, endpoint, b"7")

    [(_, line)] = _capture(sagemaker_world, f"{prefix}/{endpoint}/")
    assert line["captureData"] == {
        "endpointInput": {
            "observedContentType": "text/csv",
            "mode": "INPUT",
            "data": base64.b64encode(b"7").decode(),
            "encoding": "BASE64",
        }
    }


def test_data_capture_samples_and_can_be_disabled(sagemaker_world: SageMakerWorld) -> None:
    model = sagemaker_world.linear_model(2.0, 1.0)
    prefix = f"capture/{unique('run')}"
    base = {
        "DestinationS3Uri": sagemaker_world.uri(prefix),
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    }
    never = _endpoint(sagemaker_world, [_variant(model)], {**base, "InitialSamplingPercentage": 0})
    disabled = _endpoint(
        sagemaker_world, [_variant(model)], {**base, "EnableCapture": False, "InitialSamplingPercentage": 100}
    )

    for endpoint in (never, disabled):
        assert _predict(sagemaker_world, endpoint, b"1") == [3.0]

    # Capture is written before InvokeEndpoint returns, so nothing now means nothing ever.
    assert sagemaker_world.keys(f"{prefix}/") == []
