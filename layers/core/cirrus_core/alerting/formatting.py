"""How a notification reads on each kind of channel: Slack Block Kit, a PagerDuty Events API v2 event,
a signed webhook's JSON body, and an email's subject and text.

Every channel shows `values.observed` against `values.threshold` (the evaluator puts both in every
notification). In Slack, every text that comes from the alert (summary, model, condition, values, links,
ids) is escaped per Slack's formatting rules (`&`, `<`, `>`), so that data such as a failure's cause can
neither mention (`<!channel>`) nor link.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from cirrus_core.alerting.notification import NotificationKind

if TYPE_CHECKING:
    from cirrus_core.alerting.notification import Notification

PAGERDUTY_CLIENT: Final = "Cirrus"
_HEADLINES: Final = {
    NotificationKind.TRIGGER: "Alert firing",
    NotificationKind.RESOLVE: "Alert resolved",
    NotificationKind.TEST: "Test notification",
}
_EMOJI: Final = {
    NotificationKind.TRIGGER: ":rotating_light:",
    NotificationKind.RESOLVE: ":white_check_mark:",
    NotificationKind.TEST: ":test_tube:",
}
_EMAIL_SUBJECT_LIMIT: Final = 100  # SNS's limit for email subjects
_SLACK_ESCAPES: Final = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;"}


def _where(notification: Notification) -> str:
    model = notification.model_id or "the platform"
    return f"{model} ({notification.environment})" if notification.environment else model


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(", ", ": "), default=str)[:300]
    return str(value)


def _observed_and_threshold(notification: Notification) -> tuple[str, str]:
    values = notification.values
    observed, threshold = values.get("observed"), values.get("threshold")
    return (
        _value_text(observed) if observed is not None else "n/a",
        _value_text(threshold) if threshold is not None else "n/a",
    )


def _is_absolute(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("https://", "http://"))


def _links(notification: Notification) -> list[tuple[str, str]]:
    """(text, href) of the report and every other link, absolute ones first-class."""
    links: list[tuple[str, str]] = []
    if notification.report_url:
        links.append(("Report", notification.report_url))
    links.extend((text, href) for text, href in notification.links.items() if href != notification.report_url)
    return links


def headline(notification: Notification) -> str:
    """`[<severity>] Alert firing: <summary>`: the line every channel leads with."""
    tag = notification.severity.value.upper()
    return f"[{tag}] {_HEADLINES[notification.kind]}: {notification.summary}"


# -- Slack --------------------------------------------------------------------------------------------


def _slack(text: str) -> str:
    """`text` as Slack shows it literally: `&`, `<` and `>` escaped (Slack's control characters)."""
    return text.translate(_SLACK_ESCAPES)


def _fit(text: str, limit: int) -> str:
    """Escaped text cut to `limit` characters without leaving half an escape at the end."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    amp = cut.rfind("&")
    return cut[:amp] if amp != -1 and ";" not in cut[amp:] else cut


def _slack_link(text: str, href: str) -> str:
    if _is_absolute(href):
        return f"<{_slack(href).replace('|', '%7C')}|{_slack(text)}>"
    return f"{_slack(text)}: `{_slack(href)}`"


def slack_message(notification: Notification) -> dict[str, Any]:
    """An incoming-webhook message: a text fallback and Block Kit blocks a person reads at a glance."""
    observed, threshold = _observed_and_threshold(notification)
    fields = [
        ("Model", _where(notification)),
        ("Alert type", notification.alert_type),
        ("Condition", notification.condition),
        ("Observed vs threshold", f"{observed} vs {threshold}"),
        ("Severity", notification.severity.value),
        ("Status", notification.kind.value),
    ]
    extra = {key: value for key, value in notification.values.items() if key not in ("observed", "threshold")}
    link_texts = [_slack_link(text, href) for text, href in _links(notification)]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _fit(_slack(f"{_HEADLINES[notification.kind]}: {_where(notification)}"), 150),
            },
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": _fit(f"{_EMOJI[notification.kind]} {_slack(notification.summary)}", 3000),
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _fit(f"*{name}*\n{_slack(value)}", 2000)} for name, value in fields
            ],
        },
    ]
    if extra:
        details = "\n".join(
            f"• {_slack(key)}: {_slack(_value_text(value))}" for key, value in list(extra.items())[:10]
        )
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _fit(details, 3000)}})
    if link_texts:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _fit(" | ".join(link_texts), 3000)}}
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": _slack(
                        f"alert {notification.alert_id} · {notification.occurred_at.isoformat()} · "
                        f"dedup {notification.dedup_key}"
                    ),
                }
            ],
        }
    )
    return {"text": _fit(_slack(headline(notification)), 40000), "blocks": blocks}


# -- PagerDuty ------------------------------------------------------------------------------------------


def pagerduty_event(notification: Notification, routing_key: str) -> dict[str, Any]:
    """An Events API v2 event: `trigger` (with its payload and links) or `resolve` of the dedup key.

    A test notification is a `trigger` of severity `info` under its own dedup key, so it never touches
    a real incident of the alert.
    """
    if notification.kind is NotificationKind.RESOLVE:
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": notification.dedup_key}
    observed, threshold = _observed_and_threshold(notification)
    test = notification.kind is NotificationKind.TEST
    summary = f"{'[TEST] ' if test else ''}{notification.summary}"
    source = "/".join(part for part in ("cirrus", notification.model_id, notification.environment) if part)
    payload: dict[str, Any] = {
        "summary": summary[:1024],
        "source": source,
        "severity": "info" if test else notification.severity.value,
        "timestamp": notification.occurred_at.isoformat(),
        "class": notification.alert_type,
        "custom_details": {
            "alert_id": notification.alert_id,
            "notification_id": notification.notification_id,
            "kind": notification.kind.value,
            "model_id": notification.model_id,
            "environment": notification.environment,
            "condition": notification.condition,
            "observed": observed,
            "threshold": threshold,
            "values": notification.values,
        },
    }
    if notification.model_id:
        payload["component"] = notification.model_id
    if notification.environment:
        payload["group"] = notification.environment
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": notification.dedup_key,
        "payload": payload,
        "client": PAGERDUTY_CLIENT,
    }
    links = [{"href": href, "text": text} for text, href in _links(notification) if _is_absolute(href)]
    if links:
        event["links"] = links
    return event


# -- webhook and email ----------------------------------------------------------------------------------


def webhook_body(notification: Notification) -> bytes:
    """The notification as compact JSON: the exact bytes that are signed and sent."""
    return notification.model_dump_json().encode()


def email_message(notification: Notification) -> tuple[str, str]:
    """(subject, text body) of an email."""
    observed, threshold = _observed_and_threshold(notification)
    subject = f"Cirrus {headline(notification)}"
    if len(subject) > _EMAIL_SUBJECT_LIMIT:
        subject = subject[: _EMAIL_SUBJECT_LIMIT - 3] + "..."
    lines = [
        headline(notification),
        "",
        f"Model:      {_where(notification)}",
        f"Alert type: {notification.alert_type}",
        f"Condition:  {notification.condition}",
        f"Observed:   {observed} (threshold {threshold})",
        f"Severity:   {notification.severity.value}",
        f"Status:     {notification.kind.value}",
        f"When:       {notification.occurred_at.isoformat()}",
        f"Alert:      {notification.alert_id} (dedup key {notification.dedup_key})",
    ]
    extra = {key: value for key, value in notification.values.items() if key not in ("observed", "threshold")}
    if extra:
        lines += ["", "Values:"] + [f"  {key}: {_value_text(value)}" for key, value in extra.items()]
    links = _links(notification)
    if links:
        lines += ["", "Links:"] + [f"  {text}: {href}" for text, href in links]
    return subject, "\n".join(lines) + "\n"
