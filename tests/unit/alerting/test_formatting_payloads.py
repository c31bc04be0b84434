"""How a notification reads on each channel: Slack (text + Block Kit with the model, environment,
condition, observed vs threshold, severity, trigger/resolve and the report link), PagerDuty Events
API v2 (trigger with payload and links, resolve by dedup key), the webhook's exact JSON, email."""

from __future__ import annotations

import json

from cirrus_core.alerting.formatting import email_message, pagerduty_event, slack_message, webhook_body
from cirrus_core.alerting.notification import Notification, NotificationKind
from tests.unit.alerting.delivery_world import ALERT_ID, notification

KEY = "R" * 32


def test_slack_shows_the_model_condition_values_severity_and_report_link() -> None:
    message = slack_message(notification())

    text = json.dumps(message)
    assert message["text"] == "[WARNING] Alert firing: 3 of 8 features of fraud_detection_v2 drifted in prod"
    assert message["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Alert firing: fraud_detection_v2 (prod)"},
    }
    fields = [field["text"] for field in message["blocks"][2]["fields"]]
    assert fields == [
        "*Model*\nfraud_detection_v2 (prod)",
        "*Alert type*\ndrift_detection",
        "*Condition*\nshare of drifted features &gt;= 0.25",  # Slack shows ">="
        "*Observed vs threshold*\n0.375 vs 0.25",
        "*Severity*\nwarning",
        "*Status*\ntrigger",
    ]
    assert (
        "<https://cirrus.example.com/api/v1/monitoring/models/fraud_detection_v2/drift-runs/r/report|Report>"
        in text
    )
    assert "drifted_features" in text


def test_slack_says_when_an_alert_resolved() -> None:
    message = slack_message(notification(NotificationKind.RESOLVE))

    assert message["text"].startswith("[WARNING] Alert resolved:")
    assert {"type": "mrkdwn", "text": "*Status*\nresolve"} in message["blocks"][2]["fields"]


def test_pagerduty_trigger_follows_events_api_v2() -> None:
    event = pagerduty_event(notification(), KEY)

    assert {k: event[k] for k in ("routing_key", "event_action", "dedup_key", "client")} == {
        "routing_key": KEY,
        "event_action": "trigger",
        "dedup_key": f"cirrus-{ALERT_ID}",
        "client": "Cirrus",
    }
    payload = event["payload"]
    assert (payload["summary"], payload["source"], payload["severity"]) == (
        "3 of 8 features of fraud_detection_v2 drifted in prod",
        "cirrus/fraud_detection_v2/prod",
        "warning",
    )
    assert (payload["component"], payload["group"], payload["class"]) == (
        "fraud_detection_v2",
        "prod",
        "drift_detection",
    )
    assert payload["custom_details"]["condition"] == "share of drifted features >= 0.25"
    assert (payload["custom_details"]["observed"], payload["custom_details"]["threshold"]) == (
        "0.375",
        "0.25",
    )
    # Only absolute links: PagerDuty refuses relative hrefs.
    assert event["links"] == [
        {
            "href": "https://cirrus.example.com/api/v1/monitoring/models/fraud_detection_v2/drift-runs/r/report",
            "text": "Report",
        }
    ]


def test_pagerduty_resolve_names_only_the_dedup_key() -> None:
    assert pagerduty_event(notification(NotificationKind.RESOLVE), KEY) == {
        "routing_key": KEY,
        "event_action": "resolve",
        "dedup_key": f"cirrus-{ALERT_ID}",
    }


def test_a_pagerduty_test_is_an_info_trigger_marked_test() -> None:
    event = pagerduty_event(notification(NotificationKind.TEST), KEY)

    assert (event["event_action"], event["payload"]["severity"]) == ("trigger", "info")
    assert event["payload"]["summary"].startswith("[TEST] ")


def test_a_summary_longer_than_pagerduty_allows_is_cut_to_1024() -> None:
    event = pagerduty_event(notification(NotificationKind.TEST, summary="x" * 1024), KEY)

    assert len(event["payload"]["summary"]) == 1024


def test_the_webhook_body_is_the_notification_as_json() -> None:
    sent = notification()

    body = webhook_body(sent)

    assert Notification.model_validate_json(body) == sent
    assert json.loads(body)["values"] == {
        "observed": 0.375,
        "threshold": 0.25,
        "drifted_features": ["amount", "age", "channel"],
    }


def test_an_email_has_a_subject_and_a_readable_text_body() -> None:
    subject, text = email_message(notification())

    assert subject == "Cirrus [WARNING] Alert firing: 3 of 8 features of fraud_detection_v2 drifted in prod"
    assert "Model:      fraud_detection_v2 (prod)" in text
    assert "Observed:   0.375 (threshold 0.25)" in text
    assert "Report: https://cirrus.example.com/" in text


def test_an_email_subject_fits_sns_100_characters() -> None:
    subject, _ = email_message(notification(summary="y" * 300))

    assert len(subject) == 100
    assert subject.endswith("...")


def test_slack_escapes_every_text_from_the_alert_so_it_cannot_mention_or_link() -> None:
    message = slack_message(
        notification(
            summary="pipeline nightly failed: <!channel> & <https://evil.example|click>",
            condition="latency > 250 & <@U123>",
            model_id="<!here>",
            values={"observed": 3, "threshold": 1, "cause": "<!everyone> said <b>"},
            links={"run": "/api/v1/pipelines/x/runs/<!channel>"},
        )
    )

    text = json.dumps(message)
    for control in ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<https://evil.example|click>", "<b>"):
        assert control not in text
    assert message["text"].endswith(
        "pipeline nightly failed: &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"
    )
    assert "*Condition*\nlatency &gt; 250 &amp; &lt;@U123&gt;" in [
        f["text"] for f in message["blocks"][2]["fields"]
    ]
    assert (
        "<https://cirrus.example.com/api/v1/monitoring/models/fraud_detection_v2/drift-runs/r/report|Report>"
        in text
    )
