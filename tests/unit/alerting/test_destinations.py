"""Notification destinations: only public https endpoints, checked on their resolved addresses; and
Standard Webhooks signatures that a receiver can verify."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from cirrus_core.alerting.settings import AlertingSettings
from cirrus_core.monitoring.destinations import (
    DestinationRefused,
    check_destination,
    signed_headers,
    verify,
)

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def resolving_to(*addresses: str) -> Callable[[str, int], list[str]]:
    return lambda host, port: list(addresses)


def test_a_public_https_destination_is_accepted_with_the_addresses_to_connect_to() -> None:
    destination = check_destination(
        "https://hooks.example.com/services/T0/B0", resolver=resolving_to("93.184.216.34")
    )

    assert (destination.host, destination.port, destination.addresses) == (
        "hooks.example.com",
        443,
        ("93.184.216.34",),
    )


@pytest.mark.parametrize(
    ("url", "address", "reason"),
    [
        ("https://metadata.example/", "169.254.169.254", "link-local"),
        ("https://127.0.0.1/hook", None, "loopback"),
        ("https://internal.example/", "10.1.2.3", "private"),
        ("https://internal.example/", "192.168.0.10", "private"),
        ("https://cgnat.example/", "100.64.0.1", "carrier-grade NAT"),
        ("https://v6.example/", "::1", "loopback"),
        ("https://v6.example/", "fd00:ec2::254", "private"),
        ("https://mapped.example/", "::ffff:10.0.0.1", "private"),
        ("https://any.example/", "0.0.0.0", "unspecified"),  # noqa: S104 - the refused address
    ],
)
def test_a_destination_resolving_to_a_non_public_address_is_refused(
    url: str, address: str | None, reason: str
) -> None:
    resolver = resolving_to(address) if address else resolving_to()

    with pytest.raises(DestinationRefused, match=reason):
        check_destination(url, resolver=resolver)


def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    with pytest.raises(DestinationRefused, match=r"10\.0\.0\.7"):
        check_destination("https://mixed.example/", resolver=resolving_to("93.184.216.34", "10.0.0.7"))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/x", "only https"),
        ("https://user:pw@hooks.example.com/x", "user info"),
        ("https://hooks.example.com/x#frag", "fragment"),
        ("https:///nohost", "no host"),
        ("https://hooks.example.com:99999/", "port"),
        ("https://hooks.example.com/a b", "spaces"),
    ],
)
def test_malformed_or_plain_http_destinations_are_refused(url: str, reason: str) -> None:
    with pytest.raises(DestinationRefused, match=reason):
        check_destination(url, resolver=resolving_to("93.184.216.34"))


def test_the_local_cloud_allows_exactly_its_listed_local_receivers() -> None:
    allowed = check_destination("http://127.0.0.1:8765/slack", local_receivers=["http://127.0.0.1:8765"])

    assert allowed.addresses == ("127.0.0.1",)
    with pytest.raises(DestinationRefused):
        check_destination("http://127.0.0.1:8766/slack", local_receivers=["http://127.0.0.1:8765"])


def test_a_signature_is_the_base64_hmac_sha256_of_id_timestamp_and_body() -> None:
    headers = signed_headers(SECRET, "msg_1", 1_700_000_000, b'{"a":1}')

    digest = hmac.new(b"k" * 32, b'msg_1.1700000000.{"a":1}', hashlib.sha256).digest()
    assert headers == {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def test_a_receiver_verifies_a_fresh_delivery_with_the_shared_secret() -> None:
    body = b'{"alert":"drift"}'
    headers = signed_headers(SECRET, "msg_2", 1_700_000_000, body)

    assert verify(SECRET, headers, body, now=1_700_000_100)


@pytest.mark.parametrize(
    ("secret", "body", "now"),
    [
        ("whsec_" + base64.b64encode(b"x" * 32).decode(), b'{"alert":"drift"}', 1_700_000_000),
        (SECRET, b'{"alert":"tampered"}', 1_700_000_000),
        (SECRET, b'{"alert":"drift"}', 1_700_000_301),
    ],
    ids=["another secret", "a changed body", "too old"],
)
def test_a_receiver_refuses_a_wrong_secret_a_changed_body_or_a_stale_delivery(
    secret: str, body: bytes, now: int
) -> None:
    headers = signed_headers(SECRET, "msg_3", 1_700_000_000, b'{"alert":"drift"}')

    assert not verify(secret, headers, body, now=now)


def test_a_secret_must_be_whsec_and_base64_of_at_least_24_bytes() -> None:
    for secret in ("k" * 40, "whsec_***", "whsec_" + base64.b64encode(b"short").decode()):
        with pytest.raises(ValueError, match="webhook secret"):
            signed_headers(secret, "m", 1, b"")


def test_a_names_addresses_are_kept_ipv4_first() -> None:
    destination = check_destination(
        "https://hooks.example.com/",
        resolver=resolving_to("2606:2800:220:1::1", "93.184.216.34", "2606:2800:220:1::1", "93.184.216.35"),
    )

    assert destination.addresses == ("93.184.216.34", "93.184.216.35", "2606:2800:220:1::1")


@pytest.mark.parametrize(
    ("origin", "addresses"),
    [
        ("http://127.0.0.1:8765", ("127.0.0.1",)),
        ("http://localhost:8765/", ("127.0.0.1", "::1")),
        ("http://[::1]:8765", ("::1",)),
    ],
)
def test_a_local_receiver_is_exactly_a_loopback_origin_with_a_port(
    origin: str, addresses: tuple[str, ...]
) -> None:
    settings = AlertingSettings.from_environ({"LOCAL_RECEIVER_ORIGINS": origin})

    allowed = check_destination(
        origin.rstrip("/") + "/hook", resolver=resolving_to(), local_receivers=settings.local_receivers
    )

    assert allowed.addresses == addresses


NOT_LOCAL_RECEIVERS = [
    "http://169.254.169.254",
    "http://169.254.169.254:80",
    "http://10.0.0.5:8080",
    "http://127.0.0.2:8765",
    "http://127.0.0.1",
    "http://127.0.0.1:0",
    "http://127.0.0.1:8765/path",
    "http://user@127.0.0.1:8765",
    "https://127.0.0.1:8765",
    "ftp://localhost:21",
]


@pytest.mark.parametrize("origin", NOT_LOCAL_RECEIVERS)
def test_settings_listing_anything_else_as_a_local_receiver_do_not_load(origin: str) -> None:
    with pytest.raises(ValidationError, match=r"LOCAL_RECEIVER_ORIGINS(.|\n)*not a local receiver origin"):
        AlertingSettings.from_environ({"LOCAL_RECEIVER_ORIGINS": f"http://127.0.0.1:8765,{origin}"})


@pytest.mark.parametrize("origin", NOT_LOCAL_RECEIVERS)
def test_a_listed_origin_that_is_not_a_local_receiver_is_not_honoured(origin: str) -> None:
    with pytest.raises(DestinationRefused):
        check_destination(origin + "/hook", resolver=resolving_to("10.0.0.5"), local_receivers=[origin])
