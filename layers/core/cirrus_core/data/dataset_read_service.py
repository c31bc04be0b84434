"""Reading datasets: the lists, a dataset, its versions, one version with its schema, and a sample.

Every route needs data_access (ListDatasets, GetDataset, ReadDatasetSample). A sample reads the first
rows of the version's first part that holds any, through ranged reads of the data bucket (the footer,
then the first row group); reading one is recorded in the audit trail as data usage.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Protocol

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, JsonValue

from cirrus_core.audit.entries import entry_for
from cirrus_core.audit.models import AuditCategory
from cirrus_core.authz import Resource, authorize, determining_policies
from cirrus_core.data.datasets import (
    Column,
    Dataset,
    DatasetKind,
    DatasetVersion,
    VersionStatus,
)
from cirrus_core.errors import DatasetNotFound, InvalidPaginationToken, NoReadyDatasetVersion
from cirrus_core.pagination import decode_token, encode_token

if TYPE_CHECKING:
    import io
    from collections.abc import Callable

    from cirrus_core.audit.models import AuditEntry
    from cirrus_core.caller import Caller
    from cirrus_core.data.dataset_store import DatasetStore

DEFAULT_SAMPLE_ROWS: Final = 20
MAX_SAMPLE_ROWS: Final = 100


class DatasetDetail(Dataset):
    """A dataset and its latest ready version (None while none is ready)."""

    latest_ready_version: int | None = Field(default=None, ge=1)


class DatasetPage(BaseModel):
    items: list[Dataset]
    next_token: str | None = None


class DatasetVersionSummary(BaseModel):
    """A version as lists show it: no schema, files or lineage (GET the version for those)."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    version: int
    reference: str = Field(description="`dataset:<name>@<version>`, as pipelines name it.")
    kind: DatasetKind
    status: VersionStatus
    row_count: int | None = None
    content_hash: str | None = None
    location: str
    description: str = ""
    created_at: datetime
    created_by: str
    completed_at: datetime | None = None
    failure: str | None = None

    @classmethod
    def of(cls, version: DatasetVersion) -> DatasetVersionSummary:
        return cls(
            reference=version.reference,
            **version.model_dump(include=set(cls.model_fields) - {"reference"}),
        )


class DatasetVersionPage(BaseModel):
    items: list[DatasetVersionSummary]
    next_token: str | None = None


class DatasetSample(BaseModel):
    """The first rows of a ready version, as JSON (times in ISO 8601, decimals as strings)."""

    model_config = ConfigDict(populate_by_name=True)

    dataset: str
    version: int
    columns: list[Column] = Field(
        validation_alias=AliasChoices("schema", "columns"),
        serialization_alias="schema",
        description="The columns of the rows (Arrow type names).",
    )
    rows: list[dict[str, JsonValue]]
    row_count: int = Field(description="The version's rows in all (the sample shows at most `limit`).")


class PartsPort(Protocol):
    def open(self, key: str) -> io.BufferedReader: ...


class SamplerPort(Protocol):
    def first_rows(
        self, part: io.BufferedReader, limit: int
    ) -> tuple[list[Column], list[dict[str, JsonValue]]]: ...


class DatasetReadService:
    """The dataset read routes on behalf of a caller."""

    def __init__(
        self,
        datasets: DatasetStore,
        parts: Callable[[], PartsPort],
        sampler: Callable[[], SamplerPort],
        *,
        record_usage: Callable[[AuditEntry], object] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._datasets = datasets
        self._parts = parts
        self._sampler = sampler
        self._record_usage = record_usage
        self._clock = clock

    def list(self, limit: int, next_token: str | None, caller: Caller) -> DatasetPage:
        authorize(caller.principal, "ListDatasets", Resource.platform())
        after: str | None = None
        if next_token:
            position = decode_token(next_token, frozenset({"d"}))
            if not isinstance(position["d"], str):
                raise InvalidPaginationToken("next_token does not belong to this listing.")
            after = position["d"]
        items, last = self._datasets.datasets(limit=limit, after=after)
        return DatasetPage(items=items, next_token=encode_token({"d": last}) if last else None)

    def get(self, name: str, caller: Caller) -> DatasetDetail:
        authorize(caller.principal, "GetDataset", Resource.platform())
        dataset = self._existing(name)
        try:
            latest: int | None = self._datasets.latest_ready(name).version
        except NoReadyDatasetVersion:
            latest = None
        return DatasetDetail(**dataset.model_dump(), latest_ready_version=latest)

    def versions(self, name: str, limit: int, next_token: str | None, caller: Caller) -> DatasetVersionPage:
        """The dataset's versions, newest first."""
        authorize(caller.principal, "GetDataset", Resource.platform())
        after: int | None = None
        if next_token:
            position = decode_token(next_token, frozenset({"d", "v"}))
            if position["d"] != name or not isinstance(position["v"], int):
                raise InvalidPaginationToken("next_token does not belong to this listing.")
            after = position["v"]
        self._existing(name)
        items, last = self._datasets.versions(name, limit=limit, after=after)
        return DatasetVersionPage(
            items=[DatasetVersionSummary.of(item) for item in items],
            next_token=encode_token({"d": name, "v": last}) if last is not None else None,
        )

    def version(self, name: str, version: int, caller: Caller) -> DatasetVersion:
        """One version with its schema, files and lineage."""
        authorize(caller.principal, "GetDataset", Resource.platform())
        return self._datasets.require_version(name, version)

    def sample(self, name: str, version: int, limit: int, caller: Caller) -> DatasetSample:
        """The first `limit` rows of a ready version (409 dataset_version_not_ready otherwise)."""
        authorize(caller.principal, "ReadDatasetSample", Resource.platform())
        found = self._datasets.ready_version(name, version)
        columns = list(found.columns)
        rows: list[dict[str, JsonValue]] = []
        first = next((part for part in found.files if part.rows), found.files[0] if found.files else None)
        if first is not None:
            with self._parts().open(first.key) as part:
                columns, rows = self._sampler().first_rows(part, limit)
        if self._record_usage is not None:
            self._record_usage(
                entry_for(
                    caller,
                    "read_dataset_sample",
                    f"data/dataset/{name}/v{version}",
                    AuditCategory.DATA_USAGE,
                    self._clock(),
                    policies=determining_policies(),
                )
            )
        return DatasetSample(
            dataset=name, version=version, columns=columns, rows=rows, row_count=found.row_count or 0
        )

    def _existing(self, name: str) -> Dataset:
        dataset = self._datasets.dataset(name)
        if dataset is None:
            raise DatasetNotFound(f"Dataset {name} does not exist.", [{"dataset": name}])
        return dataset
