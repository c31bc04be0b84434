"""artifact_location must name one object in the platform's artifact bucket or an allowlisted bucket.

The check is on the raw string and refuses anything that would need decoding, normalising or
guessing. A location that breaks the documented request schema (`^s3://`, at most 1024 characters)
is refused by validation (`validation_error`); one that passes the schema but not the rule is
refused with `invalid_artifact_location`. Either way: 422, nothing written, nothing published.
"""

from __future__ import annotations

import pytest

from cirrus_core.errors import InvalidArtifactLocation, InvalidDatasetUri
from cirrus_core.registry.artifacts import MAX_URI_LENGTH, allowed_artifact_buckets, check_s3_uri
from tests.support.api import call
from tests.support.aws import ALLOWLISTED_BUCKET, ARTIFACT_BUCKET, AwsResources
from tests.support.registry import RegistryDriver, Unchanged
from tests.unit.registry.registration import assert_refused, registration

HOME = f"s3://{ARTIFACT_BUCKET}"
BUCKETS = frozenset({ARTIFACT_BUCKET, ALLOWLISTED_BUCKET})
KEY = "models/fraud_detection_v2/model.tar.gz"
HOMOGLYPH_BUCKET = ARTIFACT_BUCKET.replace("a", "\u0430", 1)  # a Cyrillic "a"

# Refused by the documented schema before the artifact rule runs.
OFF_SCHEMA = [
    pytest.param(f"https://{ARTIFACT_BUCKET}.s3.amazonaws.com/{KEY}", id="https-scheme"),
    pytest.param(f"file:///tmp/{KEY}", id="file-scheme"),
    pytest.param(f"S3://{ARTIFACT_BUCKET}/{KEY}", id="uppercase-scheme"),
    pytest.param(f"s3:/{ARTIFACT_BUCKET}/{KEY}", id="one-slash-after-scheme"),
    pytest.param(f"s3a://{ARTIFACT_BUCKET}/{KEY}", id="s3a-scheme"),
    pytest.param(f" {HOME}/{KEY}", id="leading-space"),
    pytest.param(f"{HOME}/models/{'k' * MAX_URI_LENGTH}/model.tar.gz", id="over-1024-characters"),
]

# Well-formed enough for the schema; refused by the artifact rule.
ATTACKS = [
    pytest.param(f"s3://other-bucket-123456789012/{KEY}", id="another-bucket"),
    pytest.param(f"s3://{ARTIFACT_BUCKET}-evil/{KEY}", id="lookalike-suffix"),
    pytest.param(f"s3://{ARTIFACT_BUCKET}.evil.com/{KEY}", id="lookalike-domain"),
    pytest.param(f"s3://x{ARTIFACT_BUCKET}/{KEY}", id="lookalike-prefix"),
    pytest.param(f"s3://{ARTIFACT_BUCKET.upper()}/{KEY}", id="uppercase-bucket"),
    pytest.param(f"s3://{HOMOGLYPH_BUCKET}/{KEY}", id="cyrillic-homoglyph-bucket"),
    pytest.param(f"s3://evil@{ARTIFACT_BUCKET}/{KEY}", id="userinfo-before-bucket"),
    pytest.param(f"s3://{ARTIFACT_BUCKET}:443/{KEY}", id="port-after-bucket"),
    pytest.param(f"{HOME}/models/../secrets/model.tar.gz", id="dot-dot-segment"),
    pytest.param(f"{HOME}/../{KEY}", id="leading-dot-dot-segment"),
    pytest.param(f"{HOME}/models/./model.tar.gz", id="dot-segment"),
    pytest.param(f"{HOME}/models//model.tar.gz", id="empty-segment"),
    pytest.param(f"{HOME}//{KEY}", id="empty-first-segment"),
    pytest.param(f"{HOME}/models/%2e%2e/secrets/model.tar.gz", id="encoded-dot-dot"),
    pytest.param(f"{HOME}/models/%2E%2E%2Fsecrets/model.tar.gz", id="encoded-dot-dot-slash-uppercase"),
    pytest.param(f"{HOME}/models/%252e%252e/secrets/model.tar.gz", id="double-encoded-dot-dot"),
    pytest.param(f"{HOME}/models/model%20final.tar.gz", id="any-percent-encoding"),
    pytest.param(f"{HOME}/models/\uff0e\uff0e/model.tar.gz", id="fullwidth-dots"),
    pytest.param(f"{HOME}/models\\..\\secrets\\model.tar.gz", id="backslashes"),
    pytest.param(f"{HOME}/{KEY}?versionId=1", id="query-string"),
    pytest.param(f"{HOME}/{KEY}#latest", id="fragment"),
    pytest.param(f"{HOME}/models/\nmodel.tar.gz", id="newline"),
    pytest.param(f"{HOME}/{KEY}\x00.txt", id="nul"),
    pytest.param(f"{HOME}/{KEY}\x7f", id="delete"),
    pytest.param(f"{HOME}/models/\tmodel.tar.gz", id="tab"),
    pytest.param(f"{HOME}/models/fraud_detection_v2/", id="prefix-only"),
    pytest.param(f"{HOME}/", id="bucket-with-slash"),
    pytest.param(HOME, id="bucket-only"),
]


@pytest.fixture
def one_version(registry: RegistryDriver) -> None:
    registry.register()


# -- through the API -------------------------------------------------------------------------------


@pytest.mark.parametrize("location", ATTACKS)
def test_an_unsafe_artifact_location_is_422_invalid_artifact_location(
    aws: AwsResources, one_version: None, unchanged: Unchanged, location: str
) -> None:
    with unchanged:
        response = call("register_model", body=registration(artifact_location=location))

    assert_refused(response, 422, "invalid_artifact_location")
    assert response.body["error"]["details"][0]["field"] == "artifact_location"


@pytest.mark.parametrize("location", OFF_SCHEMA)
def test_an_artifact_location_off_the_request_schema_is_422(
    aws: AwsResources, one_version: None, unchanged: Unchanged, location: str
) -> None:
    with unchanged:
        response = call("register_model", body=registration(artifact_location=location))

    assert_refused(response, 422, "validation_error")
    assert [detail["field"] for detail in response.body["error"]["details"]] == ["body.artifact_location"]


@pytest.mark.parametrize(
    "location",
    [
        pytest.param(f"{HOME}/{KEY}", id="artifact-bucket"),
        pytest.param(f"s3://{ALLOWLISTED_BUCKET}/teams/risk/model.tar.gz", id="allowlisted-bucket"),
        pytest.param(f"{HOME}/model.tar.gz", id="top-level-object"),
        pytest.param(f"{HOME}/models/run=42/v1.2+cpu/model (final).tar.gz", id="punctuation-in-key"),
        pytest.param(f"{HOME}/models/...model.tar.gz", id="dots-inside-a-segment"),
    ],
)
def test_a_safe_artifact_location_is_accepted(aws: AwsResources, location: str) -> None:
    response = call("register_model", body=registration(artifact_location=location))

    assert response.status == 201
    assert response.body["artifact_location"] == location


# -- dataset_uri: any bucket, and a prefix is fine ----------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("s3://cirrus-data-123456789012/datasets/transactions/2024-06-01/", id="prefix"),
        pytest.param("s3://cirrus-data-123456789012/datasets/transactions.csv", id="object"),
        pytest.param("s3://partner-data.example/exports/june/", id="another-bucket"),
    ],
)
def test_a_dataset_uri_may_name_a_prefix_or_an_object_in_any_bucket(aws: AwsResources, uri: str) -> None:
    response = call("register_model", body=registration(dataset_uri=uri))

    assert response.status == 201
    assert response.body["dataset_uri"] == uri


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("s3://cirrus-data-123456789012/datasets/../secrets/", id="dot-dot-segment"),
        pytest.param("s3://cirrus-data-123456789012/datasets/%2e%2e/", id="encoded-dot-dot"),
        pytest.param("s3://cirrus-data-123456789012/datasets//june/", id="empty-segment"),
        pytest.param("s3://cirrus-data-123456789012/datasets/june/?x=1", id="query-string"),
        pytest.param("s3://cirrus-data-123456789012/", id="bucket-only"),
        pytest.param("s3://Cirrus-Data/datasets/june/", id="invalid-bucket-name"),
    ],
)
def test_an_unsafe_dataset_uri_is_422_invalid_dataset_uri(
    aws: AwsResources, one_version: None, unchanged: Unchanged, uri: str
) -> None:
    with unchanged:
        response = call("register_model", body=registration(dataset_uri=uri))

    assert_refused(response, 422, "invalid_dataset_uri")
    assert response.body["error"]["details"][0]["field"] == "dataset_uri"


# -- check_s3_uri itself ---------------------------------------------------------------------------


def test_a_safe_uri_is_split_into_bucket_and_key() -> None:
    assert check_s3_uri(f"{HOME}/{KEY}", BUCKETS) == (ARTIFACT_BUCKET, KEY)


@pytest.mark.parametrize("location", OFF_SCHEMA + ATTACKS)
def test_check_s3_uri_refuses_every_unsafe_location(location: str) -> None:
    with pytest.raises(InvalidArtifactLocation):
        check_s3_uri(location, BUCKETS)


def test_without_an_allowlist_any_well_formed_bucket_is_accepted() -> None:
    assert check_s3_uri(f"s3://anyone-else/{KEY}", None) == ("anyone-else", KEY)


@pytest.mark.parametrize(
    "location",
    [
        pytest.param(f"s3://Anyone-Else/{KEY}", id="uppercase-bucket"),
        pytest.param(f"s3://anyone..else/{KEY}", id="double-dot-in-bucket"),
        pytest.param(f"s3://ab/{KEY}", id="bucket-of-2-characters"),
        pytest.param(f"s3://{'b' * 64}/{KEY}", id="bucket-of-64-characters"),
        pytest.param(f"s3://-anyone/{KEY}", id="bucket-starting-with-hyphen"),
    ],
)
def test_without_an_allowlist_a_malformed_bucket_is_still_refused(location: str) -> None:
    with pytest.raises(InvalidArtifactLocation, match="bucket name"):
        check_s3_uri(location, None)


def test_a_prefix_is_refused_unless_prefixes_are_allowed() -> None:
    prefix = f"{HOME}/datasets/june/"

    with pytest.raises(InvalidArtifactLocation):
        check_s3_uri(prefix, BUCKETS)
    assert check_s3_uri(prefix, BUCKETS, prefix_allowed=True) == (ARTIFACT_BUCKET, "datasets/june/")


@pytest.mark.parametrize(
    "prefix",
    [f"{HOME}/", f"{HOME}//", f"{HOME}/datasets/../", f"{HOME}/datasets/./june/"],
    ids=["bucket-with-slash", "empty-key", "dot-dot-prefix", "dot-segment-prefix"],
)
def test_an_allowed_prefix_still_obeys_the_segment_rules(prefix: str) -> None:
    with pytest.raises(InvalidArtifactLocation):
        check_s3_uri(prefix, BUCKETS, prefix_allowed=True)


def test_a_uri_of_exactly_1024_characters_is_accepted() -> None:
    uri = f"{HOME}/models/".ljust(MAX_URI_LENGTH - len("/m.tar.gz"), "k") + "/m.tar.gz"
    assert len(uri) == MAX_URI_LENGTH

    assert check_s3_uri(uri, BUCKETS)[0] == ARTIFACT_BUCKET


def test_the_refusal_names_the_field_and_error_class_it_is_given() -> None:
    uri = f"s3://data/{'x' * 300}/../y"

    with pytest.raises(InvalidDatasetUri) as raised:
        check_s3_uri(uri, None, field="dataset_uri", error=InvalidDatasetUri, prefix_allowed=True)

    assert raised.value.message.startswith("dataset_uri: ")
    assert raised.value.details == [{"field": "dataset_uri", "value": uri[:200]}]


def test_the_allowed_buckets_are_the_artifact_bucket_and_the_allowlist() -> None:
    assert allowed_artifact_buckets("artifacts", ("shared", "team")) == {"artifacts", "shared", "team"}


def test_an_unset_artifact_bucket_allows_nothing_by_itself() -> None:
    assert allowed_artifact_buckets("", ()) == frozenset()


# -- sample_payloads_uri: one object in the artifact buckets, like the artifact -----------------


def test_sample_payloads_in_the_artifact_bucket_are_kept_on_the_version(aws: AwsResources) -> None:
    uri = f"{HOME}/models/fraud_detection_v2/samples.jsonl"

    response = call("register_model", body=registration(sample_payloads_uri=uri))

    assert response.status == 201
    assert response.body["sample_payloads_uri"] == uri


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param(f"s3://other-bucket-123456789012/{KEY}", id="another-bucket"),
        pytest.param(f"{HOME}/models/../samples.jsonl", id="dot-dot-segment"),
        pytest.param(f"{HOME}/models/", id="prefix"),
    ],
)
def test_unsafe_sample_payloads_are_422_and_name_their_field(
    aws: AwsResources, one_version: None, unchanged: Unchanged, uri: str
) -> None:
    with unchanged:
        response = call("register_model", body=registration(sample_payloads_uri=uri))

    assert_refused(response, 422, "invalid_artifact_location")
    assert response.body["error"]["details"][0]["field"] == "sample_payloads_uri"
