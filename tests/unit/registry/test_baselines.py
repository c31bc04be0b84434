"""A version's drift baseline: `baseline_uri` at registration, and `link_baseline` on an existing version.

The URI names one object in the artifact buckets or the monitoring bucket (MONITORING_BUCKET), checked
like the artifact location. `link_baseline` (no HTTP route: the monitoring API calls it) sets or
replaces it, audited in the change's own transaction and publishing no event; refusals write nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from cirrus_core.audit.models import AuditRecord
from cirrus_core.audit.wiring import audit_trail
from cirrus_core.caller import Caller
from cirrus_core.errors import (
    AccessDenied,
    CirrusError,
    InvalidArtifactLocation,
    ModelNotFound,
    ModelRetired,
    VersionNotFound,
    VersionRetired,
)
from cirrus_core.principal import Principal
from cirrus_core.registry.models import ModelVersion
from cirrus_core.registry.wiring import registry_service
from tests.support.api import call
from tests.support.aws import ALLOWLISTED_BUCKET, ARTIFACT_BUCKET, MONITORING_BUCKET, AwsResources
from tests.support.registry import MODEL_ID, REVIEWER_CLAIMS, RegistryDriver, Unchanged
from tests.unit.registry.registration import assert_refused, registration

IN_PIPELINE_RUN = f"s3://{ARTIFACT_BUCKET}/pipelines/fraud/runs/run-1/profile-baseline/baseline.json"
BUILT_LATER = f"s3://{MONITORING_BUCKET}/baselines/{MODEL_ID}/1/baseline.json"
ENGINEER = Caller(
    Principal(
        sub="7d8f3a2e-1b4c-4e5f-9a6b-2c3d4e5f6a7b",
        username="alice@example.com",
        groups=frozenset({"ml_engineer"}),
    ),
    request_id="req-link-1",
)
REVIEWER = Caller(
    Principal(
        sub=REVIEWER_CLAIMS["sub"],
        username=REVIEWER_CLAIMS["cognito:username"],
        groups=frozenset({"model_reviewer"}),
    )
)
UNSAFE = [
    pytest.param(f"s3://other-bucket-123456789012/{MODEL_ID}/baseline.json", id="another-bucket"),
    pytest.param(f"s3://{ARTIFACT_BUCKET}/baselines/../baseline.json", id="dot-dot-segment"),
    pytest.param(f"s3://{ARTIFACT_BUCKET}/baselines/", id="prefix"),
    pytest.param(f"s3://{ARTIFACT_BUCKET}/baselines/b%2Fc.json", id="percent-encoding"),
]


@pytest.fixture
def no_monitoring_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The registry built without MONITORING_BUCKET (and rebuilt as configured afterwards)."""
    monkeypatch.delenv("MONITORING_BUCKET")
    registry_service.cache_clear()
    yield
    registry_service.cache_clear()


def link(uri: str, version: int = 1, *, caller: Caller = ENGINEER, model_id: str = MODEL_ID) -> ModelVersion:
    return registry_service().link_baseline(model_id, version, uri, caller)


def audit_records() -> list[AuditRecord]:
    return [record for _, record in audit_trail().iter_chain() if record is not None]


def refused(unchanged: Unchanged, error: type[CirrusError], attempt: Callable[[], object]) -> CirrusError:
    """The error `attempt` raises, having written nothing and published nothing."""
    with unchanged, pytest.raises(error) as raised:
        attempt()
    return raised.value


# -- at registration ----------------------------------------------------------------------------------


def test_a_baseline_registered_with_the_version_is_shown_on_it(registry: RegistryDriver) -> None:
    response = call("register_model", body=registration(baseline_uri=IN_PIPELINE_RUN))

    assert response.status == 201, response.body
    assert response.body["baseline_uri"] == IN_PIPELINE_RUN
    assert registry.version(1)["baseline_uri"] == IN_PIPELINE_RUN


def test_a_version_registered_without_a_baseline_has_none(registry: RegistryDriver) -> None:
    registry.register()

    assert registry.version(1)["baseline_uri"] is None


def test_a_baseline_in_an_allowlisted_bucket_is_accepted(aws: AwsResources) -> None:
    uri = f"s3://{ALLOWLISTED_BUCKET}/baselines/baseline.json"

    assert call("register_model", body=registration(baseline_uri=uri)).body["baseline_uri"] == uri


def test_a_baseline_in_the_monitoring_bucket_is_accepted(aws: AwsResources) -> None:
    response = call("register_model", body=registration(baseline_uri=BUILT_LATER))

    assert response.status == 201, response.body
    assert response.body["baseline_uri"] == BUILT_LATER


def test_without_a_monitoring_bucket_only_the_artifact_buckets_hold_baselines(
    aws: AwsResources, unchanged: Unchanged, no_monitoring_bucket: None
) -> None:
    with unchanged:
        response = call("register_model", body=registration(baseline_uri=BUILT_LATER))

    assert_refused(response, 422, "invalid_artifact_location")


@pytest.mark.parametrize("uri", UNSAFE)
def test_an_unsafe_baseline_is_422_names_its_field_and_writes_nothing(
    aws: AwsResources, unchanged: Unchanged, uri: str
) -> None:
    with unchanged:
        response = call("register_model", body=registration(baseline_uri=uri))

    assert_refused(response, 422, "invalid_artifact_location")
    assert response.body["error"]["details"][0]["field"] == "baseline_uri"


# -- link_baseline ------------------------------------------------------------------------------------


def test_linking_sets_the_baseline_of_an_existing_version(registry: RegistryDriver) -> None:
    registry.register()
    registry.register()

    linked = link(IN_PIPELINE_RUN, 1)

    assert linked.baseline_uri == IN_PIPELINE_RUN
    assert registry.version(1)["baseline_uri"] == IN_PIPELINE_RUN
    assert registry.version(2)["baseline_uri"] is None
    assert registry.new_events() == []  # no lifecycle event


def test_linking_replaces_an_earlier_baseline(registry: RegistryDriver) -> None:
    call("register_model", body=registration(baseline_uri=IN_PIPELINE_RUN))

    link(BUILT_LATER)

    assert registry.version(1)["baseline_uri"] == BUILT_LATER


def test_a_link_is_audited_in_its_own_transaction(registry: RegistryDriver) -> None:
    registry.register()
    before = len(audit_records())

    link(IN_PIPELINE_RUN)

    records = audit_records()
    assert len(records) == before + 1
    record = records[-1]
    assert (record.category, record.action, record.decision) == ("change", "link_baseline", "allow")
    assert record.resource == f"model/{MODEL_ID}/version/1"
    assert (record.actor, record.request_id) == ("alice@example.com", "req-link-1")
    assert record.before_hash is not None
    assert record.after_hash is not None
    assert record.after_hash != record.before_hash


def test_linking_the_baseline_the_version_has_writes_nothing(
    registry: RegistryDriver, unchanged: Unchanged
) -> None:
    call("register_model", body=registration(baseline_uri=IN_PIPELINE_RUN))

    with unchanged:
        again = link(IN_PIPELINE_RUN)

    assert again.baseline_uri == IN_PIPELINE_RUN


# -- refusals: nothing written ------------------------------------------------------------------------


def test_an_unknown_model_is_404(aws: AwsResources, unchanged: Unchanged) -> None:
    error = refused(unchanged, ModelNotFound, lambda: link(IN_PIPELINE_RUN, model_id="no_such_model"))
    assert error.status == 404


def test_an_unknown_version_is_404(registry: RegistryDriver, unchanged: Unchanged) -> None:
    registry.register()

    error = refused(unchanged, VersionNotFound, lambda: link(IN_PIPELINE_RUN, 2))

    assert error.status == 404


def test_a_retired_version_keeps_its_baseline(registry: RegistryDriver, unchanged: Unchanged) -> None:
    registry.register()
    registry.register()
    registry.retire(1)

    error = refused(unchanged, VersionRetired, lambda: link(IN_PIPELINE_RUN, 1))

    assert (error.status, error.code) == (409, "version_retired")


def test_a_retired_model_takes_no_baseline(registry: RegistryDriver, unchanged: Unchanged) -> None:
    registry.register()
    registry.retire()

    error = refused(unchanged, ModelRetired, lambda: link(IN_PIPELINE_RUN, 1))

    assert (error.status, error.code) == (409, "model_retired")


@pytest.mark.parametrize("uri", UNSAFE)
def test_an_unsafe_baseline_is_422_and_names_its_field(
    registry: RegistryDriver, unchanged: Unchanged, uri: str
) -> None:
    registry.register()

    error = refused(unchanged, InvalidArtifactLocation, lambda: link(uri))

    assert error.status == 422
    assert error.details[0]["field"] == "baseline_uri"


def test_without_a_monitoring_bucket_a_baseline_there_is_refused(
    registry: RegistryDriver, unchanged: Unchanged, no_monitoring_bucket: None
) -> None:
    registry.register()

    error = refused(unchanged, InvalidArtifactLocation, lambda: link(BUILT_LATER))

    assert error.details[0]["field"] == "baseline_uri"


def test_only_those_who_may_register_versions_may_link_a_baseline(
    registry: RegistryDriver, unchanged: Unchanged
) -> None:
    registry.register()

    error = refused(unchanged, AccessDenied, lambda: link(IN_PIPELINE_RUN, caller=REVIEWER))

    assert error.status == 403
    assert registry.version(1)["baseline_uri"] is None
