"""The data sources API: use cases on behalf of a `Caller`, and `resolve` for the data jobs.

Every refusal (an unknown type, bad parameters, a taken name, a caller without the permission)
happens before anything is written: no secret, no item. A source's secret is written first; when
its item cannot be stored the secret is removed again, unless another request took the name
meanwhile (that request's source may be holding a version of the same secret).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from cirrus_core.audit.entries import entry_for
from cirrus_core.audit.models import AuditCategory
from cirrus_core.audit.transact import ChangeConditionFailed
from cirrus_core.authz import Resource, authorize, determining_policies
from cirrus_core.data.connection import SourceConfig
from cirrus_core.data.sources import (
    SourcePage,
    SourceRecord,
    SourceTestError,
    SourceTestResult,
    SourceUnreachable,
    SourceView,
    parse_source,
    scrub,
)
from cirrus_core.errors import InvalidPaginationToken, SourceExists, SourceNotFound
from cirrus_core.pagination import decode_token, encode_token

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from cirrus_core.audit.models import AuditEntry
    from cirrus_core.caller import Caller
    from cirrus_core.data.source_secrets import StoredSecret
    from cirrus_core.data.sources import CreateSourceRequest

# A driver's message is shown as it is, up to this many characters.
MAX_MESSAGE_LENGTH = 1000


class SourceStorePort(Protocol):
    def source(self, name: str) -> SourceRecord | None: ...

    def create(self, record: SourceRecord, audit: AuditEntry | None) -> None: ...

    def delete(self, name: str, audit: AuditEntry | None) -> None: ...

    def sources(self, *, limit: int, after: str | None) -> tuple[list[SourceRecord], str | None]: ...


class SourceSecretsPort(Protocol):
    def put(self, source: str, secret: Mapping[str, str]) -> StoredSecret: ...

    def read(self, arn: str, version_id: str) -> dict[str, str]: ...

    def discard(self, source: str, *, created: bool) -> None: ...

    def delete(self, source: str) -> None: ...


class ConnectionCheck(Protocol):
    """Open a source's connector and time a trivial request (ms); SourceUnreachable when it fails."""

    def __call__(self, source: SourceConfig) -> float: ...


class SourceService:
    """Sources CRUD (system_config to create and delete, data_access to read and test)."""

    def __init__(
        self,
        store: SourceStorePort,
        secrets: Callable[[], SourceSecretsPort],
        check: ConnectionCheck,
        *,
        allowed_buckets: frozenset[str],
        audit_enabled: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._secrets = secrets
        self._check = check
        self._allowed_buckets = allowed_buckets
        self._audit_enabled = audit_enabled
        self._clock = clock

    def create(self, request: CreateSourceRequest, caller: Caller) -> SourceView:
        authorize(caller.principal, "CreateDataSource", Resource.platform())
        definition = parse_source(request, allowed_buckets=self._allowed_buckets)
        if self._store.source(definition.name) is not None:
            raise SourceExists(
                f"A data source named '{definition.name}' exists; delete it first to define it again."
            )
        now = self._clock()
        stored = self._secrets().put(definition.name, definition.secret) if definition.secret else None
        record = SourceRecord(
            name=definition.name,
            type=definition.type,
            description=definition.description,
            connection=definition.connection,
            options=definition.options,
            secret_fields=sorted(definition.secret),
            secret_arn=stored.arn if stored else None,
            secret_version=stored.version_id if stored else None,
            created_at=now,
            created_by=caller.actor,
        )
        try:
            self._store.create(record, self._audit(caller, "create_data_source", definition.name, now))
        except ChangeConditionFailed as error:
            raise SourceExists(f"A data source named '{definition.name}' exists.") from error
        except Exception:
            if stored is not None:
                self._secrets().discard(definition.name, created=stored.created)
            raise
        return record.view()

    def get(self, name: str, caller: Caller) -> SourceView:
        authorize(caller.principal, "GetDataSource", Resource.platform())
        return self._existing(name).view()

    def list(self, limit: int, next_token: str | None, caller: Caller) -> SourcePage:
        authorize(caller.principal, "ListDataSources", Resource.platform())
        after: str | None = None
        if next_token:
            position = decode_token(next_token, frozenset({"s"}))
            if not isinstance(position["s"], str):
                raise InvalidPaginationToken("next_token does not belong to this listing.")
            after = position["s"]
        records, last = self._store.sources(limit=limit, after=after)
        return SourcePage(
            items=[record.view() for record in records],
            next_token=encode_token({"s": last}) if last else None,
        )

    def delete(self, name: str, caller: Caller) -> None:
        """Delete the item with its audit record, then schedule the secret's deletion."""
        authorize(caller.principal, "DeleteDataSource", Resource.platform())
        existing = self._existing(name)
        try:
            self._store.delete(name, self._audit(caller, "delete_data_source", name, self._clock()))
        except ChangeConditionFailed as error:
            raise SourceNotFound(f"No data source named '{name}'.") from error
        if existing.secret_arn is not None:
            self._secrets().delete(name)

    def test(self, name: str, caller: Caller) -> SourceTestResult:
        """Connect to the source and run a trivial request: ok with its latency, or the driver's reason."""
        authorize(caller.principal, "TestDataSource", Resource.platform())
        source = self.resolve(name)
        try:
            latency_ms = self._check(source)
        except SourceUnreachable as error:
            # Connectors remove secrets from what they report; this is the second line of defence.
            message = scrub(error.message, source.secret.values())[:MAX_MESSAGE_LENGTH]
            return SourceTestResult(
                name=name, type=source.type, ok=False, error=SourceTestError(message=message)
            )
        return SourceTestResult(name=name, type=source.type, ok=True, latency_ms=round(latency_ms, 3))

    def resolve(self, name: str) -> SourceConfig:
        """The source as a connector needs it: its stored fields and its secret. SourceNotFound if absent."""
        record = self._existing(name)
        secret: dict[str, str] = {}
        if record.secret_arn is not None and record.secret_version is not None:
            secret = self._secrets().read(record.secret_arn, record.secret_version)
        return SourceConfig(
            name=record.name,
            type=record.type.value,
            connection=dict(record.connection),
            secret=secret,
            options=dict(record.options),
        )

    # -- internals -------------------------------------------------------------------------------------

    def _existing(self, name: str) -> SourceRecord:
        record = self._store.source(name)
        if record is None:
            raise SourceNotFound(f"No data source named '{name}'.")
        return record

    def _audit(self, caller: Caller, action: str, name: str, at: datetime) -> AuditEntry | None:
        if not self._audit_enabled:
            return None
        return entry_for(
            caller, action, f"data/source/{name}", AuditCategory.CHANGE, at, policies=determining_policies()
        )
