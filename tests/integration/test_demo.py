"""The README demo's walkthrough, run against the session's local cloud: every step as expected."""

from __future__ import annotations

import re

from cirrus.client import CirrusClient
from cirrus.demo import AlertInbox, Walkthrough, walk
from cirrus.localcloud.cloud import LocalCloud, LocalCloudState
from cirrus.localcloud.receiver import Receiver


def test_every_demo_step_behaves_as_the_demo_expects(
    clients: dict[str, CirrusClient], state: LocalCloudState, local_cloud: LocalCloud, receiver: Receiver
) -> None:
    printed: list[str] = []
    walkthrough = Walkthrough(clients, printed.append)
    s3 = local_cloud.emulator.client("s3")

    def upload(key: str, body: bytes) -> str:
        s3.put_object(Bucket=state.artifact_bucket, Key=key, Body=body)
        return f"s3://{state.artifact_bucket}/{key}"

    def download(uri: str) -> bytes:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    walk(walkthrough, state.artifact_bucket, state.api_url, upload, download, AlertInbox.open(receiver))

    unexpected = [f"{o.title}: {o.summary}" for o in walkthrough.outcomes if not o.ok]
    assert unexpected == []
    steps = [line for line in printed if re.match(r"\s*\d+\. \[", line)]
    assert len(walkthrough.outcomes) == len(steps) >= 20
    # The runs' steps were shown as they progressed.
    assert any("train" in line and "Succeeded" in line for line in printed)
    # The drift alert reached the webhook receiver with a signature that verifies.
    assert any("drift alert" in o.title and "signature verified" in o.summary for o in walkthrough.outcomes)
