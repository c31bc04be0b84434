"""Concurrent registrations of one model get versions 1..N: none twice, none skipped, none lost.

The race runs through `RegistryService` rather than the handler: a Powertools resolver serves one
request at a time (as a Lambda execution environment does) and is not thread-safe, while the service
is what must stay correct when many execution environments register at once. Each thread has its
own service and boto3 clients, built as `cirrus_core.registry.wiring` builds them in each environment.

moto 5.2.5's DynamoDB writes are not atomic under threads (a conditional write can be interleaved
with another writer, and a cancelled transaction's rollback erases other writers' items), so this
test would see duplicate and lost versions that AWS would never produce. The local cloud's
`dynamodb_transactions` hook restores AWS's guarantee, and the race runs with it installed; the
hook's own tests show the failures without it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from cirrus.localcloud.hooks import HookContext
from cirrus.localcloud.hooks.dynamodb_transactions import install
from cirrus_core.caller import Caller
from cirrus_core.events import EventPublisher
from cirrus_core.principal import Principal
from cirrus_core.registry.artifacts import allowed_artifact_buckets
from cirrus_core.registry.bodies import RegisterModelRequest
from cirrus_core.registry.models import ModelVersion
from cirrus_core.registry.repository import ModelRecord, RegistryRepository
from cirrus_core.registry.service import RegistryService
from cirrus_core.registry.wiring import EVENT_SOURCE
from cirrus_core.settings import get_settings
from tests.support.aws import AwsResources
from tests.unit.registry.registration import MODEL_ID, registration

WRITERS = 32
SAFETY_TIMEOUT_SECONDS = 120


@pytest.fixture
def atomic_dynamodb(tmp_path: Path) -> Iterator[None]:
    undo = install(HookContext(endpoint_url="http://127.0.0.1:4566", work_dir=tmp_path))
    yield
    undo()


class ReadsTheModelAsAbsentOnce(RegistryRepository):
    """The view of a caller that read the model just before another caller created it."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._stale = True

    def get_model(self, model_id: str) -> ModelRecord | None:
        if self._stale:
            self._stale = False
            return None
        return super().get_model(model_id)


def caller(name: str) -> Caller:
    """A caller of one name, as the entry point would build it."""
    return Caller(Principal(sub=f"sub-{name}", username=name, groups=frozenset({"ml_engineer"})))


def service_of_one_execution_environment(
    session: boto3.session.Session | None = None, repository: type[RegistryRepository] = RegistryRepository
) -> RegistryService:
    """A registry service with clients of its own, built as wiring.registry_service() builds it."""
    settings = get_settings()
    session = session or boto3.session.Session()
    return RegistryService(
        repository(session.client("dynamodb"), settings.registry_table),
        EventPublisher(session.client("events"), settings.event_bus_name, EVENT_SOURCE),
        allowed_artifact_buckets(settings.artifact_bucket, settings.artifact_bucket_allowlist),
    )


def register_concurrently(writers: int) -> tuple[list[ModelVersion], list[BaseException]]:
    """`writers` threads, each with its own service and clients, register a version at the same moment."""
    request = RegisterModelRequest.model_validate(registration())
    # Clients come from one session (fast, and a session is not thread-safe); each thread has its own.
    session = boto3.session.Session()
    services = [service_of_one_execution_environment(session) for _ in range(writers)]
    start = threading.Barrier(writers)
    registered: list[ModelVersion] = []
    failures: list[BaseException] = []

    def writer(index: int) -> None:
        start.wait()
        try:
            registered.append(services[index].register(request, caller(f"writer-{index}")))
        except Exception as error:  # reported by the test, not swallowed
            failures.append(error)

    threads = [threading.Thread(target=writer, args=(index,)) for index in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SAFETY_TIMEOUT_SECONDS)
    return registered, failures


@pytest.fixture
def race(aws: AwsResources, atomic_dynamodb: None) -> list[ModelVersion]:
    registered, failures = register_concurrently(WRITERS)
    assert failures == []
    return registered


def test_concurrent_registrations_are_answered_and_stored_as_versions_1_to_n(
    race: list[ModelVersion],
) -> None:
    reader = caller("reader")
    stored = service_of_one_execution_environment().list_versions(MODEL_ID, None, 100, None, reader).items

    assert sorted(version.version for version in race) == list(range(1, WRITERS + 1))
    assert sorted(stored, key=lambda v: v.version) == sorted(race, key=lambda v: v.version)


def test_the_model_counts_every_concurrent_registration(race: list[ModelVersion]) -> None:
    model = service_of_one_execution_environment().get_model(MODEL_ID, caller("reader"))

    assert model.latest_version == WRITERS
    assert model.counts.total == model.counts.pending == WRITERS


def test_each_concurrent_registration_is_announced_once_with_the_version_its_caller_got(
    aws: AwsResources, race: list[ModelVersion]
) -> None:
    told = sorted((version.created_by, version.version) for version in race)
    announced = sorted(
        (event["detail"]["metadata"]["actor"], event["detail"]["data"]["version"])
        for event in aws.published_events()
    )

    assert announced == told


def test_the_loser_of_the_race_to_create_a_model_registers_the_next_version(aws: AwsResources) -> None:
    # GIVEN a caller who saw no model, while another caller created it with version 1
    request = RegisterModelRequest.model_validate(registration())
    service_of_one_execution_environment().register(request, caller("winner"))
    loser = service_of_one_execution_environment(repository=ReadsTheModelAsAbsentOnce)

    # WHEN the loser's create is refused (the model and its SageMaker name exist), it re-reads
    registered = loser.register(request, caller("loser"))

    # THEN it gets version 2, not a name collision with its own model
    assert registered.version == 2
