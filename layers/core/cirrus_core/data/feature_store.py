"""The feature store: group definitions, job starts, streaming puts and online reads (the API's
service), and the ledger the feature jobs' steps record their outcomes in.

Every refusal (an unknown group, version, dataset or feature, a breaking change without
`new_version`, a dataset or records that do not fit, labels that cannot be joined) happens before
anything is written. A change and its audit record share one transaction; a streaming put's durable
change is its staging object in S3, so its audit record follows that object, before the online rows.

Jobs (ingestion, materialisation, training set) are items `running`/`building` created with their
audit record, then an execution of the feature state machine named by the job id; its steps do the
work in the frames layer (`cirrus_frames.features`) and record the outcome through `FeatureJobs`,
which announces it (`features.ingested`, `features.materialized`, `training_set.created`).
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

from cirrus_core.arns import execution_arn_of
from cirrus_core.audit.entries import entry_for
from cirrus_core.audit.models import AuditCategory
from cirrus_core.audit.transact import ChangeConditionFailed
from cirrus_core.authz import Resource, authorize, determining_policies
from cirrus_core.contention import backoff_seconds
from cirrus_core.data.datasets import DatasetKind, Lineage
from cirrus_core.data.feature_models import (
    MAX_FAILURE_LENGTH,
    STAGING_VERSION_COLUMN,
    FeatureGroupPage,
    FeatureGroupSummary,
    FeatureGroupVersionResult,
    FeatureGroupView,
    FeatureJobInput,
    FeatureJobStatus,
    FeatureJobType,
    IngestionJob,
    MaterializationJob,
    OnlineFeatures,
    PutRecordsResult,
    check_dataset_fits,
    iso_utc,
    new_job_id,
    offline_part_key,
    staging_key,
)
from cirrus_core.data.features import (
    ChangeKind,
    FeatureGroupDefinition,
    FeatureGroupVersion,
    FeatureType,
    check_records,
    compatible_reader,
    plan_change,
)
from cirrus_core.data.online_store import OnlineRow, typed_features
from cirrus_core.data.training_sets import (
    TrainingSet,
    TrainingSetLabels,
    TrainingSetStatus,
    check_labels,
    resolve_group,
)
from cirrus_core.errors import (
    DatasetKindMismatch,
    DatasetVersionNotReady,
    EntityNotFound,
    FeatureGroupNameMismatch,
    FeatureGroupNotFound,
    FeatureGroupVersionNotFound,
    FeatureIngestionNotFound,
    FeatureJobStepError,
    FeatureNotInGroup,
    InvalidEntityKey,
    InvalidPaginationToken,
    MaterializationNotFound,
    TooMuchContention,
    TrainingSetNotFound,
)
from cirrus_core.events import LifecycleEvent
from cirrus_core.pagination import decode_token, encode_token

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from cirrus_core.audit.models import AuditEntry
    from cirrus_core.caller import Caller
    from cirrus_core.data.dataset_store import DatasetStore
    from cirrus_core.data.datasets import Column, DataFile, DatasetVersion
    from cirrus_core.data.feature_models import (
        DataProblem,
        FeatureStepEvent,
        PutFeatureGroupRequest,
        PutRecordsRequest,
        StartIngestionRequest,
        StartMaterializationRequest,
    )
    from cirrus_core.data.online_store import StoredRow, WriteCounts
    from cirrus_core.data.training_sets import CreateTrainingSetRequest, TrainingSetGroup

API: Final = "/api/v1/data"
_MAX_ATTEMPTS: Final = 30
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


# -- ports ------------------------------------------------------------------------------------------


class GroupsPort(Protocol):
    def group(self, name: str) -> FeatureGroupSummary | None: ...

    def version(self, name: str, version: int) -> FeatureGroupVersion | None: ...

    def versions(self, name: str) -> list[FeatureGroupVersion]: ...

    def groups(self, *, limit: int, after: str | None) -> tuple[list[FeatureGroupSummary], str | None]: ...

    def add_version(
        self,
        summary: FeatureGroupSummary,
        version: FeatureGroupVersion,
        *,
        read_latest: int | None,
        audit: AuditEntry | None,
    ) -> None: ...

    def mark_has_data(self, name: str) -> None: ...

    def ingestion(self, name: str, ingestion_id: str) -> IngestionJob | None: ...

    def create_ingestion(self, job: IngestionJob, audit: AuditEntry | None) -> None: ...

    def finish_ingestion(self, job: IngestionJob) -> None: ...

    def succeeded_ingestions(self, name: str) -> list[IngestionJob]: ...

    def materialization(self, name: str, materialization_id: str) -> MaterializationJob | None: ...

    def create_materialization(self, job: MaterializationJob, audit: AuditEntry | None) -> None: ...

    def finish_materialization(self, job: MaterializationJob) -> None: ...

    def training_set(self, training_set_id: str) -> TrainingSet | None: ...

    def create_training_set(self, training_set: TrainingSet, audit: AuditEntry | None) -> None: ...

    def update_training_set(self, training_set: TrainingSet) -> None: ...


class OnlinePort(Protocol):
    def put_latest(self, group: str, version: int, rows: Iterable[OnlineRow]) -> WriteCounts: ...

    def get(self, group: str, entity: str) -> StoredRow | None: ...


class StagingPort(Protocol):
    def put(self, key: str, body: bytes) -> None: ...


class ExecutionsPort(Protocol):
    def start(self, state_machine_arn: str, name: str, execution_input: str) -> str: ...


class EventsPort(Protocol):
    def publish(self, events: Sequence[LifecycleEvent]) -> None: ...


class AuditAppendPort(Protocol):
    def append(self, entry: AuditEntry) -> Any: ...


# -- the API's service ----------------------------------------------------------------------------


class FeatureStore:
    """The feature store's API use cases on behalf of a `Caller` (data_access)."""

    def __init__(
        self,
        groups: GroupsPort,
        datasets: DatasetStore,
        online: OnlinePort,
        staging: StagingPort,
        executions: ExecutionsPort,
        events: EventsPort,
        *,
        state_machine_arn: str,
        audit_log: AuditAppendPort | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._groups = groups
        self._datasets = datasets
        self._online = online
        self._staging = staging
        self._executions = executions
        self._events = events
        self._arn = state_machine_arn
        self._audit_log = audit_log
        self._clock = clock
        self._sleep = sleep

    # -- definitions ------------------------------------------------------------------------------

    def put_group(
        self, name: str, request: PutFeatureGroupRequest, caller: Caller
    ) -> FeatureGroupVersionResult:
        """Create the group, add a version, or answer with the current one when nothing changed."""
        authorize(caller.principal, "PutFeatureGroup", Resource.platform())
        proposed = request.definition()
        if proposed.name != name:
            raise FeatureGroupNameMismatch(
                f"The definition names feature group '{proposed.name}', not '{name}'.",
                [{"field": "name", "expected": name, "got": proposed.name}],
            )
        for attempt in range(_MAX_ATTEMPTS):
            summary = self._groups.group(name)
            current = self._groups.version(name, summary.latest_version) if summary else None
            plan = plan_change(
                current,
                proposed,
                new_version_requested=request.new_version,
                group_has_data=summary.has_data if summary else False,
            )
            if current is not None and not plan.creates_version:
                return _result(current, ChangeKind.UNCHANGED)
            now = self._clock()
            version = plan.new_version(created_at=now, created_by=caller.actor)
            updated = _summary(summary, version, caller.actor, now)
            entry = self._audit(
                caller, "put_feature_group", f"data/feature-group/{name}/v{version.version}", now
            )
            try:
                self._groups.add_version(
                    updated, version, read_latest=summary.latest_version if summary else None, audit=entry
                )
            except ChangeConditionFailed:
                self._sleep(backoff_seconds(attempt))
                continue
            self._events.publish([_version_created(version, plan.kind, caller.actor, now)])
            return _result(version, plan.kind)
        raise TooMuchContention(f"Feature group {name} is being changed by too many callers at once; retry.")

    def list_groups(self, limit: int, next_token: str | None, caller: Caller) -> FeatureGroupPage:
        authorize(caller.principal, "ListFeatureGroups", Resource.platform())
        after: str | None = None
        if next_token:
            position = decode_token(next_token, frozenset({"g"}))
            if not isinstance(position["g"], str):
                raise InvalidPaginationToken("next_token does not belong to this listing.")
            after = position["g"]
        items, last = self._groups.groups(limit=limit, after=after)
        return FeatureGroupPage(items=items, next_token=encode_token({"g": last}) if last else None)

    def get_group(self, name: str, caller: Caller) -> FeatureGroupView:
        authorize(caller.principal, "GetFeatureGroup", Resource.platform())
        summary = self._summary(name)
        latest = self._version(name, summary.latest_version)
        return FeatureGroupView.model_validate({**summary.model_dump(), "latest": latest.model_dump()})

    def get_version(self, name: str, version: int, caller: Caller) -> FeatureGroupVersion:
        authorize(caller.principal, "GetFeatureGroup", Resource.platform())
        self._summary(name)
        return self._version(name, version)

    # -- jobs ----------------------------------------------------------------------------------------

    def start_ingestion(self, name: str, request: StartIngestionRequest, caller: Caller) -> IngestionJob:
        """Check the dataset version's schema against the group version, then start the ingestion."""
        authorize(caller.principal, "IngestFeatures", Resource.platform())
        version = self._group_version(name, request.version)
        dataset = self._datasets.resolve(request.dataset)
        check_dataset_fits(
            version.definition,
            version.version,
            dataset.columns,
            f"Version {dataset.version} of dataset {dataset.dataset}",
        )
        now = self._clock()
        job_id = new_job_id(now)
        job = IngestionJob(
            ingestion_id=job_id,
            group=name,
            version=version.version,
            dataset=dataset.dataset,
            dataset_version=dataset.version,
            status=FeatureJobStatus.RUNNING,
            started_at=now,
            started_by=caller.actor,
            execution_arn=execution_arn_of(self._arn, job_id),
        )
        self._groups.create_ingestion(
            job,
            self._audit(
                caller, "start_feature_ingestion", f"data/feature-group/{name}/ingestion/{job_id}", now
            ),
        )
        try:
            self._start(FeatureJobType.INGESTION, job_id, name, caller.actor)
        except Exception as error:
            self._groups.finish_ingestion(
                _failed(job, f"The ingestion did not start: {error}", self._clock())
            )
            raise
        return _ingestion_links(job)

    def get_ingestion(self, name: str, ingestion_id: str, caller: Caller) -> IngestionJob:
        authorize(caller.principal, "GetFeatureGroup", Resource.platform())
        self._summary(name)
        job = self._groups.ingestion(name, ingestion_id)
        if job is None:
            raise FeatureIngestionNotFound(
                f"Feature group {name} has no ingestion {ingestion_id}.",
                [{"group": name, "ingestion_id": ingestion_id}],
            )
        return _ingestion_links(job)

    def get_materialization(self, name: str, materialization_id: str, caller: Caller) -> MaterializationJob:
        """A materialisation and its counts (entities, written, skipped as older than the online row)."""
        authorize(caller.principal, "GetFeatureGroup", Resource.platform())
        self._summary(name)
        job = self._groups.materialization(name, materialization_id)
        if job is None:
            raise MaterializationNotFound(
                f"Feature group {name} has no materialization {materialization_id}.",
                [{"group": name, "materialization_id": materialization_id}],
            )
        return job

    def start_materialization(
        self, name: str, request: StartMaterializationRequest, caller: Caller
    ) -> MaterializationJob:
        """Start copying the latest row of every entity to the online store."""
        authorize(caller.principal, "MaterializeFeatures", Resource.platform())
        version = self._group_version(name, request.version)
        now = self._clock()
        job_id = new_job_id(now)
        job = MaterializationJob(
            materialization_id=job_id,
            group=name,
            version=version.version,
            status=FeatureJobStatus.RUNNING,
            started_at=now,
            started_by=caller.actor,
            execution_arn=execution_arn_of(self._arn, job_id),
        )
        self._groups.create_materialization(
            job,
            self._audit(
                caller,
                "start_feature_materialization",
                f"data/feature-group/{name}/materialization/{job_id}",
                now,
            ),
        )
        try:
            self._start(FeatureJobType.MATERIALIZATION, job_id, name, caller.actor)
        except Exception as error:
            failed = job.model_copy(
                update={
                    "status": FeatureJobStatus.FAILED,
                    "finished_at": self._clock(),
                    "failure": f"The materialisation did not start: {error}"[:MAX_FAILURE_LENGTH],
                }
            )
            self._groups.finish_materialization(failed)
            raise
        return job

    def create_training_set(self, request: CreateTrainingSetRequest, caller: Caller) -> TrainingSet:
        """Resolve and check everything the build will join, then start it."""
        authorize(caller.principal, "CreateTrainingSet", Resource.platform())
        labels = self._datasets.resolve(request.labels.dataset)
        groups: list[tuple[TrainingSetGroup, FeatureGroupVersion]] = []
        for group in request.feature_groups:
            version = self._group_version(group.group, group.version)
            groups.append((resolve_group(group, version), version))
        check_labels(request.labels.label_time, labels.columns, groups)
        existing = self._datasets.dataset(request.dataset)
        if existing is not None and existing.kind is not DatasetKind.TRAINING_SET:
            raise DatasetKindMismatch(
                f"Dataset {request.dataset} is made by {existing.kind.value} jobs, not training sets.",
                [{"dataset": request.dataset, "kind": existing.kind.value, "requested": "training_set"}],
            )
        now = self._clock()
        training_set_id = new_job_id(now)
        training_set = TrainingSet(
            training_set_id=training_set_id,
            dataset=request.dataset,
            description=request.description,
            status=TrainingSetStatus.BUILDING,
            labels=TrainingSetLabels(
                dataset=labels.dataset, version=labels.version, label_time=request.labels.label_time
            ),
            feature_groups=[group for group, _ in groups],
            created_at=now,
            created_by=caller.actor,
            execution_arn=execution_arn_of(self._arn, training_set_id),
        )
        self._groups.create_training_set(
            training_set,
            self._audit(caller, "create_training_set", f"data/training-set/{training_set_id}", now),
        )
        try:
            self._start(FeatureJobType.TRAINING_SET, training_set_id, None, caller.actor)
        except Exception as error:
            self._groups.update_training_set(
                training_set.model_copy(
                    update={
                        "status": TrainingSetStatus.FAILED,
                        "finished_at": self._clock(),
                        "failure": f"The build did not start: {error}"[:MAX_FAILURE_LENGTH],
                    }
                )
            )
            raise
        return _training_set_links(training_set)

    def get_training_set(self, training_set_id: str, caller: Caller) -> TrainingSet:
        authorize(caller.principal, "GetTrainingSet", Resource.platform())
        found = self._groups.training_set(training_set_id)
        if found is None:
            raise TrainingSetNotFound(
                f"No training set {training_set_id}.", [{"training_set_id": training_set_id}]
            )
        return _training_set_links(found)

    # -- streaming puts and online reads ----------------------------------------------------------

    def put_records(self, name: str, request: PutRecordsRequest, caller: Caller) -> PutRecordsResult:
        """Check every record, stage them for the offline store, then write each entity's latest
        record online unless a newer row is stored."""
        authorize(caller.principal, "PutFeatureRecords", Resource.platform())
        version = self._group_version(name, request.version)
        check_records(version, list(request.records))
        records: list[dict[str, Any]] = [record for record in request.records if isinstance(record, dict)]
        definition = version.definition
        now = self._clock()
        key = staging_key(name, now, new_job_id(now))
        body = _staging_lines(definition, version.version, records)
        self._staging.put(key, body)
        if self._audit_log is not None:
            entry = entry_for(
                caller,
                "put_feature_records",
                f"data/feature-group/{name}/records",
                AuditCategory.CHANGE,
                now,
                policies=determining_policies(),
                after_hash=hashlib.sha256(body).hexdigest(),
            )
            self._audit_log.append(entry)
        self._groups.mark_has_data(name)
        latest = _latest_per_entity(definition, records)
        counts = self._online.put_latest(name, version.version, latest)
        return PutRecordsResult(
            group=name,
            version=version.version,
            records=len(records),
            written=counts.written,
            skipped=len(records) - counts.written,
            staging_key=key,
        )

    def online_features(
        self, name: str, entity: str, features: Sequence[str] | None, caller: Caller
    ) -> OnlineFeatures:
        """An entity's latest values (all features of the version it was written at, or `features`)."""
        authorize(caller.principal, "GetOnlineFeatures", Resource.platform())
        summary = self._summary(name)
        latest = self._version(name, summary.latest_version)
        wanted = list(dict.fromkeys(features)) if features else None
        if wanted is not None:
            unknown = [feature for feature in wanted if latest.definition.feature(feature) is None]
            if unknown:
                raise FeatureNotInGroup(
                    f"Feature group '{name}' has no feature " + ", ".join(repr(n) for n in unknown) + ".",
                    [{"group": name, "feature": feature} for feature in unknown],
                )
        key = entity_key_text(latest.definition, entity)
        row = self._online.get(name, key)
        if row is None:
            raise EntityNotFound(
                f"Feature group '{name}' has no online row for this entity.", [{"group": name}]
            )
        row_version = (
            latest if row.group_version == latest.version else self._groups.version(name, row.group_version)
        )
        values = typed_features(row.features, (row_version or latest).definition)
        if wanted is not None:
            values = {feature: values.get(feature) for feature in wanted}
        return OnlineFeatures(
            group=name,
            entity=key,
            version=row.group_version,
            event_time=row.event_time,
            written_at=row.written_at,
            features=values,
        )

    # -- internals -------------------------------------------------------------------------------------

    def _summary(self, name: str) -> FeatureGroupSummary:
        summary = self._groups.group(name)
        if summary is None:
            raise FeatureGroupNotFound(f"No feature group named '{name}'.", [{"group": name}])
        return summary

    def _version(self, name: str, version: int) -> FeatureGroupVersion:
        found = self._groups.version(name, version)
        if found is None:
            raise FeatureGroupVersionNotFound(
                f"Feature group '{name}' has no version {version}.", [{"group": name, "version": version}]
            )
        return found

    def _group_version(self, name: str, version: int | None) -> FeatureGroupVersion:
        summary = self._summary(name)
        return self._version(name, version or summary.latest_version)

    def _start(self, job_type: FeatureJobType, job_id: str, group: str | None, actor: str) -> None:
        document = FeatureJobInput(type=job_type, job_id=job_id, group=group, actor=actor)
        self._executions.start(self._arn, job_id, document.model_dump_json())

    def _audit(self, caller: Caller, action: str, resource: str, at: datetime) -> AuditEntry | None:
        if self._audit_log is None:
            return None
        return entry_for(caller, action, resource, AuditCategory.CHANGE, at, policies=determining_policies())


def entity_key_text(definition: FeatureGroupDefinition, entity: str) -> str:
    """An entity key as the online store spells it; InvalidEntityKey when it cannot be one."""
    if definition.entity_key.type.value == FeatureType.INT64.value:
        text = entity.strip()
        if not text.lstrip("-").isdigit() or not _INT64_MIN <= int(text) <= _INT64_MAX:
            raise InvalidEntityKey(
                f"Feature group '{definition.name}' is keyed by an int64: the entity must be an integer.",
                [{"field": "entity", "expected": "int64"}],
            )
        return str(int(text))
    if not entity or len(entity.encode()) > 2048:
        raise InvalidEntityKey(
            "The entity must be 1 to 2048 bytes long.", [{"field": "entity", "expected": "string"}]
        )
    return entity


def _summary(
    current: FeatureGroupSummary | None, version: FeatureGroupVersion, actor: str, now: datetime
) -> FeatureGroupSummary:
    definition = version.definition
    return FeatureGroupSummary(
        name=definition.name,
        latest_version=version.version,
        owner=definition.owner,
        description=definition.description,
        entity_key=definition.entity_key.name,
        event_time=definition.event_time,
        feature_count=len(definition.features),
        has_data=current.has_data if current else False,
        created_at=current.created_at if current else now,
        created_by=current.created_by if current else actor,
        updated_at=now,
        updated_by=actor,
    )


def _result(version: FeatureGroupVersion, change: ChangeKind) -> FeatureGroupVersionResult:
    return FeatureGroupVersionResult.model_validate({**version.model_dump(), "change": change})


def _version_created(
    version: FeatureGroupVersion, change: ChangeKind, actor: str, at: datetime
) -> LifecycleEvent:
    return LifecycleEvent(
        "feature_group.version_created",
        {
            "group": version.name,
            "version": version.version,
            "parent_version": version.parent_version,
            "change": change.value,
            "breaking": version.breaking,
            "compatible_since": version.compatible_since,
            "feature_count": len(version.definition.features),
            "changes": [{"feature": c.feature, "change": c.change.value} for c in version.changes],
        },
        actor=actor,
        occurred_at=at,
    )


def _failed(
    job: IngestionJob, failure: str, at: datetime, problems: list[dict[str, Any]] | None = None
) -> IngestionJob:
    return job.model_copy(
        update={
            "status": FeatureJobStatus.FAILED,
            "finished_at": at,
            "failure": failure[:MAX_FAILURE_LENGTH],
            "problems": problems or [],
        }
    )


def _ingestion_links(job: IngestionJob) -> IngestionJob:
    base = f"{API}/features/{job.group}"
    return job.model_copy(update={"links": {"self": f"{base}/ingestions/{job.ingestion_id}", "group": base}})


def _training_set_links(training_set: TrainingSet) -> TrainingSet:
    links = {
        "self": f"{API}/training-sets/{training_set.training_set_id}",
        "dataset": f"{API}/datasets/{training_set.dataset}",
    }
    if training_set.dataset_version is not None:
        links["version"] = f"{API}/datasets/{training_set.dataset}/versions/{training_set.dataset_version}"
    return training_set.model_copy(update={"links": links})


def _timestamp(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _staging_lines(definition: FeatureGroupDefinition, version: int, records: list[dict[str, Any]]) -> bytes:
    """The records as JSON Lines, timestamps in UTC, each with the group version it was checked at."""
    timestamps = {definition.event_time} | {
        feature.name for feature in definition.features if feature.type is FeatureType.TIMESTAMP
    }
    lines = []
    for record in records:
        line = {
            column: (iso_utc(_timestamp(value)) if column in timestamps and value is not None else value)
            for column, value in record.items()
        }
        line[STAGING_VERSION_COLUMN] = version
        lines.append(json.dumps(line, separators=(",", ":"), allow_nan=False))
    return ("\n".join(lines) + "\n").encode()


def _latest_per_entity(definition: FeatureGroupDefinition, records: list[dict[str, Any]]) -> list[OnlineRow]:
    """Each entity's latest record (the last of equal times), as an online row."""
    latest: dict[str, OnlineRow] = {}
    for record in records:
        entity = str(record[definition.entity_key.name])
        row = OnlineRow(
            entity=entity,
            event_time=_timestamp(record[definition.event_time]),
            features={
                feature.name: _online_value(feature.type, record.get(feature.name))
                for feature in definition.features
            },
        )
        held = latest.get(entity)
        if held is None or held.event_time <= row.event_time:
            latest[entity] = row
    return list(latest.values())


def _online_value(feature_type: FeatureType, value: Any) -> Any:
    if value is None:
        return None
    if feature_type is FeatureType.FLOAT64:
        return float(value)
    if feature_type is FeatureType.VECTOR:
        return [float(element) for element in value]
    if feature_type is FeatureType.TIMESTAMP:
        return _timestamp(value)
    return value


# -- the jobs' ledger ---------------------------------------------------------------------------------


class FeatureJobs:
    """What the feature jobs' steps read and record: no caller, no authorization, no audit (as the
    other state machines' steps); each outcome is announced on the bus."""

    def __init__(
        self,
        groups: GroupsPort,
        datasets: DatasetStore,
        events: EventsPort,
        *,
        bucket: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._groups = groups
        self._datasets = datasets
        self._events = events
        self._bucket = bucket
        self._clock = clock

    # -- reading --------------------------------------------------------------------------------------

    def version(self, group: str, version: int) -> FeatureGroupVersion:
        found = self._groups.version(group, version)
        if found is None:
            raise FeatureJobStepError(f"Feature group {group} has no version {version}.")
        return found

    def readable_versions(self, group: str, version: FeatureGroupVersion) -> list[FeatureGroupVersion]:
        """The versions whose rows read with `version`'s schema (itself included)."""
        return [other for other in self._groups.versions(group) if compatible_reader(other, version)]

    def offline_parts(self, group: str, versions: Sequence[FeatureGroupVersion]) -> list[tuple[str, str]]:
        """(key, ingestion id) of every offline part written at one of `versions`, oldest first."""
        wanted = {version.version for version in versions}
        return [
            (file.key, job.ingestion_id)
            for job in self._groups.succeeded_ingestions(group)
            if job.version in wanted
            for file in job.files
        ]

    def dataset_version(self, name: str, version: int) -> DatasetVersion:
        return self._datasets.require_version(name, version)

    def ingestion(self, event: FeatureStepEvent) -> IngestionJob:
        group = _group_of(event)
        job = self._groups.ingestion(group, event.input.job_id)
        if job is None:
            raise FeatureJobStepError(f"Feature group {group} has no ingestion {event.input.job_id}.")
        return job

    def materialization(self, event: FeatureStepEvent) -> MaterializationJob:
        group = _group_of(event)
        job = self._groups.materialization(group, event.input.job_id)
        if job is None:
            raise FeatureJobStepError(f"Feature group {group} has no materialisation {event.input.job_id}.")
        return job

    def training_set(self, event: FeatureStepEvent) -> TrainingSet:
        found = self._groups.training_set(event.input.job_id)
        if found is None:
            raise FeatureJobStepError(f"No training set {event.input.job_id}.")
        return found

    # -- ingestions -------------------------------------------------------------------------------------

    def complete_ingestion(self, job: IngestionJob, part: DataFile, rows: int) -> IngestionJob:
        part_key = offline_part_key(job.group, job.version, job.ingestion_id)
        done = job.model_copy(
            update={
                "status": FeatureJobStatus.SUCCEEDED,
                "finished_at": self._clock(),
                "rows": rows,
                "files": [part],
            }
        )
        self._groups.finish_ingestion(done)
        self._groups.mark_has_data(job.group)
        self._events.publish(
            [
                LifecycleEvent(
                    "features.ingested",
                    {
                        "group": job.group,
                        "version": job.version,
                        "ingestion_id": job.ingestion_id,
                        "dataset": job.dataset,
                        "dataset_version": job.dataset_version,
                        "rows": rows,
                        "location": f"s3://{self._bucket}/{part_key}",
                    },
                    actor=job.started_by,
                    occurred_at=done.finished_at or self._clock(),
                )
            ]
        )
        return done

    def refuse_ingestion(self, job: IngestionJob, problems: Sequence[DataProblem]) -> IngestionJob:
        """The data does not fit: the ingestion ends failed with every problem, nothing written."""
        message = (
            f"Version {job.dataset_version} of dataset {job.dataset} does not fit feature group "
            f"'{job.group}' version {job.version}: " + "; ".join(p.message for p in problems) + "."
        )
        failed = _failed(job, message, self._clock(), [p.model_dump(mode="json") for p in problems])
        self._groups.finish_ingestion(failed)
        return failed

    # -- materialisations ---------------------------------------------------------------------------

    def complete_materialization(
        self, job: MaterializationJob, *, entities: int, written: int, skipped: int
    ) -> MaterializationJob:
        done = job.model_copy(
            update={
                "status": FeatureJobStatus.SUCCEEDED,
                "finished_at": self._clock(),
                "entities": entities,
                "written": written,
                "skipped": skipped,
            }
        )
        self._groups.finish_materialization(done)
        self._events.publish(
            [
                LifecycleEvent(
                    "features.materialized",
                    {
                        "group": job.group,
                        "version": job.version,
                        "materialization_id": job.materialization_id,
                        "entities": entities,
                        "written": written,
                        "skipped": skipped,
                    },
                    actor=job.started_by,
                    occurred_at=done.finished_at or self._clock(),
                )
            ]
        )
        return done

    # -- training sets -----------------------------------------------------------------------------

    def allocate_version(self, training_set: TrainingSet) -> TrainingSet:
        """The training set with its dataset version allocated `building` (once: a retried step
        keeps the version it got)."""
        if training_set.dataset_version is not None:
            return training_set
        version = self._datasets.begin_version(
            training_set.dataset,
            kind=DatasetKind.TRAINING_SET,
            lineage=_training_lineage(training_set),
            actor=training_set.created_by,
            description=training_set.description,
        )
        allocated = training_set.model_copy(update={"dataset_version": version.version})
        self._groups.update_training_set(allocated)
        return allocated

    def complete_training_set(
        self,
        training_set: TrainingSet,
        *,
        columns: list[Column],
        row_count: int,
        content_hash: str,
        files: list[DataFile],
    ) -> TrainingSet:
        version = training_set.dataset_version
        if version is None:
            raise FeatureJobStepError(f"Training set {training_set.training_set_id} has no dataset version.")
        self._datasets.complete_version(
            training_set.dataset,
            version,
            columns=columns,
            row_count=row_count,
            content_hash=content_hash,
            files=files,
            lineage=_training_lineage(training_set),
        )
        done = training_set.model_copy(
            update={
                "status": TrainingSetStatus.READY,
                "finished_at": self._clock(),
                "row_count": row_count,
                "content_hash": content_hash,
            }
        )
        self._groups.update_training_set(done)
        self._events.publish(
            [
                LifecycleEvent(
                    "training_set.created",
                    {
                        "training_set_id": training_set.training_set_id,
                        "dataset": training_set.dataset,
                        "version": version,
                        "row_count": row_count,
                        "content_hash": content_hash,
                        "location": f"s3://{self._bucket}/datasets/{training_set.dataset}/v{version}/",
                        "labels": {
                            "dataset": training_set.labels.dataset,
                            "version": training_set.labels.version,
                        },
                        "feature_groups": [g.model_dump(mode="json") for g in training_set.lineage_groups()],
                    },
                    actor=training_set.created_by,
                    occurred_at=done.finished_at or self._clock(),
                )
            ]
        )
        return done

    # -- failures ----------------------------------------------------------------------------------------

    def record_failure(self, event: FeatureStepEvent) -> dict[str, Any]:
        """The state machine's Catch: the job ends failed with the error's cause (once)."""
        cause = _cause(event.error)
        now = self._clock()
        job_type = event.input.type
        if job_type is FeatureJobType.INGESTION:
            ingestion = self.ingestion(event)
            if ingestion.status is FeatureJobStatus.RUNNING:
                ingestion = _failed(ingestion, cause, now)
                self._finish_quietly(lambda: self._groups.finish_ingestion(ingestion))
            return {
                "type": job_type.value,
                "job_id": ingestion.ingestion_id,
                "status": ingestion.status.value,
            }
        if job_type is FeatureJobType.MATERIALIZATION:
            job = self.materialization(event)
            if job.status is FeatureJobStatus.RUNNING:
                job = job.model_copy(
                    update={
                        "status": FeatureJobStatus.FAILED,
                        "finished_at": now,
                        "failure": cause[:MAX_FAILURE_LENGTH],
                    }
                )
                failed_job = job
                self._finish_quietly(lambda: self._groups.finish_materialization(failed_job))
            return {"type": job_type.value, "job_id": job.materialization_id, "status": job.status.value}
        training_set = self.training_set(event)
        if training_set.status is TrainingSetStatus.BUILDING:
            if training_set.dataset_version is not None:
                self._finish_quietly(
                    lambda: self._datasets.fail_version(
                        training_set.dataset, training_set.dataset_version or 0, failure=cause
                    )
                )
            training_set = training_set.model_copy(
                update={
                    "status": TrainingSetStatus.FAILED,
                    "finished_at": now,
                    "failure": cause[:MAX_FAILURE_LENGTH],
                }
            )
            failed_set = training_set
            self._finish_quietly(lambda: self._groups.update_training_set(failed_set))
        return {
            "type": job_type.value,
            "job_id": training_set.training_set_id,
            "status": training_set.status.value,
        }

    @staticmethod
    def _finish_quietly(finish: Callable[[], Any]) -> None:
        """Finish unless something else finished it meanwhile (the outcome already recorded wins)."""
        try:
            finish()
        except (ChangeConditionFailed, DatasetVersionNotReady):
            return


def _group_of(event: FeatureStepEvent) -> str:
    if event.input.group is None:
        raise FeatureJobStepError(f"The {event.input.type.value} job {event.input.job_id} names no group.")
    return event.input.group


def _training_lineage(training_set: TrainingSet) -> Lineage:
    return Lineage(
        inputs=training_set.lineage_inputs(),
        feature_groups=training_set.lineage_groups(),
        training_set=training_set.training_set_id,
    )


def _cause(error: dict[str, Any] | None) -> str:
    error = error or {}
    cause = str(error.get("Cause") or error.get("Error") or "The feature job failed.")
    try:
        decoded = json.loads(cause)
    except ValueError:
        return cause[:MAX_FAILURE_LENGTH]
    if isinstance(decoded, dict) and decoded.get("errorMessage"):
        return str(decoded["errorMessage"])[:MAX_FAILURE_LENGTH]
    return cause[:MAX_FAILURE_LENGTH]
