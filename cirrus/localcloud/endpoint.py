"""What the provisioner, the gateway and the Cognito helpers need from the emulator: its clients.

`cirrus.localcloud.emulator.Emulator` satisfies `ClientSource`; so does `EndpointClients`, for code
and tests that run against a bare moto server.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol, runtime_checkable

from cirrus.localcloud.clients import new_client

DEFAULT_REGION = "us-east-1"


@runtime_checkable
class ClientSource(Protocol):
    """Hands out boto3 clients bound to one emulator endpoint."""

    @property
    def endpoint_url(self) -> str:
        """The emulator's base URL, e.g. http://127.0.0.1:4566."""
        ...

    def client(self, service_name: str) -> Any:
        """A boto3 client for `service_name` that talks to the emulator."""
        ...


class EndpointClients:
    """A `ClientSource` for a bare AWS-compatible endpoint: one shared client per service."""

    def __init__(self, endpoint_url: str, region: str = DEFAULT_REGION) -> None:
        self._endpoint_url = endpoint_url.rstrip("/")
        self.region = region
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def endpoint_url(self) -> str:
        """The endpoint every client is bound to."""
        return self._endpoint_url

    def client(self, service_name: str) -> Any:
        """The client for `service_name` (built once: building is not thread-safe, using one is)."""
        with self._lock:
            if service_name not in self._clients:
                self._clients[service_name] = new_client(
                    service_name, self._endpoint_url, self.region, retries=2
                )
            return self._clients[service_name]


def region_of(source: ClientSource) -> str:
    """The region the source's clients sign for (its `region` when it names one)."""
    region = getattr(source, "region", None)
    if isinstance(region, str) and region:
        return region
    return str(source.client("sts").meta.region_name or DEFAULT_REGION)
