"""The README demo's walkthrough, run against the session's local cloud: every step as expected."""

from __future__ import annotations

from cirrus.client import CirrusClient
from cirrus.demo import Walkthrough, walk
from cirrus.localcloud.cloud import LocalCloudState


def test_every_demo_step_behaves_as_the_demo_expects(
    clients: dict[str, CirrusClient], state: LocalCloudState
) -> None:
    printed: list[str] = []
    walkthrough = Walkthrough(clients, printed.append)

    walk(walkthrough, state.artifact_bucket, state.api_url)

    unexpected = [f"{o.title}: {o.summary}" for o in walkthrough.outcomes if not o.ok]
    assert unexpected == []
    assert len(walkthrough.outcomes) == len(printed) >= 15
