"""The online feature store: the latest feature values of each entity, in FeatureOnlineTable.

One item per entity of a group (docs/data.md, "Storage"): `pk = <group>#<entity key>`, `features`
(a map), `event_time` (ISO 8601 UTC, always spelled with microseconds and `+00:00`, so that string
order is time order), `group_version`, `written_at`. Every write is conditional on
`attribute_not_exists(pk) OR event_time <= :event_time`: a row never replaces a newer one, whoever
writes it (a streaming put, a materialisation) and in whatever order they land; an equal time
replaces (the later write wins, as in the offline store).

DynamoDB has no conditional batch write, so rows are written with one conditional PutItem each,
several at a time from a small thread pool (boto3 clients are thread-safe).
"""

from __future__ import annotations

import math
import numbers
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from cirrus_core.data.feature_models import iso_utc, online_key
from cirrus_core.data.features import FeatureType

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from mypy_boto3_dynamodb import DynamoDBClient

    from cirrus_core.data.features import FeatureGroupDefinition

DEFAULT_CONCURRENCY: Final = 8
_CONDITION: Final = "attribute_not_exists(pk) OR event_time <= :event_time"


@dataclass(frozen=True, slots=True)
class OnlineRow:
    """One entity's values at one event time, as Python values (None for missing)."""

    entity: str
    event_time: datetime
    features: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StoredRow:
    """An entity's row as stored; `features` decoded by the stored values' own types."""

    entity: str
    event_time: datetime
    written_at: datetime
    group_version: int
    features: dict[str, Any]


@dataclass(frozen=True, slots=True)
class WriteCounts:
    written: int
    skipped: int


def encode_value(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value (timestamps as ISO 8601 UTC strings)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, numbers.Integral):
        return {"N": str(int(value))}
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError("DynamoDB cannot store NaN or an infinity")
        return {"N": str(Decimal(repr(number)))}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, datetime):
        return {"S": iso_utc(value)}
    if isinstance(value, list | tuple):
        return {"L": [encode_value(element) for element in value]}
    raise TypeError(f"cannot store a {type(value).__name__} online")


def decode_value(attribute: Mapping[str, Any], feature_type: str | None = None) -> Any:
    """A stored attribute value as Python; numbers by the feature's type (int64 or float64)."""
    if "NULL" in attribute:
        return None
    if "BOOL" in attribute:
        return bool(attribute["BOOL"])
    if "S" in attribute:
        return str(attribute["S"])
    if "N" in attribute:
        text = str(attribute["N"])
        if feature_type == FeatureType.INT64 or (feature_type is None and text.lstrip("-").isdigit()):
            return int(Decimal(text))
        return float(text)
    if "L" in attribute:
        element_type = FeatureType.FLOAT64.value if feature_type == FeatureType.VECTOR else None
        return [decode_value(element, element_type) for element in attribute["L"]]
    if "M" in attribute:
        return {key: decode_value(value) for key, value in attribute["M"].items()}
    raise ValueError(f"unexpected attribute value type {sorted(attribute)}")


def typed_features(stored: Mapping[str, Any], definition: FeatureGroupDefinition) -> dict[str, Any]:
    """A stored row's features re-read by the definition's types (int64 stays int, float64 float);
    features the row lacks are None."""
    result: dict[str, Any] = {}
    for feature in definition.features:
        value = stored.get(feature.name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = int(value) if feature.type is FeatureType.INT64 else float(value)
        elif isinstance(value, list) and feature.type is FeatureType.VECTOR:
            value = [float(element) for element in value]
        result[feature.name] = value
    return result


class OnlineStore:
    """Conditional writes and point reads of FeatureOnlineTable."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._table = table_name
        self._concurrency = max(1, concurrency)
        self._clock = clock

    def put_latest(self, group: str, version: int, rows: Iterable[OnlineRow]) -> WriteCounts:
        """Write each row unless its entity's stored row is newer; how many were written and skipped.

        Rows of one call must name distinct entities (the caller keeps each entity's latest): the
        order of concurrent writes to one item is not defined.
        """
        written_at = iso_utc(self._clock())
        items = [self._item(group, version, row, written_at) for row in rows]
        if not items:
            return WriteCounts(written=0, skipped=0)
        if self._concurrency == 1 or len(items) == 1:
            outcomes = [self._put(item) for item in items]
        else:
            with ThreadPoolExecutor(max_workers=min(self._concurrency, len(items))) as pool:
                outcomes = list(pool.map(self._put, items))
        written = sum(outcomes)
        return WriteCounts(written=written, skipped=len(outcomes) - written)

    def get(self, group: str, entity: str) -> StoredRow | None:
        item = self._client.get_item(
            TableName=self._table, Key={"pk": {"S": online_key(group, entity)}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return StoredRow(
            entity=entity,
            event_time=datetime.fromisoformat(item["event_time"]["S"]),
            written_at=datetime.fromisoformat(item["written_at"]["S"]),
            group_version=int(item["group_version"]["N"]),
            features={name: decode_value(value) for name, value in item["features"]["M"].items()},
        )

    def _item(self, group: str, version: int, row: OnlineRow, written_at: str) -> dict[str, Any]:
        return {
            "pk": {"S": online_key(group, row.entity)},
            "features": {"M": {name: encode_value(value) for name, value in row.features.items()}},
            "event_time": {"S": iso_utc(row.event_time)},
            "group_version": {"N": str(version)},
            "written_at": {"S": written_at},
        }

    def _put(self, item: dict[str, Any]) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression=_CONDITION,
                ExpressionAttributeValues={":event_time": item["event_time"]},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True
