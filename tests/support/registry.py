"""Driving the registry through its API in tests: setting state up, and guarding refusals."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from tests.support.api import ApiResponse, call
from tests.support.aws import AwsResources
from tests.support.events import assert_valid_event

MODEL_ID = "fraud_detection_v2"  # the model of the sample API events
REVIEWER_CLAIMS = {
    "sub": "0b6c4f0e-9d1a-4c55-8f3e-5a2b7c9d1e2f",
    "cognito:username": "bob@example.com",
    "cognito:groups": "model_reviewer",
}


class RegistryDriver:
    """Puts the registry into a state through its API, as users would; every step must succeed.

    Registration and promotion run as the sample events' caller (alice@example.com, ml_engineer);
    approvals and rejections as a reviewer (bob@example.com, model_reviewer).
    """

    def __init__(self, aws: AwsResources) -> None:
        self._aws = aws
        self._events_seen = 0

    def register(self) -> int:
        """Register the next version of the sample model with the sample payload; returns its number."""
        return int(self._step(call("register_model"), 201)["version"])

    def register_approved(self, count: int) -> list[int]:
        """Register `count` versions and approve each."""
        versions = [self.register() for _ in range(count)]
        for version in versions:
            self.approve(version)
        return versions

    def request_review(self, version: int) -> None:
        self._step(call("request_review", path=_version_path(version), body={"comment": ""}), 200)

    def approve(self, version: int) -> None:
        self._decide("approve_version", version)

    def reject(self, version: int) -> None:
        self._decide("reject_version", version)

    def promote(self, version: int, environment: str) -> None:
        body = {"version": version, "environment": environment}
        self._step(call("promote_model", path={"model_id": MODEL_ID}, body=body), 200)

    def rollback(self, environment: str) -> None:
        body = {"environment": environment}
        self._step(call("rollback_model", path={"model_id": MODEL_ID}, body=body), 200)

    def retire(self, version: int | None = None) -> None:
        query = None if version is None else {"version": str(version)}
        self._step(call("retire_model", path={"model_id": MODEL_ID}, query=query), 200)

    def model(self) -> dict[str, Any]:
        """The model as GET /models/{model_id} shows it."""
        return _ok(call("get_model", path={"model_id": MODEL_ID}), 200)

    def version(self, version: int) -> dict[str, Any]:
        """A version as GET /models/{model_id}/versions/{version} shows it."""
        return _ok(call("get_version", path=_version_path(version)), 200)

    def new_events(self) -> list[dict[str, Any]]:
        """The lifecycle events published since the last setup step, each checked against its schema."""
        events = self._aws.published_events()[self._events_seen :]
        for event in events:
            assert_valid_event(event)
        return events

    def _decide(self, route: str, version: int) -> None:
        body = {"comment": "Reviewed."}
        self._step(call(route, path=_version_path(version), body=body, claims=REVIEWER_CLAIMS), 200)

    def _step(self, response: ApiResponse, status: int) -> dict[str, Any]:
        body = _ok(response, status)
        self._events_seen = len(self._aws.published_events())
        return body


class Unchanged:
    """`with unchanged:` fails the test when the block writes to any table or publishes an event."""

    def __init__(self, aws: AwsResources) -> None:
        self._aws = aws
        self._items: dict[str, list[dict[str, Any]]] = {}
        self._events_seen = 0

    def __enter__(self) -> None:
        self._items = self._aws.table_items()
        self._events_seen = len(self._aws.published_events())

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is not None:
            return
        assert self._aws.table_items() == self._items, "the request wrote to a table"
        published = self._aws.published_events()[self._events_seen :]
        assert not published, f"the request published {[event['detail-type'] for event in published]}"


def _version_path(version: int) -> dict[str, str]:
    return {"model_id": MODEL_ID, "version": str(version)}


def _ok(response: ApiResponse, status: int) -> dict[str, Any]:
    assert response.status == status, f"setup step failed: {response.status} {response.body}"
    return dict(response.body)
