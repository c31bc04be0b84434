"""The data upstream of a model version, for the registry's lineage view (docs/data.md, "Lineage").

A version trained on `dataset:<name>@<version>` links to that dataset version (`trained_on`); from
there the walker follows what each version records in its lineage, upstream:

- `dataset_version:<name>@<v>` (kind dataset_version): `derived_from` a version made from it (a
  transformation's inputs, a training set's label dataset), `ingested_from` a feature group version
  it was ingested into;
- `source:<name>` (data_source): `snapshot_of` a snapshot of it;
- `transformation:<name>` (transformation, with its code hash): `produced_by` a version it made;
- `feature_group_version:<group>@<v>` (feature_group_version): `joined_from` a training set.

Edges point upstream (`source` is the newer node), as the rest of the registry's lineage does. The walk
is breadth first with a depth bound and a bound on the dataset versions it reads, and never visits a
node twice, so a cycle in recorded lineage cannot loop it. What the data module cannot give (a deleted
dataset, no data table configured, a read that fails) is a node with `missing: true`, never a failed
request; a dataset version the bounds left unread is a node with `truncated: true`. Source nodes
carry the source's type only: connection details never leave the data module.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from cirrus_core.observability import logger
from cirrus_core.registry.models import LineageEdge, LineageNode

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from mypy_boto3_dynamodb import DynamoDBClient

    from cirrus_core.data.datasets import DatasetVersion

DatasetKey = tuple[str, int]

_PINNED: Final = re.compile(r"^dataset:(?P<name>[a-z0-9][a-z0-9_-]{0,62})@(?P<version>[1-9][0-9]{0,9})$")
MAX_DEPTH: Final = 8
MAX_DATASET_VERSIONS: Final = 200
# A feature list is shown as comma-separated text of at most this many characters.
_MAX_FEATURES_TEXT: Final = 1024


def pinned_dataset(reference: str) -> DatasetKey | None:
    """(name, version) of `dataset:<name>@<version>`; None for anything else (a URI, free text)."""
    match = _PINNED.fullmatch(reference)
    return (match["name"], int(match["version"])) if match else None


_DATASET_NODE_PREFIX: Final = "dataset_version:"


def dataset_node_id(key: DatasetKey) -> str:
    return f"{_DATASET_NODE_PREFIX}{key[0]}@{key[1]}"


class DataUnreadable(Exception):
    """The data table could not be read (missing, not allowed, throttled past retries)."""


class DataLineageReader(Protocol):
    """What the walk reads of the data module (DynamoDataLineage is the DynamoDB adapter)."""

    def dataset_versions(self, keys: Sequence[DatasetKey]) -> dict[DatasetKey, DatasetVersion]:
        """The versions among `keys` that exist (the others are left out); DataUnreadable."""
        ...

    def ingested_datasets(self, group: str, version: int) -> list[DatasetKey]:
        """The dataset versions ingested into a feature group version; DataUnreadable."""
        ...

    def source_type(self, name: str) -> str | None:
        """A source's type, None when there is no such source; DataUnreadable."""
        ...


@dataclass
class UpstreamGraph:
    """Nodes and edges upstream of some dataset versions, in the order the walk found them."""

    nodes: dict[str, LineageNode] = field(default_factory=dict)
    edges: dict[tuple[str, str, str], LineageEdge] = field(default_factory=dict)

    def node(self, node: LineageNode) -> None:
        self.nodes.setdefault(node.id, node)

    def edge(self, source: str, target: str, relation: str) -> None:
        self.edges.setdefault(
            (source, target, relation), LineageEdge(source=source, target=target, relation=relation)
        )


class UpstreamWalker:
    """Walks the data module's lineage upstream of dataset versions."""

    def __init__(
        self,
        reader: DataLineageReader | None,
        *,
        max_depth: int = MAX_DEPTH,
        max_dataset_versions: int = MAX_DATASET_VERSIONS,
    ) -> None:
        self._reader = reader
        self._max_depth = max_depth
        self._max_versions = max_dataset_versions

    def walk(self, roots: Iterable[DatasetKey]) -> UpstreamGraph:
        """The graph upstream of `roots` (each root is a node of it)."""
        graph = UpstreamGraph()
        frontier = list(dict.fromkeys(roots))
        scheduled: set[DatasetKey] = set(frontier)
        groups_seen: set[DatasetKey] = set()
        depth = 0
        while frontier:
            versions = self._read_versions(frontier)
            parents: list[DatasetKey] = []
            groups: list[DatasetKey] = []
            for key in frontier:
                found = versions.get(key)
                if found is None:
                    graph.node(_missing_dataset(key))
                    continue
                graph.node(_dataset_node(found))
                parents += self._expand(graph, found, groups, groups_seen)
            for group in groups:
                parents += self._ingested(graph, group)
            depth += 1
            frontier = []
            if depth > self._max_depth:
                break
            for parent in parents:
                if parent not in scheduled and len(scheduled) < self._max_versions:
                    scheduled.add(parent)
                    frontier.append(parent)
        # Versions the bounds left unread are still the ends of their edges.
        for edge in list(graph.edges.values()):
            if edge.target not in graph.nodes and edge.target.startswith(_DATASET_NODE_PREFIX):
                name, _, version = edge.target.removeprefix(_DATASET_NODE_PREFIX).rpartition("@")
                graph.node(
                    LineageNode(
                        id=edge.target,
                        kind="dataset_version",
                        label=f"{name} v{version}",
                        attributes={"truncated": True},
                    )
                )
        return graph

    def _expand(
        self,
        graph: UpstreamGraph,
        version: DatasetVersion,
        groups: list[DatasetKey],
        groups_seen: set[DatasetKey],
    ) -> list[DatasetKey]:
        """Add what `version` records upstream of it; the dataset versions it was made from."""
        node_id = dataset_node_id((version.dataset, version.version))
        lineage = version.lineage
        if lineage.source is not None:
            source_id = f"source:{lineage.source}"
            if source_id not in graph.nodes:
                graph.node(self._source_node(lineage.source, lineage.source_type))
            graph.edge(node_id, source_id, "snapshot_of")
        if lineage.transformation is not None:
            transformation_id = f"transformation:{lineage.transformation}"
            graph.node(
                LineageNode(
                    id=transformation_id,
                    kind="transformation",
                    label=lineage.transformation,
                    attributes={"code_hash": lineage.code_hash},
                )
            )
            graph.edge(node_id, transformation_id, "produced_by")
        inputs: list[DatasetKey] = []
        for item in lineage.inputs:
            parent = (item.dataset, item.version)
            graph.edge(node_id, dataset_node_id(parent), "derived_from")
            inputs.append(parent)
        for joined in lineage.feature_groups:
            group = (joined.group, joined.version)
            group_id = _group_node_id(group)
            features = ",".join(joined.features)
            graph.node(
                LineageNode(
                    id=group_id,
                    kind="feature_group_version",
                    label=f"{joined.group} v{joined.version}",
                    attributes={
                        "group": joined.group,
                        "version": joined.version,
                        "features": features[:_MAX_FEATURES_TEXT],
                    },
                )
            )
            graph.edge(node_id, group_id, "joined_from")
            if group not in groups_seen:
                groups_seen.add(group)
                groups.append(group)
        return inputs

    def _read_versions(self, keys: list[DatasetKey]) -> dict[DatasetKey, DatasetVersion]:
        if self._reader is None:
            return {}
        try:
            return self._reader.dataset_versions(keys)
        except DataUnreadable as error:
            logger.warning("Dataset versions not read for lineage", extra={"error": str(error)})
            return {}

    def _ingested(self, graph: UpstreamGraph, group: DatasetKey) -> list[DatasetKey]:
        """The dataset versions ingested into a feature group version, each linked to it."""
        group_id = _group_node_id(group)
        if self._reader is None:
            _mark_missing(graph, group_id)
            return []
        try:
            ingested = self._reader.ingested_datasets(*group)
        except DataUnreadable as error:
            logger.warning("Feature group ingestions not read for lineage", extra={"error": str(error)})
            _mark_missing(graph, group_id)
            return []
        for parent in ingested:
            graph.edge(group_id, dataset_node_id(parent), "ingested_from")
        return ingested

    def _source_node(self, name: str, recorded_type: str | None) -> LineageNode:
        attributes: dict[str, str | bool | int | float | None] = {"type": recorded_type}
        if recorded_type is None:
            # Versions written before the type was recorded: ask the source itself, for its type only.
            try:
                found = self._reader.source_type(name) if self._reader is not None else None
            except DataUnreadable as error:
                logger.warning("Source not read for lineage", extra={"error": str(error)})
                found = None
            attributes["type"] = found
            if found is None:
                attributes["missing"] = True
        return LineageNode(id=f"source:{name}", kind="data_source", label=name, attributes=attributes)


def _group_node_id(group: DatasetKey) -> str:
    return f"feature_group_version:{group[0]}@{group[1]}"


def _dataset_node(version: DatasetVersion) -> LineageNode:
    attributes: dict[str, str | bool | int | float | None] = {
        "kind": version.kind.value,
        "status": version.status.value,
        "row_count": version.row_count,
        "content_hash": version.content_hash,
        "created_at": version.created_at.isoformat(),
        "location": version.location,
    }
    if version.lineage.training_set is not None:
        attributes["training_set"] = version.lineage.training_set
    return LineageNode(
        id=dataset_node_id((version.dataset, version.version)),
        kind="dataset_version",
        label=f"{version.dataset} v{version.version}",
        attributes=attributes,
    )


def _missing_dataset(key: DatasetKey) -> LineageNode:
    return LineageNode(
        id=dataset_node_id(key),
        kind="dataset_version",
        label=f"{key[0]} v{key[1]}",
        attributes={"missing": True},
    )


def _mark_missing(graph: UpstreamGraph, node_id: str) -> None:
    node = graph.nodes.get(node_id)
    if node is not None:
        graph.nodes[node_id] = node.model_copy(update={"attributes": {**node.attributes, "missing": True}})


# -- the DynamoDB adapter ---------------------------------------------------------------------------------

_BATCH_GET: Final = 100
_MAX_UNPROCESSED_ROUNDS: Final = 5
# A feature group's ingestions are read a page at a time, up to this many pages.
_MAX_INGESTION_PAGES: Final = 20


def _s(value: str) -> dict[str, Any]:
    return {"S": value}


class DynamoDataLineage:
    """Reads dataset versions, feature group ingestions and source types from the data table."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table_name
        self._sleep = sleep

    def dataset_versions(self, keys: Sequence[DatasetKey]) -> dict[DatasetKey, DatasetVersion]:
        from cirrus_core.data.datasets import DatasetVersion

        found: dict[DatasetKey, DatasetVersion] = {}
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), _BATCH_GET):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [
                        {"pk": _s(f"DATASET#{name}"), "sk": _s(f"V#{version:010d}")}
                        for name, version in wanted[start : start + _BATCH_GET]
                    ],
                    "ProjectionExpression": "#version",
                    "ExpressionAttributeNames": {"#version": "version"},
                }
            }
            for attempt in range(_MAX_UNPROCESSED_ROUNDS + 1):
                with _reading():
                    response = self._client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    try:
                        version = DatasetVersion.model_validate_json(item["version"]["S"])
                    except (KeyError, ValidationError):
                        continue  # an item this code cannot read is shown as missing
                    found[(version.dataset, version.version)] = version
                request = dict(response.get("UnprocessedKeys") or {})
                if not request:
                    break
                if attempt == _MAX_UNPROCESSED_ROUNDS:
                    raise DataUnreadable("the data table left dataset versions unprocessed (throttled)")
                self._sleep(0.05 * 2**attempt)
        return {key: found[key] for key in wanted if key in found}

    def ingested_datasets(self, group: str, version: int) -> list[DatasetKey]:
        # The feature store's models are imported only when a training set's lineage is walked.
        from cirrus_core.data.feature_models import FeatureJobStatus, IngestionJob

        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :ingest)",
            "FilterExpression": "#status = :succeeded",
            "ProjectionExpression": "job",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":pk": _s(f"FG#{group}"),
                ":ingest": _s("INGEST#"),
                ":succeeded": _s(FeatureJobStatus.SUCCEEDED.value),
            },
        }
        found: list[DatasetKey] = []
        for _ in range(_MAX_INGESTION_PAGES):
            with _reading():
                page = self._client.query(**params)
            for item in page.get("Items", []):
                try:
                    job = IngestionJob.model_validate_json(item["job"]["S"])
                except (KeyError, ValidationError):
                    continue
                if job.version == version:
                    found.append((job.dataset, job.dataset_version))
            if "LastEvaluatedKey" not in page:
                break
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return list(dict.fromkeys(found))

    def source_type(self, name: str) -> str | None:
        with _reading():
            response = self._client.get_item(
                TableName=self._table,
                Key={"pk": _s(f"SOURCE#{name}"), "sk": _s("META")},
                # The type only: the source's item also holds its connection parameters.
                ProjectionExpression="#type",
                ExpressionAttributeNames={"#type": "type"},
            )
        item = response.get("Item")
        if not item:
            return None
        value = item.get("type", {}).get("S")
        return str(value) if value else None


@contextmanager
def _reading() -> Iterator[None]:
    """AWS errors of a read as DataUnreadable, which the walk shows as missing nodes."""
    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise DataUnreadable(f"the data table cannot be read ({code})") from error
    except BotoCoreError as error:
        raise DataUnreadable(f"the data table cannot be read ({type(error).__name__})") from error
