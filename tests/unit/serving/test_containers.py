"""Which container serves a version, and its SageMaker model (docs/serving.md, "The version's container")."""

from __future__ import annotations

import json

import boto3
import pytest

from cirrus_core.errors import UnservableVersion
from cirrus_core.registry.wiring import registry_service
from cirrus_core.serving.deployment_wiring import serving_containers
from tests.support.authz import caller
from tests.support.aws import ARTIFACT_BUCKET, AwsResources
from tests.support.registry import MODEL_ID
from tests.unit.serving.support import ARTIFACT, Serving, archive

XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
TRAINING_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def _version(number: int = 1):  # type: ignore[no-untyped-def]
    return registry_service().get_version(MODEL_ID, number, caller("ml_engineer"))


def _training_job(name: str, hyperparameters: dict[str, str]) -> None:
    boto3.client("sagemaker", region_name="us-east-1").create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": TRAINING_IMAGE, "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/cirrus-test-sagemaker",
        HyperParameters=hyperparameters,
        OutputDataConfig={"S3OutputPath": f"s3://{ARTIFACT_BUCKET}/pipelines/out/"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )


def test_a_version_with_its_own_inference_script_serves_on_its_model_type_s_image(serving: Serving) -> None:
    serving.register()

    container = serving_containers().resolve(_version())

    assert container.image == XGBOOST_IMAGE
    assert container.model_data_url == ARTIFACT
    assert container.environment == {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    }


def test_a_pipeline_trained_version_serves_with_its_training_job_s_image_and_script(serving: Serving) -> None:
    _training_job(
        "training-train-1",
        {
            "sagemaker_program": json.dumps("train.py"),
            "sagemaker_submit_directory": json.dumps("s3://bucket/recipes/sklearn/sourcedir.tar.gz"),
            "sagemaker_region": json.dumps("us-east-1"),
            "max_depth": "6",
        },
    )
    serving.register(training_job_name="training-train-1")

    container = serving_containers().resolve(_version())

    assert container.image == TRAINING_IMAGE
    assert container.environment == {
        "SAGEMAKER_PROGRAM": "train.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "s3://bucket/recipes/sklearn/sourcedir.tar.gz",
        "SAGEMAKER_REGION": "us-east-1",
    }


def test_a_training_job_that_is_gone_makes_the_version_unservable(serving: Serving) -> None:
    serving.register(training_job_name="training-gone-1")

    with pytest.raises(UnservableVersion) as refused:
        serving_containers().resolve(_version())

    assert refused.value.details[0]["reason"] == "training_job_missing"


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({"model.json": b"{}"}, "no_inference_script"),
        ({"code/other.py": b""}, "no_inference_script"),
    ],
)
def test_an_archive_without_code_inference_py_is_unservable(
    serving: Serving, aws: AwsResources, files: dict[str, bytes], reason: str
) -> None:
    aws.s3.put_object(Bucket=ARTIFACT_BUCKET, Key="models/bare/model.tar.gz", Body=archive(files))
    serving.register(artifact_location=f"s3://{ARTIFACT_BUCKET}/models/bare/model.tar.gz")

    with pytest.raises(UnservableVersion) as refused:
        serving_containers().resolve(_version())

    assert refused.value.details[0]["reason"] == reason


def test_an_artifact_that_is_not_an_archive_is_unservable(serving: Serving, aws: AwsResources) -> None:
    aws.s3.put_object(Bucket=ARTIFACT_BUCKET, Key="models/text/model.tar.gz", Body=b"not a tarball")
    serving.register(artifact_location=f"s3://{ARTIFACT_BUCKET}/models/text/model.tar.gz")

    with pytest.raises(UnservableVersion) as refused:
        serving_containers().resolve(_version())

    assert refused.value.details[0]["reason"] == "artifact_not_an_archive"


def test_a_missing_artifact_is_unservable(serving: Serving) -> None:
    serving.register(artifact_location=f"s3://{ARTIFACT_BUCKET}/models/nowhere/model.tar.gz")

    with pytest.raises(UnservableVersion) as refused:
        serving_containers().resolve(_version())

    assert refused.value.details[0]["reason"] == "artifact_unreadable"


def test_a_model_type_without_a_serving_image_is_unservable(serving: Serving) -> None:
    serving.register(model_type="pytorch")

    with pytest.raises(UnservableVersion) as refused:
        serving_containers().resolve(_version())

    assert refused.value.details[0]["reason"] == "no_serving_image"


def test_ensure_model_creates_the_version_s_model_once_with_the_sagemaker_role(serving: Serving) -> None:
    serving.register()
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")

    first = serving_containers().ensure_model(_version())
    second = serving_containers().ensure_model(_version())

    assert first == second == "fraud-detection-v2-v1"
    model = sagemaker.describe_model(ModelName=first)
    assert model["ExecutionRoleArn"] == "arn:aws:iam::123456789012:role/cirrus-test-sagemaker"
    assert model["PrimaryContainer"]["ModelDataUrl"] == ARTIFACT
    assert len(sagemaker.list_models()["Models"]) == 1
