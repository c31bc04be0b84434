# ruff: noqa: F811 - the fixtures `delivery` and `receiver` come from tests/unit/alerting/delivery_world.py
"""Channels API: a channel is created with its secret in Secrets Manager (one secret per channel, one
version per change) and shown without it; email channels subscribe each address to the alert topic
with a filter on the channel; every refusal writes nothing."""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

import pytest

from tests.support.authz import claims
from tests.unit.alerting.delivery_world import (  # noqa: F401 - fixtures
    ALERT_ID,
    SECRET,
    TOPIC_ARN,
    DeliveryWorld,
    api,
    delivery,
    function_logs,
    ok,
    receiver,
)


def webhook_body(url: str, name: str = "ml-oncall", secret: str = SECRET) -> dict[str, Any]:
    return {"name": name, "type": "webhook", "config": {"url": url, "signing_secret": secret}}


def test_a_webhook_channel_is_created_without_its_secret_in_the_answer(delivery: DeliveryWorld) -> None:
    url = delivery.receiver.url("/hooks/a")

    response = delivery.create_channel(webhook_body(url))

    channel = ok(response, 201)
    assert (channel["name"], channel["type"], channel["host"]) == ("ml-oncall", "webhook", "127.0.0.1")
    assert channel["created_by"] == channel["updated_by"] == "ada@example.com"
    assert channel["secret_version"]
    assert SECRET not in response.raw_body
    assert "/hooks/a" not in response.raw_body


def test_the_secret_lives_in_secrets_manager_under_the_stage_and_channel(delivery: DeliveryWorld) -> None:
    url = delivery.receiver.url("/hooks/b")
    delivery.webhook("ml-oncall", "/hooks/b")

    assert delivery.secret_names() == ["cirrus/dev/alert-channels/ml-oncall"]
    assert delivery.secret("ml-oncall") == {"url": url, "signing_secret": SECRET}


def test_the_stored_item_holds_no_secret(delivery: DeliveryWorld) -> None:
    delivery.webhook("ml-oncall", "/hooks/c")

    items = delivery.aws.table_items()["cirrus-test-monitoring"]
    assert [item["pk"]["S"] for item in items] == ["CHANNEL#ml-oncall"]
    assert SECRET not in json.dumps(items)
    assert "/hooks/c" not in json.dumps(items)


def test_get_and_list_show_the_channel_without_secrets(delivery: DeliveryWorld) -> None:
    delivery.slack("b-team", "/hooks/d")
    delivery.webhook("a-team", "/hooks/e")

    one = api("get_channel", path={"name": "b-team"})
    listed = api("list_channels", query=None)

    assert ok(one)["type"] == "slack"
    assert [item["name"] for item in ok(listed)["items"]] == ["a-team", "b-team"]
    assert "/hooks/" not in one.raw_body + listed.raw_body
    assert SECRET not in listed.raw_body


def test_channels_are_listed_in_pages(delivery: DeliveryWorld) -> None:
    for name in ("c1", "c2", "c3"):
        delivery.slack(name, "/hooks/p")

    first = ok(api("list_channels", query={"limit": "2"}))
    second = ok(api("list_channels", query={"limit": "2", "next_token": first["next_token"]}))

    assert [item["name"] for item in first["items"]] == ["c1", "c2"]
    assert [item["name"] for item in second["items"]] == ["c3"]
    assert second["next_token"] is None


def test_an_unknown_channel_is_404(delivery: DeliveryWorld) -> None:
    response = api("get_channel", path={"name": "nobody"})

    assert (response.status, response.error_code) == (404, "channel_not_found")


def test_a_pagerduty_channel_defaults_to_the_events_api_v2_url(
    delivery: DeliveryWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default events URL is checked like any other: here its name resolves to a public address."""
    original = socket.getaddrinfo

    def resolve(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "events.pagerduty.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("44.232.0.10", 443))]
        return original(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)

    channel = ok(
        delivery.create_channel({"name": "pd", "type": "pagerduty", "config": {"routing_key": "a" * 32}}), 201
    )

    assert channel["host"] == "events.pagerduty.com"
    assert delivery.secret("pd") == {
        "routing_key": "a" * 32,
        "events_url": "https://events.pagerduty.com/v2/enqueue",
    }


def test_an_email_channel_subscribes_each_address_filtered_on_its_channel(delivery: DeliveryWorld) -> None:
    body = {
        "name": "ml-mail",
        "type": "email",
        "config": {"addresses": ["Ada@Example.com", "bo@example.com"]},
    }

    channel = ok(delivery.create_channel(body), 201)

    assert channel["addresses"] == ["ada@example.com", "bo@example.com"]
    assert channel["secret_version"] is None
    assert "subscriptions" not in channel
    subscriptions = delivery.subscriptions()
    assert sorted(item["Endpoint"] for item in subscriptions) == ["ada@example.com", "bo@example.com"]
    assert {item["Protocol"] for item in subscriptions} == {"email"}
    assert {item["TopicArn"] for item in subscriptions} == {TOPIC_ARN}
    assert all(json.loads(item["FilterPolicy"]) == {"channel": ["ml-mail"]} for item in subscriptions)
    assert delivery.secret_names() == []


def test_an_update_stores_a_new_secret_version_and_keeps_who_created_it(delivery: DeliveryWorld) -> None:
    created = delivery.webhook("ml-oncall", "/hooks/f")
    url = delivery.receiver.url("/hooks/g")

    updated = ok(
        api(
            "update_channel",
            path={"name": "ml-oncall"},
            body={"type": "slack", "description": "#ml", "config": {"webhook_url": url}},
        )
    )

    assert (updated["type"], updated["description"], updated["created_at"]) == (
        "slack",
        "#ml",
        created["created_at"],
    )
    assert updated["secret_version"] != created["secret_version"]
    assert delivery.secret("ml-oncall") == {"webhook_url": url}


def test_an_update_of_email_addresses_replaces_only_the_changed_subscriptions(
    delivery: DeliveryWorld,
) -> None:
    delivery.create_channel(
        {"name": "m", "type": "email", "config": {"addresses": ["a@example.com", "b@example.com"]}}
    )
    kept = next(s["SubscriptionArn"] for s in delivery.subscriptions() if s["Endpoint"] == "a@example.com")

    ok(
        api(
            "update_channel",
            path={"name": "m"},
            body={"type": "email", "config": {"addresses": ["a@example.com", "c@example.com"]}},
        )
    )

    now = {item["Endpoint"]: item["SubscriptionArn"] for item in delivery.subscriptions()}
    assert sorted(now) == ["a@example.com", "c@example.com"]
    assert now["a@example.com"] == kept


def test_updating_an_unknown_channel_is_404_and_stores_no_secret(delivery: DeliveryWorld) -> None:
    before = delivery.snapshot()

    response = api(
        "update_channel",
        path={"name": "ghost"},
        body={"type": "slack", "config": {"webhook_url": delivery.receiver.url("/x")}},
    )

    assert (response.status, response.error_code) == (404, "channel_not_found")
    assert delivery.snapshot() == before


def test_a_deleted_channel_loses_its_item_secret_and_subscriptions(delivery: DeliveryWorld) -> None:
    delivery.webhook("ml-oncall", "/hooks/h")
    delivery.create_channel({"name": "m", "type": "email", "config": {"addresses": ["a@example.com"]}})

    first = api("delete_channel", path={"name": "ml-oncall"})
    second = api("delete_channel", path={"name": "m"})

    assert (first.status, second.status) == (204, 204)
    assert delivery.aws.table_items()["cirrus-test-monitoring"] == []
    assert delivery.secret_names() == []
    assert delivery.subscriptions() == []


def test_a_deleted_channel_name_can_be_used_again(delivery: DeliveryWorld) -> None:
    delivery.webhook("ml-oncall", "/hooks/i")
    api("delete_channel", path={"name": "ml-oncall"})

    again = delivery.slack("ml-oncall", "/hooks/j")

    assert again["type"] == "slack"


def test_every_change_is_audited(delivery: DeliveryWorld) -> None:
    from cirrus_core.audit.log import AuditLog
    from tests.support.aws import TABLE_NAMES

    delivery.webhook("ml-oncall", "/hooks/k")
    api(
        "update_channel",
        path={"name": "ml-oncall"},
        body={"type": "slack", "config": {"webhook_url": delivery.receiver.url("/l")}},
    )
    api("delete_channel", path={"name": "ml-oncall"})

    log = AuditLog(delivery.aws.dynamodb, TABLE_NAMES["AuditTable"])
    for action in ("create_channel", "update_channel", "delete_channel"):
        (record,) = log.query(action=action, limit=5).items
        assert record.resource == "monitoring/channel/ml-oncall"
        assert record.actor == "ada@example.com"


# -- refusals: nothing is written ----------------------------------------------------------------------


def _refused(delivery: DeliveryWorld, body: dict[str, Any], status: int, code: str) -> dict[str, Any]:
    before = delivery.snapshot()
    response = delivery.create_channel(body)
    assert (response.status, response.error_code) == (status, code), response.body
    assert delivery.snapshot() == before, "the refused request changed something"
    return dict(response.body)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.0.0.1/hook", "private"),
        ("https://10.255.3.4:8443/hook", "private"),
        ("http://hooks.example.com/hook", "only https"),
        ("https://[::1]/hook", "loopback"),
    ],
)
def test_a_destination_that_is_not_public_https_is_refused_with_the_reason(
    delivery: DeliveryWorld, url: str, reason: str
) -> None:
    body = _refused(delivery, webhook_body(url), 422, "destination_refused")

    assert reason in body["error"]["message"]
    assert body["error"]["details"][0]["field"] == "config.url"


def test_loopback_outside_the_listed_local_receivers_is_refused(delivery: DeliveryWorld) -> None:
    listed_port = int(delivery.receiver.origin.rpartition(":")[2])
    other = f"http://127.0.0.1:{listed_port + 1}/hook"

    _refused(
        delivery, {"name": "s", "type": "slack", "config": {"webhook_url": other}}, 422, "destination_refused"
    )


def test_a_pagerduty_events_url_is_checked_too(delivery: DeliveryWorld) -> None:
    config = {"routing_key": "a" * 32, "events_url": "https://169.254.169.254/v2/enqueue"}

    body = _refused(
        delivery, {"name": "pd", "type": "pagerduty", "config": config}, 422, "destination_refused"
    )

    assert body["error"]["details"][0]["field"] == "config.events_url"


@pytest.mark.parametrize(
    "secret",
    ["not-a-whsec-secret-at-all-0123456789", "whsec_***not base64***", "whsec_c2hvcnQ="],
    ids=["no prefix", "not base64", "too short"],
)
def test_a_signing_secret_not_in_the_whsec_format_is_refused_and_never_echoed(
    delivery: DeliveryWorld, secret: str
) -> None:
    body = _refused(
        delivery, webhook_body(delivery.receiver.url("/x"), secret=secret), 422, "validation_error"
    )

    assert "webhook secret" in json.dumps(body)
    assert secret not in json.dumps(body)


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (
            {"name": "Bad Name", "type": "slack", "config": {"webhook_url": "https://hooks.slack.com/x"}},
            "name",
        ),
        ({"name": "s", "type": "slack", "config": {"url": "https://hooks.slack.com/x"}}, "config"),
        ({"name": "s", "type": "sms", "config": {}}, "type"),
        ({"name": "p", "type": "pagerduty", "config": {"routing_key": "short"}}, "routing_key"),
        ({"name": "m", "type": "email", "config": {"addresses": []}}, "addresses"),
        ({"name": "m", "type": "email", "config": {"addresses": ["not-an-address"]}}, "addresses"),
    ],
)
def test_a_malformed_channel_is_refused(delivery: DeliveryWorld, body: dict[str, Any], what: str) -> None:
    refused = _refused(delivery, body, 422, "validation_error")

    assert what in json.dumps(refused["error"]["details"])


def test_a_taken_name_is_409_and_the_first_channel_is_unchanged(delivery: DeliveryWorld) -> None:
    delivery.webhook("ml-oncall", "/hooks/m")
    secret_before = delivery.secret("ml-oncall")

    _refused(
        delivery,
        {"name": "ml-oncall", "type": "slack", "config": {"webhook_url": delivery.receiver.url("/n")}},
        409,
        "channel_exists",
    )

    assert delivery.secret("ml-oncall") == secret_before


def test_a_channel_a_rule_names_cannot_be_deleted(delivery: DeliveryWorld) -> None:
    delivery.webhook("ml-oncall", "/hooks/o")
    delivery.put_rule(["other", "ml-oncall"])
    before = delivery.snapshot()

    response = api("delete_channel", path={"name": "ml-oncall"})

    assert (response.status, response.error_code) == (409, "channel_in_use")
    assert response.body["error"]["details"] == [{"alert_ids": [ALERT_ID]}]
    assert delivery.snapshot() == before


def test_a_rule_naming_a_channel_with_a_longer_name_does_not_hold_it(delivery: DeliveryWorld) -> None:
    delivery.webhook("ml", "/hooks/q")
    delivery.put_rule(["ml-oncall"])

    assert api("delete_channel", path={"name": "ml"}).status == 204


@pytest.mark.parametrize("role", ["ml_engineer", "data_scientist", "model_reviewer"])
def test_only_system_config_holders_manage_channels(delivery: DeliveryWorld, role: str) -> None:
    before = delivery.snapshot()

    created = delivery.create_channel(webhook_body(delivery.receiver.url("/r")), claims=claims(role))
    listed = api("list_channels", query=None, claims=claims(role))

    assert (created.status, listed.status) == (403, 403)
    assert delivery.snapshot() == before


def test_secrets_never_reach_the_logs(delivery: DeliveryWorld, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(
        logging.INFO
    )  # every library's records too (botocore's DEBUG wire dumps are off in Lambda)
    url = delivery.receiver.url("/hooks/secret-token-path")

    with function_logs() as logs:
        delivery.webhook("ml-oncall", "/hooks/secret-token-path")
        api(
            "update_channel",
            path={"name": "ml-oncall"},
            body={"type": "webhook", "config": {"url": url, "signing_secret": SECRET}},
        )
        api("get_channel", path={"name": "ml-oncall"})
        delivery.create_channel(webhook_body("https://10.0.0.1/secret-token-path"))

    logged = caplog.text + logs.getvalue()
    assert '"code":"destination_refused"' in logged  # the function's own JSON logs were captured
    assert SECRET not in logged
    assert "secret-token-path" not in logged
