"""Repository webhooks start the runs their trigger rules ask for, and nothing else.

The receiver here is the real one (Secrets Manager, the pipelines table under moto) with a
recording run starter in place of the pipeline service: what it is asked to start is the spec.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from cirrus_core.errors import (
    InvalidWebhookPayload,
    InvalidWebhookSignature,
    PipelineNotFound,
    UnknownWebhookProvider,
)
from cirrus_core.pipelines.definition import TriggerRule
from cirrus_core.pipelines.settings import PipelineSettings
from cirrus_core.pipelines.webhooks import (
    DELIVERY_TTL_DAYS,
    RepositoryEvent,
    WebhookReceiver,
    WebhookResponse,
    WebhookStore,
    provider_secret,
    rule_matches,
)
from tests.support.aws import AwsResources
from tests.support.registry import Unchanged
from tests.unit.pipelines.webhook_support import (
    GITHUB_REPOSITORY,
    GITLAB_REPOSITORY,
    PIPELINES_TABLE,
    Delivery,
    RecordingStarter,
    add_trigger,
    deliveries,
    github_delivery,
    gitlab_delivery,
    sample_delivery,
    sign,
    store_secrets,
)

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
PUSH_COMMIT = "9f2c4e1d7b3a8c6e5f4d2b1a0c9e8d7f6a5b4c3d"  # the GitHub push sample's head


@pytest.fixture
def starter() -> RecordingStarter:
    return RecordingStarter()


@pytest.fixture
def receiver(aws: AwsResources, starter: RecordingStarter) -> WebhookReceiver:
    store_secrets(aws)
    return WebhookReceiver(
        storage=WebhookStore(aws.dynamodb, PIPELINES_TABLE),
        starter=starter,
        secrets=provider_secret,
        clock=lambda: NOW,
    )


@pytest.fixture
def unchanged(aws: AwsResources) -> Unchanged:
    return Unchanged(aws)


def receive(receiver: WebhookReceiver, delivery: Delivery) -> WebhookResponse:
    return receiver.receive(delivery.provider, delivery.headers, delivery.body)


def pull_request(action: str = "opened", base: str = "main", head: str = "feature/deeper-trees") -> Delivery:
    _, sample = sample_delivery("webhook_github_pull_request")
    payload = json.loads(sample.body)
    payload["action"] = action
    payload["pull_request"]["base"]["ref"] = base
    payload["pull_request"]["head"]["ref"] = head
    return github_delivery("webhook_github_pull_request", payload=payload)


# ---------------------------------------------------------------------------------------- GitHub


def test_a_signed_push_to_a_watched_branch_starts_a_run_with_the_commit_in_its_trigger(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter
) -> None:
    add_trigger(aws, "fraud", branches=["main"], parameters={"data_source": "s3://data/fraud.csv"})
    _, delivery = sample_delivery("webhook_github_push")

    response = receive(receiver, delivery)

    assert response.runs[0].model_dump() == {"pipeline_id": "fraud", "run_id": "run-1"}
    assert response.accepted
    assert not response.duplicate
    assert starter.calls == [
        {
            "pipeline_id": "fraud",
            "parameters": {"data_source": "s3://data/fraud.csv"},
            "trigger": {
                "type": "webhook",
                "detail": {
                    "provider": "github",
                    "repository": GITHUB_REPOSITORY,
                    "event": "push",
                    "branch": "main",
                    "commit": PUSH_COMMIT,
                    "delivery_id": "6f1e0a52-1f9b-11ef-8b3e-2a1d5c7e9f00",
                    "sender": "octo-alice",
                },
            },
        }
    ]


def test_the_delivery_is_recorded_with_its_runs_and_expires_after_thirty_days(
    aws: AwsResources, receiver: WebhookReceiver
) -> None:
    add_trigger(aws, "fraud")
    _, delivery = sample_delivery("webhook_github_push")

    receive(receiver, delivery)

    item = deliveries(aws)["DELIVERY#github#6f1e0a52-1f9b-11ef-8b3e-2a1d5c7e9f00"]
    assert item["sk"] == {"S": "DELIVERY"}
    assert item["received_at"] == {"S": NOW.isoformat()}
    assert int(item["expires_at"]["N"]) == int((NOW + timedelta(days=DELIVERY_TTL_DAYS)).timestamp())
    assert item["runs"] == {"L": [{"M": {"pipeline_id": {"S": "fraud"}, "run_id": {"S": "run-1"}}}]}


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(sign(b"another body"), id="signed-another-body"),
        pytest.param(sign(b"", secret="not-the-secret"), id="another-secret"),
        pytest.param("sha1=0123456789abcdef", id="wrong-scheme"),
        pytest.param("", id="empty"),
    ],
)
def test_a_bad_signature_is_refused_and_nothing_is_written_or_started(
    aws: AwsResources,
    receiver: WebhookReceiver,
    starter: RecordingStarter,
    unchanged: Unchanged,
    signature: str,
) -> None:
    add_trigger(aws, "fraud")
    _, delivery = sample_delivery("webhook_github_push")

    with unchanged, pytest.raises(InvalidWebhookSignature) as refused:
        receive(receiver, delivery.with_headers(X_Hub_Signature_256=signature))

    assert (refused.value.status, refused.value.code) == (401, "invalid_webhook_signature")
    assert starter.calls == []


def test_a_delivery_without_a_signature_header_is_refused(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter, unchanged: Unchanged
) -> None:
    add_trigger(aws, "fraud")
    _, delivery = sample_delivery("webhook_github_push")

    with unchanged, pytest.raises(InvalidWebhookSignature):
        receive(receiver, delivery.with_headers(X_Hub_Signature_256=None))

    assert starter.calls == []


def test_a_tampered_body_under_the_original_signature_is_refused(
    aws: AwsResources, receiver: WebhookReceiver, unchanged: Unchanged
) -> None:
    add_trigger(aws, "fraud")
    _, delivery = sample_delivery("webhook_github_push")
    tampered = Delivery(
        "github", delivery.headers, delivery.body.replace(b"refs/heads/main", b"refs/heads/prod")
    )

    with unchanged, pytest.raises(InvalidWebhookSignature):
        receive(receiver, tampered)


def test_the_signature_is_checked_before_the_body_is_parsed(
    receiver: WebhookReceiver, unchanged: Unchanged
) -> None:
    _, delivery = sample_delivery("webhook_github_push")
    garbage = Delivery("github", delivery.headers, b"{not json")

    with unchanged, pytest.raises(InvalidWebhookSignature):
        receive(receiver, garbage)


def test_malformed_json_with_a_valid_signature_is_unprocessable(
    receiver: WebhookReceiver, unchanged: Unchanged
) -> None:
    _, delivery = sample_delivery("webhook_github_push")
    body = b'{"ref": "refs/heads/main", '
    signed = Delivery("github", {**delivery.headers, "X-Hub-Signature-256": sign(body)}, body)

    with unchanged, pytest.raises(InvalidWebhookPayload) as refused:
        receive(receiver, signed)

    assert (refused.value.status, refused.value.code) == (422, "invalid_webhook_payload")


def test_a_signed_body_missing_what_the_event_needs_is_unprocessable(
    receiver: WebhookReceiver, unchanged: Unchanged
) -> None:
    delivery = github_delivery(payload={"ref": "refs/heads/main"})

    with unchanged, pytest.raises(InvalidWebhookPayload) as refused:
        receive(receiver, delivery)

    assert {detail["field"] for detail in refused.value.details} == {"after", "repository"}


def test_a_form_encoded_delivery_is_verified_as_sent_and_read_from_its_payload_field(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter
) -> None:
    # GitHub's "application/x-www-form-urlencoded" content type: the JSON in a `payload` field.
    add_trigger(aws, "fraud")
    _, sample = sample_delivery("webhook_github_push")
    body = urlencode({"payload": sample.body.decode()}).encode()
    headers = {
        **sample.headers,
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Hub-Signature-256": sign(body),
    }

    receive(receiver, Delivery("github", headers, body))

    assert starter.calls[0]["trigger"]["detail"]["commit"] == PUSH_COMMIT


def test_a_ping_is_answered_without_a_run_or_a_write(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter, unchanged: Unchanged
) -> None:
    add_trigger(aws, "fraud")
    _, ping = sample_delivery("webhook_github_ping")

    with unchanged:
        response = receive(receiver, ping)

    assert (response.event, response.ignored, response.runs) == ("ping", "ping", [])
    assert not response.accepted
    assert starter.calls == []


def test_a_replayed_delivery_starts_nothing(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter
) -> None:
    add_trigger(aws, "fraud")
    _, delivery = sample_delivery("webhook_github_push")
    receive(receiver, delivery)

    replay = receive(receiver, delivery)

    assert replay.duplicate is True
    assert replay.runs == []
    assert starter.started == ["fraud"]


def test_a_captured_body_replayed_under_a_fresh_delivery_id_starts_nothing(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter
) -> None:
    # GitHub signs the body only: the delivery id header is the replayer's to choose.
    add_trigger(aws, "fraud")
    _, delivery = sample_delivery("webhook_github_push")
    receive(receiver, delivery)

    replay = receive(
        receiver, delivery.with_headers(X_GitHub_Delivery="00000000-aaaa-4bbb-8ccc-000000000000")
    )

    assert replay.duplicate is True
    assert starter.started == ["fraud"]


def test_a_new_push_with_a_new_delivery_id_starts_another_run(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter
) -> None:
    add_trigger(aws, "fraud")
    receive(receiver, github_delivery(after="1" * 40, delivery_id="first"))

    response = receive(receiver, github_delivery(after="2" * 40, delivery_id="second"))

    assert [run.run_id for run in response.runs] == ["run-2"]
    assert [call["trigger"]["detail"]["commit"] for call in starter.calls] == ["1" * 40, "2" * 40]


@pytest.mark.parametrize(
    ("patterns", "branch", "starts"),
    [
        pytest.param(["main"], "main", True, id="exact"),
        pytest.param(["main"], "feature/x", False, id="other-branch"),
        pytest.param(["main"], "main-old", False, id="whole-name-only"),
        pytest.param(["release/*"], "release/1.2", True, id="glob"),
        pytest.param(["release/*"], "releases/1.2", False, id="glob-prefix-differs"),
        pytest.param(["release/*"], "release", False, id="glob-needs-a-suffix"),
        pytest.param(["main", "feature/*"], "feature/x", True, id="any-pattern"),
        pytest.param(["Main"], "main", False, id="case-sensitive"),
    ],
)
def test_a_push_starts_a_run_only_on_a_branch_the_rule_watches(
    aws: AwsResources,
    receiver: WebhookReceiver,
    starter: RecordingStarter,
    patterns: list[str],
    branch: str,
    starts: bool,
) -> None:
    add_trigger(aws, "fraud", branches=patterns)

    response = receive(receiver, github_delivery(ref=f"refs/heads/{branch}"))

    assert starter.started == (["fraud"] if starts else [])
    assert response.accepted is starts
    assert response.ignored == (None if starts else "no_matching_trigger")


def test_only_the_pipelines_whose_rules_match_start(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter
) -> None:
    add_trigger(aws, "on-main", branches=["main"])
    add_trigger(aws, "on-release", branches=["release/*"])
    add_trigger(aws, "on-anything", branches=["*"])

    response = receive(receiver, github_delivery(ref="refs/heads/release/2.0"))

    assert sorted(starter.started) == ["on-anything", "on-release"]
    assert sorted(run.pipeline_id for run in response.runs) == ["on-anything", "on-release"]


def test_a_push_does_not_start_a_rule_that_watches_pull_requests_only(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter
) -> None:
    add_trigger(aws, "fraud", events=["pull_request"])

    receive(receiver, github_delivery())

    assert starter.calls == []


def test_a_pull_request_into_a_watched_branch_starts_a_run_on_its_head_commit(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter
) -> None:
    add_trigger(aws, "fraud", events=["pull_request"], branches=["main"])

    receive(receiver, pull_request("synchronize", base="main", head="feature/deeper-trees"))

    (call,) = starter.calls
    assert call["trigger"]["detail"] == {
        "provider": "github",
        "repository": GITHUB_REPOSITORY,
        "event": "pull_request",
        "branch": "main",
        "source_branch": "feature/deeper-trees",
        "commit": "4b8e2d6f0a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b",
        "delivery_id": "7a2f1b63-1f9b-11ef-9c4f-3b2e6d8f0a11",
        "sender": "octo-alice",
    }


def test_pull_requests_are_matched_on_their_base_branch_not_their_head(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter
) -> None:
    add_trigger(aws, "fraud", events=["pull_request"], branches=["feature/*"])

    receive(receiver, pull_request(base="main", head="feature/deeper-trees"))

    assert starter.calls == []


@pytest.mark.parametrize("action", ["closed", "labeled", "edited", "assigned"])
def test_pull_request_actions_without_new_code_start_nothing(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter, unchanged: Unchanged, action: str
) -> None:
    add_trigger(aws, "fraud", events=["pull_request"])

    with unchanged:
        response = receive(receiver, pull_request(action))

    assert response.ignored == "not_a_triggering_event"
    assert starter.calls == []


def test_a_tag_push_is_a_tag_event_matched_on_the_tag_name(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter
) -> None:
    add_trigger(aws, "on-push", events=["push"], branches=["*"])
    add_trigger(aws, "on-tag", events=["tag"], branches=["v*"])

    receive(receiver, github_delivery(ref="refs/tags/v1.4.0"))

    (call,) = starter.calls
    assert call["pipeline_id"] == "on-tag"
    assert call["trigger"]["detail"]["event"] == "tag"
    assert call["trigger"]["detail"]["tag"] == "v1.4.0"
    assert call["trigger"]["detail"]["branch"] is None


def test_a_deleted_branch_starts_nothing(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter
) -> None:
    add_trigger(aws, "fraud", branches=["*"])

    response = receive(receiver, github_delivery(deleted=True, after="0" * 40))

    assert response.ignored == "not_a_triggering_event"
    assert starter.calls == []


def test_an_event_cirrus_does_not_use_is_acknowledged_and_ignored(
    receiver: WebhookReceiver, starter: RecordingStarter, unchanged: Unchanged
) -> None:
    delivery = github_delivery(payload={"action": "opened", "issue": {"number": 1}}).with_headers(
        X_GitHub_Event="issues"
    )

    with unchanged:
        response = receive(receiver, delivery)

    assert (response.event, response.ignored) == ("issues", "not_a_triggering_event")
    assert starter.calls == []


def test_a_rule_of_another_repository_does_not_start(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter
) -> None:
    add_trigger(aws, "other", repository="acme-ml/churn-model", branches=["*"])

    response = receive(receiver, github_delivery())

    assert response.ignored == "no_matching_trigger"
    assert starter.calls == []


def test_repository_paths_are_compared_without_regard_to_case(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter
) -> None:
    add_trigger(aws, "fraud", repository=GITHUB_REPOSITORY.lower())
    payload = json.loads(sample_delivery("webhook_github_push")[1].body)
    payload["repository"]["full_name"] = "Acme-ML/Fraud-Model"

    receive(receiver, github_delivery(payload=payload))

    assert starter.started == ["fraud"]


def test_a_rule_matches_only_its_own_provider_and_repository() -> None:
    event = RepositoryEvent("github", GITHUB_REPOSITORY, "push", "main", "abc", "d-1", "octo-alice")

    def rule(**fields: Any) -> TriggerRule:
        return TriggerRule.model_validate({"provider": "github", "repository": GITHUB_REPOSITORY, **fields})

    assert rule_matches(rule(), event)
    assert not rule_matches(rule(repository="acme-ml/other"), event)
    assert not rule_matches(rule(provider="gitlab"), event)
    assert not rule_matches(rule(events=["tag"]), event)


def test_a_refused_run_is_reported_and_the_other_pipelines_still_start(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter
) -> None:
    add_trigger(aws, "deleted-since")
    add_trigger(aws, "fraud")
    starter.refuse["deleted-since"] = PipelineNotFound("No pipeline 'deleted-since'.")

    response = receive(receiver, github_delivery())

    assert starter.started == ["fraud"]
    assert [failure.model_dump() for failure in response.failed] == [
        {
            "pipeline_id": "deleted-since",
            "error": {"code": "pipeline_not_found", "message": "No pipeline 'deleted-since'."},
        }
    ]
    assert response.accepted


def test_a_delivery_that_failed_before_any_run_started_may_be_redelivered(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter
) -> None:
    add_trigger(aws, "fraud")
    starter.refuse["fraud"] = RuntimeError("Step Functions is throttling")
    _, delivery = sample_delivery("webhook_github_push")
    with pytest.raises(RuntimeError):
        receive(receiver, delivery)
    assert deliveries(aws) == {}

    del starter.refuse["fraud"]
    response = receive(receiver, delivery)

    assert starter.started == ["fraud"]
    assert not response.duplicate


# ---------------------------------------------------------------------------------------- GitLab


def test_a_gitlab_push_with_the_right_token_starts_a_run(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter
) -> None:
    add_trigger(aws, "fraud", provider="gitlab", repository=GITLAB_REPOSITORY)
    _, delivery = sample_delivery("webhook_gitlab_push")

    response = receive(receiver, delivery)

    assert [run.pipeline_id for run in response.runs] == ["fraud"]
    assert starter.calls[0]["trigger"]["detail"] == {
        "provider": "gitlab",
        "repository": GITLAB_REPOSITORY,
        "event": "push",
        "branch": "main",
        "commit": "c3d5e7f9a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1",
        "delivery_id": "0f4b6c2e-8a1d-4e3f-b5c7-d9e1f3a5b7c9",
        "sender": "dana",
    }


@pytest.mark.parametrize("token", ["not-the-token", "", None], ids=["wrong", "empty", "missing"])
def test_a_gitlab_delivery_without_the_right_token_is_refused(
    aws: AwsResources,
    receiver: WebhookReceiver,
    starter: RecordingStarter,
    unchanged: Unchanged,
    token: str | None,
) -> None:
    add_trigger(aws, "fraud", provider="gitlab", repository=GITLAB_REPOSITORY)
    _, delivery = sample_delivery("webhook_gitlab_push")

    with unchanged, pytest.raises(InvalidWebhookSignature):
        receive(receiver, delivery.with_headers(X_Gitlab_Token=token))

    assert starter.calls == []


def test_a_gitlab_token_is_not_a_github_signature(
    aws: AwsResources, receiver: WebhookReceiver, unchanged: Unchanged
) -> None:
    _, delivery = sample_delivery("webhook_gitlab_push")

    with unchanged, pytest.raises(InvalidWebhookSignature):
        receiver.receive("github", delivery.headers, delivery.body)


def test_a_gitlab_merge_request_is_matched_on_its_target_branch(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter
) -> None:
    add_trigger(aws, "fraud", provider="gitlab", repository=GITLAB_REPOSITORY, events=["merge_request"])
    _, delivery = sample_delivery("webhook_gitlab_merge_request")

    receive(receiver, delivery)

    detail = starter.calls[0]["trigger"]["detail"]
    assert (detail["event"], detail["branch"], detail["source_branch"]) == (
        "merge_request",
        "main",
        "feature/deeper-trees",
    )
    assert detail["commit"] == "d4e6f8a0b2c4d6e8f0a2b4c6d8e0f2a4b6c8d0e2"


@pytest.mark.parametrize(
    ("action", "oldrev", "starts"),
    [
        pytest.param(
            "update", "95790bf891e76fee5e1747ab589903a6a1f80f22", True, id="update-with-new-commits"
        ),
        pytest.param("update", None, False, id="update-of-the-title"),
        pytest.param("reopen", None, True, id="reopen"),
        pytest.param("merge", None, False, id="merge"),
        pytest.param("close", None, False, id="close"),
    ],
)
def test_merge_request_actions_start_runs_only_for_new_code(
    aws: AwsResources,
    receiver: WebhookReceiver,
    starter: RecordingStarter,
    action: str,
    oldrev: str | None,
    starts: bool,
) -> None:
    add_trigger(aws, "fraud", provider="gitlab", repository=GITLAB_REPOSITORY, events=["merge_request"])
    payload = json.loads(sample_delivery("webhook_gitlab_merge_request")[1].body)
    attributes = copy.deepcopy(payload["object_attributes"])
    attributes["action"] = action
    if oldrev:
        attributes["oldrev"] = oldrev

    receive(receiver, gitlab_delivery("webhook_gitlab_merge_request", object_attributes=attributes))

    assert starter.started == (["fraud"] if starts else [])


def test_a_gitlab_tag_push_matches_tag_rules(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter
) -> None:
    add_trigger(
        aws, "release", provider="gitlab", repository=GITLAB_REPOSITORY, events=["tag"], branches=["v1.*"]
    )
    _, delivery = sample_delivery("webhook_gitlab_tag_push")

    receive(receiver, delivery)

    assert starter.calls[0]["trigger"]["detail"]["tag"] == "v1.4.0"


def test_gitlab_deliveries_are_deduplicated_on_their_event_uuid(
    aws: AwsResources, receiver: WebhookReceiver, starter: RecordingStarter
) -> None:
    add_trigger(aws, "fraud", provider="gitlab", repository=GITLAB_REPOSITORY)
    _, delivery = sample_delivery("webhook_gitlab_push")
    receive(receiver, delivery)

    replay = receive(receiver, delivery)

    assert replay.duplicate is True
    assert starter.started == ["fraud"]
    assert "DELIVERY#gitlab#0f4b6c2e-8a1d-4e3f-b5c7-d9e1f3a5b7c9" in deliveries(aws)


# ---------------------------------------------------------------------------------------- providers


def test_an_unknown_provider_is_not_found(receiver: WebhookReceiver, unchanged: Unchanged) -> None:
    _, delivery = sample_delivery("webhook_github_push")

    with unchanged, pytest.raises(UnknownWebhookProvider) as refused:
        receiver.receive("bitbucket", delivery.headers, delivery.body)

    assert (refused.value.status, refused.value.code) == (404, "unknown_webhook_provider")


def test_a_provider_without_a_configured_secret_is_not_found(
    aws: AwsResources, starter: RecordingStarter
) -> None:
    settings = PipelineSettings(PIPELINES_TABLE_NAME=PIPELINES_TABLE, GITHUB_WEBHOOK_SECRET_ARN="")
    receiver = WebhookReceiver(
        storage=WebhookStore(aws.dynamodb, PIPELINES_TABLE),
        starter=starter,
        secrets=lambda provider: provider_secret(provider, settings),
    )
    _, delivery = sample_delivery("webhook_github_push")

    with pytest.raises(UnknownWebhookProvider):
        receive(receiver, delivery)
