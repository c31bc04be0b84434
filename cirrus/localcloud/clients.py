"""boto3 clients that talk to the local cloud's endpoint, shared by the emulator and its hooks."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

# Fake but well-formed credentials: moto accepts anything, and boto3 refuses to sign without any.
FAKE_SECRET = "testing"  # noqa: S105  # the emulator's stand-in credential, not a secret  # nosec B105
FAKE_CREDENTIALS = {
    "aws_access_key_id": FAKE_SECRET,
    "aws_secret_access_key": FAKE_SECRET,
    "aws_session_token": FAKE_SECRET,
}


# One session for every client: a session caches the service models it has loaded, so a client
# built from it costs a few milliseconds instead of the 60-150 ms of a client from a new session.
# Building clients from one session is not thread-safe; using the clients is.
_SESSION = boto3.session.Session()
_SESSION_LOCK = threading.Lock()


def new_client(service_name: str, endpoint_url: str, region: str, *, retries: int = 0) -> Any:
    """A boto3 client for `service_name` against the emulator at `endpoint_url`.

    Returned as Any: the service is chosen at run time, and callers use the service's own methods.
    """
    with _SESSION_LOCK:
        return _SESSION.client(
            service_name,  # type: ignore[call-overload]
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(retries={"max_attempts": retries, "mode": "standard"}),
            **FAKE_CREDENTIALS,
        )


class ClientCache:
    """One client per service, created on first use; boto3 clients are thread-safe once built."""

    def __init__(self, endpoint_url: str, region: str) -> None:
        self._endpoint_url = endpoint_url
        self._region = region
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, service_name: str) -> Any:
        """The shared client for `service_name` (creating a client is not thread-safe; using one is)."""
        with self._lock:
            client = self._clients.get(service_name)
            if client is None:
                client = new_client(service_name, self._endpoint_url, self._region)
                self._clients[service_name] = client
            return client


def queue_url(sqs: Any, queue_arn: str) -> str:
    """The URL of the SQS queue named by `queue_arn` (arn:aws:sqs:<region>:<account>:<name>)."""
    account, name = queue_arn.split(":")[4:6]
    return str(sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])
