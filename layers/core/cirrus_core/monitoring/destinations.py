"""Where notifications may go, and how a webhook body is signed (groundwork of docs/monitoring.md's alerting).

Destinations (webhooks, Slack, PagerDuty) are URLs a user configures, so a sender must not become a way
into the platform's own network. A destination is accepted only when:
- it is `https://` with a host name or address, no user info, and no fragment;
- every address the host resolves to is a public (globally routable) one: loopback, private,
  link-local (which holds the instance metadata service, 169.254.169.254), carrier-grade NAT, unique
  local IPv6 (which holds EC2's IPv6 metadata address, fd00:ec2::254), multicast, reserved and
  unspecified addresses are refused, as are IPv4 addresses hidden in IPv6 forms.
The check runs on the resolved addresses, and the sender connects to one of those same addresses, so a
name cannot resolve to a public address when checked and a private one when used. Redirects are not
followed (the sender's concern). A name's addresses are kept IPv4 first (a Lambda outside a VPC usually
has no IPv6 route), so the sender tries them in that order.

The local cloud may name an explicit list of local receivers, which are then allowed over plain http.
Such an origin can only be one on this machine's loopback: exactly `http://127.0.0.1:<port>`,
`http://localhost:<port>` or `http://[::1]:<port>` (`local_receiver_origin`); anything else is an error
where the list is read, and is never honoured by `check_destination`.

Signing follows the Standard Webhooks specification: headers `webhook-id`, `webhook-timestamp` (Unix
seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`), with a
secret written `whsec_<base64 key>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SIGNATURE_VERSION: Final = "v1"
DEFAULT_TOLERANCE_SECONDS: Final = 300
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_LOCAL_RECEIVER = re.compile(r"http://(127\.0\.0\.1|localhost|\[::1\]):([0-9]{1,5})/?", re.IGNORECASE)
# What a local receiver's host is connected to (the addresses of `localhost` are not looked up).
_LOOPBACK_ADDRESSES: Final = {"127.0.0.1": ("127.0.0.1",), "localhost": ("127.0.0.1", "::1"), "::1": ("::1",)}

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]


class DestinationRefused(ValueError):
    """A destination URL that notifications may not be sent to (the message says why)."""


@dataclass(frozen=True)
class Destination:
    """A checked destination: the URL, its host and port, and the addresses to connect to."""

    url: str
    host: str
    port: int
    addresses: tuple[str, ...]


def local_receiver_origin(origin: str) -> str:
    """`origin` normalised (lower case, no trailing slash) when it is an allowed local receiver:
    exactly `http://127.0.0.1:<port>`, `http://localhost:<port>` or `http://[::1]:<port>`; ValueError
    otherwise (any other host, https, a path, no port: a local receiver is never a way off the machine)."""
    match = _LOCAL_RECEIVER.fullmatch(origin.strip())
    if match is None or not 1 <= int(match.group(2)) <= 65535:
        raise ValueError(
            f"{origin!r} is not a local receiver origin: it must be exactly http://127.0.0.1:<port>, "
            "http://localhost:<port> or http://[::1]:<port>"
        )
    return f"http://{match.group(1).lower()}:{int(match.group(2))}"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (TCP), as text, in the resolver's order without repeats."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise DestinationRefused(f"the host {host!r} does not resolve ({error.strerror})") from error
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_destination(
    url: str, *, resolver: Resolver = system_resolver, local_receivers: Iterable[str] = ()
) -> Destination:
    """The destination, checked as the module docstring says; DestinationRefused otherwise."""
    if len(url) > 2048 or any(ord(char) < 0x21 or ord(char) == 0x7F for char in url):
        raise DestinationRefused("the URL is too long or contains spaces or control characters")
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if parts.username is not None or parts.password is not None:
        raise DestinationRefused("the URL may not carry user info")
    if parts.fragment:
        raise DestinationRefused("the URL may not carry a fragment")
    host = (parts.hostname or "").lower()
    if not host:
        raise DestinationRefused("the URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise DestinationRefused("the URL's port is not a number from 0 to 65535") from error
    if origin in _allowed_local_receivers(local_receivers):
        return Destination(url, host, port, _LOOPBACK_ADDRESSES[host])
    if parts.scheme != "https":
        raise DestinationRefused("only https:// destinations are accepted")
    addresses = [host] if _is_address(host) else list(dict.fromkeys(resolver(host, port)))
    if not addresses:
        raise DestinationRefused(f"the host {host!r} resolves to no address")
    parsed = [ipaddress.ip_address(text) for text in addresses]
    for address in parsed:
        reason = non_public_reason(address)
        if reason is not None:
            raise DestinationRefused(f"the host {host!r} resolves to {address}, a {reason} address")
    # IPv4 first (stable otherwise): without an IPv6 route an IPv6 address can only fail.
    ordered = sorted(parsed, key=lambda address: address.version)
    return Destination(url, host, port, tuple(str(address) for address in ordered))


def _allowed_local_receivers(local_receivers: Iterable[str]) -> set[str]:
    """The listed origins that are local receivers (anything else is never honoured here; the settings
    that list them refuse it when they load)."""
    allowed = set()
    for receiver in local_receivers:
        try:
            allowed.add(local_receiver_origin(receiver))
        except ValueError:
            continue
    return allowed


def non_public_reason(address: IpAddress) -> str | None:
    """Why an address is not a public one (None when it is)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            return non_public_reason(embedded)
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local (instance metadata lives there)", address.is_link_local),
        ("private", address.is_private),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("carrier-grade NAT", isinstance(address, ipaddress.IPv4Address) and address in _CGNAT),
        ("non-global", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# -- Standard Webhooks signatures --------------------------------------------------------------------


def secret_key(secret: str) -> bytes:
    """The key of a `whsec_<base64>` secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except ValueError as error:
        raise ValueError("the webhook secret is not valid base64 after its prefix") from error
    if len(key) < 24:
        raise ValueError("a webhook secret's key has at least 24 bytes")
    return key


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of `<id>.<timestamp>.<body>`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of a delivery."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }


def verify(
    secret: str,
    headers: dict[str, str],
    body: bytes,
    *,
    now: int,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """Whether a delivery's headers carry a valid, fresh signature of `body` (what a receiver checks)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id, stamp = lowered.get("webhook-id", ""), lowered.get("webhook-timestamp", "")
    if not message_id or not stamp.isdigit() or abs(now - int(stamp)) > tolerance_seconds:
        return False
    expected = signature(secret, message_id, int(stamp), body)
    offered = lowered.get("webhook-signature", "").split()
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)
