# ruff: noqa: F811 - the fixtures `delivery` and `receiver` come from tests/unit/alerting/delivery_world.py
"""POST /alerts/{alert_id}/test queues a test notification to each channel of the rule (202, the
delivery ids, pending in the log at once); GET .../deliveries lists them newest first, paginated."""

from __future__ import annotations

import json

import pytest

from tests.support.authz import claims
from tests.unit.alerting.delivery_world import (  # noqa: F401 - fixtures
    ALERT_ID,
    MONITORING_TABLE,
    QUEUE_URL,
    DeliveryWorld,
    api,
    delivery,
    ok,
    receiver,
)


def queued(delivery: DeliveryWorld) -> list[dict[str, object]]:
    messages = delivery.sqs.receive_message(QueueUrl=QUEUE_URL, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def test_a_test_queues_one_request_per_channel_of_the_rule(delivery: DeliveryWorld) -> None:
    delivery.slack("team", "/hooks/t1")
    delivery.webhook("hook", "/hooks/t2")
    delivery.put_rule(["team", "hook"])

    answer = ok(api("test_alert", path={"alert_id": ALERT_ID}), 202)

    assert [item["channel"] for item in answer["deliveries"]] == ["team", "hook"]
    requests = queued(delivery)
    assert sorted(r["delivery_id"] for r in requests) == sorted(
        d["delivery_id"] for d in answer["deliveries"]
    )
    notification = requests[0]["notification"]
    assert (notification["kind"], notification["severity"], notification["alert_id"]) == (
        "test",
        "info",
        ALERT_ID,
    )
    assert notification["notification_id"] == answer["notification_id"]
    assert notification["model_id"] == "fraud_detection_v2"


def test_queued_tests_show_as_pending_in_the_log(delivery: DeliveryWorld) -> None:
    delivery.slack("team", "/hooks/t3")
    delivery.put_rule(["team"])

    ok(api("test_alert", path={"alert_id": ALERT_ID}), 202)

    (record,) = delivery.delivery_log()
    assert (record["status"], record["kind"], record["attempts"]) == ("pending", "slack", [])


def test_the_log_lists_newest_first_in_pages(delivery: DeliveryWorld) -> None:
    delivery.slack("team", "/hooks/t4")
    delivery.put_rule(["team"])
    ids = [ok(api("test_alert", path={"alert_id": ALERT_ID}), 202)["notification_id"] for _ in range(3)]

    first = ok(api("list_alert_deliveries", path={"alert_id": ALERT_ID}, query={"limit": "2"}))
    rest = ok(
        api(
            "list_alert_deliveries",
            path={"alert_id": ALERT_ID},
            query={"limit": "2", "next_token": first["next_token"]},
        )
    )

    listed = [item["notification_id"] for item in first["items"] + rest["items"]]
    assert listed == list(reversed(ids))
    assert rest["next_token"] is None


def test_a_token_of_another_alert_is_refused(delivery: DeliveryWorld) -> None:
    from cirrus_core.pagination import encode_token

    delivery.put_rule([])
    token = encode_token({"a": "f" * 32, "k": "DELIVERY#x"})

    response = api("list_alert_deliveries", path={"alert_id": ALERT_ID}, query={"next_token": token})

    assert (response.status, response.error_code) == (400, "invalid_next_token")


@pytest.mark.parametrize("route", ["test_alert", "list_alert_deliveries"])
def test_an_unknown_alert_is_404_and_nothing_is_queued(delivery: DeliveryWorld, route: str) -> None:
    before = delivery.snapshot()

    response = api(route, path={"alert_id": "f" * 32})

    assert (response.status, response.error_code) == (404, "alert_not_found")
    assert delivery.snapshot() == before
    assert queued(delivery) == []


def test_only_system_config_holders_send_tests_but_everyone_reads_the_log(delivery: DeliveryWorld) -> None:
    delivery.slack("team", "/hooks/t5")
    delivery.put_rule(["team"])

    refused = api("test_alert", path={"alert_id": ALERT_ID}, claims=claims("ml_engineer"))
    read = api("list_alert_deliveries", path={"alert_id": ALERT_ID}, claims=claims("model_reviewer"))

    assert (refused.status, read.status) == (403, 200)
    assert queued(delivery) == []


def put_platform_wide_rule(delivery: DeliveryWorld, channels: list[str]) -> None:
    """A system_failures rule without a model, as the alerts module stores it."""
    rule = {
        "alert_id": ALERT_ID,
        "model_id": None,
        "alert_type": "system_failures",
        "threshold": 1,
        "notification_channels": channels,
        "evaluation_window": "1h",
        "created_at": "2024-06-01T12:00:00+00:00",
        "created_by": "ada@example.com",
    }
    delivery.aws.dynamodb.put_item(
        TableName=MONITORING_TABLE,
        Item={"pk": {"S": f"ALERT#{ALERT_ID}"}, "sk": {"S": "RULE"}, "rule": {"S": json.dumps(rule)}},
    )


def store_policy(policy_id: str, statement: str) -> None:
    from cirrus_core.authz.engine import StoredPolicy
    from cirrus_core.authz.wiring import security_repository

    security_repository().put_policy(
        StoredPolicy(policy_id=policy_id, statement=statement, description="", updated_at="", updated_by="t")
    )


def test_a_platform_wide_rules_test_is_authorized_on_the_model_star(delivery: DeliveryWorld) -> None:
    delivery.slack("team", "/hooks/t6")
    put_platform_wide_rule(delivery, ["team"])
    store_policy(
        "engineers_test_platform_alerts",
        'permit (principal in Cirrus::Role::"ml_engineer", action == Cirrus::Action::"TestAlert", '
        'resource == Cirrus::Model::"*");',
    )

    response = api("test_alert", path={"alert_id": ALERT_ID}, claims=claims("ml_engineer"))

    assert response.status == 202


def test_a_platform_wide_rules_deliveries_are_authorized_on_the_model_star(delivery: DeliveryWorld) -> None:
    put_platform_wide_rule(delivery, [])
    store_policy(
        "reviewers_not_platform_deliveries",
        'forbid (principal in Cirrus::Role::"model_reviewer", '
        'action == Cirrus::Action::"ListAlertDeliveries", resource == Cirrus::Model::"*");',
    )

    response = api("list_alert_deliveries", path={"alert_id": ALERT_ID}, claims=claims("model_reviewer"))

    assert (response.status, response.error_code) == (403, "access_denied")
