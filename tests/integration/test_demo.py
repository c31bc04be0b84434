"""The README demo's walkthrough, run against the session's local cloud: every step as expected."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from cirrus.client import CirrusClient
from cirrus.demo import AlertInbox, Walkthrough, gather_summary, walk, write_summary
from cirrus.demo_report import AlertTrail, Section
from cirrus.localcloud.cloud import LocalCloud, LocalCloudState
from cirrus.localcloud.databases import LocalPostgres
from cirrus.localcloud.receiver import Receiver
from cirrus_core.serving.deployment_models import DeploymentList

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def postgres() -> Iterator[LocalPostgres]:
    """The demo's source database: a real PostgreSQL server of its own."""
    with LocalPostgres(database="payments", user="cirrus_reader") as server:
        yield server


def test_every_demo_step_behaves_as_the_demo_expects(
    clients: dict[str, CirrusClient],
    state: LocalCloudState,
    local_cloud: LocalCloud,
    receiver: Receiver,
    postgres: LocalPostgres,
    tmp_path: Path,
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

    walk(
        walkthrough,
        state.artifact_bucket,
        state.api_url,
        upload,
        download,
        AlertInbox.open(receiver),
        postgres,
    )

    unexpected = [f"{o.title}: {o.summary}" for o in walkthrough.outcomes if not o.ok]
    assert unexpected == []
    steps = [line for line in printed if re.match(r"\s*\d+\. \[", line)]
    assert len(walkthrough.outcomes) == len(steps) >= 20
    # The first model was trained from the point-in-time training set built from PostgreSQL, and its
    # lineage reaches back to the source.
    data = [o for o in walkthrough.outcomes if o.section is Section.DATA]
    assert len(data) >= 12
    assert any("lineage" in o.title and "source:production_db" in o.summary for o in data)
    # The runs' steps were shown as they progressed.
    assert any("train" in line and "Succeeded" in line for line in printed)
    # The drift alert reached the webhook receiver with a signature that verifies.
    assert any("drift alert" in o.title and "signature verified" in o.summary for o in walkthrough.outcomes)

    # The HTML summary, read back from the API: the versions, both runs, the rollback, the delivered alert.
    summary = gather_summary(clients["admin"], walkthrough, state.api_url)
    assert summary.missing() == []
    path = write_summary(summary, tmp_path)
    page = path.read_text(encoding="utf-8")
    assert path.is_absolute()
    assert path.name == "summary.html"
    sections = {
        anchor: html.unescape(re.sub(r"<[^>]+>", " ", body))
        for anchor, body in re.findall(r'<h2 id="(\w+)">(.*?)(?=<h2 |</body>)', page, re.S)
    }
    assert [f"v{n}" in sections["versions"] for n in (1, 2, 3)] == [True] * 3
    assert len(walkthrough.trail.pipeline_runs) == 2
    assert [run_id in sections["runs"] for run_id in walkthrough.trail.pipeline_runs] == [True, True]
    assert isinstance(summary.deployments, DeploymentList)
    rolled_back = [d for d in summary.deployments.items if d.status.value == "rolled_back"]
    assert len(rolled_back) == 1
    assert "rolled_back" in sections["deployments"]
    assert str(rolled_back[0].failed_step) in sections["deployments"]
    assert isinstance(summary.alerts, list)
    delivered = [
        delivery
        for trail in summary.alerts
        if isinstance(trail, AlertTrail) and isinstance(trail.deliveries, list)
        for delivery in trail.deliveries
        if delivery.status.value == "delivered" and delivery.notification_kind.value == "trigger"
    ]
    assert len(delivered) >= 1
    assert delivered[0].delivery_id in sections["alerts"]
    assert "delivered" in sections["alerts"]
    verdicts = re.findall(r"Verdict: +drift in ([\w, ]+?) *[(.]", sections["drift"])
    assert {"amount", "channel"} in [set(verdict.split(", ")) for verdict in verdicts]
