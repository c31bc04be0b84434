"""GET and PUT /monitoring/models/{model_id}/drift-config: how a model's drift checks decide.

Anyone may read a config; only system_config (admin) sets one. A refused PUT stores nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import ApiResponse
from tests.support.authz import claims
from tests.support.registry import MODEL_ID
from tests.unit.monitoring.support import (
    MONITORING_TABLE,
    MonitoringWorld,
    Untouched,
    api,
    ok,
    sample_body,
)

DEFAULTS = {
    "fdr": 0.05,
    "quantile": 0.95,
    "floors": {"psi": 0.01, "js": 0.002},
    "thresholds": {"ks": None, "chi_square": None, "psi": None, "js": None},
    "feature_thresholds": {},
    "decision": ["test", "psi"],
    "drift_share": 0.25,
    "min_rows": 100,
    "resamples": 2000,
}


@pytest.fixture
def registered(world: MonitoringWorld) -> MonitoringWorld:
    """The sample model, version 1 registered without a baseline."""
    world.register()
    return world


def get_config(**parts: Any) -> ApiResponse:
    return api("get_drift_config", **parts)


def put_config(body: dict[str, Any] | None = None, **parts: Any) -> ApiResponse:
    return api("put_drift_config", body=sample_body("put_drift_config") if body is None else body, **parts)


def test_a_model_without_a_config_of_its_own_reads_the_defaults(registered: MonitoringWorld) -> None:
    config = ok(get_config())

    assert config == {
        **DEFAULTS,
        "model_id": MODEL_ID,
        "source": "default",
        "updated_at": None,
        "updated_by": None,
    }


def test_a_config_set_by_an_admin_is_the_models_own_from_then_on(registered: MonitoringWorld) -> None:
    body = {"fdr": 0.01, "thresholds": {"psi": 0.2}, "decision": ["psi"], "min_rows": 500}

    answered = ok(put_config(body))
    read = ok(get_config())

    assert read == answered
    assert (read["source"], read["updated_by"]) == ("model", "ada@example.com")
    assert read["updated_at"] is not None
    assert (read["fdr"], read["thresholds"]["psi"], read["decision"], read["min_rows"]) == (
        0.01,
        0.2,
        ["psi"],
        500,
    )
    assert read["quantile"] == DEFAULTS["quantile"]


def test_a_put_replaces_the_whole_config(registered: MonitoringWorld) -> None:
    ok(put_config({"fdr": 0.01, "thresholds": {"psi": 0.2}}))

    ok(put_config({"quantile": 0.99}))

    read = ok(get_config())
    assert (read["fdr"], read["quantile"], read["thresholds"]["psi"]) == (0.05, 0.99, None)


def test_setting_a_config_is_audited_as_the_admin(registered: MonitoringWorld) -> None:
    ok(put_config())

    (record,) = registered.audit_records("put_drift_config")
    assert (record.resource, record.actor) == (f"model/{MODEL_ID}/drift-config", "ada@example.com")


@pytest.mark.parametrize("role", ["ml_engineer", "data_scientist", "model_reviewer", "admin"])
def test_every_role_reads_a_models_config(registered: MonitoringWorld, role: str) -> None:
    assert get_config(claims=claims(role)).status == 200


def test_per_feature_thresholds_may_name_features_of_the_latest_baseline(world: MonitoringWorld) -> None:
    world.register(baseline_uri=world.put_baseline())
    world.register()  # version 2, no baseline: version 1's is the latest
    body = {"feature_thresholds": {"amount": {"psi": 0.3}, "channel": {"chi_square": 0.001}}}

    config = ok(put_config(body))

    assert config["feature_thresholds"]["amount"] == {"ks": None, "chi_square": None, "psi": 0.3, "js": None}
    assert config["feature_thresholds"]["channel"]["chi_square"] == 0.001


# -- refusals -----------------------------------------------------------------------------------------


def test_a_feature_the_latest_baseline_lacks_is_refused_and_nothing_is_stored(
    world: MonitoringWorld, untouched: Untouched
) -> None:
    world.register(baseline_uri=world.put_baseline())
    body = {"feature_thresholds": {"amount": {"psi": 0.3}, "zip_code": {"psi": 0.3}, "device": {}}}

    with untouched:
        response = put_config(body)

    assert (response.status, response.error_code) == (422, "unknown_feature")
    (detail,) = response.body["error"]["details"]
    assert detail["unknown"] == ["device", "zip_code"]
    assert detail["known"] == ["amount", "age", "channel"]


def test_per_feature_thresholds_without_any_baseline_are_a_conflict_and_nothing_is_stored(
    registered: MonitoringWorld, untouched: Untouched
) -> None:
    with untouched:
        response = put_config({"feature_thresholds": {"amount": {"psi": 0.3}}})

    assert (response.status, response.error_code) == (409, "no_baseline")
    assert "POST /api/v1/monitoring/baselines" in response.body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"thresholds": {"psi": 21}}, "body.thresholds.psi"),
        ({"thresholds": {"ks": 0}}, "body.thresholds.ks"),
        ({"feature_thresholds": {"amount": {"js": 2}}}, "body.feature_thresholds.amount.js"),
        ({"fdr": 0.6}, "body.fdr"),
        ({"quantile": 1.0}, "body.quantile"),
        ({"min_rows": 29}, "body.min_rows"),
        ({"decision": ["psi", "psi"]}, "body"),
        ({"alpha": 0.05}, "body.alpha"),
    ],
)
def test_a_value_out_of_range_is_refused_naming_its_field_and_nothing_is_stored(
    registered: MonitoringWorld, untouched: Untouched, body: dict[str, Any], field: str
) -> None:
    with untouched:
        response = put_config(body)

    assert (response.status, response.error_code) == (422, "validation_error")
    assert [detail["field"] for detail in response.body["error"]["details"]] == [field]


def test_a_body_that_is_not_json_is_malformed(registered: MonitoringWorld, untouched: Untouched) -> None:
    with untouched:
        response = api("put_drift_config", raw_body="{fdr: 0.1")

    assert (response.status, response.error_code) == (400, "malformed_json")


def test_the_config_of_a_model_nobody_registered_is_not_found(
    world: MonitoringWorld, untouched: Untouched
) -> None:
    with untouched:
        read = get_config()
        written = put_config()

    assert (read.status, read.error_code) == (404, "model_not_found")
    assert (written.status, written.error_code) == (404, "model_not_found")


@pytest.mark.parametrize("role", ["ml_engineer", "data_scientist", "model_reviewer"])
def test_only_system_config_may_set_a_config_and_a_refusal_stores_nothing(
    registered: MonitoringWorld, untouched: Untouched, role: str
) -> None:
    with untouched:
        response = put_config(claims=claims(role))

    assert (response.status, response.error_code) == (403, "access_denied")
    assert registered.aws.dynamodb.scan(TableName=MONITORING_TABLE)["Items"] == []
    assert ok(get_config())["source"] == "default"


@pytest.mark.parametrize(
    ("thresholds", "misfits"),
    [
        ({"channel": {"ks": 0.01}}, ["channel.ks"]),
        ({"amount": {"chi_square": 0.01, "psi": 0.2}}, ["amount.chi_square"]),
    ],
)
def test_a_test_that_does_not_fit_the_features_kind_is_refused_and_nothing_is_stored(
    world: MonitoringWorld, untouched: Untouched, thresholds: dict[str, Any], misfits: list[str]
) -> None:
    world.register(baseline_uri=world.put_baseline())

    with untouched:
        response = put_config({"feature_thresholds": thresholds})

    assert (response.status, response.error_code) == (422, "invalid_drift_config")
    assert response.body["error"]["details"] == [{"field": "feature_thresholds", "misfits": misfits}]


def test_distances_fit_every_kind_of_feature(world: MonitoringWorld) -> None:
    world.register(baseline_uri=world.put_baseline())
    body = {
        "feature_thresholds": {"amount": {"ks": 0.01, "js": 0.1}, "channel": {"chi_square": 0.01, "psi": 0.3}}
    }

    assert put_config(body).status == 200
