"""Deployments on the local cloud: the real state machine, real endpoints loading real scikit-learn
models, real predictions, roll backs that keep the previous version answering."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import joblib
import pytest
from sklearn.linear_model import LinearRegression

from cirrus.client import CirrusApiError, CirrusClient
from cirrus.localcloud.cloud import LocalCloud
from cirrus_core.serving.deployment_models import Deployment, DeploymentStatus
from tests.integration.conftest import EventTap
from tests.support.events import assert_valid_event

DEPLOY_TIMEOUT_SECONDS = 60
INFERENCE = """
import os

import joblib


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
"""
BROKEN_INFERENCE = (
    INFERENCE
    + """

def predict_fn(data, model):
    raise RuntimeError("this version cannot predict")
"""
)
SAMPLES = [{"content_type": "text/csv", "body": "3"}, {"content_type": "application/json", "body": "[[1.5]]"}]


def model_archive(slope: float, intercept: float, inference: str = INFERENCE) -> bytes:
    """model.tar.gz of y = slope * x + intercept, with its own code/inference.py (SageMaker's convention)."""
    model = LinearRegression().fit(
        [[0.0], [1.0], [2.0]], [intercept, slope + intercept, 2 * slope + intercept]
    )
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, data in (("model.joblib", buffer.getvalue()), ("code/inference.py", inference.encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive.getvalue()


@dataclass
class Models:
    """Registers versions of one model, as its engineer, approved by a reviewer."""

    cloud: LocalCloud
    clients: dict[str, CirrusClient]
    model_id: str = field(default_factory=lambda: f"it_dep_{uuid.uuid4().hex[:10]}")

    def register(
        self,
        slope: float,
        intercept: float,
        *,
        inference: str = INFERENCE,
        samples_file: bool = False,
        approve: bool = True,
    ) -> int:
        s3 = self.cloud.emulator.client("s3")
        bucket = self.cloud.state.artifact_bucket
        key = f"models/{self.model_id}/{uuid.uuid4().hex[:8]}/model.tar.gz"
        s3.put_object(Bucket=bucket, Key=key, Body=model_archive(slope, intercept, inference))
        extra: dict[str, Any] = {}
        if samples_file:
            samples_key = key.replace("model.tar.gz", "samples.jsonl")
            body = "\n".join(json.dumps(sample) for sample in SAMPLES)
            s3.put_object(Bucket=bucket, Key=samples_key, Body=body.encode())
            extra["sample_payloads_uri"] = f"s3://{bucket}/{samples_key}"
        version = self.clients["ml_engineer"].register_model(
            {
                "model_name": self.model_id,
                "model_type": "sklearn",
                "framework_version": "1.2-1",
                "training_metadata": {"dataset_version": "linear-1"},
                "artifact_location": f"s3://{bucket}/{key}",
                **extra,
            }
        )
        if approve:
            self.clients["model_reviewer"].approve(self.model_id, version.version, "fits the line")
        return version.version

    def deploy(self, version: int, environment: str, **options: Any) -> Deployment:
        started = self.clients["ml_engineer"].deploy(self.model_id, version, environment, **options)
        return self.wait(started.deployment_id)

    def wait(self, deployment_id: str) -> Deployment:
        deadline = time.monotonic() + DEPLOY_TIMEOUT_SECONDS
        while True:
            deployment = self.clients["ml_engineer"].get_deployment(self.model_id, deployment_id)
            if deployment.status is not DeploymentStatus.IN_PROGRESS:
                return deployment
            if time.monotonic() > deadline:
                raise AssertionError(f"deployment still running: {deployment.model_dump_json(indent=1)}")
            time.sleep(0.2)

    def predict(self, endpoint_name: str, x: float) -> float:
        runtime = self.cloud.emulator.client("sagemaker-runtime")
        response = runtime.invoke_endpoint(
            EndpointName=endpoint_name, ContentType="text/csv", Body=f"{x}".encode()
        )
        [value] = json.loads(response["Body"].read())
        return float(value)


@pytest.fixture(scope="module")
def served(local_cloud: LocalCloud, clients: dict[str, CirrusClient]) -> tuple[Models, Deployment]:
    """One model whose version 1 (y = 2x + 1) serves staging; tests deploying it further use other models."""
    models = Models(local_cloud, clients)
    version = models.register(2.0, 1.0, samples_file=True)
    return models, models.deploy(version, "staging")


def refusal(call: Any) -> CirrusApiError:
    with pytest.raises(CirrusApiError) as caught:
        call()
    return caught.value


# -- deploying ------------------------------------------------------------------------------------


def test_an_approved_version_deploys_and_serves_real_predictions(served: tuple[Models, Deployment]) -> None:
    models, deployment = served

    assert deployment.status is DeploymentStatus.SUCCEEDED, deployment.cause
    assert deployment.endpoint_name
    assert models.predict(deployment.endpoint_name, 3.0) == pytest.approx(7.0)
    assert [entry.step for entry in deployment.history][-1] == "Mark deployed"


def test_a_deployment_moves_the_alias_and_records_the_environment(served: tuple[Models, Deployment]) -> None:
    models, deployment = served
    engineer = models.clients["ml_engineer"]

    listing = engineer.list_deployments(models.model_id)

    assert engineer.get_model(models.model_id).aliases == {"staging": 1}
    [environment] = listing.environments
    assert (environment.environment.value, environment.status.value, environment.version) == (
        "staging",
        "deployed",
        1,
    )
    assert environment.endpoint_name == deployment.endpoint_name
    assert [item.deployment_id for item in listing.items] == [deployment.deployment_id]


def test_an_unapproved_version_is_refused_and_nothing_is_deployed(
    local_cloud: LocalCloud, clients: dict[str, CirrusClient]
) -> None:
    models = Models(local_cloud, clients)
    version = models.register(1.0, 0.0, approve=False)

    refused = refusal(
        lambda: clients["ml_engineer"].deploy(models.model_id, version, "dev", sample_payloads=SAMPLES)
    )

    assert (refused.status, refused.code) == (409, "version_not_approved")
    assert clients["ml_engineer"].list_deployments(models.model_id).items == []


def test_a_data_scientist_may_not_deploy(served: tuple[Models, Deployment]) -> None:
    models, _ = served

    refused = refusal(lambda: models.clients["data_scientist"].deploy(models.model_id, 1, "dev"))

    assert (refused.status, refused.code) == (403, "access_denied")


def test_a_version_whose_inference_raises_rolls_back_while_the_previous_one_keeps_answering(
    local_cloud: LocalCloud, clients: dict[str, CirrusClient], event_tap: EventTap
) -> None:
    models = Models(local_cloud, clients)
    good = models.deploy(models.register(2.0, 1.0), "prod", sample_payloads=SAMPLES)
    assert good.endpoint_name
    broken = models.register(5.0, 0.0, inference=BROKEN_INFERENCE)
    answers: list[float] = []
    failures: list[str] = []
    stop = threading.Event()

    def keep_predicting() -> None:
        while not stop.is_set():
            try:
                answers.append(models.predict(str(good.endpoint_name), 3.0))
            except Exception as error:  # every failure is the finding
                failures.append(repr(error))
            stop.wait(0.05)  # a steady caller, not a flood competing with the emulator for the GIL

    event_tap.drain()
    caller = threading.Thread(target=keep_predicting, daemon=True)
    caller.start()
    try:
        failed = models.deploy(broken, "prod", sample_payloads=SAMPLES)
        for _ in range(20):
            answers.append(models.predict(str(good.endpoint_name), 3.0))
    finally:
        stop.set()
        caller.join()

    assert failures == []
    assert len(answers) >= 20
    assert all(answer == pytest.approx(7.0) for answer in answers)
    assert failed.status is DeploymentStatus.ROLLED_BACK
    assert failed.failed_step == "Smoke test candidate"
    assert "this version cannot predict" in str(failed.cause)
    assert clients["ml_engineer"].get_model(models.model_id).aliases == {"prod": 1}
    events = {
        event["detail-type"]: event
        for event in event_tap.drain()
        if event["detail"]["data"].get("deployment_id") == failed.deployment_id
    }
    assert {"model.deployment_failed", "model.rolled_back"} <= set(events)
    for event in events.values():
        assert_valid_event(event)
    assert events["model.rolled_back"]["detail"]["data"]["to_version"] == 1


def test_updating_to_a_newer_version_switches_the_answers(
    local_cloud: LocalCloud, clients: dict[str, CirrusClient], event_tap: EventTap
) -> None:
    models = Models(local_cloud, clients)
    first = models.deploy(models.register(2.0, 1.0), "dev", sample_payloads=SAMPLES)
    event_tap.drain()

    second = models.deploy(models.register(10.0, 0.0), "dev", sample_payloads=SAMPLES)

    assert second.status is DeploymentStatus.SUCCEEDED, second.cause
    assert second.endpoint_name == first.endpoint_name
    assert second.previous_version == 1
    assert models.predict(str(second.endpoint_name), 3.0) == pytest.approx(30.0)
    assert clients["ml_engineer"].get_model(models.model_id).aliases == {"dev": 2}
    [deployed] = [
        event
        for event in event_tap.drain()
        if event["detail-type"] == "model.deployed"
        and event["detail"]["data"]["deployment_id"] == second.deployment_id
    ]
    assert_valid_event(deployed)
    assert deployed["detail"]["data"]["previous_version"] == 1


def test_a_serverless_config_is_accepted_and_served(
    local_cloud: LocalCloud, clients: dict[str, CirrusClient]
) -> None:
    models = Models(local_cloud, clients)
    version = models.register(2.0, 1.0)

    deployment = models.deploy(
        version, "dev", serverless={"memory_size_mb": 2048, "max_concurrency": 5}, sample_payloads=SAMPLES
    )

    assert deployment.status is DeploymentStatus.SUCCEEDED, deployment.cause
    assert deployment.config.serverless is not None
    assert models.predict(str(deployment.endpoint_name), 1.0) == pytest.approx(3.0)
    sagemaker = local_cloud.emulator.client("sagemaker")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=str(deployment.endpoint_config_name))
    assert config["ProductionVariants"][0]["ServerlessConfig"] == {
        "MemorySizeInMB": 2048,
        "MaxConcurrency": 5,
    }


def test_a_second_deployment_to_a_busy_environment_is_refused(served: tuple[Models, Deployment]) -> None:
    models, _ = served
    engineer = models.clients["ml_engineer"]
    started = engineer.deploy(models.model_id, 1, "dev", sample_payloads=SAMPLES)

    refused = refusal(lambda: engineer.deploy(models.model_id, 1, "dev", sample_payloads=SAMPLES))

    assert (refused.status, refused.code) == (409, "deployment_in_progress")
    assert models.wait(started.deployment_id).status is DeploymentStatus.SUCCEEDED


# -- undeploying ----------------------------------------------------------------------------------


def test_undeploying_deletes_the_endpoint_and_clears_the_alias(
    local_cloud: LocalCloud, clients: dict[str, CirrusClient]
) -> None:
    models = Models(local_cloud, clients)
    deployment = models.deploy(models.register(2.0, 1.0), "dev", sample_payloads=SAMPLES)
    engineer = clients["ml_engineer"]

    result = engineer.undeploy(models.model_id, "dev")

    assert (result.version, result.endpoint_name) == (1, deployment.endpoint_name)
    assert engineer.get_model(models.model_id).aliases == {}
    assert engineer.list_deployments(models.model_id).environments == []
    with pytest.raises(Exception, match="Could not find endpoint"):
        local_cloud.emulator.client("sagemaker").describe_endpoint(EndpointName=str(deployment.endpoint_name))
    again = refusal(lambda: engineer.undeploy(models.model_id, "dev"))
    assert (again.status, again.code) == (404, "environment_not_deployed")
