"""The sagemaker_hosting hook: endpoints are Creating until their models load; UpdateEndpoint is blue/green.

Models built here serve `gated_inference.py` (sagemaker_code/): its model_fn waits for a gate file
when asked, so a test holds an endpoint in Creating or Updating for exactly as long as it needs,
without sleeping or timing anything; and it raises when asked, as a model that cannot load.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.sagemaker.responses import SageMakerResponse

from cirrus.localcloud.emulator import Emulator
from cirrus.localcloud.hooks import sagemaker_endpoints
from tests.unit.localcloud.helpers import unique
from tests.unit.localcloud.sagemaker_support import SageMakerWorld, code_files, tarball, wait_until

ACCOUNT = "123456789012"
REGION = "us-east-1"
HOSTING_HOOKS = (
    "cirrus.localcloud.hooks.stepfunctions",  # for the deployment state machine test
    "cirrus.localcloud.hooks.sagemaker_endpoints",
    "cirrus.localcloud.hooks.sagemaker_hosting",
)
SFN_ROLE = "arn:aws:iam::123456789012:role/cirrus-states"
IN_PROGRESS = frozenset({"Creating", "Updating"})
SERVERLESS = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}


class Gates:
    """Gate files a held model_fn waits for; every gate still shut is opened at teardown."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: list[Path] = []

    def new(self) -> Path:
        """A fresh, shut gate."""
        gate = self.root / unique("gate")
        self._made.append(gate)
        return gate

    def open_all(self) -> None:
        for gate in self._made:
            gate.touch()


@pytest.fixture(scope="module")
def world() -> Iterator[SageMakerWorld]:
    """An emulator with the runtime and hosting hooks only."""
    with Emulator(hooks=HOSTING_HOOKS) as running:
        yield SageMakerWorld(running)


@pytest.fixture
def gates(tmp_path: Path) -> Iterator[Gates]:
    made = Gates(tmp_path)
    try:
        yield made
    finally:
        made.open_all()  # a failed test must not leave a loader thread waiting


def _model(world: SageMakerWorld, slope: float, *, gate: Path | None = None, fail: str | None = None) -> str:
    """A model answering `slope * x`, held at `gate` while it loads, or failing to load with `fail`."""
    name = unique("hosted")
    params: dict[str, Any] = {"a": slope, "b": 0.0}
    if gate is not None:
        params["gate"] = str(gate)
    if fail is not None:
        params["fail"] = fail
    files = {"model.json": json.dumps(params).encode()}
    files.update({f"code/{file}": content for file, content in code_files().items()})
    url = world.put(f"models/{name}/model.tar.gz", tarball(files))
    return world.create_model(
        name,
        url,
        {"SAGEMAKER_PROGRAM": "gated_inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"},
    )


def _variant(
    model: str, name: str = "AllTraffic", *, count: int = 1, weight: float | None = None
) -> dict[str, Any]:
    variant: dict[str, Any] = {
        "VariantName": name,
        "ModelName": model,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": count,
    }
    if weight is not None:
        variant["InitialVariantWeight"] = weight
    return variant


def _serverless(model: str, name: str = "AllTraffic") -> dict[str, Any]:
    return {"VariantName": name, "ModelName": model, "ServerlessConfig": dict(SERVERLESS)}


def _config(world: SageMakerWorld, variants: list[dict[str, Any]], **extra: Any) -> str:
    name = unique("config")
    world.sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=variants, **extra)
    return name


def _create(world: SageMakerWorld, config: str) -> str:
    name = unique("endpoint")
    world.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    return name


def _describe(world: SageMakerWorld, endpoint: str) -> dict[str, Any]:
    return dict(world.sagemaker.describe_endpoint(EndpointName=endpoint))


def _settled(world: SageMakerWorld, endpoint: str) -> dict[str, Any]:
    """DescribeEndpoint once the endpoint is neither Creating nor Updating (polled, bounded)."""
    return wait_until(lambda: _describe(world, endpoint), lambda d: d["EndpointStatus"] not in IN_PROGRESS)


def _in_service(world: SageMakerWorld, variants: list[dict[str, Any]]) -> str:
    endpoint = _create(world, _config(world, variants))
    described = _settled(world, endpoint)
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    return endpoint


def _predict(world: SageMakerWorld, endpoint: str, x: float = 2.0) -> float:
    response = world.runtime.invoke_endpoint(
        EndpointName=endpoint, Body=str(x).encode(), ContentType="text/csv"
    )
    [answer] = json.loads(response["Body"].read())
    return float(answer)


def _refusal(call: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as refused:
        call(**kwargs)
    error = refused.value.response["Error"]
    return {"Code": str(error.get("Code")), "Message": str(error.get("Message"))}


def _arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name}"


# -- install and undo --------------------------------------------------------------------------------


def test_the_hook_adds_update_endpoint_and_removes_it_on_stop() -> None:
    original_create = SageMakerResponse.create_endpoint
    assert not hasattr(SageMakerResponse, "update_endpoint")  # moto 5.2.5 has no UpdateEndpoint

    with Emulator(hooks=HOSTING_HOOKS) as running:
        assert "cirrus.localcloud.hooks.sagemaker_hosting" in running.installed_hooks
        assert hasattr(SageMakerResponse, "update_endpoint")
        assert SageMakerResponse.create_endpoint is not original_create

    assert not hasattr(SageMakerResponse, "update_endpoint")
    assert SageMakerResponse.create_endpoint is original_create


# -- CreateEndpoint ----------------------------------------------------------------------------------


def test_a_new_endpoint_is_creating_until_its_model_loads(world: SageMakerWorld, gates: Gates) -> None:
    gate = gates.new()
    endpoint = _create(world, _config(world, [_variant(_model(world, 3.0, gate=gate))]))

    creating = _describe(world, endpoint)
    assert creating["EndpointStatus"] == "Creating"
    refused = _refusal(
        world.runtime.invoke_endpoint, EndpointName=endpoint, Body=b"1", ContentType="text/csv"
    )
    assert refused["Code"] == "ValidationError"
    assert "Creating" in refused["Message"]

    gate.touch()
    described = _settled(world, endpoint)

    assert described["EndpointStatus"] == "InService"
    assert "FailureReason" not in described
    assert described["LastModifiedTime"] >= described["CreationTime"]
    assert _predict(world, endpoint, 2.0) == 6.0
    listed = world.sagemaker.list_endpoints(NameContains=endpoint)["Endpoints"]
    assert [row["EndpointStatus"] for row in listed] == ["InService"]


def test_the_first_request_finds_the_model_already_loaded(world: SageMakerWorld) -> None:
    model = world.linear_model(2.0, 1.0)  # inference.py counts its model_fn calls in the model dir
    endpoint = _in_service(world, [_variant(model)])
    work_dir = world.emulator.work_dir / "sagemaker" / "endpoints"

    def model_fn_calls() -> int:
        return sum(
            len(path.read_text().splitlines()) for path in work_dir.rglob(f"{model}/*/model/model_fn.calls")
        )

    assert model_fn_calls() == 1  # loaded while Creating, into the runtime's cache
    assert [_predict(world, endpoint, 1.0) for _ in range(2)] == [3.0, 3.0]
    assert model_fn_calls() == 1


def test_an_endpoint_whose_model_cannot_load_fails(world: SageMakerWorld) -> None:
    model = _model(world, 1.0, fail="weights are corrupt")
    endpoint = _create(world, _config(world, [_variant(model, "Primary")]))

    described = _settled(world, endpoint)

    assert described["EndpointStatus"] == "Failed"
    reason = described["FailureReason"]
    assert reason.startswith(
        "The primary container for production variant Primary did not pass the ping health check."
    )
    assert "RuntimeError: weights are corrupt" in reason
    refused = _refusal(
        world.runtime.invoke_endpoint, EndpointName=endpoint, Body=b"1", ContentType="text/csv"
    )
    assert "Failed" in refused["Message"]
    # A Failed endpoint can only be deleted.
    refused = _refusal(
        world.sagemaker.update_endpoint,
        EndpointName=endpoint,
        EndpointConfigName=_config(world, [_variant(_model(world, 2.0))]),
    )
    assert refused["Code"] == "ValidationException"
    world.sagemaker.delete_endpoint(EndpointName=endpoint)
    assert _refusal(world.sagemaker.describe_endpoint, EndpointName=endpoint)["Code"] == "ValidationException"


def test_an_endpoint_whose_model_is_gone_fails(world: SageMakerWorld) -> None:
    model = _model(world, 1.0)
    config = _config(world, [_variant(model)])
    world.sagemaker.delete_model(ModelName=model)

    described = _settled(world, _create(world, config))

    assert described["EndpointStatus"] == "Failed"
    assert described["FailureReason"] == f'Could not find model "{_arn("model", model)}".'


def test_a_name_in_use_is_refused(world: SageMakerWorld) -> None:
    config = _config(world, [_variant(_model(world, 1.0))])
    endpoint = _create(world, config)

    refused = _refusal(world.sagemaker.create_endpoint, EndpointName=endpoint, EndpointConfigName=config)

    assert refused["Code"] == "ValidationException"
    assert refused["Message"] == f'Cannot create already existing endpoint "{_arn("endpoint", endpoint)}".'


def test_an_endpoint_can_be_deleted_while_creating(world: SageMakerWorld, gates: Gates) -> None:
    gate = gates.new()
    model = _model(world, 1.0, gate=gate)
    config = _config(world, [_variant(model)])
    endpoint = _create(world, config)
    assert _describe(world, endpoint)["EndpointStatus"] == "Creating"

    world.sagemaker.delete_endpoint(EndpointName=endpoint)
    gate.touch()

    assert _refusal(world.sagemaker.describe_endpoint, EndpointName=endpoint)["Code"] == "ValidationException"
    # The same name can be used again, and the first deployment finishing does not touch it.
    again = _config(world, [_variant(_model(world, 4.0))])
    world.sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=again)
    described = _settled(world, endpoint)
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", again)
    assert _predict(world, endpoint, 1.0) == 4.0


def test_describe_reports_variants_as_aws_does(world: SageMakerWorld) -> None:
    capture = {
        "InitialSamplingPercentage": 20,
        "DestinationS3Uri": world.uri("capture"),
        "CaptureOptions": [{"CaptureMode": "Input"}],
    }
    config = _config(
        world,
        [_variant(_model(world, 1.0), "Main", count=2), _variant(_model(world, 2.0), "Shadow", weight=0.0)],
        DataCaptureConfig=capture,
    )
    endpoint = _create(world, config)

    described = _settled(world, endpoint)

    assert described["ProductionVariants"] == [
        {
            "VariantName": "Main",
            "CurrentWeight": 1.0,
            "DesiredWeight": 1.0,
            "CurrentInstanceCount": 2,
            "DesiredInstanceCount": 2,
        },
        {
            "VariantName": "Shadow",
            "CurrentWeight": 0.0,
            "DesiredWeight": 0.0,
            "CurrentInstanceCount": 1,
            "DesiredInstanceCount": 1,
        },
    ]
    assert described["DataCaptureConfig"] == {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 20,
        "DestinationS3Uri": world.uri("capture"),
    }
    # A weight of 0 takes no traffic.
    assert [_predict(world, endpoint, 5.0) for _ in range(3)] == [5.0] * 3


def test_a_model_loaded_without_the_runtime_hook_is_only_checked(
    world: SageMakerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sagemaker_endpoints, "running_runtime", lambda: None)

    good = _settled(world, _create(world, _config(world, [_variant(_model(world, 1.0))])))
    bad = _settled(world, _create(world, _config(world, [_variant(_model(world, 1.0, fail="no weights"))])))

    assert good["EndpointStatus"] == "InService"
    assert bad["EndpointStatus"] == "Failed"
    assert "RuntimeError: no weights" in bad["FailureReason"]


# -- UpdateEndpoint ----------------------------------------------------------------------------------


def test_an_update_serves_the_old_model_until_the_new_one_is_up(world: SageMakerWorld, gates: Gates) -> None:
    old_config = _config(world, [_variant(_model(world, 1.0))])
    endpoint = _create(world, old_config)
    assert _settled(world, endpoint)["EndpointStatus"] == "InService"
    gate = gates.new()
    new_config = _config(world, [_variant(_model(world, 100.0, gate=gate), count=2)])

    arn = world.sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=new_config)["EndpointArn"]

    assert arn == _arn("endpoint", endpoint)
    updating = _describe(world, endpoint)
    assert updating["EndpointStatus"] == "Updating"
    assert updating["EndpointConfigName"] == old_config
    assert updating["ProductionVariants"][0]["CurrentInstanceCount"] == 1
    pending = updating["PendingDeploymentSummary"]
    assert pending["EndpointConfigName"] == new_config
    assert pending["ProductionVariants"][0]["DesiredInstanceCount"] == 2
    assert pending["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"
    assert _predict(world, endpoint, 2.0) == 2.0  # still the old fleet

    gate.touch()
    described = _settled(world, endpoint)

    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == new_config
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    assert "PendingDeploymentSummary" not in described
    assert "FailureReason" not in described
    assert _predict(world, endpoint, 2.0) == 200.0


def test_an_update_whose_model_cannot_load_keeps_the_old_config(world: SageMakerWorld) -> None:
    old_config = _config(world, [_variant(_model(world, 1.0))])
    endpoint = _create(world, old_config)
    assert _settled(world, endpoint)["EndpointStatus"] == "InService"
    bad_config = _config(world, [_variant(_model(world, 100.0, fail="weights are corrupt"))])

    world.sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=bad_config)
    described = _settled(world, endpoint)

    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == old_config
    assert "did not pass the ping health check" in described["FailureReason"]
    assert "RuntimeError: weights are corrupt" in described["FailureReason"]
    assert _predict(world, endpoint, 2.0) == 2.0

    # A later successful update clears the failure.
    good_config = _config(world, [_variant(_model(world, 10.0))])
    world.sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=good_config)
    described = _settled(world, endpoint)
    assert (described["EndpointConfigName"], "FailureReason" in described) == (good_config, False)
    assert _predict(world, endpoint, 2.0) == 20.0


def test_updates_that_aws_refuses_are_refused(world: SageMakerWorld, gates: Gates) -> None:
    config = _config(world, [_variant(_model(world, 1.0))])

    missing_endpoint = _refusal(
        world.sagemaker.update_endpoint, EndpointName="no-such-endpoint", EndpointConfigName=config
    )
    endpoint = _in_service(world, [_variant(_model(world, 1.0))])
    missing_config = _refusal(
        world.sagemaker.update_endpoint, EndpointName=endpoint, EndpointConfigName="no-such-config"
    )
    gate = gates.new()
    creating = _create(world, _config(world, [_variant(_model(world, 1.0, gate=gate))]))
    while_creating = _refusal(
        world.sagemaker.update_endpoint, EndpointName=creating, EndpointConfigName=config
    )
    held = _config(world, [_variant(_model(world, 2.0, gate=gate))])
    world.sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=held)
    while_updating = _refusal(
        world.sagemaker.update_endpoint, EndpointName=endpoint, EndpointConfigName=config
    )

    assert missing_endpoint == {
        "Code": "ValidationException",
        "Message": f'Could not find endpoint "{_arn("endpoint", "no-such-endpoint")}".',
    }
    assert missing_config["Code"] == "ValidationException"
    assert (
        missing_config["Message"]
        == f"Could not find endpoint configuration '{_arn('endpoint-config', 'no-such-config')}'."
    )
    assert while_creating == {
        "Code": "ValidationException",
        "Message": f'Cannot update in-progress endpoint "{_arn("endpoint", creating)}".',
    }
    assert while_updating["Message"] == f'Cannot update in-progress endpoint "{_arn("endpoint", endpoint)}".'

    gate.touch()
    assert _settled(world, endpoint)["EndpointConfigName"] == held
    assert _settled(world, creating)["EndpointStatus"] == "InService"


BLUE_GREEN = {
    "BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {
            "Type": "CANARY",
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
            "WaitIntervalInSeconds": 300,
        },
        "TerminationWaitInSeconds": 120,
        "MaximumExecutionTimeoutInSeconds": 1800,
    },
    "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "quiet-alarm"}]},
}
ROLLING = {
    "RollingUpdatePolicy": {
        "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
        "WaitIntervalInSeconds": 60,
    }
}


def test_the_deployment_config_is_stored_as_last_deployment_config(world: SageMakerWorld) -> None:
    endpoint = _in_service(world, [_variant(_model(world, 1.0))])
    assert "LastDeploymentConfig" not in _describe(world, endpoint)

    def update(**options: Any) -> dict[str, Any]:
        config = _config(world, [_variant(_model(world, 1.0))])
        world.sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=config, **options)
        described = _settled(world, endpoint)
        assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", config)
        return described

    assert update(DeploymentConfig=BLUE_GREEN)["LastDeploymentConfig"] == BLUE_GREEN
    assert update(RetainDeploymentConfig=True)["LastDeploymentConfig"] == BLUE_GREEN
    assert update(DeploymentConfig=ROLLING)["LastDeploymentConfig"] == ROLLING
    assert "LastDeploymentConfig" not in update()


def test_create_endpoint_keeps_its_deployment_config(world: SageMakerWorld) -> None:
    endpoint = unique("endpoint")
    world.sagemaker.create_endpoint(
        EndpointName=endpoint,
        EndpointConfigName=_config(world, [_variant(_model(world, 1.0))]),
        DeploymentConfig=ROLLING,
    )

    assert _settled(world, endpoint)["LastDeploymentConfig"] == ROLLING


@pytest.mark.parametrize(
    ("deployment_config", "complaint"),
    [
        ({**BLUE_GREEN, **ROLLING}, "Only one of BlueGreenUpdatePolicy and RollingUpdatePolicy"),
        (
            {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": 0}
                }
            },
            "CanarySize must be specified",
        ),
        (
            {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {"Type": "SOMETIMES", "WaitIntervalInSeconds": 0}
                }
            },
            "failed to satisfy constraint",
        ),
        (
            {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 7200}
                }
            },
            "Member must have value between 0 and 3600",
        ),
        (
            {
                "RollingUpdatePolicy": {
                    "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 150},
                    "WaitIntervalInSeconds": 0,
                }
            },
            "at most 100",
        ),
    ],
)
def test_a_malformed_deployment_config_is_refused(
    world: SageMakerWorld, deployment_config: dict[str, Any], complaint: str
) -> None:
    endpoint = _in_service(world, [_variant(_model(world, 1.0))])
    config = _config(world, [_variant(_model(world, 2.0))])

    refused = _refusal(
        world.sagemaker.update_endpoint,
        EndpointName=endpoint,
        EndpointConfigName=config,
        DeploymentConfig=deployment_config,
    )

    assert refused["Code"] == "ValidationException"
    assert complaint in refused["Message"]
    assert _describe(world, endpoint)["EndpointStatus"] == "InService"  # nothing started


def test_an_alarm_in_alarm_rolls_the_update_back(world: SageMakerWorld) -> None:
    cloudwatch = world.emulator.client("cloudwatch")
    alarm = unique("errors")
    endpoint = _in_service(world, [_variant(_model(world, 1.0))])
    old_config = _describe(world, endpoint)["EndpointConfigName"]
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Dimensions=[
            {"Name": "EndpointName", "Value": endpoint},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="errors in the canary")
    rollback = {**BLUE_GREEN, "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]}}

    world.sagemaker.update_endpoint(
        EndpointName=endpoint,
        EndpointConfigName=_config(world, [_variant(_model(world, 50.0))]),
        DeploymentConfig=rollback,
    )
    described = _settled(world, endpoint)

    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", old_config)
    assert alarm in described["FailureReason"]
    assert _predict(world, endpoint, 2.0) == 2.0


def test_retained_variant_properties_survive_an_update(world: SageMakerWorld) -> None:
    endpoint = _in_service(world, [_variant(_model(world, 1.0), count=1)])
    world.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[
            {"VariantName": "AllTraffic", "DesiredWeight": 2.0, "DesiredInstanceCount": 3}
        ],
    )

    def update(**options: Any) -> dict[str, Any]:
        config = _config(world, [_variant(_model(world, 1.0), count=1)])
        world.sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=config, **options)
        [variant] = _settled(world, endpoint)["ProductionVariants"]
        return dict(variant)

    retained = update(RetainAllVariantProperties=True)
    assert (retained["CurrentInstanceCount"], retained["CurrentWeight"]) == (3, 2.0)
    partly = update(
        RetainAllVariantProperties=True,
        ExcludeRetainedVariantProperties=[{"VariantPropertyType": "DesiredInstanceCount"}],
    )
    assert (partly["CurrentInstanceCount"], partly["DesiredInstanceCount"], partly["CurrentWeight"]) == (
        1,
        1,
        2.0,
    )
    fresh = update()
    assert (fresh["CurrentInstanceCount"], fresh["CurrentWeight"]) == (1, 1.0)


def test_weights_and_capacities_keep_what_a_request_leaves_out(world: SageMakerWorld, gates: Gates) -> None:
    endpoint = _in_service(world, [_variant(_model(world, 1.0), count=2, weight=3.0)])

    world.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 4}],
    )
    [counted] = _describe(world, endpoint)["ProductionVariants"]
    world.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredWeight": 0.5}],
    )
    [weighted] = _describe(world, endpoint)["ProductionVariants"]

    assert (counted["CurrentInstanceCount"], counted["CurrentWeight"], counted["DesiredWeight"]) == (
        4,
        3.0,
        3.0,
    )
    assert (
        weighted["CurrentInstanceCount"],
        weighted["DesiredInstanceCount"],
        weighted["CurrentWeight"],
    ) == (
        4,
        4,
        0.5,
    )
    # Not while the endpoint is being changed.
    gate = gates.new()
    world.sagemaker.update_endpoint(
        EndpointName=endpoint, EndpointConfigName=_config(world, [_variant(_model(world, 1.0, gate=gate))])
    )
    refused = _refusal(
        world.sagemaker.update_endpoint_weights_and_capacities,
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 1}],
    )
    assert refused["Message"] == f'Cannot update in-progress endpoint "{_arn("endpoint", endpoint)}".'
    gate.touch()
    assert _settled(world, endpoint)["EndpointStatus"] == "InService"


def test_old_configs_and_models_can_be_deleted_after_an_update(world: SageMakerWorld) -> None:
    old_model = _model(world, 1.0)
    old_config = _config(world, [_variant(old_model)])
    endpoint = _create(world, old_config)
    _settled(world, endpoint)
    new_config = _config(world, [_variant(_model(world, 7.0))])
    world.sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=new_config)
    assert _settled(world, endpoint)["EndpointConfigName"] == new_config

    world.sagemaker.delete_endpoint_config(EndpointConfigName=old_config)
    world.sagemaker.delete_model(ModelName=old_model)

    assert _refusal(world.sagemaker.describe_endpoint_config, EndpointConfigName=old_config)["Code"] == (
        "ValidationException"
    )
    assert _refusal(world.sagemaker.describe_model, ModelName=old_model)["Code"] == "ValidationException"
    assert _predict(world, endpoint, 1.0) == 7.0


# -- serverless ----------------------------------------------------------------------------------------


def test_a_serverless_endpoint_creates_serves_and_updates(world: SageMakerWorld, gates: Gates) -> None:
    endpoint = _in_service(world, [_serverless(_model(world, 2.0))])
    [variant] = _describe(world, endpoint)["ProductionVariants"]
    assert variant == {
        "VariantName": "AllTraffic",
        "CurrentWeight": 1.0,
        "DesiredWeight": 1.0,
        "CurrentServerlessConfig": SERVERLESS,
        "DesiredServerlessConfig": SERVERLESS,
    }
    assert _predict(world, endpoint, 3.0) == 6.0

    gate = gates.new()
    bigger = {"MemorySizeInMB": 4096, "MaxConcurrency": 10}
    new_config = _config(
        world,
        [
            {
                "VariantName": "AllTraffic",
                "ModelName": _model(world, 5.0, gate=gate),
                "ServerlessConfig": bigger,
            }
        ],
    )
    world.sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=new_config)
    assert _describe(world, endpoint)["EndpointStatus"] == "Updating"
    assert _predict(world, endpoint, 3.0) == 6.0
    gate.touch()
    described = _settled(world, endpoint)

    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", new_config)
    assert described["ProductionVariants"][0]["CurrentServerlessConfig"] == bigger
    assert _predict(world, endpoint, 3.0) == 15.0


# -- the rest of a deployment: autoscaling and alarms (moto serves these as they are) ---------------------


def test_a_variant_can_be_autoscaled(world: SageMakerWorld) -> None:
    autoscaling = world.emulator.client("application-autoscaling")
    endpoint = _in_service(world, [_variant(_model(world, 1.0))])
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": f"endpoint/{endpoint}/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }

    autoscaling.register_scalable_target(**target, MinCapacity=1, MaxCapacity=4)
    policy_arn = autoscaling.put_scaling_policy(
        **target,
        PolicyName="invocations",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 70.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 60,
        },
    )["PolicyARN"]

    [registered] = autoscaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[target["ResourceId"]]
    )["ScalableTargets"]
    assert (registered["MinCapacity"], registered["MaxCapacity"]) == (1, 4)
    [policy] = autoscaling.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=target["ResourceId"]
    )["ScalingPolicies"]
    assert policy["PolicyARN"] == policy_arn
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert (
        tracking["PredefinedMetricSpecification"]["PredefinedMetricType"]
        == "SageMakerVariantInvocationsPerInstance"
    )

    autoscaling.delete_scaling_policy(**target, PolicyName="invocations")
    autoscaling.deregister_scalable_target(**target)
    assert (
        autoscaling.describe_scalable_targets(
            ServiceNamespace="sagemaker", ResourceIds=[target["ResourceId"]]
        )["ScalableTargets"]
        == []
    )


def test_alarms_on_sagemaker_metrics_can_be_put_and_deleted(world: SageMakerWorld) -> None:
    cloudwatch = world.emulator.client("cloudwatch")
    endpoint = _in_service(world, [_variant(_model(world, 1.0))])
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "AllTraffic"}]
    names = [f"{endpoint}-{metric}" for metric in ("Invocation5XXErrors", "ModelError")]

    for name, metric in zip(names, ("Invocation5XXErrors", "ModelError"), strict=True):
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/SageMaker",
            MetricName=metric,
            Dimensions=dimensions,
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
        )

    alarms = cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
    assert sorted((alarm["AlarmName"], alarm["MetricName"]) for alarm in alarms) == sorted(
        zip(names, ("Invocation5XXErrors", "ModelError"), strict=True)
    )
    assert all(
        alarm["Namespace"] == "AWS/SageMaker" and alarm["Dimensions"] == dimensions for alarm in alarms
    )

    cloudwatch.delete_alarms(AlarmNames=names)
    assert cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"] == []


# -- a deployment state machine ------------------------------------------------------------------------

# Create the endpoint, or update it blue/green when it exists, then poll DescribeEndpoint until it
# settles: what a deployment state machine does against AWS.
DEPLOY_MACHINE = {
    "StartAt": "Create",
    "States": {
        "Create": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sagemaker:createEndpoint",
            "Parameters": {"EndpointName.$": "$.endpoint", "EndpointConfigName.$": "$.config"},
            "ResultPath": None,
            "Catch": [
                {"ErrorEquals": ["SageMaker.AmazonSageMakerException"], "ResultPath": None, "Next": "Update"}
            ],
            "Next": "Describe",
        },
        "Update": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sagemaker:updateEndpoint",
            "Parameters": {
                "EndpointName.$": "$.endpoint",
                "EndpointConfigName.$": "$.config",
                "DeploymentConfig": {
                    "BlueGreenUpdatePolicy": {
                        "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
                    }
                },
            },
            "ResultPath": None,
            "Next": "Describe",
        },
        "Describe": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
            "Parameters": {"EndpointName.$": "$.endpoint"},
            "ResultSelector": {"status.$": "$.EndpointStatus", "config.$": "$.EndpointConfigName"},
            "ResultPath": "$.described",
            "Next": "Settled?",
        },
        "Settled?": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.described.status", "StringEquals": "InService", "Next": "Deployed"},
                {"Variable": "$.described.status", "StringEquals": "Failed", "Next": "Broken"},
            ],
            "Default": "Poll",
        },
        "Poll": {"Type": "Wait", "Seconds": 0, "Next": "Describe"},
        "Deployed": {"Type": "Succeed"},
        "Broken": {"Type": "Fail", "Error": "EndpointFailed"},
    },
}


def test_a_deployment_state_machine_creates_then_updates(world: SageMakerWorld) -> None:
    sfn = world.emulator.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=unique("deploy"), definition=json.dumps(DEPLOY_MACHINE), roleArn=SFN_ROLE
    )["stateMachineArn"]
    endpoint = unique("endpoint")

    def deploy(config: str) -> dict[str, Any]:
        started = sfn.start_execution(
            stateMachineArn=machine, input=json.dumps({"endpoint": endpoint, "config": config})
        )
        return wait_until(
            lambda: dict(sfn.describe_execution(executionArn=started["executionArn"])),
            lambda described: described["status"] != "RUNNING",
        )

    first, second = (_config(world, [_variant(_model(world, slope))]) for slope in (1.0, 3.0))

    created = deploy(first)
    assert created["status"] == "SUCCEEDED", created.get("cause")
    assert json.loads(created["output"])["described"] == {"status": "InService", "config": first}
    assert _predict(world, endpoint, 2.0) == 2.0

    updated = deploy(second)
    assert updated["status"] == "SUCCEEDED", updated.get("cause")
    assert json.loads(updated["output"])["described"] == {"status": "InService", "config": second}
    assert _predict(world, endpoint, 2.0) == 6.0
    assert _describe(world, endpoint)["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]
