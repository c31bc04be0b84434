"""The deployment state machine's tasks, run in the order the ASL runs them, against moto."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import boto3
import pytest

from cirrus_core.errors import AccessDenied, EndpointFailed, EndpointUpdateFailed, SmokeTestFailed
from cirrus_core.serving import deployment_wiring
from cirrus_core.serving.deployment_adapters import Answer
from cirrus_core.serving.rollout import Rollout, failure_of, next_wait
from tests.support.registry import MODEL_ID
from tests.unit.serving.support import Serving


class _Runtime:
    """SageMaker Runtime answering every request with one answer."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, str]] = []

    def invoke(self, endpoint_name: str, content_type: str, body: str) -> Answer:
        self.calls.append((endpoint_name, content_type, body))
        return self.answer


def _rollout(runtime: _Runtime | None = None) -> Rollout:
    built = deployment_wiring.rollout()
    if runtime is not None:
        built._runtime = lambda: runtime  # type: ignore[assignment,return-value]
    return built


def _started(serving: Serving, **body: Any) -> dict[str, Any]:
    serving.register()
    response = serving.deploy({"version": 1, "environment": "staging", "sample_payloads": [
        {"content_type": "text/csv", "body": "1,2"}], **body})  # fmt: skip
    assert response.status == 202, response.body
    return serving.execution_input()


def _prepared(serving: Serving, **body: Any) -> dict[str, Any]:
    document = _started(serving, **body)
    return _rollout().prepare(
        {"input": document, "execution": {"name": document["deployment_id"], "arn": "arn:x"}}
    )


def _run(state: dict[str, Any], *actions: str, runtime: _Runtime | None = None) -> dict[str, Any]:
    rollout = _rollout(runtime)
    for action in actions:
        name, _, target = action.partition(":")
        event: dict[str, Any] = {"state": state}
        if target:
            event["target"] = target
        state = getattr(rollout, name)(event)
    return state


def _deployment(serving: Serving, deployment_id: str) -> dict[str, Any]:
    [item] = [item for item in serving.items() if item["sk"]["S"] == f"DEPLOYMENT#{deployment_id}"]
    return item


FIRST_DEPLOYMENT = (
    "create_model", "create_endpoint_config", "create_candidate", "check_endpoint:candidate",
    "smoke_test:candidate", "update_live", "check_endpoint:live", "smoke_test:live", "register_autoscaling",
    "delete_candidate", "mark_deployed",
)  # fmt: skip


def test_prepare_names_everything_and_finds_no_restore_point_for_a_first_deployment(serving: Serving) -> None:
    state = _prepared(serving)

    deployment_id = state["deployment"]["deployment_id"]
    assert state["names"] == {
        "model": "fraud-detection-v2-v1",
        "endpoint": "fraud-detection-v2-staging",
        "candidate": "fraud-detection-v2-staging-candidate",
        "endpoint_config": f"fraud-detection-v2-staging-v1-{deployment_id[:8]}",
    }
    assert state["restore"]["endpoint_exists"] is False
    assert state["poll"] == {"seconds": 4, "timeout_seconds": 3600}
    assert [entry["M"]["step"]["S"] for entry in _deployment(serving, deployment_id)["history"]["L"]] == [
        "Requested",
        "Prepare deployment",
    ]


def test_prepare_re_authorizes_the_actor(serving: Serving) -> None:
    document = _started(serving)
    document["actor"] = {"sub": "someone", "username": "eve", "groups": ["data_scientist"]}

    with pytest.raises(AccessDenied):
        _rollout().prepare({"input": document, "execution": {"name": document["deployment_id"]}})


def test_a_first_deployment_runs_through_and_serves_from_the_environment_s_endpoint(serving: Serving) -> None:
    runtime = _Runtime(Answer(200, "[0.7]"))

    state = _run(_prepared(serving), *FIRST_DEPLOYMENT, runtime=runtime)

    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    endpoints = [item["EndpointName"] for item in sagemaker.list_endpoints()["Endpoints"]]
    assert endpoints == ["fraud-detection-v2-staging"]  # the candidate is gone
    config = sagemaker.describe_endpoint_config(EndpointConfigName=state["names"]["endpoint_config"])
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == "s3://cirrus-capture-123456789012/capture"
    assert config["ProductionVariants"][0]["VariantName"] == "AllTraffic"
    assert [call[0] for call in runtime.calls] == [
        "fraud-detection-v2-staging-candidate",
        "fraud-detection-v2-staging",
    ]
    assert serving.registry.model()["aliases"] == {"staging": 1}
    environment = next(item for item in serving.items() if item["sk"]["S"] == "ENV#staging")
    assert environment["status"]["S"] == "deployed"
    assert "active_deployment_id" not in environment
    deployed = [event for event in serving.aws.published_events() if event["detail-type"] == "model.deployed"]
    assert deployed[0]["detail"]["data"]["previous_version"] is None


def test_autoscaling_is_registered_with_the_request_s_bounds(serving: Serving) -> None:
    autoscaling = {"min_capacity": 2, "max_capacity": 5, "target_invocations_per_instance": 70}

    _run(_prepared(serving, autoscaling=autoscaling), *FIRST_DEPLOYMENT, runtime=_Runtime(Answer(200, "1")))

    client = boto3.client("application-autoscaling", region_name="us-east-1")
    [target] = client.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert target["ResourceId"] == "endpoint/fraud-detection-v2-staging/variant/AllTraffic"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 5)


def test_a_sample_answered_with_an_error_fails_the_smoke_test_naming_it(serving: Serving) -> None:
    runtime = _Runtime(Answer(424, "ValueError: boom", error="ModelError"))
    state = _run(_prepared(serving), "create_model", "create_endpoint_config", "create_candidate")

    with pytest.raises(SmokeTestFailed) as failed:
        _run(state, "smoke_test:candidate", runtime=runtime)

    assert failed.value.details == [
        {"sample": 0, "status": 424, "error": "ModelError", "message": "ValueError: boom"}
    ]


def test_a_failed_candidate_rolls_back_without_touching_the_live_endpoint(serving: Serving) -> None:
    state = _run(_prepared(serving), "create_model", "create_endpoint_config", "create_candidate")
    state["failure"] = {
        "smoke_test_candidate": {
            "Error": "SmokeTestFailed",
            "Cause": json.dumps({"errorMessage": "1 of 1 samples failed", "errorType": "SmokeTestFailed"}),
        }
    }

    rolled = _run(state, "roll_back")

    assert rolled["steps"]["rollback"]["done"] is True
    assert boto3.client("sagemaker", region_name="us-east-1").list_endpoints()["Endpoints"] == []
    deployment = _deployment(serving, state["deployment"]["deployment_id"])
    assert deployment["status"]["S"] == "rolled_back"
    assert deployment["failed_step"]["S"] == "Smoke test candidate"
    assert deployment["cause"]["S"] == "SmokeTestFailed: 1 of 1 samples failed"
    assert [
        item for item in serving.items() if item["sk"]["S"].startswith("ENV#")
    ] == []  # nothing served before
    kinds = [event["detail-type"] for event in serving.aws.published_events()]
    assert "model.deployment_failed" in kinds
    assert "model.rolled_back" not in kinds  # no previous version keeps serving


def test_a_failed_prepare_ends_the_deployment_and_releases_the_environment(serving: Serving) -> None:
    document = _started(serving)
    failed = {**document, "failure": {"prepare_deployment": {"Error": "AccessDenied", "Cause": "{}"}}}

    rolled = _rollout().roll_back({"state": failed})

    assert rolled["steps"]["rollback"]["done"] is True
    assert _deployment(serving, document["deployment_id"])["failed_step"]["S"] == "Prepare deployment"
    assert [item for item in serving.items() if item["sk"]["S"].startswith("ENV#")] == []


def test_a_failed_endpoint_fails_its_check(serving: Serving) -> None:
    state = _run(_prepared(serving), "create_model", "create_endpoint_config", "create_candidate")
    endpoints = _rollout()._endpoints()
    described = endpoints.describe("fraud-detection-v2-staging-candidate")
    assert described is not None
    rollout = _rollout()
    rollout._endpoints = lambda: _Described(replace(described, status="Failed", failure_reason="ping failed"))  # type: ignore[assignment,return-value]

    with pytest.raises(EndpointFailed, match="ping failed"):
        rollout.check_endpoint({"state": state, "target": "candidate"})


def test_an_update_that_ends_on_the_old_config_fails_its_check(serving: Serving) -> None:
    state = _run(_prepared(serving), "create_model", "create_endpoint_config", "create_candidate")
    described = _rollout()._endpoints().describe("fraud-detection-v2-staging-candidate")
    assert described is not None
    rollout = _rollout()
    old = replace(described, config_name="old-config", failure_reason="alarm in ALARM")
    rollout._endpoints = lambda: _Described(old)  # type: ignore[assignment,return-value]

    with pytest.raises(EndpointUpdateFailed, match="alarm in ALARM"):
        rollout.check_endpoint({"state": state, "target": "candidate"})


def test_a_changing_endpoint_is_polled_with_a_backoff_until_the_wait_runs_out(serving: Serving) -> None:
    state = _run(_prepared(serving), "create_model", "create_endpoint_config", "create_candidate")
    described = _rollout()._endpoints().describe("fraud-detection-v2-staging-candidate")
    assert described is not None
    rollout = _rollout()
    rollout._endpoints = lambda: _Described(replace(described, status="Creating"))  # type: ignore[assignment,return-value]
    waits = []
    state["poll"]["timeout_seconds"] = 20
    while not state["steps"]["candidate"]["timed_out"]:
        state = rollout.check_endpoint({"state": state, "target": "candidate"})
        waits.append(state["steps"]["candidate"]["wait_seconds"])

    assert waits[:4] == [1, 2, 4, 4]
    assert state["steps"]["candidate"]["waited"] >= 20


class _Described:
    def __init__(self, state: Any) -> None:
        self.state = state

    def describe(self, name: str) -> Any:
        return self.state


def test_waits_back_off_from_one_second_to_the_poll_interval() -> None:
    assert [next_wait(polls, 30) for polls in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_failure_s_cause_is_the_lambda_s_error_message() -> None:
    cause = json.dumps(
        {"errorMessage": "Endpoint x failed: ping", "errorType": "EndpointFailed", "stackTrace": []}
    )

    assert failure_of({"check_live_endpoint": {"Error": "EndpointFailed", "Cause": cause}}) == (
        "Check live endpoint",
        "EndpointFailed: Endpoint x failed: ping",
    )
    assert failure_of(
        {"check_candidate_endpoint": {"Error": "EndpointTimeout", "Cause": "not InService"}}
    ) == (
        "Check candidate endpoint",
        "EndpointTimeout: not InService",
    )


def test_the_model_id_of_every_name_is_sagemaker_safe(serving: Serving) -> None:
    state = _prepared(serving)

    assert all("_" not in name for name in state["names"].values())
    assert MODEL_ID in state["deployment"]["model_id"]
