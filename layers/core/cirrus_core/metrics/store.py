"""DynamoDB adapter of the metrics table (docs/monitoring.md, "Metrics storage").

  pk PRED#<inference_id>                sk PREDICTION   an answered request: model_id, environment,
                                                        version, at, prediction (JSON), label once
                                                        ground truth arrived; expires after 30 days
  pk OBS#<inference id | msg-<sqs id>>  sk OBSERVATION  any other outcome, so a redelivery is skipped
  pk SERIES#<model>#<env>#<1m|1h|1d>    sk <bucket start>#<v<version>|none>
                                                        ADD-only counters (aggregates.py); 1m items
                                                        expire after 8 days, 1h after 400, 1d never
  pk TOTAL#<model>#<env>                sk v<version>|none
                                                        running totals, last resource gauges;
                                                        gsi1pk TOTAL, gsi1sk <model>#<env>#<version>
The totals index (gsi1) projects keys only, so the ADD updates of a total never write to it: only a
new total's first write does. A history request is one Query of one SERIES partition; a scrape reads
the index's keys and then the totals.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, TypeVar

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from cirrus_core.audit.transact import ChangeConditionFailed, write_with_audit
from cirrus_core.invariants import given
from cirrus_core.metrics import aggregates
from cirrus_core.metrics.models import MAX_RANGE, RESOLUTION_STEP, Outcome, Resolution, bucket_start

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from cirrus_core.audit.log import AuditLog
    from cirrus_core.audit.models import AuditEntry
    from cirrus_core.metrics.models import Observation
    from cirrus_core.metrics.query import MetricName

PREDICTION_SK: Final = "PREDICTION"
OBSERVATION_SK: Final = "OBSERVATION"
TOTALS_INDEX: Final = "gsi1"
TOTALS_KEY: Final = "TOTAL"
NO_VERSION: Final = "none"
PREDICTION_TTL: Final = timedelta(days=30)
OBSERVATION_TTL: Final = timedelta(days=15)  # beyond SQS's longest retention (14 days)
SERIES_TTL: Final = {Resolution.MINUTE: timedelta(days=8), Resolution.HOUR: timedelta(days=400)}
# A stored prediction larger than this is dropped (its request still counts; no ground truth joins).
MAX_STORED_PREDICTION_BYTES: Final = 100_000
TRANSACTION_LIMIT: Final = 100
AUDIT_ITEMS: Final = 2  # an audit record's put and the chain head's advance (AuditLog.transaction_items)
_serializer = TypeSerializer()

T = TypeVar("T")


def version_label(version: int | None) -> str:
    return f"v{version}" if version is not None else NO_VERSION


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


def _number(value: float) -> Decimal:
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value}")
    return Decimal(repr(float(value))) if not float(value).is_integer() else Decimal(int(value))


def series_pk(model_id: str, environment: str, resolution: Resolution) -> str:
    return f"SERIES#{model_id}#{environment}#{resolution.value}"


def total_pk(model_id: str, environment: str) -> str:
    return f"TOTAL#{model_id}#{environment}"


@dataclass(frozen=True)
class AggregateKey:
    """One aggregate item: a bucket of a resolution (or the running total) of one version."""

    model_id: str
    environment: str
    version: str  # version_label()
    resolution: Resolution | None  # None: the running total
    start: datetime | None = None

    def key(self) -> dict[str, str]:
        if self.resolution is None:
            return {"pk": total_pk(self.model_id, self.environment), "sk": self.version}
        return {
            "pk": series_pk(self.model_id, self.environment, self.resolution),
            "sk": f"{_iso(given(self.start, 'start'))}#{self.version}",
        }


def aggregate_keys(model_id: str, environment: str, version: str, at: datetime) -> list[AggregateKey]:
    """The minute, hour, day and total aggregates a measurement at `at` is added to."""
    return [
        *(
            AggregateKey(model_id, environment, version, resolution, bucket_start(at, resolution))
            for resolution in Resolution
        ),
        AggregateKey(model_id, environment, version, None),
    ]


@dataclass(frozen=True)
class StoredPrediction:
    inference_id: str
    model_id: str
    environment: str
    version: int
    at: datetime
    prediction: Any
    prediction_stored: bool
    label: Any = None
    labeled: bool = False


@dataclass(frozen=True)
class SeriesItem:
    start: datetime
    version: str
    counters: dict[str, float]


@dataclass(frozen=True)
class TotalItem:
    model_id: str
    environment: str
    version: str
    counters: dict[str, float]


@dataclass(frozen=True)
class Write:
    """One observation's share of a batch: its idempotency item, and what it adds to aggregates."""

    message_id: str
    observation: Observation


class Duplicate(Exception):
    """Items of a transaction whose idempotency record exists already (a redelivery)."""

    def __init__(self, indexes: list[int]) -> None:
        super().__init__(f"already recorded: {indexes}")
        self.indexes = indexes


def _counters(item: Mapping[str, Any]) -> dict[str, float]:
    return {
        name: float(value)
        for name, value in item.items()
        if isinstance(value, Decimal) and name != "expires_at"
    }


class MetricsStore:
    """Observations, ground truth and aggregates in the metrics table; implements MetricsReader."""

    def __init__(
        self, table: Any, *, client: DynamoDBClient | None = None, audit: AuditLog | None = None
    ) -> None:
        """`table`: a boto3 DynamoDB Table resource (values are native Python, numbers Decimal).

        `client` (a plain DynamoDB client, typed values) and `audit`: where ground truth writes its
        audit record, in the transaction of its first labels (the table's own client converts values
        to types itself, so the audit log's typed items cannot go through it). Without them labels are
        written unaudited (no audit table configured).
        """
        self._table = table
        self._client = table.meta.client
        self._name = str(table.name)
        self._plain_client = client
        self._audit = audit

    # -- recording observations ---------------------------------------------------------------------

    @staticmethod
    def idempotency_key(write: Write) -> dict[str, str]:
        observation = write.observation
        if observation.outcome is Outcome.ANSWERED and observation.inference_id:
            return {"pk": f"PRED#{observation.inference_id}", "sk": PREDICTION_SK}
        if observation.inference_id:
            return {"pk": f"OBS#{observation.inference_id}", "sk": OBSERVATION_SK}
        return {"pk": f"OBS#msg-{write.message_id}", "sk": OBSERVATION_SK}

    def record(self, writes: Sequence[Write]) -> None:
        """Write the writes' idempotency items and aggregate ADDs in one transaction.

        Duplicate names the writes whose idempotency item exists (nothing of the transaction was
        written then); any other failure is raised as it came.
        """
        items: list[dict[str, Any]] = [self._idempotency_put(write) for write in writes]
        adds: dict[AggregateKey, dict[str, float]] = {}
        for write in writes:
            observation = write.observation
            counters = aggregates.observation_counters(observation)
            for key in aggregate_keys(
                observation.model_id,
                observation.environment.value,
                version_label(observation.version),
                observation.at,
            ):
                aggregates.add(adds.setdefault(key, {}), counters)
        items.extend(self._aggregate_update(key, counters) for key, counters in adds.items())
        self._transact(items, len(writes))

    @staticmethod
    def transaction_size(writes: Sequence[Write]) -> int:
        keys = {
            key
            for write in writes
            for key in aggregate_keys(
                write.observation.model_id,
                write.observation.environment.value,
                version_label(write.observation.version),
                write.observation.at,
            )
        }
        return len(writes) + len(keys)

    def _idempotency_put(self, write: Write) -> dict[str, Any]:
        observation = write.observation
        key = self.idempotency_key(write)
        item: dict[str, Any] = {
            **key,
            "model_id": observation.model_id,
            "environment": observation.environment.value,
            "outcome": observation.outcome.value,
            "at": _iso(observation.at),
            "status": observation.status,
        }
        if observation.version is not None:
            item["version"] = observation.version
        ttl = OBSERVATION_TTL
        if key["sk"] == PREDICTION_SK:
            ttl = PREDICTION_TTL
            text = json.dumps(observation.prediction, separators=(",", ":"))
            if observation.prediction_stored and len(text.encode("utf-8")) <= MAX_STORED_PREDICTION_BYTES:
                item["prediction"] = text
        item["expires_at"] = _epoch(observation.at + ttl)
        return {
            "Put": {"TableName": self._name, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
        }

    def _aggregate_update(self, key: AggregateKey, counters: Mapping[str, float]) -> dict[str, Any]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        adds = []
        for position, (name, value) in enumerate(sorted(counters.items())):
            names[f"#c{position}"] = name
            values[f":c{position}"] = _number(value)
            adds.append(f"#c{position} :c{position}")
        expression = "ADD " + ", ".join(adds)
        sets = []
        if key.resolution is None:
            sets.append("gsi1pk = :tk, gsi1sk = :ts")
            values[":tk"] = TOTALS_KEY
            values[":ts"] = f"{key.model_id}#{key.environment}#{key.version}"
        elif key.resolution in SERIES_TTL and key.start is not None:
            sets.append("expires_at = if_not_exists(expires_at, :ttl)")
            values[":ttl"] = _epoch(key.start + SERIES_TTL[key.resolution] + RESOLUTION_STEP[key.resolution])
        if sets:
            expression = "SET " + ", ".join(sets) + " " + expression
        return {
            "Update": {
                "TableName": self._name,
                "Key": key.key(),
                "UpdateExpression": expression,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _transact(self, items: list[dict[str, Any]], guarded: int) -> None:
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons", [])
            failed = [
                index
                for index, reason in enumerate(reasons[:guarded])
                if reason.get("Code") == "ConditionalCheckFailed"
            ]
            if failed:
                raise Duplicate(failed) from error
            raise

    # -- ground truth -------------------------------------------------------------------------------

    def predictions(self, inference_ids: Iterable[str]) -> dict[str, StoredPrediction]:
        """The stored predictions of these inference ids (absent ids are left out)."""
        keys = [
            {"pk": f"PRED#{inference_id}", "sk": PREDICTION_SK}
            for inference_id in dict.fromkeys(inference_ids)
        ]
        found: dict[str, StoredPrediction] = {}
        resource = self._table.meta.client
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                self._name: {"Keys": keys[start : start + 100], "ConsistentRead": True}
            }
            while request:
                response = resource.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._name, []):
                    stored = _stored_prediction(item)
                    found[stored.inference_id] = stored
                request = response.get("UnprocessedKeys") or {}
        return found

    def record_labels(
        self,
        labels: Sequence[tuple[StoredPrediction, Any, dict[str, float]]],
        at: datetime,
        audit: AuditEntry | None = None,
    ) -> None:
        """Set each prediction's label (only where none is set) and ADD its accuracy fields to the
        prediction's aggregates, atomically per transaction of at most 100 items; the audit record of
        `audit` is written in the first transaction (when the store has an audit log).

        Duplicate names the labels of a transaction whose prediction got a label meanwhile.
        """
        audited = audit is not None and self._audit is not None and self._plain_client is not None
        reserved = AUDIT_ITEMS if audited else 0
        chunks = transaction_chunks(labels, lambda part: len(part) + len(_label_keys(part)) + reserved)
        for position, chunk in enumerate(chunks):
            items: list[dict[str, Any]] = []
            for stored, label, _ in chunk:
                items.append(
                    {
                        "Update": {
                            "TableName": self._name,
                            "Key": {"pk": f"PRED#{stored.inference_id}", "sk": PREDICTION_SK},
                            "UpdateExpression": "SET label = :label, labeled_at = :at",
                            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(label)",
                            "ExpressionAttributeValues": {
                                ":label": json.dumps(label, separators=(",", ":")),
                                ":at": _iso(at),
                            },
                        }
                    }
                )
            adds: dict[AggregateKey, dict[str, float]] = {}
            for stored, _, counters in chunk:
                for key in aggregate_keys(
                    stored.model_id, stored.environment, version_label(stored.version), stored.at
                ):
                    aggregates.add(adds.setdefault(key, {}), counters)
            items.extend(self._aggregate_update(key, counters) for key, counters in adds.items())
            if audited and position == 0:
                self._transact_audited(items, audit)
            else:
                self._transact(items, len(chunk))

    def _transact_audited(self, items: list[dict[str, Any]], audit: AuditEntry | None) -> None:
        """`items` and the audit record of `audit` in one transaction (the audit table is another
        table); a lost race for the chain head is retried by write_with_audit."""
        change = [_typed(item) for item in items]
        try:
            write_with_audit(given(self._plain_client, "client"), change, self._audit, audit)
        except ChangeConditionFailed as error:
            raise Duplicate([error.index]) from error

    # -- resource gauges ----------------------------------------------------------------------------

    def record_gauges(
        self, model_id: str, environment: str, version: int, at: datetime, gauges: Mapping[str, float]
    ) -> bool:
        """ADD resource gauge sums (`cpu`, `mem`) into the minute, hour and day buckets of `at`, and set
        the last values on the version's total. A datapoint no newer than the one stored last is skipped
        (the collector reads the newest datapoint every minute, which may be the one it read before):
        False then."""
        counters: dict[str, float] = {}
        if "cpu" in gauges:
            aggregates.add(counters, {aggregates.CPU_SUM: gauges["cpu"], aggregates.CPU_COUNT: 1})
        if "mem" in gauges:
            aggregates.add(counters, {aggregates.MEMORY_SUM: gauges["mem"], aggregates.MEMORY_COUNT: 1})
        if not counters:
            return False
        label = version_label(version)
        values: dict[str, Any] = {
            ":at": _iso(at),
            ":tk": TOTALS_KEY,
            ":ts": f"{model_id}#{environment}#{label}",
        }
        sets = ["gauges_at = :at", "gsi1pk = :tk", "gsi1sk = :ts"]
        for name, value in gauges.items():
            values[f":{name}"] = _number(value)
            sets.append(f"{name}_last = :{name}")
        # The total is the claim: written first, on condition, so a datapoint lands in the buckets once.
        try:
            self._table.update_item(
                Key={"pk": total_pk(model_id, environment), "sk": label},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_not_exists(gauges_at) OR gauges_at < :at",
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        for key in aggregate_keys(model_id, environment, label, at):
            if key.resolution is not None:
                update = self._aggregate_update(key, counters)["Update"]
                update.pop("TableName")
                self._table.update_item(**update)
        return True

    # -- reading --------------------------------------------------------------------------------------

    def series(
        self, model_id: str, environment: str, resolution: Resolution, start: datetime, end: datetime
    ) -> list[SeriesItem]:
        """The aggregates of every version whose buckets start in [bucket_start(start), end): one Query."""
        lower = _iso(bucket_start(start, resolution))
        upper = _iso(end)
        params: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lower AND :upper",
            "ExpressionAttributeValues": {
                ":pk": series_pk(model_id, environment, resolution),
                ":lower": lower,
                ":upper": upper,  # "<iso>" sorts before "<iso>#v1": a bucket starting at `end` is out
            },
        }
        items: list[SeriesItem] = []
        while True:
            response = self._table.query(**params)
            for item in response.get("Items", []):
                stamp, _, version = str(item["sk"]).partition("#")
                items.append(
                    SeriesItem(
                        datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
                        version,
                        _counters(item),
                    )
                )
            if "LastEvaluatedKey" not in response:
                return items
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def totals(self) -> list[TotalItem]:
        """Every model, environment and version's running total (the index's keys, then the items)."""
        keys: list[dict[str, str]] = []
        params: dict[str, Any] = {
            "IndexName": TOTALS_INDEX,
            "KeyConditionExpression": "gsi1pk = :t",
            "ExpressionAttributeValues": {":t": TOTALS_KEY},
        }
        while True:
            response = self._table.query(**params)
            keys.extend({"pk": str(item["pk"]), "sk": str(item["sk"])} for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        totals: list[TotalItem] = []
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {self._name: {"Keys": keys[start : start + 100]}}
            while request:
                response = self._client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._name, []):
                    _, model_id, environment = str(item["pk"]).split("#", 2)
                    totals.append(TotalItem(model_id, environment, str(item["sk"]), _counters(item)))
                request = response.get("UnprocessedKeys") or {}
        return sorted(totals, key=lambda total: (total.model_id, total.environment, total.version))

    def window_value(
        self, model_id: str, environment: str, metric: MetricName, start: datetime, end: datetime
    ) -> float | None:
        """The metric over [start, end) (all versions): minute buckets for windows up to a day, hours up
        to 31 days, days beyond. Buckets are whole: one starting before `start` is counted when the
        window starts inside it."""
        length = end - start
        resolution = next(
            (candidate for candidate in Resolution if length <= MAX_RANGE[candidate]), Resolution.DAY
        )
        items = self.series(model_id, environment, resolution, start, end)
        if not items:
            return None
        return aggregates.metric_value(metric, aggregates.total(item.counters for item in items))


def _label_keys(part: Sequence[tuple[StoredPrediction, Any, dict[str, float]]]) -> set[AggregateKey]:
    return {
        key
        for stored, _, _ in part
        for key in aggregate_keys(
            stored.model_id, stored.environment, version_label(stored.version), stored.at
        )
    }


def transaction_chunks(items: Sequence[T], size: Callable[[list[T]], int]) -> list[list[T]]:
    """Consecutive runs of `items` whose `size(run)` (its transaction's items) stays within the limit."""
    chunks: list[list[T]] = []
    current: list[T] = []
    for item in items:
        if current and size([*current, item]) > TRANSACTION_LIMIT:
            chunks.append(current)
            current = []
        current.append(item)
    if current:
        chunks.append(current)
    return chunks


def _stored_prediction(item: Mapping[str, Any]) -> StoredPrediction:
    text = item.get("prediction")
    label = item.get("label")
    return StoredPrediction(
        inference_id=str(item["pk"]).removeprefix("PRED#"),
        model_id=str(item["model_id"]),
        environment=str(item["environment"]),
        version=int(item.get("version", 0)),
        at=datetime.strptime(str(item["at"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
        prediction=json.loads(text) if text is not None else None,
        prediction_stored=text is not None,
        label=json.loads(label) if label is not None else None,
        labeled=label is not None,
    )


def _typed(item: Mapping[str, Any]) -> TransactWriteItemTypeDef:
    """A transaction item with native values (the Table resource's form) in DynamoDB's typed form."""
    typed: dict[str, Any] = {}
    for kind, body in item.items():
        converted = dict(body)
        for field in ("Key", "Item", "ExpressionAttributeValues"):
            if field in converted:
                converted[field] = {
                    name: _serializer.serialize(value) for name, value in converted[field].items()
                }
        typed[kind] = converted
    return typed  # type: ignore[return-value]
