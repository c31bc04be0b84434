"""The audit trail on the local cloud: records of real API calls, the audit API, the deployed anchor."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cirrus.cli import cli
from cirrus.client import CirrusApiError, CirrusClient
from cirrus.localcloud.cloud import LocalCloud, LocalCloudState
from tests.integration.test_registry_http import registration


@pytest.fixture(scope="module")
def audited_model(clients: dict[str, CirrusClient], state: LocalCloudState) -> str:
    """A model registered, approved and read, by three different users."""
    model_id = "it_audited_model"
    clients["ml_engineer"].register_model(registration(model_id, state.artifact_bucket))
    clients["model_reviewer"].approve(model_id, 1, "ok")
    clients["data_scientist"].get_model(model_id)
    return model_id


def test_the_audit_api_lists_the_calls_filtered_and_paginated(
    clients: dict[str, CirrusClient], audited_model: str
) -> None:
    admin = clients["admin"]
    resource = f"model/{audited_model}"

    reads = admin.audit(resource=resource, action="get_model")
    assert [(item.actor, item.category) for item in reads.items] == [("dana", "model_access")]

    first = admin.audit(resource=f"{resource}/version/1", limit=1)
    assert [item.action for item in first.items] == ["approve_version"]
    assert first.items[0].actor == "rui"
    assert first.items[0].before_hash is not None
    assert first.next_token is not None
    second = admin.audit(resource=f"{resource}/version/1", limit=1, next_token=first.next_token)
    assert [item.action for item in second.items] == ["register_model"]
    assert second.items[0].actor == "alice"
    assert second.items[0].source_ip


def test_the_chain_verifies_intact(clients: dict[str, CirrusClient], audited_model: str) -> None:
    report = clients["model_reviewer"].verify_audit()

    assert report.intact, report.reason
    assert report.records == report.head_seq
    assert report.records >= 3


def test_the_deployed_anchor_function_anchors_the_head_and_verify_reports_it(
    local_cloud: LocalCloud, clients: dict[str, CirrusClient], audited_model: str
) -> None:
    function = local_cloud.deployment.physical_id("AnchorAuditChainFunction")
    response = local_cloud.emulator.client("lambda").invoke(FunctionName=function, Payload=b"{}")
    result = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, result

    report = clients["admin"].verify_audit()

    assert report.intact, report.reason
    assert report.anchored_seq == result["anchored_seq"]
    assert report.anchored_seq is not None
    assert report.records >= report.anchored_seq


def test_a_data_scientist_may_not_read_the_audit_log_and_the_denial_is_recorded(
    clients: dict[str, CirrusClient],
) -> None:
    with pytest.raises(CirrusApiError) as refused:
        clients["data_scientist"].audit()
    assert refused.value.status == 403

    denials = clients["admin"].audit(actor="dana", action="ReadAuditLog").items
    assert denials
    assert (denials[0].category, denials[0].decision, denials[0].resource) == (
        "denial",
        "deny",
        "/api/v1/audit",
    )


def test_the_cli_lists_and_verifies_the_trail(state: LocalCloudState, audited_model: str) -> None:
    token = ["--endpoint-url", state.api_url, "--token", state.token("model_reviewer")]

    listed = CliRunner().invoke(
        cli, ["audit", *token, "list", "--resource", f"model/{audited_model}", "--action", "get_model"]
    )
    verified = CliRunner().invoke(cli, ["audit", *token, "verify"])

    assert listed.exit_code == 0, listed.output
    assert [item["actor"] for item in json.loads(listed.output)["items"]] == ["dana"]
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.output)["intact"] is True
